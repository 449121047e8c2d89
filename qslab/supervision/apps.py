from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupervisionConfig(AppConfig):
    name = "qslab.supervision"
    label = "supervision"
    verbose_name = _("Supervision")

    def ready(self) -> None:
        from qslab.core.dashboard import register_queue
        from qslab.core.navigation import register_nav
        from qslab.supervision.services import queue_items

        register_queue(queue_items)
        register_nav(_("Supervision"), "supervision:home", roles=None)
