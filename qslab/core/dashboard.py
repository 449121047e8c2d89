"""Each role's queue: what waits for the user, with due dates, overdue first.

Apps register providers (``register_queue``) in their ``AppConfig.ready``; the dashboard merges them,
so a new app adds its work items without touching this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone


@dataclass(frozen=True)
class QueueItem:
    label: str
    url: str
    due: dt.date | None = None
    kind: str = ""

    @property
    def overdue(self) -> bool:
        return self.due is not None and self.due < timezone.localdate()


QueueProvider = Callable[[Any], list[QueueItem]]
_providers: list[QueueProvider] = []


def register_queue(provider: QueueProvider) -> QueueProvider:
    if provider not in _providers:
        _providers.append(provider)
    return provider


def queue_for(user: Any) -> list[QueueItem]:
    items: list[QueueItem] = []
    for provider in _providers:
        items.extend(provider(user))
    far = dt.date.max
    return sorted(items, key=lambda i: (not i.overdue, i.due or far, i.label))


@register_queue
def _deadlines(user: Any) -> list[QueueItem]:
    from qslab.core.models import Deadline

    items = []
    for d in (
        Deadline.objects.visible_to(user).filter(done_at__isnull=True).select_related("content_type")[:200]
    ):
        target = d.target
        url = target.get_absolute_url() if target is not None and hasattr(target, "get_absolute_url") else ""
        items.append(QueueItem(label=d.label, url=url, due=d.due, kind="deadline"))
    return items
