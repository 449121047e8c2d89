"""Background tasks of the platform (django-tasks, database backend), with progress the UI can show."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from qslab.core.models import TaskProgress


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
