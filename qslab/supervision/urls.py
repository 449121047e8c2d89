from django.urls import path

from qslab.supervision import views

app_name = "supervision"

urlpatterns = [
    path("", views.home, name="home"),
    path("overview/", views.overview, name="overview"),
    path("templates/<int:template_id>/", views.template, name="template"),
    path("reports/<int:report_id>/", views.report, name="report"),
    path(
        "reports/<int:report_id>/actions/<slug:transition>/",
        views.report_transition,
        name="report_transition",
    ),
    path("items/", views.items, name="items"),
    path("plans/<int:plan_id>/", views.plan, name="plan"),
    path("plans/<int:plan_id>/draw/", views.plan_draw, name="plan_draw"),
    path("plans/<int:plan_id>/publish/", views.plan_publish, name="plan_publish"),
    path("plans/<int:plan_id>/verify/", views.plan_verify, name="plan_verify"),
    path("checks/<int:check_id>/result/", views.check_result, name="check_result"),
    path("campaigns/<int:campaign_id>/", views.campaign, name="campaign"),
    path(
        "campaigns/<int:campaign_id>/actions/<slug:transition>/",
        views.campaign_transition,
        name="campaign_transition",
    ),
    path("entries/<int:entry_id>/", views.entry, name="entry"),
    path("entries/<int:entry_id>/report/", views.entry_report, name="entry_report"),
    path("labs/<int:lab_id>/rectification/", views.order_create, name="order_create"),
    path("orders/<int:order_id>/", views.order, name="order"),
    path("orders/<int:order_id>/actions/<slug:transition>/", views.order_transition, name="order_transition"),
    path("sanctions/", views.sanctions, name="sanctions"),
    path("labs/<int:lab_id>/suspension/", views.suspension, name="suspension"),
    path("labs/<int:lab_id>/changes/new/", views.change_create, name="change_create"),
    path("changes/<int:change_id>/", views.change, name="change"),
    path(
        "changes/<int:change_id>/actions/<slug:transition>/",
        views.change_transition,
        name="change_transition",
    ),
    path("labs/<int:lab_id>/inspections/new/", views.inspection_create, name="inspection_create"),
    path("inspections/<int:inspection_id>/", views.inspection, name="inspection"),
    path("inspections/<int:inspection_id>/findings/", views.inspection_finding, name="inspection_finding"),
    path("inspections/<int:inspection_id>/record/", views.inspection_record, name="inspection_record"),
    path(
        "inspections/<int:inspection_id>/actions/<slug:transition>/",
        views.inspection_transition,
        name="inspection_transition",
    ),
    path("files/<int:attachment_id>/", views.attachment, name="attachment"),
    path("findings/<int:finding_id>/request/", views.finding_request, name="finding_request"),
    path("corrective-actions/<int:action_id>/respond/", views.action_respond, name="action_respond"),
    path(
        "corrective-actions/<int:action_id>/actions/<slug:transition>/",
        views.action_transition,
        name="action_transition",
    ),
    path("templates/new/", views.template_create, name="template_create"),
    path("plans/new/", views.plan_create, name="plan_create"),
    path("plans/<int:plan_id>/seed/", views.plan_seed, name="plan_seed"),
    path("campaigns/new/", views.campaign_create, name="campaign_create"),
    path("campaigns/<int:campaign_id>/entries/", views.campaign_add, name="campaign_add"),
    path("entries/<int:entry_id>/figures/", views.entry_figures, name="entry_figures"),
    path("campaigns/<int:campaign_id>/figures/", views.campaign_figures, name="campaign_figures"),
    path("plans/<int:plan_id>/inspections/", views.plan_inspections, name="plan_inspections"),
]
