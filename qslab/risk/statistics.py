"""National injury estimates for the public statistics pages (NEISS-style, from the analytical store).

Everything is computed by :func:`qslab.surveillance.aggregate.national_estimates`: the estimate is the
sum of the sample weights, its variance comes from the strata and hospitals (PSUs) of the sample, with
the CV and a 95 % interval; an estimate is unstable (and suppressed on the public pages) when it rests
on fewer than 20 records, is below 1,200 or has a CV above 33 % (CPSC's rule).

Filters never drop records before the estimate (that would shrink the number of hospitals per stratum
and understate the variance): a year restricts the dates as the engine does (PSUs counted over the
same dates), and a product or injury filter is an extra grouping key whose other groups are dropped
afterwards.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qslab.risk.models import Term

SOURCE = "neiss"

#: Age groups (years): CPSC's usual reporting groups.
AGE_GROUPS = ((0, 4), (5, 14), (15, 24), (25, 44), (45, 64), (65, None))

DIMENSIONS = {
    "product": gettext_lazy("product"),
    "hazard": gettext_lazy("injury (diagnosis)"),
    "age": gettext_lazy("age group"),
    "year": gettext_lazy("year"),
    "disposition": gettext_lazy("disposition"),
}

_COLUMN = {
    "product": "product_code",
    "hazard": "hazard_code",
    "age": "age_group",
    "year": "year",
    "disposition": "severity",
}
_TERM_KIND = {
    "product": Term.Kind.PRODUCT,
    "hazard": Term.Kind.DIAGNOSIS,
    "disposition": Term.Kind.DISPOSITION,
}


def age_group_label(lower: int, upper: int | None) -> str:
    return f"{lower}+" if upper is None else f"{lower}–{upper}"


@dataclass(frozen=True)
class EstimateRow:
    key: str
    label: str
    n_records: int
    estimate: float
    cv: float
    ci_lower: float
    ci_upper: float
    unstable: bool

    @property
    def cv_percent(self) -> float:
        return self.cv * 100 if math.isfinite(self.cv) else float("nan")


@dataclass(frozen=True)
class EstimateTable:
    dimension: str
    rows: list[EstimateRow]
    n_records: int
    first: dt.date | None
    last: dt.date | None
    error: str = ""

    @property
    def stable_rows(self) -> list[EstimateRow]:
        return [r for r in self.rows if not r.unstable]

    @property
    def n_suppressed(self) -> int:
        return sum(r.unstable for r in self.rows)


def _with_derived(table: Any) -> Any:
    import ibis

    age = table.age
    cases = [
        ((age >= lo) if hi is None else ((age >= lo) & (age < hi + 1)), age_group_label(lo, hi))
        for lo, hi in AGE_GROUPS
    ]
    group = ibis.cases(*cases, else_="unknown")
    return table.mutate(age_group=group, year=table.event_date.year().cast("string"))


def _labels(dimension: str, keys: list[str]) -> dict[str, str]:
    kind = _TERM_KIND.get(dimension)
    if kind is None:
        return {k: (_("unknown") if k == "unknown" else k) for k in keys}
    terms = {t.code: t.name for t in Term.objects.filter(kind=kind, code__in=keys)}
    return {k: terms.get(k, k) for k in keys}


def available_years(store: Any = None) -> list[int]:
    from qslab.risk.services import analytical_store

    own = store is None
    store = store or analytical_store()
    try:
        first, last = store.date_range(SOURCE)
    finally:
        if own:
            store.close()
    return list(range(first.year, last.year + 1)) if first and last else []


def national_estimate_table(
    dimension: str,
    *,
    year: int | None = None,
    product: str = "",
    hazard: str = "",
    store: Any = None,
) -> EstimateTable:
    """Estimates by one dimension (product, hazard, age, year, disposition), optionally for one year,
    one product and/or one injury; rows sorted by estimate (years and age groups in order)."""
    from qslab.risk.services import analytical_store
    from qslab.surveillance.aggregate import national_estimates

    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    own = store is None
    store = store or analytical_store()
    try:
        if SOURCE not in store.sources():
            return EstimateTable(dimension, [], 0, None, None, _("No NEISS records are loaded yet."))
        table = _with_derived(store.records(source=SOURCE))
        column = _COLUMN[dimension]
        keys = [column]
        filters = {}
        if product and dimension != "product":
            keys.append("product_code")
            filters["product_code"] = product
        if hazard and dimension != "hazard":
            keys.append("hazard_code")
            filters["hazard_code"] = hazard
        start = dt.date(year, 1, 1) if year else None
        end = dt.date(year, 12, 31) if year else None
        result = national_estimates(
            table, keys, start=start, end=end, all_products=dimension == "product" or bool(product)
        )
        first, last = store.date_range(SOURCE)
    finally:
        if own:
            store.close()
    frame = result.table
    for key, value in filters.items():
        frame = frame[frame[key] == value]
    if product and dimension == "product":
        frame = frame[frame["product_code"] == product]
    if hazard and dimension == "hazard":
        frame = frame[frame["hazard_code"] == hazard]
    frame = frame[frame[column].notna()]
    labels = _labels(dimension, [str(v) for v in frame[column]])
    rows = [
        EstimateRow(
            key=str(r[column]),
            label=labels.get(str(r[column]), str(r[column])),
            n_records=int(r["n_records"]),
            estimate=float(r["estimate"]),
            cv=float(r["cv"]),
            ci_lower=max(0.0, float(r["ci_lower"])),
            ci_upper=float(r["ci_upper"]),
            unstable=bool(r["unstable"]),
        )
        for _i, r in frame.iterrows()
    ]
    if dimension == "year":
        rows.sort(key=lambda r: r.key)
    elif dimension == "age":
        order = [age_group_label(lo, hi) for lo, hi in AGE_GROUPS] + ["unknown"]
        rows.sort(key=lambda r: order.index(r.key) if r.key in order else len(order))
    else:
        rows.sort(key=lambda r: -r.estimate)
    return EstimateTable(dimension, rows, sum(r.n_records for r in rows), first, last)


def estimates_chart_svg(table: EstimateTable, *, limit: int = 15, title: str = "") -> str:
    """Bars of the stable estimates with their 95 % intervals (unstable ones are not drawn)."""
    from matplotlib import pyplot as plt
    from matplotlib.figure import Figure

    from qslab.risk.charts import FONT_CONTEXT, render_svg

    with plt.rc_context(FONT_CONTEXT):
        rows = table.stable_rows
        if table.dimension not in ("year", "age"):
            rows = rows[:limit]
        fig = Figure(figsize=(8, max(2.4, 0.32 * len(rows) + 1.2)), dpi=100)
        ax = fig.add_subplot()
        if rows:
            labels = [r.label[:40] for r in rows]
            values = [r.estimate for r in rows]
            errors = [
                [r.estimate - r.ci_lower for r in rows],
                [r.ci_upper - r.estimate for r in rows],
            ]
            if table.dimension in ("year", "age"):
                ax.bar(labels, values, yerr=errors, color="#5b7fa6", ecolor="#333", capsize=3)
                ax.set_ylabel(_("national estimate"))
            else:
                positions = list(range(len(rows)))[::-1]
                ax.barh(positions, values, xerr=errors, color="#5b7fa6", ecolor="#333", capsize=3)
                ax.set_yticks(positions, labels, fontsize=8)
                ax.set_xlabel(_("national estimate (95-percent confidence interval)"))
        else:
            ax.text(
                0.5, 0.5, _("no stable estimate to draw"), ha="center", va="center", transform=ax.transAxes
            )
            ax.set_axis_off()
        if title:
            ax.set_title(title, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        return render_svg(fig)
