from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "qslab.core"
    label = "core"
    verbose_name = _("Platform")

    def ready(self) -> None:
        from qslab.core import changelog

        changelog.connect()
