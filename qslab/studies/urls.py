from django.urls import path

from qslab.studies import views

app_name = "studies"

urlpatterns = [
    path("", views.index, name="index"),
    path("pt/new/", views.pt_create, name="pt_create"),
    path("pt/<int:round_id>/", views.pt_detail, name="pt_detail"),
    path("pt/<int:round_id>/edit/", views.pt_edit, name="pt_edit"),
    path("pt/<int:round_id>/measurands/new/", views.measurand_add, name="measurand_add"),
    path("pt/<int:round_id>/measurands/<int:measurand_id>/", views.measurand_add, name="measurand_edit"),
    path("pt/<int:round_id>/register/", views.pt_register, name="pt_register"),
    path("pt/<int:round_id>/summary/", views.pt_summary, name="pt_summary"),
    path("pt/<int:round_id>/participants/<int:participant_id>/", views.pt_participant, name="pt_participant"),
    path("pt/<int:round_id>/participants/<int:participant_id>/submit/", views.pt_submit, name="pt_submit"),
    path("pt/<int:round_id>/participants/<int:participant_id>/upload/", views.pt_upload, name="pt_upload"),
    path("pt/<int:round_id>/participants/<int:participant_id>/report.pdf", views.pt_report, name="pt_report"),
    path("pt/<int:round_id>/<slug:transition>/", views.pt_transition, name="pt_transition"),
    path("precision/new/", views.precision_create, name="precision_create"),
    path("precision/<int:study_id>/", views.precision_detail, name="precision_detail"),
    path("precision/<int:study_id>/edit/", views.precision_edit, name="precision_edit"),
    path("precision/<int:study_id>/data/", views.precision_data, name="precision_data"),
    path("precision/<int:study_id>/report.pdf", views.precision_report, name="precision_report"),
    path(
        "precision/<int:study_id>/decisions/<int:decision_id>/",
        views.precision_decide,
        name="precision_decide",
    ),
    path(
        "precision/<int:study_id>/<slug:transition>/", views.precision_transition, name="precision_transition"
    ),
    path("budgets/new/", views.budget_create, name="budget_create"),
    path("budgets/<int:budget_id>/", views.budget_detail, name="budget_detail"),
    path("budgets/<int:budget_id>/revise/", views.budget_revise, name="budget_revise"),
    path("budgets/<int:budget_id>/evaluate/", views.budget_evaluate, name="budget_evaluate"),
    path("budgets/<int:budget_id>/copy/", views.budget_copy, name="budget_copy"),
    path("materials/new/", views.rm_create, name="rm_create"),
    path("materials/<int:study_id>/", views.rm_detail, name="rm_detail"),
    path("materials/<int:study_id>/edit/", views.rm_edit, name="rm_edit"),
    path("materials/<int:study_id>/<slug:transition>/", views.rm_transition, name="rm_transition"),
    path("monitors/new/", views.monitor_create, name="monitor_create"),
    path("monitors/<int:monitor_id>/", views.monitor_detail, name="monitor_detail"),
    path("monitors/<int:monitor_id>/edit/", views.monitor_edit, name="monitor_edit"),
    path("monitors/<int:monitor_id>/live/", views.monitor_chart, name="monitor_chart"),
    path("monitors/<int:monitor_id>/points/", views.monitor_point, name="monitor_point"),
    path("monitors/<int:monitor_id>/limits/", views.monitor_limits, name="monitor_limits"),
    path("alarms/", views.alarms, name="alarms"),
    path("alarms/<int:alarm_id>/", views.alarm_detail, name="alarm_detail"),
    path("alarms/<int:alarm_id>/<slug:transition>/", views.alarm_transition, name="alarm_transition"),
]
