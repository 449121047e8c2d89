"""The analyst's queue on the dashboard: open signals and reports waiting for review."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from qslab.core.dashboard import QueueItem


def risk_queue(user: Any) -> list[QueueItem]:
    from qslab.risk.models import IncidentReport, Signal, is_risk_staff

    if not is_risk_staff(user):
        return []
    items = [
        QueueItem(
            label=_("Signal (%(severity)s): %(series)s")
            % {"severity": s.get_severity_display(), "series": s.unit_label or s.unit},
            url=s.get_absolute_url(),
            due=s.due,
            kind="signal",
        )
        for s in Signal.objects.visible_to(user)
        .filter(status__in=[v.value for v in Signal.OPEN])
        .select_related("family")
        .order_by("created")[:50]
    ]
    items += [
        QueueItem(
            label=_("Incident report to review: %(ref)s") % {"ref": r.reference},
            url=r.get_absolute_url(),
            kind="report",
        )
        for r in IncidentReport.objects.visible_to(user).filter(status=IncidentReport.Status.SUBMITTED)[:50]
    ]
    return items
