"""Remind bookers of their bookings that start tomorrow (what the daily scheduler enqueues). Idempotent."""

from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Notify each booker of their approved or requested bookings that start tomorrow (once each)."

    def handle(self, *args: Any, **options: Any) -> None:
        from qslab.sharing.services import send_booking_reminders

        self.stdout.write(f"Reminded {send_booking_reminders()} booking(s).")
