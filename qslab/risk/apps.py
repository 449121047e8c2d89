from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RiskConfig(AppConfig):
    name = "qslab.risk"
    label = "risk"
    verbose_name = _("Product risk")

    def ready(self) -> None:
        from qslab.core.dashboard import register_queue
        from qslab.risk.queues import risk_queue

        register_queue(risk_queue)

        from qslab.core.navigation import register_nav

        register_nav(_("Product safety"), "risk:home", order=70)

        from qslab.risk.search import connect_signals

        connect_signals()

        from qslab.core.scheduling import register_job

        register_job("qslab.risk.tasks.early_warning_task", "product-risk early warning over all series")
        register_job("qslab.risk.tasks.weekly_digest_task", "weekly consumer-alert digest (idempotent)")
