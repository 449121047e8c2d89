"""Background tasks of the platform (django-tasks, database backend), with progress the UI can show."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django_tasks import task

from qslab.core.models import TaskProgress

# What to do with a task's own record when the stale-task recovery marks the task failed (its worker died
# and it is not safe, or no longer allowed, to run it again): task path -> handler(task_id, kwargs, reason).
AbandonHandler = Callable[[str, dict[str, Any], str], None]
_abandon_handlers: dict[str, AbandonHandler] = {}


def when_abandoned(task_obj: Any) -> Callable[[AbandonHandler], AbandonHandler]:
    """Register, next to a task, what marks its domain record failed when the recovery abandons it.

    Without it a record the task set to "running" (an intake run, an upload) would stay "running" for
    ever once the task is failed. The handler gets the task id, the task's keyword arguments and the
    recovery's reason, runs inside the recovery's transaction and must be idempotent (a record already
    finished is left alone).
    """

    def register(handler: AbandonHandler) -> AbandonHandler:
        _abandon_handlers[task_obj.module_path] = handler
        return handler

    return register


def abandon_handler(task_path: str) -> AbandonHandler | None:
    """The handler registered for a task path; importing the task's module registers its handlers."""
    from django.utils.module_loading import import_string

    if task_path not in _abandon_handlers:
        try:
            import_string(task_path)
        except ImportError:
            return None
    return _abandon_handlers.get(task_path)


def fail_abandoned_record(
    queryset: Any, record_id: int | None, task_id: str, reason: str, failed: str
) -> Any:
    """Mark failed the upload or intake record (``queryset``: those still queued or running) whose task the
    recovery gave up on, found by id or else by task id; ``None`` when it has already finished.

    For a record with ``status`` and ``message`` whose file was taken all or nothing, so the message can
    say nothing was written. Saved as no user, with the recovery's reason in the change log.
    """
    from django.utils.translation import gettext as _

    from qslab.core.context import acting_as

    rows = queryset.select_for_update()
    record = rows.filter(pk=record_id).first() if record_id else rows.filter(task_id=task_id).first()
    if record is None:
        return None
    record.status = failed
    record.message = _(
        "Stopped: the background worker was lost (%(reason)s). Nothing was written; upload the file again."
    ) % {"reason": reason}
    with acting_as(None, reason):
        record.save(update_fields=["status", "message", "last_updated"])
    return record


class Progress:
    """Write a task's progress where the UI polls it.

    ``with Progress(task_id, label, total) as p: p.advance()``
    """

    def __init__(self, task_id: str, label: str, total: int = 0, owner: Any = None):
        self.row, _ = TaskProgress.objects.update_or_create(
            task_id=task_id, defaults={"label": label, "total": total, "owner": owner, "status": "running"}
        )

    def advance(self, steps: int = 1, message: str = "") -> None:
        self.row.done += steps
        self.row.message = message or self.row.message
        self.row.save(update_fields=["done", "message", "updated"])

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.row.status = "failed" if exc_type else "done"
        if exc is not None:
            self.row.message = str(exc)[:300]
        self.row.save(update_fields=["status", "message", "updated"])


@task(takes_context=True)
def send_reminders_task(context: Any, owner_id: int | None = None) -> dict[str, int]:
    """The daily reminder job, with its progress visible to whoever started it (and the office)."""
    from qslab.accounts.models import User
    from qslab.core.documents import sweep_orphan_files
    from qslab.core.reminders import close_orphan_deadlines, send_reminders

    owner = User.objects.filter(pk=owner_id).first() if owner_id else None
    with Progress(
        str(context.task_result.id), "Reminders and overdue marks", total=1, owner=owner
    ) as progress:
        # Deadlines of deleted objects are closed first: nobody is reminded of something that is gone.
        orphans = close_orphan_deadlines()
        result = send_reminders()
        # Files of documents whose transaction rolled back (or whose worker died) are removed once old.
        swept = len(sweep_orphan_files())
        progress.advance(
            message=f"reminded {result['reminded']}, overdue {result['overdue']}, "
            f"closed for deleted objects {orphans}, stray files removed {swept}"
        )
    return result


@task()
def recover_stale_tasks_task() -> dict[str, int]:
    """Frequent: queue again (idempotent tasks) or mark failed the tasks whose worker died, audited."""
    from qslab.core.services import recover_stale_tasks

    return recover_stale_tasks()
