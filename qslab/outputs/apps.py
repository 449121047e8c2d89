from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutputsConfig(AppConfig):
    name = "qslab.outputs"
    label = "outputs"
    verbose_name = _("Research outputs")

    def ready(self) -> None:
        from qslab.core.dashboard import QueueItem, register_queue
        from qslab.core.navigation import register_nav

        register_nav(_("Outputs"), "outputs:index", roles=None)

        def claims_to_verify(user):  # type: ignore[no-untyped-def]
            from qslab.accounts.roles import Role, has_role
            from qslab.outputs.models import Output

            if not has_role(user, Role.OFFICE):
                return []
            return [
                QueueItem(
                    label=f"{o.laboratory.code}: {o.title} — verify?", url=o.get_absolute_url(), kind="output"
                )
                for o in Output.objects.filter(status="claimed").select_related("laboratory")[:50]
            ]

        register_queue(claims_to_verify)
