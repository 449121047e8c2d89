"""A small scheduler for `make run`: enqueues the registered daily jobs once a day (and at start) and the
frequent ones at every check. Apps register their jobs with ``qslab.core.scheduling.register_job``."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from qslab.core import scheduling


class Command(BaseCommand):
    help = "Enqueue the registered daily jobs daily, the frequent ones at each check; runs until stopped."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="enqueue today's jobs and exit")
        parser.add_argument("--interval", type=int, default=300, help="seconds between checks")

    def handle(self, *args: Any, once: bool = False, interval: int = 300, **options: Any) -> None:
        last_day = None
        while True:
            today = timezone.localdate()
            if today != last_day:
                for job in scheduling.jobs("daily"):
                    task_id = scheduling.enqueue(job)
                    self.stdout.write(
                        f"{timezone.now():%Y-%m-%d %H:%M} enqueued {job.description} ({task_id})"
                    )
                last_day = today
            for job in scheduling.jobs("frequent"):
                scheduling.enqueue(job)
            if once:
                return
            time.sleep(interval)
