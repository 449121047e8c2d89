from django.urls import path

from qslab.core import views

app_name = "core"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:notification_id>/read/", views.inbox_read, name="inbox_read"),
    path("inbox/read-all/", views.inbox_read_all, name="inbox_read_all"),
    path("documents/kinds/", views.document_kinds, name="document_kinds"),
    path("documents/kinds/<int:kind_id>/edit/", views.document_kind_edit, name="document_kind_edit"),
    path("documents/<int:document_id>/", views.document, name="document"),
    path("documents/<int:document_id>/publish/", views.document_publish, name="document_publish"),
    path("documents/<int:document_id>/pdf/<str:language>/", views.document_pdf, name="document_pdf"),
    path("audit/", views.audit, name="audit"),
    path("audit.csv", views.audit_csv, name="audit_csv"),
    path("tasks/", views.tasks, name="tasks"),
    path("tasks/run/reminders/", views.run_reminders, name="run_reminders"),
    path("objects/<int:content_type_id>/<str:object_id>/journal/", views.journal_add, name="journal_add"),
    path("objects/<int:content_type_id>/<str:object_id>/watch/", views.watch_toggle, name="watch_toggle"),
    path("tasks/<str:task_id>/", views.task_status, name="task"),
]
