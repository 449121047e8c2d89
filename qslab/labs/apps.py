from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LabsConfig(AppConfig):
    name = "qslab.labs"
    label = "labs"
    verbose_name = _("Laboratories")

    def ready(self) -> None:
        from qslab.core.dashboard import register_queue
        from qslab.labs.services import queue_items

        register_queue(queue_items)

        from qslab.core.navigation import register_nav

        register_nav(_("Laboratories"), "labs:directory", order=10)
        register_nav(_("Layout plans"), "labs:plans", roles={"office", "committee", "authority"}, order=11)
