from django.urls import path

from qslab.outputs import views

app_name = "outputs"

urlpatterns = [
    path("", views.index, name="index"),
    path("standards/check-number/", views.number_check, name="number_check"),
    path("standards/new/", views.standard_create, name="standard_create"),
    path("standards/<int:standard_id>/", views.standard, name="standard"),
    path("standards/<int:standard_id>/edit/", views.standard_edit, name="standard_edit"),
    path("standards/<int:standard_id>/evidence/", views.standard_evidence, name="standard_evidence"),
    path(
        "standards/<int:standard_id>/evidence/<int:attachment_id>/",
        views.standard_evidence_file,
        name="standard_evidence_file",
    ),
    path(
        "standards/<int:standard_id>/verification/<slug:transition>/",
        views.standard_verification,
        name="standard_verification",
    ),
    path(
        "standards/<int:standard_id>/<slug:transition>/",
        views.standard_transition,
        name="standard_transition",
    ),
    path("items/new/", views.output_create, name="output_create"),
    path("items/<int:output_id>/", views.output, name="output"),
    path("items/<int:output_id>/edit/", views.output_edit, name="output_edit"),
    path("items/<int:output_id>/evidence/", views.output_evidence, name="output_evidence"),
    path(
        "items/<int:output_id>/evidence/<int:attachment_id>/",
        views.output_evidence_file,
        name="output_evidence_file",
    ),
    path("items/<int:output_id>/<slug:transition>/", views.output_transition, name="output_transition"),
    path("import/", views.import_view, name="import"),
    path("import/standards/", views.import_standards_view, name="import_standards"),
    path("labs/<int:lab_id>/figures/", views.figures, name="figures"),
    path("labs/<int:lab_id>/staff/", views.staff, name="staff"),
    path("staff/<int:member_id>/edit/", views.staff_edit, name="staff_edit"),
    path("labs/<int:lab_id>/achievements/", views.achievements, name="achievements"),
]
