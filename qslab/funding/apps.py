from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FundingConfig(AppConfig):
    name = "qslab.funding"
    label = "funding"
    verbose_name = _("Budgets and subsidies")

    def ready(self) -> None:
        from qslab.core.dashboard import register_queue
        from qslab.core.navigation import register_nav
        from qslab.funding.services import queue_items

        register_queue(queue_items)
        register_nav(
            _("Budgets"), "funding:budgets", roles={"office", "committee", "authority", "lab_manager"}
        )

        register_nav(_("Self-evaluation reviews"), "funding:reviews", roles={"expert"}, order=52)

        from qslab.core.scheduling import register_job

        register_job(
            "qslab.funding.tasks.scheduled_monitoring_task",
            "in-year budget monitoring, once a year from the rules' monitoring date (idempotent)",
        )
