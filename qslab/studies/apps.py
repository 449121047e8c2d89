from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StudiesConfig(AppConfig):
    name = "qslab.studies"
    label = "studies"
    verbose_name = _("Laboratory studies")

    def ready(self) -> None:
        from qslab.core.dashboard import QueueItem, register_queue

        def studies_waiting(user):  # type: ignore[no-untyped-def]
            """Open SPC alarms of the user's laboratories, and rounds waiting for the organiser."""
            from django.utils.translation import gettext as _t

            from qslab.accounts.roles import Role, has_role
            from qslab.studies.models import Alarm, PTRound

            if not has_role(user, Role.LAB_MANAGER):
                return []
            items = [
                QueueItem(label=_t("Alarm: %(a)s") % {"a": a}, url=a.get_absolute_url(), kind="spc_alarm")
                for a in Alarm.objects.editable_by(user)
                .filter(status="open")
                .select_related("monitor", "point")[:50]
            ]
            for rnd in PTRound.objects.editable_by(user).filter(status="open")[:20]:
                items.append(
                    QueueItem(
                        label=_t("Close PT round %(code)s after its deadline") % {"code": rnd.code},
                        url=rnd.get_absolute_url(),
                        due=rnd.deadline,
                        kind="pt_round",
                    )
                )
            return items

        register_queue(studies_waiting)

        from qslab.core.navigation import register_nav

        register_nav(_("Studies"), "studies:index", roles=set(), order=65)
