"""The public Atom feed of recall notices: public fields only (title, defect, remedy, advice)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext_lazy as _


class RecallFeed(Feed):
    feed_type = Atom1Feed
    title = _("Product recalls")
    subtitle = _("Recall notices published on the product safety portal")

    def link(self) -> str:
        return reverse("recalls:public_recalls")

    def items(self) -> Any:
        from qslab.recalls.services import search_public_recalls

        return search_public_recalls()[:50]

    def item_title(self, item: Any) -> str:
        return f"{item.reference} {item.title}"

    def item_description(self, item: Any) -> str:
        parts = [item.defect, f"{item.get_remedy_display()}: {item.remedy_text}", item.advice]
        return "\n\n".join(p for p in parts if p.strip())

    def item_link(self, item: Any) -> str:
        return item.get_public_url()

    def item_pubdate(self, item: Any) -> dt.datetime | None:
        return item.notice_published_at

    def item_updateddate(self, item: Any) -> dt.datetime:
        return item.last_updated

    def item_categories(self, item: Any) -> list[str]:
        return [item.hazard.name] if item.hazard_id else []
