from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "qslab.core"
    label = "core"
    verbose_name = _("Platform")

    def ready(self) -> None:
        from qslab.core import changelog

        changelog.connect()

        from django.db.models.signals import post_delete

        from qslab.core.reminders import close_deadlines_of

        post_delete.connect(close_deadlines_of, dispatch_uid="qslab_close_deadlines_of_deleted")

        from qslab.core.scheduling import register_job

        register_job("qslab.core.tasks.send_reminders_task", "daily reminders and overdue marks")
        register_job(
            "qslab.core.tasks.recover_stale_tasks_task",
            "stale-task recovery (tasks whose worker died: queued again or marked failed)",
            cadence="frequent",
        )
