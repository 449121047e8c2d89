from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DesignationConfig(AppConfig):
    name = "qslab.designation"
    label = "designation"
    verbose_name = _("Designation")

    def ready(self) -> None:
        from qslab.core.dashboard import register_queue
        from qslab.core.navigation import register_nav

        def designation_queue(user):  # type: ignore[no-untyped-def]
            from qslab.designation.services import queue_items

            return queue_items(user)

        register_queue(designation_queue)
        register_nav(_("Calls"), "designation:calls")
        register_nav(
            _("Applications"),
            "designation:applications",
            roles={"office", "committee", "authority", "lab_manager", "expert"},
        )
        register_nav(_("Designation notices"), "designation:notices")
