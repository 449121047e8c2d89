"""The Atom feed of published consumer alerts: public fields only, in the reader's language."""

from __future__ import annotations

from typing import Any

from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _

from qslab.risk.alerts import public_view
from qslab.risk.models import AlertUpdate, ConsumerAlert, RiskLevel


class AlertFeed(Feed):
    feed_type = Atom1Feed

    def title(self) -> str:
        return _("Consumer product safety alerts")

    def subtitle(self) -> str:
        return _("Alerts published by the committee office on unsafe consumer products.")

    def link(self) -> str:
        return reverse("risk:alerts")

    def items(self) -> Any:
        return ConsumerAlert.objects.visible_to(None).select_related("hazard", "product_category")[:50]

    def item_title(self, item: ConsumerAlert) -> str:
        view = public_view(item)
        level = RiskLevel(view["risk_level"]).label if view["risk_level"] else ""
        title = item.title_zh if _is_zh() else item.title_en
        return f"{view['reference']} {title or item.title} ({level})".strip()

    def item_description(self, item: ConsumerAlert) -> str:
        """Only the public fields (never the operator, supply chain, sources or notes)."""
        view = public_view(item)
        zh = _is_zh()

        def pick(name: str) -> str:
            return (
                (view[f"{name}_zh"] or view[f"{name}_en"])
                if zh
                else (view[f"{name}_en"] or view[f"{name}_zh"])
            )

        parts = [
            f"{_('Product')}: {pick('product_name')} {view['brand']} {view['model']}".strip(),
            f"{_('Batch')}: {view['batch']}" if view["batch"] else "",
            f"{_('Barcode')}: {view['barcode']}" if view["barcode"] else "",
            f"{_('Hazard')}: {pick('hazard_description')}",
            f"{_('Measures taken')}: {pick('measures')}",
            f"{_('Advice to consumers')}: {pick('advice')}",
        ]
        updates = AlertUpdate.objects.visible_to(None).filter(alert=item)
        parts += [f"{_('Update')} {u.date}: {u.text}" for u in updates]
        return "\n".join(p for p in parts if p)

    def item_link(self, item: ConsumerAlert) -> str:
        return item.get_absolute_url()

    def item_pubdate(self, item: ConsumerAlert) -> Any:
        return item.published_at

    def item_updateddate(self, item: ConsumerAlert) -> Any:
        return item.last_updated or item.published_at or timezone.now()

    def item_guid(self, item: ConsumerAlert) -> str:
        return f"urn:qslab:alert:{item.reference}"

    item_guid_is_permalink = False


def _is_zh() -> bool:
    from django.utils.translation import get_language

    return (get_language() or "en").startswith("zh")
