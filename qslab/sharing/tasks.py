"""Background jobs of open sharing (django-tasks)."""

from __future__ import annotations

from django_tasks import task


@task()
def release_no_shows_task() -> dict[str, int]:
    """Release approved bookings not checked in within the grace period (run every few minutes)."""
    from qslab.sharing.services import release_no_shows

    return {"released": release_no_shows()}


@task()
def send_booking_reminders_task() -> dict[str, int]:
    """Remind bookers of tomorrow's bookings (once each; enqueued by the daily scheduler with the
    platform's reminders)."""
    from qslab.sharing.services import send_booking_reminders

    return {"reminded": send_booking_reminders()}
