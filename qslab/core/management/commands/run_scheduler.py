"""A small scheduler for `make run`: enqueues the daily reminder job once a day (and at start)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone


class Command(BaseCommand):
    help = "Enqueue the daily jobs (reminders, overdue marking) once a day; runs until stopped."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="enqueue today's jobs and exit")
        parser.add_argument("--interval", type=int, default=300, help="seconds between checks")

    def handle(self, *args: Any, once: bool = False, interval: int = 300, **options: Any) -> None:
        from qslab.core.tasks import send_reminders_task
        from qslab.sharing.tasks import release_no_shows_task, send_booking_reminders_task

        last_day = None
        while True:
            today = timezone.localdate()
            if today != last_day:
                result = send_reminders_task.enqueue()
                self.stdout.write(f"{timezone.now():%Y-%m-%d %H:%M} enqueued daily reminders ({result.id})")
                from qslab.risk.tasks import early_warning_task, weekly_digest_task

                early_warning_task.enqueue()  # product risk: detectors and disproportionality over all series
                weekly_digest_task.enqueue()  # consumer alerts of the last complete week (idempotent)
                send_booking_reminders_task.enqueue()  # bookings starting tomorrow (sharing)
                last_day = today
            release_no_shows_task.enqueue()  # every check: bookings not checked in are released promptly
            if once:
                return
            time.sleep(interval)
