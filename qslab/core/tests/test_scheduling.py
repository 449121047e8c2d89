"""The scheduler enqueues what the apps registered, and every registered job is a real task."""

from __future__ import annotations

import io

from django.core.management import call_command
from django.utils.module_loading import import_string
from django_tasks.base import Task

from qslab.core import scheduling


def test_every_registered_job_names_a_task_that_takes_no_arguments():
    registered = scheduling.jobs("daily") + scheduling.jobs("frequent")
    assert registered, "apps register their jobs in AppConfig.ready"
    for job in registered:
        task = import_string(job.task_path)
        assert isinstance(task, Task), job.task_path


def test_the_apps_jobs_are_registered_without_the_scheduler_naming_them():
    daily = {job.task_path for job in scheduling.jobs("daily")}
    assert "qslab.core.tasks.send_reminders_task" in daily
    assert "qslab.risk.tasks.early_warning_task" in daily
    assert {job.task_path for job in scheduling.jobs("frequent")} >= {
        "qslab.sharing.tasks.release_no_shows_task"
    }


def test_registering_a_job_twice_keeps_one(monkeypatch):
    monkeypatch.setattr(scheduling, "_jobs", [])
    scheduling.register_job("qslab.core.tasks.send_reminders_task", "reminders")
    scheduling.register_job("qslab.core.tasks.send_reminders_task", "reminders")
    assert len(scheduling.jobs("daily")) == 1


def test_run_scheduler_once_enqueues_each_daily_and_frequent_job(db, monkeypatch):
    enqueued: list[str] = []
    monkeypatch.setattr(scheduling, "enqueue", lambda job: enqueued.append(job.task_path) or "id")
    out = io.StringIO()
    call_command("run_scheduler", "--once", stdout=out)
    expected = [job.task_path for job in scheduling.jobs("daily") + scheduling.jobs("frequent")]
    assert enqueued == expected
    assert "daily reminders" in out.getvalue()
