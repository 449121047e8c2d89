from django.urls import path

from qslab.risk import views
from qslab.risk.feeds import AlertFeed

app_name = "risk"

urlpatterns = [
    path("", views.home, name="home"),
    path("report/", views.report_new, name="report_new"),
    path("reports/", views.reports, name="reports"),
    path("reports/<int:report_id>/", views.report, name="report"),
    path("reports/<int:report_id>/photo/", views.report_photo, name="report_photo"),
    path("reports/<int:report_id>/review/", views.report_review, name="report_review"),
    path(
        "reports/<int:report_id>/actions/<slug:transition>/",
        views.report_transition,
        name="report_transition",
    ),
    path("patterns/", views.patterns, name="patterns"),
    path("patterns/new/", views.pattern_create, name="pattern_create"),
    path("patterns/<int:pattern_id>/", views.pattern, name="pattern"),
    path("patterns/<int:pattern_id>/edit/", views.pattern_edit, name="pattern_edit"),
    path("taxonomies/", views.terms, name="terms"),
    path("taxonomies/new/", views.term_create, name="term_create"),
    path("intake/", views.ingests, name="ingests"),
    path("intake/<int:ingest_id>/", views.ingest, name="ingest"),
    path("early-warning/", views.early_warning, name="early_warning"),
    path("early-warning/run/", views.early_warning_run, name="early_warning_run"),
    path("statistics/", views.statistics, name="statistics"),
    path("signals/", views.signals, name="signals"),
    path("signals/<int:signal_id>/", views.signal, name="signal"),
    path("signals/<int:signal_id>/reassign/", views.signal_reassign, name="signal_reassign"),
    path("signals/<int:signal_id>/chart.svg", views.signal_chart, name="signal_chart"),
    path(
        "signals/<int:signal_id>/actions/<slug:transition>/",
        views.signal_transition,
        name="signal_transition",
    ),
    path("assessments/", views.assessments, name="assessments"),
    path("assessments/new/", views.assessment_create, name="assessment_create"),
    path("assessments/<int:assessment_id>/", views.assessment, name="assessment"),
    path("assessments/<int:assessment_id>/edit/", views.assessment_edit, name="assessment_edit"),
    path("assessments/<int:assessment_id>/scenarios/new/", views.scenario_create, name="scenario_create"),
    path(
        "assessments/<int:assessment_id>/scenarios/<int:scenario_id>/edit/",
        views.scenario_edit,
        name="scenario_edit",
    ),
    path(
        "assessments/<int:assessment_id>/scenarios/<int:scenario_id>/delete/",
        views.scenario_delete,
        name="scenario_delete",
    ),
    path(
        "assessments/<int:assessment_id>/actions/<slug:transition>/",
        views.assessment_transition,
        name="assessment_transition",
    ),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/feed.atom", AlertFeed(), name="alerts_feed"),
    path("alerts/weekly/", views.digests, name="digests"),
    path("alerts/weekly/build/", views.digest_build, name="digest_build"),
    path("alerts/weekly/<int:year>/<int:week>/", views.digest, name="digest"),
    path("alerts/new/", views.alert_create, name="alert_create"),
    path("alerts/<int:alert_id>/", views.alert, name="alert"),
    path("alerts/<int:alert_id>/edit/", views.alert_edit, name="alert_edit"),
    path("alerts/<int:alert_id>/photos/", views.alert_photo_add, name="alert_photo_add"),
    path("alerts/<int:alert_id>/photos/<int:photo_id>/", views.alert_photo, name="alert_photo"),
    path(
        "alerts/<int:alert_id>/photos/<int:photo_id>/delete/",
        views.alert_photo_delete,
        name="alert_photo_delete",
    ),
    path("alerts/<int:alert_id>/updates/", views.alert_update_add, name="alert_update_add"),
    path(
        "alerts/<int:alert_id>/actions/<slug:transition>/",
        views.alert_transition,
        name="alert_transition",
    ),
]
