"""Computed figures for the quantitative indicators of an evaluation campaign (Issue 7, item 2).

A quantitative indicator names a *source key*; this module turns a key, a laboratory and the campaign's
period (a range of calendar years) into one number, read from the app that owns the records:

- ``sharing.*``: shared-instrument hours, external share, clients (``sharing.services.usage_summary``);
- ``funding.execution_rate``: budget execution, % (``qslab.funding.services.execution_of``);
- ``outputs.*``: standards, patents, papers, other verified outputs (``outputs.services.lab_figures``);
- ``supervision.*``: overdue annual reports, rectification orders and major findings (this app).

Read-only: nothing here changes state. Counts and hours are summed over the period's years; shares and
rates are taken over the whole period (external hours over all hours; the mean yearly execution rate of
the years with a budget). ``None`` means the records give no figure (e.g. no budget in the period).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from qslab.labs.models import Laboratory

Years = Sequence[int]


@dataclass(frozen=True)
class FigureSource:
    """One computed source: its key, label, unit and the function computing it."""

    key: str
    label: Any
    unit: str
    compute: Callable[[Laboratory, Years, dict[str, Any]], float | None]


def _sharing(lab: Laboratory, years: Years, cache: dict[str, Any]) -> list[dict[str, Any]]:
    from qslab.sharing.services import usage_summary

    key = f"sharing:{lab.pk}:{tuple(years)}"
    if key not in cache:
        cache[key] = [usage_summary(lab, y) for y in years]
    return cache[key]


def _outputs(lab: Laboratory, years: Years, cache: dict[str, Any]) -> list[dict[str, Any]]:
    from qslab.outputs.services import lab_figures

    key = f"outputs:{lab.pk}:{tuple(years)}"
    if key not in cache:
        cache[key] = [lab_figures(lab, y) for y in years]
    return cache[key]


def _sum_sharing(name: str) -> Callable[[Laboratory, Years, dict[str, Any]], float]:
    return lambda lab, years, cache: float(sum(row[name] for row in _sharing(lab, years, cache)))


def _sum_outputs(name: str) -> Callable[[Laboratory, Years, dict[str, Any]], float]:
    return lambda lab, years, cache: float(sum(row[name] for row in _outputs(lab, years, cache)))


def _external_share(lab: Laboratory, years: Years, cache: dict[str, Any]) -> float:
    rows = _sharing(lab, years, cache)
    hours = sum(r["machine_hours"] for r in rows)
    return round(100.0 * sum(r["external_hours"] for r in rows) / hours, 2) if hours else 0.0


def _execution_rate(lab: Laboratory, years: Years, cache: dict[str, Any]) -> float | None:
    from qslab.funding.models import Budget
    from qslab.funding.services import execution_of

    rates = []
    for budget in Budget.objects.filter(laboratory=lab, year__in=list(years)).order_by("year"):
        yearly = execution_of(budget).rates()
        if yearly and yearly[-1] is not None:
            rates.append(float(yearly[-1]))
    return round(sum(rates) / len(rates), 2) if rates else None


def _overdue_reports(lab: Laboratory, years: Years, cache: dict[str, Any]) -> float:
    """Annual reports of the period's years still unsubmitted after their due date, or submitted late."""
    today = timezone.localdate()
    n = 0
    for r in lab.annual_reports.filter(template__year__in=list(years)):
        if r.submitted_at is not None:
            n += timezone.localdate(r.submitted_at) > r.due_on
        else:
            n += r.status in ("open", "returned") and r.due_on < today
    return float(n)


def _open_rectifications(lab: Laboratory, years: Years, cache: dict[str, Any]) -> float:
    return float(lab.rectification_orders.exclude(status__in=("verified", "kept", "revoked")).count())


def _rectification_orders(lab: Laboratory, years: Years, cache: dict[str, Any]) -> float:
    return float(lab.rectification_orders.filter(created__year__in=list(years)).count())


def _major_findings(lab: Laboratory, years: Years, cache: dict[str, Any]) -> float:
    from qslab.supervision.models import Finding

    return float(
        Finding.objects.filter(
            inspection__laboratory=lab,
            inspection__conducted_on__year__in=list(years),
            severity="major",
        )
        .exclude(inspection__status__in=("planned", "cancelled"))
        .count()
    )


SOURCES: dict[str, FigureSource] = {
    s.key: s
    for s in (
        FigureSource(
            "sharing.machine_hours", _("shared-instrument hours"), "h", _sum_sharing("machine_hours")
        ),
        FigureSource(
            "sharing.external_hours",
            _("shared-instrument hours for outside users"),
            "h",
            _sum_sharing("external_hours"),
        ),
        FigureSource(
            "sharing.external_share", _("share of instrument hours for outside users"), "%", _external_share
        ),
        FigureSource(
            "sharing.clients",
            _("clients of shared instruments (per year, summed)"),
            "",
            _sum_sharing("clients"),
        ),
        FigureSource("sharing.bookings", _("bookings of shared instruments"), "", _sum_sharing("bookings")),
        FigureSource(
            "sharing.service_requests", _("service requests received"), "", _sum_sharing("service_requests")
        ),
        FigureSource("funding.execution_rate", _("budget execution rate"), "%", _execution_rate),
        FigureSource(
            "outputs.standards_published", _("standards published"), "", _sum_outputs("standards_published")
        ),
        FigureSource(
            "outputs.standards_published_as_lead",
            _("standards published as lead drafter"),
            "",
            _sum_outputs("standards_published_as_lead"),
        ),
        FigureSource("outputs.patents_granted", _("patents granted"), "", _sum_outputs("patents_granted")),
        FigureSource("outputs.papers", _("papers (verified)"), "", _sum_outputs("papers")),
        FigureSource("outputs.methods", _("test and certification methods"), "", _sum_outputs("methods")),
        FigureSource("outputs.trainees", _("trainees"), "", _sum_outputs("trainees")),
        FigureSource("supervision.overdue_reports", _("overdue annual reports"), "", _overdue_reports),
        FigureSource(
            "supervision.open_rectifications", _("open rectification orders"), "", _open_rectifications
        ),
        FigureSource(
            "supervision.rectification_orders", _("rectification orders issued"), "", _rectification_orders
        ),
        FigureSource("supervision.major_findings", _("major inspection findings"), "", _major_findings),
    )
}


def source_label(key: str) -> str:
    source = SOURCES.get(key)
    return f"{source.label} ({key})" if source else key


def compute(key: str, lab: Laboratory, years: Years, cache: dict[str, Any] | None = None) -> float | None:
    """The figure of ``key`` for ``lab`` over ``years``; KeyError for an unknown key."""
    return SOURCES[key].compute(lab, years, cache if cache is not None else {})
