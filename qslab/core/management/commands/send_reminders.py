from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Send due-soon reminders and mark overdue deadlines now (what the daily job does)."

    def handle(self, *args: Any, **options: Any) -> None:
        from qslab.core.reminders import send_reminders

        result = send_reminders()
        self.stdout.write(f"reminded {result['reminded']}, marked overdue {result['overdue']}")
