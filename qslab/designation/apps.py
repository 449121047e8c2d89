from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DesignationConfig(AppConfig):
    name = "qslab.designation"
    label = "designation"
    verbose_name = _("Designation")
