"""The execution curve of a budget: cumulative execution (%) by month against the expected curve.

One function draws it as SVG; the budget page inlines it and the SVG URL serves the same text.
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
