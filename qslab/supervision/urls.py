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
]
