"""Declared workflows: the right role moves an object; a wrong role or state changes nothing."""

import pytest
from django.core import mail

from qslab.core.models import ChangeRecord, Notification, OfficialDocument
from qslab.core.services import apply_transition, watch
from qslab.core.workflow import State, Transition, TransitionRefused, Workflow
from qslab.portal.models import Notice


@pytest.fixture
def draft(users):
    return Notice.objects.create(
        title_zh="标题", title_en="Title", body_zh="正文", body_en="Body", author=users["office"]
    )


def _transitions(notice):
    return ChangeRecord.objects.filter(object_id=str(notice.pk), action="transition")


def test_office_submits_a_draft_and_the_transition_is_audited(users, draft):
    record = apply_transition(draft, "submit", users["office"], reason="ready")
    draft.refresh_from_db()
    assert draft.status == "in_review"
    assert (record.from_state, record.to_state, record.transition) == ("draft", "in_review", "submit")
    assert record.user == users["office"] and record.reason == "ready"


def test_a_wrong_role_is_refused_with_a_clear_message_and_nothing_changes(users, draft):
    with pytest.raises(TransitionRefused) as refused:
        apply_transition(draft, "submit", users["expert"])
    assert refused.value.code == TransitionRefused.FORBIDDEN
    assert "office" in str(refused.value)
    draft.refresh_from_db()
    assert draft.status == "draft" and not _transitions(draft).exists()


def test_a_transition_from_the_wrong_state_is_refused(users, draft):
    with pytest.raises(TransitionRefused) as refused:
        apply_transition(draft, "publish", users["committee"])
    assert refused.value.code == TransitionRefused.WRONG_STATE
    assert "draft" in str(refused.value)
    draft.refresh_from_db()
    assert draft.status == "draft" and not OfficialDocument.objects.exists()


def test_a_guard_names_what_is_missing(users):
    notice = Notice.objects.create(title_zh="标题", title_en="Title", author=users["office"])
    with pytest.raises(TransitionRefused) as refused:
        apply_transition(notice, "submit", users["office"])
    assert refused.value.code == TransitionRefused.GUARD
    assert "body (Chinese)" in str(refused.value) and "body (English)" in str(refused.value)


def test_a_transition_that_needs_a_reason_refuses_a_blank_one(users, draft):
    apply_transition(draft, "submit", users["office"])
    with pytest.raises(TransitionRefused) as refused:
        apply_transition(draft, "return", users["committee"], reason="   ")
    assert refused.value.code == TransitionRefused.REASON_REQUIRED
    draft.refresh_from_db()
    assert draft.status == "in_review"


def test_publishing_issues_a_numbered_public_document_and_tells_watchers(users, draft):
    watch(draft, users["analyst"])
    apply_transition(draft, "submit", users["office"])
    apply_transition(draft, "publish", users["committee"])
    draft.refresh_from_db()
    assert draft.status == "published"
    assert draft.document.is_public and draft.document.number.startswith("国质标实公告〔")
    assert Notification.objects.filter(recipient=users["analyst"], verb="publish").exists()
    assert Notification.objects.filter(recipient=users["office"], verb="publish").exists()
    assert not Notification.objects.filter(recipient=users["committee"], verb="publish").exists()


def test_a_failure_inside_the_transition_rolls_everything_back(users, draft, monkeypatch):
    apply_transition(draft, "submit", users["office"])

    def broken_pdf(*args, **kwargs):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr("qslab.core.documents.render_pdf", broken_pdf)
    with pytest.raises(RuntimeError):
        apply_transition(draft, "publish", users["committee"])
    draft.refresh_from_db()
    assert draft.status == "in_review" and draft.document is None
    assert not _transitions(draft).filter(transition="publish").exists()
    assert not OfficialDocument.objects.exists()


def test_watchers_are_emailed_in_their_language_after_commit(
    users, draft, django_capture_on_commit_callbacks
):
    watcher = users["analyst"]
    watcher.preferred_language = "zh-hans"
    watcher.save()
    watch(draft, watcher)
    with django_capture_on_commit_callbacks(execute=True):
        apply_transition(draft, "submit", users["office"])
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.startswith("qslab 通知") and "提交审核" in mail.outbox[0].body


def test_available_actions_list_only_what_the_user_may_do_now(users, draft):
    names = lambda user: [t.name for t in Notice.workflow.available(draft, user)]  # noqa: E731
    assert names(users["office"]) == ["submit"]
    assert names(users["committee"]) == []
    assert names(users["client"]) == []


def test_a_workflow_naming_an_unknown_state_is_rejected_when_declared():
    with pytest.raises(ValueError, match="unknown states"):
        Workflow(
            "status", (State("a", "a", "甲"),), (Transition("go", ("a",), "b", ("office",), "go", "走"),)
        )
