"""The scheduled early-warning job: every active series family, all series at once; idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the configured detectors over every series in the analytical store and store signals."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--enqueue", action="store_true", help="queue it as a background task instead")

    def handle(self, *args: Any, enqueue: bool = False, **options: Any) -> None:
        if enqueue:
            from qslab.risk.tasks import early_warning_task

            result = early_warning_task.enqueue()
            self.stdout.write(f"queued task {result.id}")
            return
        from qslab.risk.services import run_early_warning

        run = run_early_warning()
        self.stdout.write(run.report)
        self.stdout.write(f"{run.n_new_signals} new signal(s), {run.n_new_alarms} new alarm(s)")
