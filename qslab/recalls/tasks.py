"""Background tasks of the recalls app (django-tasks): supply-chain uploads into the analytical store."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from qslab.core.tasks import Progress, when_abandoned


@task(takes_context=True)
def trace_upload_task(context: Any, upload_id: int) -> dict[str, Any]:
    """Check and load one uploaded file of units or events, all or nothing, with progress."""
    from qslab.recalls.models import TraceUpload
    from qslab.recalls.services import run_trace_upload

    record = TraceUpload.objects.select_related("owner", "company").get(pk=upload_id)
    task_id = str(context.task_result.id)
    if not record.task_id:
        TraceUpload.objects.filter(pk=record.pk).update(task_id=task_id)
    with Progress(
        task_id, f"Supply-chain upload: {record.file_name}", total=3, owner=record.owner
    ) as progress:
        record = run_trace_upload(record, progress=progress)
    return {"status": record.status, "inserted": record.n_inserted, "problems": len(record.problems)}


@when_abandoned(trace_upload_task)
def _trace_upload_abandoned(task_id: str, kwargs: dict[str, Any], reason: str) -> None:
    from qslab.recalls.services import abandon_trace_upload

    abandon_trace_upload(kwargs.get("upload_id"), task_id, reason)
