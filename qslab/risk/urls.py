from django.urls import path

from qslab.risk import views

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
    path("signals/", views.signals, name="signals"),
    path("signals/<int:signal_id>/", views.signal, name="signal"),
    path("signals/<int:signal_id>/chart.svg", views.signal_chart, name="signal_chart"),
    path(
        "signals/<int:signal_id>/actions/<slug:transition>/",
        views.signal_transition,
        name="signal_transition",
    ),
]
