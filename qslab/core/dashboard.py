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


def _target_url(deadline: Any) -> str | None:
    """The address of what the deadline is about; None when that object no longer exists."""
    target = deadline.target
    if target is None:
        return None
    return target.get_absolute_url() if hasattr(target, "get_absolute_url") else ""


@register_queue
def _deadlines(user: Any) -> list[QueueItem]:
    """The user's own open deadlines (assigned to them or to a role they hold). A deadline whose object
    was deleted is left out (the daily job closes it: ``qslab.core.reminders.close_orphan_deadlines``)."""
    from qslab.core.models import Deadline

    items = []
    own = (
        Deadline.objects.visible_to(user)
        .filter(Deadline.owned_q(user), done_at__isnull=True)
        .select_related("content_type")
        .prefetch_related("target")[:200]
    )
    for d in own:
        url = _target_url(d)
        if url is not None:
            items.append(QueueItem(label=d.label, url=url, due=d.due, kind="deadline"))
    return items


def overdue_overview(user: Any) -> list[QueueItem]:
    """For the office: other people's overdue deadlines, with who owes each (an overview, not a queue)."""
    from django.utils.translation import gettext as _

    from qslab.accounts.roles import Role
    from qslab.core.models import Deadline

    roles = dict(Role.choices)
    items = []
    others = (
        Deadline.objects.visible_to(user)
        .filter(Deadline.overdue_q())
        .exclude(Deadline.owned_q(user))
        .select_related("content_type", "assignee")
        .prefetch_related("target")[:200]
    )
    for d in others:
        url = _target_url(d)
        if url is None:
            continue
        who = str(d.assignee) if d.assignee_id else str(roles.get(d.assignee_role, d.assignee_role or "—"))
        label = _("%(label)s — owed by %(who)s") % {"label": d.label, "who": who}
        items.append(QueueItem(label=label, url=url, due=d.due, kind="overdue-overview"))
    return items
