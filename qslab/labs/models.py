"""Laboratory registry. The minimal record other apps link to; the labs app grows it (issue 5)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from qslab.accounts.models import Organisation
from qslab.accounts.roles import Role, has_role, scoped_ids
from qslab.core.models import ChangeLoggedModel, bilingual
from qslab.core.regions import region_choices, validate_region_code


class Laboratory(ChangeLoggedModel):
    """A national quality standards laboratory (国家XX质量标准实验室)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    supporting_institution = models.ForeignKey(
        Organisation,
        verbose_name=_("supporting institution"),
        on_delete=models.PROTECT,
        related_name="laboratories",
    )
    region_code = models.CharField(
        _("region"), max_length=6, choices=region_choices(), validators=[validate_region_code]
    )
    status = models.CharField(_("status"), max_length=24, default="proposed")

    class Meta:
        ordering = ("code",)
        verbose_name = _("laboratory")
        verbose_name_plural = _("laboratories")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        try:
            return reverse("labs:detail", args=[self.pk])
        except Exception:  # noqa: BLE001 - the page arrives with the labs app's views
            return ""

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    def scope_matches(self, membership: Any) -> bool:
        """A region-scoped authority covers the laboratories of its province (GB/T 2260 prefix)."""
        if membership.region_code:
            prefix = membership.region_code.rstrip("0")[:2] or membership.region_code[:2]
            return self.region_code.startswith(prefix)
        return False

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q()  # the registry is public

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return models.Q()
        ids = scoped_ids(user, Role.LAB_MANAGER, cls)
        if ids is None:
            return models.Q()
        return models.Q(pk__in=ids)
