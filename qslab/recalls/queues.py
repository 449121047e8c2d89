"""Recall work on the dashboard: plans waiting for the office, notices to publish, progress reports due."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from qslab.core.dashboard import QueueItem


def recalls_queue(user: Any) -> list[QueueItem]:
    from qslab.accounts.roles import Role, has_role
    from qslab.recalls.models import Recall, company_ids
    from qslab.recalls.services import reports_due

    office = has_role(user, Role.OFFICE)
    if not office and not company_ids(user):
        return []
    items = []
    if office:
        waiting = {
            Recall.Status.SUBMITTED: _("Recall plan to decide: %(ref)s"),
            Recall.Status.APPROVED: _("Recall notice to publish: %(ref)s"),
        }
        for recall in Recall.objects.filter(status__in=list(waiting)).order_by("last_updated")[:50]:
            items.append(
                QueueItem(
                    label=waiting[recall.status] % {"ref": recall.reference},
                    url=recall.get_absolute_url(),
                    kind="recall",
                )
            )
    for recall, due in reports_due(user)[:50]:
        items.append(
            QueueItem(
                label=_("Recall progress report due: %(ref)s") % {"ref": recall.reference},
                url=recall.get_absolute_url(),
                due=due,
                kind="recall",
            )
        )
    return items
