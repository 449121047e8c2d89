"""Consumer alerts: what an alert needs before approval, and its public view (never a confidential field)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from qslab.risk.models import ConsumerAlert


def readiness_problem(alert: ConsumerAlert) -> str | None:
    """Why the alert cannot be submitted or approved yet, or None (both languages are required)."""
    missing = []
    for zh, en, label in (
        ("title_zh", "title_en", _("title")),
        ("product_name_zh", "product_name_en", _("product")),
        ("hazard_description_zh", "hazard_description_en", _("the hazard")),
        ("measures_zh", "measures_en", _("measures taken")),
        ("advice_zh", "advice_en", _("advice to consumers")),
    ):
        if not (getattr(alert, zh).strip() and getattr(alert, en).strip()):
            missing.append(str(label))
    if missing:
        return _("Write these in Chinese and English before approval: %(fields)s.") % {
            "fields": ", ".join(missing)
        }
    if not alert.hazard_id or not alert.risk_level:
        return _("Give the hazard and the risk level before approval.")
    return None


def public_view(alert: ConsumerAlert) -> dict[str, Any]:
    """The alert's public fields only (the one source of public pages, feed, digest and API)."""
    out: dict[str, Any] = {}
    for name in ConsumerAlert.PUBLIC_FIELDS:
        value = getattr(alert, name)
        if name in ("product_category", "hazard"):
            value = value.code if value is not None else None
        out[name] = value
    return out
