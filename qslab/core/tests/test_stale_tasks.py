"""A task whose worker died (RUNNING, no progress for longer than the lease) is queued again when it is
safe to run twice, and marked failed otherwise; both audited. The real kill is in test_worker_killed.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from qslab.core import scheduling
from qslab.core.models import ChangeRecord, TaskProgress
from qslab.core.services import recover_stale_tasks

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
INGEST = "qslab.risk.tasks.ingest_task"
EARLY_WARNING = "qslab.risk.tasks.early_warning_task"  # not listed as restartable


@pytest.fixture(autouse=True)
def lease(settings):
    settings.QSLAB_TASK_LEASE_SECONDS = 600
    settings.QSLAB_TASK_MAX_ATTEMPTS = 3


def running_task(
    path: str,
    started_minutes_ago: int,
    attempts: int = 1,
    beat_minutes_ago: int | None = None,
    kwargs: dict | None = None,
):
    task = DBTaskResult.objects.create(
        status="RUNNING",
        args_kwargs={"args": [], "kwargs": kwargs or {}},
        task_path=path,
        backend_name="default",
        run_after=get_date_max(),
        started_at=NOW - dt.timedelta(minutes=started_minutes_ago),
        worker_ids=[f"worker-{i}" for i in range(attempts)],
        exception_class_path="",
        traceback="",
    )
    if beat_minutes_ago is not None:
        TaskProgress.objects.create(task_id=str(task.id), label="work", status="running", total=1)
        TaskProgress.objects.filter(task_id=str(task.id)).update(
            updated=NOW - dt.timedelta(minutes=beat_minutes_ago)
        )
    return task


def audit_of(task) -> ChangeRecord:
    return ChangeRecord.objects.get(
        content_type=ContentType.objects.get_for_model(DBTaskResult), object_id=str(task.pk)
    )


def test_an_idempotent_task_silent_past_its_lease_is_queued_again_under_the_same_id():
    task = running_task(INGEST, started_minutes_ago=30, beat_minutes_ago=25)

    assert recover_stale_tasks(now=NOW) == {"requeued": 1, "failed": 0}

    task.refresh_from_db()
    assert task.status == "READY" and task.finished_at is None
    record = audit_of(task)
    assert (record.transition, record.from_state, record.to_state) == ("requeue", "RUNNING", "READY")
    assert "no sign of life for 1500 s (lease 600 s)" in record.reason and "attempt 2 of 3" in record.reason
    progress = TaskProgress.objects.get(task_id=str(task.id))
    assert progress.status == "queued" and "queued again" in progress.message


def test_a_task_not_safe_to_run_twice_is_marked_failed_with_the_reason():
    task = running_task(EARLY_WARNING, started_minutes_ago=30, beat_minutes_ago=20)

    assert recover_stale_tasks(now=NOW) == {"requeued": 0, "failed": 1}

    task.refresh_from_db()
    assert task.status == "FAILED" and task.finished_at == NOW
    assert task.exception_class_path == "qslab.core.services.TaskAbandoned"
    assert "not safe to run again" in task.traceback
    assert task.task_result.errors[0].exception_class_path == "qslab.core.services.TaskAbandoned"
    record = audit_of(task)
    assert (record.transition, record.to_state) == ("abandon", "FAILED")
    assert TaskProgress.objects.get(task_id=str(task.id)).status == "failed"


def test_an_idempotent_task_that_lost_its_worker_too_often_is_marked_failed():
    task = running_task(INGEST, started_minutes_ago=30, attempts=3)

    assert recover_stale_tasks(now=NOW) == {"requeued": 0, "failed": 1}

    task.refresh_from_db()
    assert task.status == "FAILED" and "tried 3 times" in task.traceback


def test_a_long_task_that_still_reports_progress_is_left_running():
    long_one = running_task(EARLY_WARNING, started_minutes_ago=120, beat_minutes_ago=2)
    young = running_task(EARLY_WARNING, started_minutes_ago=5)

    assert recover_stale_tasks(now=NOW) == {"requeued": 0, "failed": 0}

    statuses = DBTaskResult.objects.filter(pk__in=[long_one.pk, young.pk]).values_list("status", flat=True)
    assert set(statuses) == {"RUNNING"}
    assert not ChangeRecord.objects.filter(transition__in=["requeue", "abandon"]).exists()


def test_a_task_without_progress_row_counts_from_its_start():
    task = running_task(INGEST, started_minutes_ago=11)

    assert recover_stale_tasks(now=NOW)["requeued"] == 1
    task.refresh_from_db()
    assert task.status == "READY"


def test_finished_and_waiting_tasks_are_not_touched():
    done = running_task(INGEST, started_minutes_ago=60)
    DBTaskResult.objects.filter(pk=done.pk).update(status="SUCCESSFUL", finished_at=NOW)

    assert recover_stale_tasks(now=NOW) == {"requeued": 0, "failed": 0}
    done.refresh_from_db()
    assert done.status == "SUCCESSFUL"


def test_the_recovery_is_a_frequent_scheduled_job_and_every_restartable_task_exists(settings):
    from django.utils.module_loading import import_string
    from django_tasks.base import Task

    assert "qslab.core.tasks.recover_stale_tasks_task" in {j.task_path for j in scheduling.jobs("frequent")}
    for path in settings.QSLAB_RESTARTABLE_TASKS:
        assert isinstance(import_string(path), Task), path


def test_the_recovery_task_runs_with_the_configured_lease(settings):
    from qslab.core.tasks import recover_stale_tasks_task

    task = running_task(INGEST, started_minutes_ago=0)
    DBTaskResult.objects.filter(pk=task.pk).update(started_at=timezone.now() - dt.timedelta(seconds=700))

    result = recover_stale_tasks_task.enqueue()

    assert result.return_value == {"requeued": 1, "failed": 0}


TRACE_UPLOAD = "qslab.recalls.tasks.trace_upload_task"  # not listed as restartable


def running_upload(status: str = "running"):
    from qslab.core.testing import make_organisation
    from qslab.recalls.models import TraceUpload

    return TraceUpload.objects.create(
        company=make_organisation(),
        kind="units",
        file="recalls/trace/x.csv",
        file_name="x.csv",
        status=status,
    )


def test_the_record_of_a_task_marked_failed_is_marked_failed_too_with_the_reason_audited():
    upload = running_upload()
    task = running_task(TRACE_UPLOAD, started_minutes_ago=30, kwargs={"upload_id": upload.pk})

    assert recover_stale_tasks(now=NOW) == {"requeued": 0, "failed": 1}

    upload.refresh_from_db()
    assert upload.status == "failed" and not upload.is_pending
    assert "worker was lost" in upload.message and "not safe to run again" in upload.message
    record = ChangeRecord.objects.filter(
        content_type=ContentType.objects.get_for_model(upload), object_id=str(upload.pk), action="update"
    ).get()
    assert (record.before["status"], record.after["status"]) == ("running", "failed")
    assert "worker lost" in record.reason and record.user is None
    assert DBTaskResult.objects.get(pk=task.pk).status == "FAILED"


def test_an_idempotent_intake_given_up_after_its_last_attempt_is_marked_failed():
    from qslab.risk.models import IngestRun

    run = IngestRun.objects.create(
        source="neiss", file_name="x.csv", file="risk/ingest/x.csv", status="running"
    )
    running_task(INGEST, started_minutes_ago=30, attempts=3, kwargs={"run_id": run.pk})

    recover_stale_tasks(now=NOW)

    run.refresh_from_db()
    assert run.status == "failed" and "tried 3 times" in run.message


def test_an_intake_queued_again_keeps_its_running_status_for_the_next_worker():
    from qslab.risk.models import IngestRun

    run = IngestRun.objects.create(
        source="neiss", file_name="x.csv", file="risk/ingest/x.csv", status="running"
    )
    running_task(INGEST, started_minutes_ago=30, kwargs={"run_id": run.pk})

    assert recover_stale_tasks(now=NOW)["requeued"] == 1

    run.refresh_from_db()
    assert run.status == "running"


def test_a_record_already_finished_is_left_as_it_is():
    upload = running_upload(status="done")
    running_task(TRACE_UPLOAD, started_minutes_ago=30, kwargs={"upload_id": upload.pk})

    recover_stale_tasks(now=NOW)

    upload.refresh_from_db()
    assert upload.status == "done" and upload.message == ""


def test_the_record_is_found_by_its_task_id_when_the_arguments_do_not_name_it():
    upload = running_upload()
    task = running_task(TRACE_UPLOAD, started_minutes_ago=30)
    type(upload).objects.filter(pk=upload.pk).update(task_id=str(task.pk))

    recover_stale_tasks(now=NOW)

    upload.refresh_from_db()
    assert upload.status == "failed"


def test_a_task_without_a_handler_is_still_marked_failed():
    from qslab.core.tasks import abandon_handler

    assert abandon_handler("qslab.nowhere.tasks.gone_task") is None
    task = running_task("qslab.nowhere.tasks.gone_task", started_minutes_ago=30)

    assert recover_stale_tasks(now=NOW) == {"requeued": 0, "failed": 1}
    task.refresh_from_db()
    assert task.status == "FAILED"


def test_every_task_whose_record_has_a_running_status_registers_a_handler():
    from qslab.core.tasks import abandon_handler

    for path in (INGEST, TRACE_UPLOAD, EARLY_WARNING):
        assert abandon_handler(path) is not None, path


def running_early_warning(task_id: str, **fields):
    from qslab.risk.models import EarlyWarningRun

    return EarlyWarningRun.objects.create(task_id=task_id, **fields)


def test_an_early_warning_run_whose_worker_died_is_marked_failed_with_the_reason_audited():
    task = running_task(EARLY_WARNING, started_minutes_ago=30)
    run = running_early_warning(str(task.pk))
    other = running_early_warning("another-task")

    assert recover_stale_tasks(now=NOW) == {"requeued": 0, "failed": 1}

    run.refresh_from_db()
    assert run.status == "failed" and run.finished is None
    assert "worker was lost" in run.error and "not safe to run again" in run.error
    record = ChangeRecord.objects.filter(
        content_type=ContentType.objects.get_for_model(run), object_id=str(run.pk), action="update"
    ).get()
    assert (record.before["status"], record.after["status"]) == ("running", "failed")
    assert "worker lost" in record.reason and record.user is None
    other.refresh_from_db()
    assert other.status == "running", "only the run of the abandoned task is failed"


def test_a_finished_early_warning_run_is_left_as_it_is_when_its_task_is_abandoned():
    task = running_task(EARLY_WARNING, started_minutes_ago=30)
    run = running_early_warning(str(task.pk), status="finished", finished=NOW, report="done")

    recover_stale_tasks(now=NOW)

    run.refresh_from_db()
    assert (run.status, run.error, run.report) == ("finished", "", "done")


def test_the_early_warning_task_records_its_id_on_the_run_before_the_work_so_a_crash_leaves_it_findable(
    settings, tmp_path, users
):
    from qslab.risk.models import EarlyWarningRun
    from qslab.risk.tasks import early_warning_task

    settings.DUCKDB_PATH = tmp_path  # a directory: the analytical store cannot be opened
    result = early_warning_task.enqueue(owner_id=users["analyst"].pk)

    assert result.status == "FAILED"
    run = EarlyWarningRun.objects.get()
    assert run.task_id == str(result.id)
    assert run.status == "failed" and run.finished is None and run.error


def test_the_early_warning_page_shows_each_runs_state_and_why_it_failed(users, clients):
    task = running_task(EARLY_WARNING, started_minutes_ago=30)
    running_early_warning(str(task.pk))
    running_early_warning("t-finished", status="finished", finished=NOW)
    recover_stale_tasks(now=NOW)

    page = clients["analyst"].get("/risk/early-warning/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert 'data-run-status="failed"' in page and 'data-run-status="finished"' in page
    assert "worker was lost" in page
