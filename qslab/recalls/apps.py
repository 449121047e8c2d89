from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecallsConfig(AppConfig):
    name = "qslab.recalls"
    label = "recalls"
    verbose_name = _("Traceability and recalls")

    def ready(self) -> None:
        from qslab.core.dashboard import register_queue
        from qslab.core.navigation import register_nav
        from qslab.recalls.queues import recalls_queue

        register_queue(recalls_queue)
        register_nav(_("Safety portal"), "recalls:safety", order=72)
        register_nav(
            _("Recalls"), "recalls:home", roles={"office", "analyst", "authority", "client"}, order=74
        )
