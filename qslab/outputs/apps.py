from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutputsConfig(AppConfig):
    name = "qslab.outputs"
    label = "outputs"
    verbose_name = _("Research outputs")
