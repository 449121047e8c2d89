"""Who may open each platform page and API operation (own vs other objects included)."""

import pytest

from qslab.core.testing import EVERYONE, SIGNED_IN, Case, check_access, matrix

OFFICE_AND_COMMITTEE = {"office", "committee"}


def _ct(obj):
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(obj).pk


CASES = [
    Case("core:dashboard", SIGNED_IN),
    Case("core:inbox", SIGNED_IN),
    Case(
        "core:inbox_read",
        {"expert"},
        method="post",
        note="expert's own notification",
        kwargs=lambda w: {"notification_id": w.notifications["expert"].pk},
    ),
    Case("core:inbox_read_all", SIGNED_IN, method="post"),
    Case("core:document", EVERYONE, note="public", kwargs=lambda w: {"document_id": w.document.pk}),
    Case(
        "core:document",
        OFFICE_AND_COMMITTEE,
        note="internal",
        kwargs=lambda w: {"document_id": w.private_document.pk},
    ),
    Case(
        "core:document_pdf",
        EVERYONE,
        note="public",
        kwargs=lambda w: {"document_id": w.document.pk, "language": "zh-hans"},
    ),
    Case(
        "core:document_pdf",
        OFFICE_AND_COMMITTEE,
        note="internal",
        kwargs=lambda w: {"document_id": w.private_document.pk, "language": "en"},
    ),
    Case(
        "core:document_publish",
        {"office"},
        method="post",
        note="internal",
        kwargs=lambda w: {"document_id": w.private_document.pk},
        data={"reason": "policy decision"},
    ),
    Case("core:document_kinds", {"office"}),
    Case("core:document_kind_edit", {"office"}, kwargs=lambda w: {"kind_id": w.document.kind_id}),
    Case(
        "core:document_kind_edit",
        {"office"},
        method="post",
        kwargs=lambda w: {"kind_id": w.document.kind_id},
        data={"name_zh": "通知", "name_en": "Notice", "public_by_default": "on", "reason": "review"},
    ),
    Case("core:audit", {"office"}),
    Case("core:audit_csv", {"office"}),
    Case("core:tasks", SIGNED_IN),
    Case("core:run_reminders", {"office"}, method="post"),
    Case(
        "core:journal_add",
        {"office", "committee"},
        method="post",
        note="draft notice",
        kwargs=lambda w: {"content_type_id": _ct(w.draft), "object_id": w.draft.pk},
        data={"text": "checked"},
    ),
    Case(
        "core:watch_toggle",
        SIGNED_IN,
        method="post",
        note="published notice",
        kwargs=lambda w: {"content_type_id": _ct(w.published), "object_id": w.published.pk},
    ),
    Case(
        "core:watch_toggle",
        {"office", "committee"},
        method="post",
        note="draft notice",
        kwargs=lambda w: {"content_type_id": _ct(w.draft), "object_id": w.draft.pk},
    ),
    Case("core:task", {"office"}, note="office's own task", kwargs=lambda w: {"task_id": w.task.task_id}),
    Case("qslab_core_api_me", SIGNED_IN, api=True),
    Case("qslab_core_api_notifications", SIGNED_IN, api=True),
    Case(
        "qslab_core_api_mark_read",
        {"analyst"},
        method="post",
        api=True,
        note="analyst's own",
        kwargs=lambda w: {"notification_id": w.notifications["analyst"].pk},
    ),
    Case("qslab_core_api_deadlines", SIGNED_IN, api=True),
    Case("qslab_core_api_documents", EVERYONE - {"anonymous"}, api=True),
    Case(
        "qslab_core_api_document",
        SIGNED_IN,
        api=True,
        note="public",
        kwargs=lambda w: {"document_id": w.document.pk},
    ),
    Case(
        "qslab_core_api_document",
        OFFICE_AND_COMMITTEE,
        api=True,
        note="internal",
        kwargs=lambda w: {"document_id": w.private_document.pk},
    ),
    Case("qslab_core_api_document_pdf", SIGNED_IN, api=True, kwargs=lambda w: {"document_id": w.document.pk}),
    Case(
        "qslab_core_api_document_publish",
        {"office"},
        method="post",
        api=True,
        note="internal",
        kwargs=lambda w: {"document_id": w.private_document.pk},
        data={"reason": "policy decision"},
    ),
    Case("qslab_core_api_document_kinds", {"office"}, api=True),
    Case(
        "qslab_core_api_update_document_kind",
        {"office"},
        method="patch",
        api=True,
        kwargs=lambda w: {"kind_id": w.document.kind_id},
        data={"public_by_default": False, "reason": "review"},
    ),
    Case("qslab_core_api_audit", {"office"}, api=True),
    Case("qslab_core_api_task_status", {"office"}, api=True, kwargs=lambda w: {"task_id": w.task.task_id}),
    Case("qslab_core_api_due_date", EVERYONE, api=True, query="days=5&start=2026-09-28"),
]


@pytest.mark.parametrize(("case", "role"), matrix(CASES))
def test_platform_access(case, role, clients, world):
    check_access(case, role, clients, world)
