from django.urls import path

from qslab.labs import views

app_name = "labs"

urlpatterns = [
    path("", views.directory, name="directory"),
    path("export/", views.export, name="export"),
    path("feed/", views.DirectoryFeed(), name="feed"),
    path("new/", views.lab_create, name="create"),
    path("jurisdiction/", views.jurisdiction, name="jurisdiction"),
    path("import/", views.import_view, name="import"),
    path("<int:lab_id>/", views.detail, name="detail"),
    path("<int:lab_id>/edit/", views.lab_edit, name="edit"),
    path("<int:lab_id>/team/", views.lab_team, name="team"),
    path("<int:lab_id>/figures/", views.lab_figures, name="figures"),
    path("<int:lab_id>/act/<slug:transition>/", views.lab_transition, name="transition"),
    path("taxonomies/", views.taxonomies, name="taxonomies"),
    path("taxonomies/<slug:kind>/new/", views.term_create, name="term_create"),
    path("taxonomies/<slug:kind>/<int:term_id>/", views.term_edit, name="term_edit"),
    path("plans/", views.plans, name="plans"),
    path("plans/new/", views.plan_create, name="plan_create"),
    path("plans/<int:plan_id>/", views.plan, name="plan"),
    path("plans/<int:plan_id>/targets/", views.plan_targets, name="plan_targets"),
    path("plans/<int:plan_id>/map.svg", views.plan_map, name="plan_map"),
    path("plans/<int:plan_id>/coverage.pdf", views.plan_pdf, name="plan_pdf"),
    path("plans/<int:plan_id>/revisions/", views.plan_revisions, name="plan_revisions"),
]
