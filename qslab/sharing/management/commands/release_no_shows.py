"""Release bookings whose user did not check in (no-show) and count the violation; for cron or the
scheduler. Idempotent."""

from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Mark approved bookings not checked in within the grace period as no-shows."

    def handle(self, *args: Any, **options: Any) -> None:
        from qslab.sharing.services import release_no_shows

        self.stdout.write(f"Released {release_no_shows()} booking(s).")
