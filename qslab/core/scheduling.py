"""The jobs the scheduler enqueues: each app registers its own in ``AppConfig.ready``.

``run_scheduler`` (started by ``make run``; a cron line or systemd timer in production) knows no app by
name: it enqueues every *daily* job once a day and every *frequent* job at each check. A job is a
django-tasks task path, so the worker runs it with retries and visible progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.utils.module_loading import import_string

Cadence = Literal["daily", "frequent"]


@dataclass(frozen=True)
class ScheduledJob:
    task_path: str  # dotted path of a django-tasks task taking no arguments
    description: str
    cadence: Cadence = "daily"


_jobs: list[ScheduledJob] = []


def register_job(task_path: str, description: str, cadence: Cadence = "daily") -> None:
    """Add a job (idempotent: ``ready`` may run more than once in tests)."""
    job = ScheduledJob(task_path, description, cadence)
    if job not in _jobs:
        _jobs.append(job)


def jobs(cadence: Cadence) -> list[ScheduledJob]:
    return [job for job in _jobs if job.cadence == cadence]


def enqueue(job: ScheduledJob) -> str:
    """Enqueue one job; returns the task result id."""
    return str(import_string(job.task_path).enqueue().id)
