"""Charts of the funding app, drawn server-side as SVG text with matplotlib (as the other apps do).

* :func:`execution_chart_svg`: a budget's cumulative execution (%) by month against the expected curve
  (the budget page shows it from its SVG URL);
* :func:`group_bars_svg` and :func:`stacked_counts_svg`: the report by key field or region (execution,
  target attainment and mean score; self-evaluation grades), inlined in the report page.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib import pyplot as plt
from matplotlib.figure import Figure


def execution_chart_svg(
    actual: Sequence[float | None],
    expected: Sequence[float],
    lines: dict[str, Sequence[float | None]] | None = None,
    *,
    title: str = "",
    labels: dict[str, str] | None = None,
    up_to_month: int = 12,
) -> str:
    """Cumulative execution rate (%) per month (whole budget in bold, lines thin), with the expected
    curve dashed; months after ``up_to_month`` are not drawn. Returns SVG text."""
    names = {"actual": "whole budget", "expected": "expected", "month": "month", **(labels or {})}
    months = list(range(1, 13))
    with plt.rc_context(
        {
            "font.sans-serif": ["Noto Sans CJK SC", "DejaVu Sans"],
            "font.family": "sans-serif",
            "svg.fonttype": "none",
        }
    ):
        fig = Figure(figsize=(8, 3.4), dpi=100)
        ax = fig.add_subplot()
        ax.plot(months, list(expected), linestyle="--", color="#777777", label=names["expected"])
        for name, series in (lines or {}).items():
            pts = [(m, v) for m, v in zip(months, series, strict=False) if v is not None and m <= up_to_month]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], linewidth=0.9, alpha=0.8, label=name)
        pts = [(m, v) for m, v in zip(months, actual, strict=False) if v is not None and m <= up_to_month]
        if pts:
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                color="#a3001b",
                linewidth=2.2,
                marker="o",
                markersize=3,
                label=names["actual"],
            )
        if title:
            ax.set_title(title, fontsize=10)
        ax.set_xticks(months)
        ax.set_xlabel(names["month"], fontsize=8)
        ax.set_ylim(0, 110)
        ax.set_ylabel("%", fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(loc="upper left", fontsize=7, frameon=False, ncol=2)
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.find("<svg") :]


def _svg(fig: Figure) -> str:
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.find("<svg") :]


_FONTS = {
    "font.sans-serif": ["Noto Sans CJK SC", "DejaVu Sans"],
    "font.family": "sans-serif",
    "svg.fonttype": "none",
}


def group_bars_svg(
    groups: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    title: str = "",
    ylabel: str = "",
    ymax: float | None = 110,
) -> str:
    """Grouped horizontal-axis bars: one group per field or region, one bar per series (missing values
    leave a gap). Returns SVG text."""
    colours = ("#a3001b", "#4c6a8a", "#c98a2b", "#5b8c5a")
    with plt.rc_context(_FONTS):
        width_in = max(6.0, min(14.0, 1.0 + 0.75 * len(groups) * max(1, len(series)) / 2))
        fig = Figure(figsize=(width_in, 3.6), dpi=100)
        ax = fig.add_subplot()
        n = max(1, len(series))
        bar = 0.8 / n
        for j, (name, values) in enumerate(series.items()):
            xs = [i - 0.4 + bar * (j + 0.5) for i, v in enumerate(values) if v is not None]
            ys = [v for v in values if v is not None]
            ax.bar(xs, ys, width=bar, color=colours[j % len(colours)], label=name)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(list(groups), rotation=30 if len(groups) > 4 else 0, ha="right", fontsize=8)
        if ymax is not None:
            ax.set_ylim(0, ymax)
        if ylabel:
            ax.set_ylabel(ylabel, fontsize=8)
        if title:
            ax.set_title(title, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        if series:
            ax.legend(loc="upper right", fontsize=7, frameon=False, ncol=len(series))
        return _svg(fig)


def stacked_counts_svg(
    groups: Sequence[str],
    counts: dict[str, Sequence[int]],
    *,
    title: str = "",
    ylabel: str = "",
) -> str:
    """Stacked bars of counts per group (e.g. self-evaluation grades), the first series at the bottom."""
    colours = ("#2e7d32", "#7cb342", "#f9a825", "#c62828")
    with plt.rc_context(_FONTS):
        fig = Figure(figsize=(max(6.0, min(14.0, 1.0 + 0.6 * len(groups))), 3.4), dpi=100)
        ax = fig.add_subplot()
        bottom = [0] * len(groups)
        for j, (name, values) in enumerate(counts.items()):
            ax.bar(range(len(groups)), values, bottom=bottom, color=colours[j % len(colours)], label=name)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(list(groups), rotation=30 if len(groups) > 4 else 0, ha="right", fontsize=8)
        ax.yaxis.get_major_locator().set_params(integer=True)
        if ylabel:
            ax.set_ylabel(ylabel, fontsize=8)
        if title:
            ax.set_title(title, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        if counts:
            ax.legend(loc="upper right", fontsize=7, frameon=False, ncol=len(counts))
        return _svg(fig)
