from django.urls import path

from qslab.designation import views

app_name = "designation"

urlpatterns = [
    path("", views.calls, name="calls"),
    path("calls/new/", views.call_create, name="call_create"),
    path("calls/<int:call_id>/", views.call, name="call"),
    path("calls/<int:call_id>/edit/", views.call_edit, name="call_edit"),
    path("calls/<int:call_id>/criteria/", views.call_criteria, name="call_criteria"),
    path("calls/<int:call_id>/apply/", views.apply, name="apply"),
    path("calls/<int:call_id>/targeted/", views.targeted, name="targeted"),
    path("calls/<int:call_id>/assignment/", views.assignment, name="assignment"),
    path("calls/<int:call_id>/ranking/", views.ranking, name="ranking"),
    path("calls/<int:call_id>/actions/<slug:transition>/", views.call_transition, name="call_transition"),
    path("applications/", views.applications, name="applications"),
    path("applications/<int:application_id>/", views.application, name="application"),
    path("applications/<int:application_id>/edit/", views.application_edit, name="application_edit"),
    path("applications/<int:application_id>/co-applicants/", views.co_applicant, name="co_applicant"),
    path("applications/<int:application_id>/files/", views.attach, name="attach"),
    path("applications/<int:application_id>/declaration/", views.declare, name="declare"),
    path("applications/<int:application_id>/vote/", views.vote, name="vote"),
    path("applications/<int:application_id>/decision/", views.decide, name="decide"),
    path(
        "applications/<int:application_id>/actions/<slug:transition>/",
        views.application_transition,
        name="application_transition",
    ),
    path("files/<int:file_id>/", views.attachment, name="attachment"),
    path("experts/", views.experts, name="experts"),
    path("experts/me/", views.expert_profile, name="expert_profile"),
    path("experts/<int:profile_id>/vet/", views.expert_vet, name="expert_vet"),
    path("reviews/<int:assignment_id>/", views.review, name="review"),
    path("notices/", views.notices, name="notices"),
    path("notices/<int:notice_id>/", views.notice, name="notice"),
    path("objections/<int:objection_id>/handle/", views.objection_handle, name="objection_handle"),
]
