from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    name = "qslab.sharing"
    label = "sharing"
    verbose_name = _("Open sharing")

    def ready(self) -> None:
        from qslab.core.dashboard import register_queue
        from qslab.core.navigation import register_nav

        def sharing_queue(user):  # type: ignore[no-untyped-def]
            from qslab.sharing.services import queue_items

            return queue_items(user)

        register_queue(sharing_queue)
        register_nav(_("Shared resources"), "sharing:catalogue", order=60)
        register_nav(_("My bookings"), "sharing:bookings", roles=set(), order=61)

        from qslab.core.scheduling import register_job

        register_job(
            "qslab.sharing.tasks.send_booking_reminders_task", "booking reminders (starting tomorrow)"
        )
        # Every check, so bookings not checked in are released promptly.
        register_job("qslab.sharing.tasks.release_no_shows_task", "no-show release", cadence="frequent")
