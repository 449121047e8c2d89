"""Background jobs of the funding app (django-tasks)."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from qslab.core.tasks import Progress


@task(takes_context=True)
def scheduled_monitoring_task(context: Any) -> dict[str, Any]:
    """Daily: once the rules' monitoring date of the year is reached (default 1 August, on the data to
    July), run the in-year monitoring, flag, and notify; every later day does nothing (idempotent)."""
    from qslab.funding.services import run_scheduled_monitoring

    task_id = str(context.task_result.id)
    with Progress(task_id, "In-year budget monitoring", total=0) as progress:
        run = run_scheduled_monitoring(progress=progress, task_id=task_id)
        if run is None:
            progress.advance(0, message="not due, or already run this year")
            return {"ran": False}
        progress.advance(
            0,
            message=f"{run.year} data to month {run.month}: {run.budgets} budgets, {run.new_flags} new flags",
        )
    return {"ran": True, "year": run.year, "month": run.month, "budgets": run.budgets, "flags": run.new_flags}
