from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "qslab.portal"
    label = "portal"
    verbose_name = _("Public portal")

    def ready(self) -> None:
        from qslab.core.dashboard import QueueItem, register_queue

        def notices_waiting(user):  # type: ignore[no-untyped-def]
            from qslab.accounts.roles import Role, has_role
            from qslab.portal.models import Notice

            items = []
            if has_role(user, Role.COMMITTEE):
                for n in Notice.objects.filter(status=Notice.Status.IN_REVIEW)[:50]:
                    items.append(
                        QueueItem(label=f"{n.title} — approve?", url=n.get_absolute_url(), kind="notice")
                    )
            if has_role(user, Role.OFFICE):
                for n in Notice.objects.filter(status=Notice.Status.DRAFT)[:50]:
                    items.append(
                        QueueItem(label=f"{n.title} — draft", url=n.get_absolute_url(), kind="notice")
                    )
            return items

        register_queue(notices_waiting)
