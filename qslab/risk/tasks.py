"""Background tasks of the risk app (django-tasks): data intake and the early-warning job."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from qslab.core.tasks import Progress, when_abandoned


@task(takes_context=True)
def ingest_task(context: Any, run_id: int) -> dict[str, Any]:
    """Take one uploaded file into the analytical store, all or nothing, with progress."""
    from qslab.risk.models import IngestRun
    from qslab.risk.services import run_ingest

    run = IngestRun.objects.select_related("owner").get(pk=run_id)
    task_id = str(context.task_result.id)
    if not run.task_id:
        IngestRun.objects.filter(pk=run.pk).update(task_id=task_id)
    with Progress(task_id, f"Data intake: {run.file_name}", total=1, owner=run.owner) as progress:
        run = run_ingest(run, progress=progress)
    return {"status": run.status, "inserted": run.n_inserted, "problems": len(run.problems)}


@when_abandoned(ingest_task)
def _ingest_abandoned(task_id: str, kwargs: dict[str, Any], reason: str) -> None:
    from qslab.risk.services import abandon_ingest

    abandon_ingest(kwargs.get("run_id"), task_id, reason)


@task(takes_context=True)
def early_warning_task(context: Any, owner_id: int | None = None) -> dict[str, int]:
    """The scheduled early-warning job over every active series family, with progress."""
    from qslab.accounts.models import User
    from qslab.risk.models import SeriesFamily
    from qslab.risk.services import run_early_warning

    owner = User.objects.filter(pk=owner_id).first() if owner_id else None
    families = list(SeriesFamily.objects.filter(active=True))
    task_id = str(context.task_result.id)
    with Progress(task_id, "Early warning over all series", total=len(families), owner=owner) as progress:
        run = run_early_warning(owner, families=families, progress=progress, task_id=task_id)
    return {"run": run.pk, "new_signals": run.n_new_signals, "new_alarms": run.n_new_alarms}


@when_abandoned(early_warning_task)
def _early_warning_abandoned(task_id: str, kwargs: dict[str, Any], reason: str) -> None:
    from qslab.risk.services import abandon_early_warning

    abandon_early_warning(task_id, reason)


@task(takes_context=True)
def weekly_digest_task(context: Any, year: int | None = None, week: int | None = None) -> dict[str, Any]:
    """The weekly consumer-alert digest (by default of the last complete ISO week), with progress."""
    from qslab.risk.services import build_weekly_digest

    with Progress(str(context.task_result.id), "Weekly consumer-alert digest", total=1) as progress:
        digest = build_weekly_digest(year, week)
        progress.advance(message=f"{digest}: {digest.alerts.count()} alert(s)")
    return {"digest": str(digest), "alerts": digest.alerts.count()}
