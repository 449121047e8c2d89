"""Platform operations that change state: transitions, journal entries, watches, attachments.

Apps call these from their own services; views never change workflow state themselves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from qslab.core import context
from qslab.core.calendar import add_days
from qslab.core.changelog import record_change
from qslab.core.models import Attachment, ChangeRecord, Deadline, JournalEntry, Watch
from qslab.core.notifications import notify, watchers_of
from qslab.core.workflow import Transition, TransitionRefused, Workflow


def workflow_of(obj: Any) -> Workflow:
    wf = getattr(type(obj), "workflow", None)
    if not isinstance(wf, Workflow):
        raise TypeError(f"{type(obj).__name__} declares no workflow")
    return wf


def _content_type(obj: Any) -> ContentType:
    return ContentType.objects.get_for_model(obj, for_concrete_model=True)


@transaction.atomic
def apply_transition(
    obj: Any,
    name: str,
    user: Any,
    reason: str = "",
    attachments: Sequence[UploadedFile] = (),
) -> ChangeRecord:
    """Move ``obj`` along the transition ``name`` as ``user``, or refuse and change nothing.

    The row is locked, the transition checked (role, state, guard, reason, attachments), the state
    saved, an audit record written with the attachments linked to it, deadlines closed and opened, and
    the object's watchers and the transition's recipients notified, all in one transaction.
    """
    wf = workflow_of(obj)
    transition: Transition = wf.transition(name)
    locked = type(obj).objects.select_for_update().get(pk=obj.pk)
    wf.check(locked, transition, user)
    reason = (reason or "").strip()
    if transition.requires_reason and not reason:
        raise TransitionRefused(
            _("“%(action)s” needs a reason.") % {"action": transition.label},
            TransitionRefused.REASON_REQUIRED,
        )
    if transition.requires_attachment and not attachments:
        raise TransitionRefused(
            _("“%(action)s” needs a supporting document attached.") % {"action": transition.label},
            TransitionRefused.ATTACHMENT_REQUIRED,
        )
    from_state = getattr(locked, wf.state_field)
    before = locked.snapshot()
    setattr(locked, wf.state_field, transition.target)
    locked._skip_change_record = True
    with context.acting_as(user, reason):
        if transition.on_enter is not None:
            transition.on_enter(locked, user, reason)
        locked.save(update_fields=[wf.state_field, "last_updated"])
        record = record_change(
            locked,
            ChangeRecord.Action.TRANSITION,
            before,
            locked.snapshot(),
            transition=transition.name,
            from_state=from_state,
            to_state=transition.target,
            reason=reason,
        )
    locked._skip_change_record = False
    for upload in attachments:
        add_attachment(locked, upload, user, change_record=record)
    ct = _content_type(locked)
    if transition.closes_deadlines:
        Deadline.objects.filter(content_type=ct, object_id=str(locked.pk), done_at__isnull=True).update(
            done_at=timezone.now()
        )
    if transition.deadline is not None:
        rule = transition.deadline
        Deadline.objects.create(
            content_type=ct,
            object_id=str(locked.pk),
            label_en=rule.label_en,
            label_zh=rule.label_zh,
            due=add_days(timezone.localdate(), rule.days, working=rule.working_days),
            assignee=rule.assignee(locked) if rule.assignee else None,
            assignee_role=rule.assignee_role,
        )
    recipients = set(watchers_of(locked))
    if transition.notify is not None:
        recipients |= set(transition.notify(locked))
    recipients.discard(user)
    state = wf.state(transition.target)
    notify(
        recipients,
        verb=transition.name,
        text_en=f"{locked}: {transition.label_en} → {state.label_en}" + (f" ({reason})" if reason else ""),
        text_zh=f"{locked}：{transition.label_zh} → {state.label_zh}" + (f"（{reason}）" if reason else ""),
        obj=locked,
    )
    obj.__dict__.update({wf.state_field: transition.target})
    return record


def save_with_next_reference(obj: Any, next_reference: Callable[[], str], attempts: int = 10) -> None:
    """Insert ``obj`` under the next free ``reference``. Two created at the same instant both read the
    same last reference (a row lock locks no row yet to come); the second insert fails on the unique
    reference in its own savepoint only and takes the next number, instead of the request failing
    with a 500. Any other integrity error is raised as it is."""
    model = type(obj)
    for attempt in range(attempts):
        obj.reference = next_reference()
        try:
            with transaction.atomic():
                obj.save(force_insert=True)
            return
        except IntegrityError:
            if attempt == attempts - 1 or not model.objects.filter(reference=obj.reference).exists():
                raise
            obj.pk = None


def add_attachment(
    obj: Any, upload: UploadedFile, user: Any, change_record: ChangeRecord | None = None
) -> Attachment:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return Attachment.objects.create(
        content_type=_content_type(obj),
        object_id=str(obj.pk),
        file=upload,
        name=upload.name or "attachment",
        sha256=digest.hexdigest(),
        uploaded_by=user,
        change_record=change_record,
    )


def write_journal(obj: Any, user: Any, text: str, kind: str = JournalEntry.Kind.INFO) -> JournalEntry:
    text = text.strip()
    if not text:
        raise ValueError(_("A journal entry needs text."))
    return JournalEntry.objects.create(
        content_type=_content_type(obj), object_id=str(obj.pk), user=user, text=text, kind=kind
    )


def watch(obj: Any, user: Any) -> Watch:
    watch_row, _created = Watch.objects.get_or_create(
        user=user, content_type=_content_type(obj), object_id=str(obj.pk)
    )
    return watch_row


def unwatch(obj: Any, user: Any) -> None:
    Watch.objects.filter(user=user, content_type=_content_type(obj), object_id=str(obj.pk)).delete()


def is_watching(obj: Any, user: Any) -> bool:
    return Watch.objects.filter(user=user, content_type=_content_type(obj), object_id=str(obj.pk)).exists()


def history_of(obj: Any) -> Iterable[ChangeRecord]:
    return ChangeRecord.objects.filter(content_type=_content_type(obj), object_id=str(obj.pk)).select_related(
        "user"
    )


def mark_notification_read(user: Any, notification_id: int) -> Any:
    from qslab.core.models import Notification
    from qslab.core.permissions import get_visible_or_404

    note = get_visible_or_404(Notification, user, pk=notification_id)
    if note.read_at is None:
        note.read_at = timezone.now()
        note.save(update_fields=["read_at"])
    return note


def mark_all_notifications_read(user: Any) -> int:
    from qslab.core.models import Notification

    return Notification.objects.visible_to(user).filter(read_at__isnull=True).update(read_at=timezone.now())


def may_write_journal(user: Any, obj: Any) -> bool:
    """Office staff and committee members, and whoever may edit the object, may write its journal."""
    from qslab.accounts.roles import Role, has_role

    if has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE):
        return True
    return type(obj).objects.editable_by(user).filter(pk=obj.pk).exists()


def write_journal_as(user: Any, obj: Any, text: str, kind: str = JournalEntry.Kind.INFO) -> JournalEntry:
    from django.core.exceptions import PermissionDenied

    if not may_write_journal(user, obj):
        raise PermissionDenied(_("You may read this record's journal but not write in it."))
    if kind not in JournalEntry.Kind.values:
        kind = JournalEntry.Kind.INFO
    return write_journal(obj, user, text, kind)


def journal_of(obj: Any) -> Iterable[JournalEntry]:
    return JournalEntry.objects.filter(content_type=_content_type(obj), object_id=str(obj.pk)).select_related(
        "user"
    )


# ------------------------------------------------------------------------------------------------
# stale tasks: a worker killed inside a task leaves its row RUNNING for ever


class TaskAbandoned(Exception):
    """Recorded on a task marked failed because its worker stopped answering (see recover_stale_tasks)."""


def _abandon_record(stale: Any, reason: str) -> None:
    """Mark failed the domain record of an abandoned task (see ``qslab.core.tasks.when_abandoned``).

    A handler that fails is logged and rolled back alone: the task stays failed, the other tasks are
    still recovered.
    """
    import logging

    from qslab.core.tasks import abandon_handler

    handler = abandon_handler(stale.task_path)
    if handler is None:
        return
    kwargs = (stale.args_kwargs or {}).get("kwargs") or {}
    try:
        with transaction.atomic(), context.acting_as(None, reason):
            handler(str(stale.id), kwargs, reason)
    except Exception:
        logging.getLogger(__name__).exception("abandoning the record of task %s failed", stale.id)


def recover_stale_tasks(now: Any = None) -> dict[str, int]:
    """Queue again, or mark failed, the tasks whose worker died.

    A task of the django-tasks database backend that is ``RUNNING`` and whose last sign of life — its
    :class:`~qslab.core.models.TaskProgress` row's last write, or its start when it has none — is older
    than ``QSLAB_TASK_LEASE_SECONDS`` lost its worker (killed, out of memory, machine restarted). A task
    named in ``QSLAB_RESTARTABLE_TASKS`` (idempotent) goes back to ``READY`` under the same id, so the next
    worker runs it again and its progress row and the records that point at it stay valid, unless it has
    already been tried ``QSLAB_TASK_MAX_ATTEMPTS`` times; any other is marked ``FAILED`` with the reason
    (a :class:`TaskAbandoned` error, shown like any task error). Each decision is a change record
    (transition ``requeue`` or ``abandon``, with the reason) and ends in the task's progress row. A failed
    task's own record (an intake run, an upload) is marked failed by the handler registered next to the
    task with :func:`qslab.core.tasks.when_abandoned`, audited with the same reason.

    Rows are locked with ``SKIP LOCKED``: two recoveries at once never handle one task twice.
    """
    from django.conf import settings
    from django_tasks.base import TaskResultStatus
    from django_tasks.utils import get_module_path
    from django_tasks_db.models import DBTaskResult

    from qslab.core.models import TaskProgress

    now = now or timezone.now()
    lease = dt.timedelta(seconds=settings.QSLAB_TASK_LEASE_SECONDS)
    cutoff = now - lease
    restartable = set(settings.QSLAB_RESTARTABLE_TASKS)
    max_attempts = settings.QSLAB_TASK_MAX_ATTEMPTS
    requeued = failed = 0
    with transaction.atomic():
        candidates = list(
            DBTaskResult.objects.select_for_update(skip_locked=True).filter(
                status=TaskResultStatus.RUNNING, started_at__lt=cutoff
            )
        )
        beats = dict(
            TaskProgress.objects.filter(task_id__in=[str(t.id) for t in candidates]).values_list(
                "task_id", "updated"
            )
        )
        for stale in candidates:
            last_sign = max(stale.started_at, beats.get(str(stale.id)) or stale.started_at)
            if last_sign >= cutoff:
                continue  # still reporting progress: a long task, not a dead one
            silent = int((now - last_sign).total_seconds())
            attempts = len(stale.worker_ids)
            if stale.task_path in restartable and attempts < max_attempts:
                reason = (
                    f"no sign of life for {silent} s (lease {int(lease.total_seconds())} s): worker lost; "
                    f"queued again (attempt {attempts + 1} of {max_attempts})"
                )
                stale.status = TaskResultStatus.READY
                stale.save(update_fields=["status"])
                record_change(
                    stale,
                    ChangeRecord.Action.TRANSITION,
                    None,
                    None,
                    transition="requeue",
                    from_state=TaskResultStatus.RUNNING,
                    to_state=TaskResultStatus.READY,
                    reason=reason,
                )
                TaskProgress.objects.filter(task_id=str(stale.id)).update(
                    status="queued", message=reason[:300], updated=now
                )
                requeued += 1
            else:
                why = f"tried {attempts} times" if stale.task_path in restartable else "not safe to run again"
                reason = (
                    f"no sign of life for {silent} s (lease {int(lease.total_seconds())} s): worker lost; "
                    f"marked failed ({why}); start it again when its effects have been checked"
                )
                stale.status = TaskResultStatus.FAILED
                stale.finished_at = now
                stale.exception_class_path = get_module_path(TaskAbandoned)
                stale.traceback = f"{get_module_path(TaskAbandoned)}: {reason}"
                stale.return_value = None
                fields = ["status", "finished_at", "exception_class_path", "traceback", "return_value"]
                stale.save(update_fields=fields)
                record_change(
                    stale,
                    ChangeRecord.Action.TRANSITION,
                    None,
                    None,
                    transition="abandon",
                    from_state=TaskResultStatus.RUNNING,
                    to_state=TaskResultStatus.FAILED,
                    reason=reason,
                )
                TaskProgress.objects.filter(task_id=str(stale.id)).update(
                    status="failed", message=reason[:300], updated=now
                )
                _abandon_record(stale, reason)
                failed += 1
    return {"requeued": requeued, "failed": failed}
