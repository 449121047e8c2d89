from django.urls import path

from qslab.recalls import feeds, views

app_name = "recalls"

urlpatterns = [
    # the public safety portal
    path("safety/", views.safety, name="safety"),
    path("public/", views.public_recalls, name="public_recalls"),
    path("public/<int:recall_id>/", views.public_recall, name="public_recall"),
    path("serial/", views.serial_lookup, name="serial_lookup"),
    path("public/<int:recall_id>/chart.svg", views.recall_chart, name="recall_chart"),
    path("statistics/", views.statistics, name="statistics"),
    path("feed/atom/", feeds.RecallFeed(), name="feed"),
    # work pages
    path("", views.home, name="home"),
    path("new/", views.recall_create, name="recall_create"),
    path("<int:recall_id>/", views.recall, name="recall"),
    path("<int:recall_id>/edit/", views.recall_edit, name="recall_edit"),
    path("<int:recall_id>/actions/<slug:transition>/", views.recall_transition, name="recall_transition"),
    path("<int:recall_id>/progress/", views.progress_new, name="progress_new"),
    path("<int:recall_id>/scope/", views.recall_scope, name="recall_scope"),
    path(
        "<int:recall_id>/scope/<slug:what>.<slug:fmt>",
        views.recall_scope_export,
        name="recall_scope_export",
    ),
    path("scope/", views.scope_query, name="scope_query"),
    path("products/", views.products, name="products"),
    path("products/new/", views.product_create, name="product_create"),
    path("products/<int:product_id>/", views.product, name="product"),
    path("uploads/", views.uploads, name="uploads"),
    path("uploads/<int:upload_id>/", views.upload, name="upload"),
    path("lab-tests/", views.lab_requests, name="lab_requests"),
    path("lab-tests/new/", views.lab_request_create, name="lab_request_create"),
    path("lab-tests/<int:request_id>/", views.lab_request, name="lab_request"),
    path("lab-tests/<int:request_id>/report.pdf", views.lab_request_report, name="lab_request_report"),
    path("incidents/", views.producer_reports, name="producer_reports"),
    path("incidents/new/", views.producer_report_create, name="producer_report_create"),
    path("incidents/<int:report_id>/", views.producer_report, name="producer_report"),
    path(
        "incidents/<int:report_id>/actions/<slug:transition>/",
        views.producer_report_transition,
        name="producer_report_transition",
    ),
]
