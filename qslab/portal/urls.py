from django.urls import path

from qslab.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("notices/", views.notices, name="notices"),
    path("notices/new/", views.notice_create, name="notice_create"),
    path("notices/<int:notice_id>/", views.notice, name="notice"),
    path("notices/<int:notice_id>/edit/", views.notice_edit, name="notice_edit"),
    path("notices/<int:notice_id>/<slug:transition>/", views.notice_transition, name="notice_transition"),
    path("documents/", views.documents, name="documents"),
    path("search/", views.search, name="search"),
]
