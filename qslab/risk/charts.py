"""The signal chart: a series with its detector threshold and alarms, as SVG (page and PDF alike)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib import pyplot as plt
from matplotlib.figure import Figure

FONT_CONTEXT = {
    "font.sans-serif": ["Noto Sans CJK SC", "DejaVu Sans"],
    "font.family": "sans-serif",
    "svg.fonttype": "none",
}


def render_svg(fig: Figure) -> str:
    """A finished figure as SVG text (starting at ``<svg``), with CJK-capable fonts."""
    with plt.rc_context(FONT_CONTEXT):
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.find("<svg") :]


def series_chart_svg(
    dates: Sequence[dt.date],
    observed: Sequence[float],
    threshold_dates: Sequence[dt.date] = (),
    threshold: Sequence[float | None] = (),
    alarm_dates: Sequence[dt.date] = (),
    alarm_observed: Sequence[float] = (),
    *,
    title: str = "",
    labels: dict[str, str] | None = None,
) -> str:
    """One series as bars, the threshold as a step line and alarms as red markers; returns SVG text."""
    names = {"observed": "observed", "threshold": "threshold", "alarm": "alarm", **(labels or {})}
    with plt.rc_context(
        {
            "font.sans-serif": ["Noto Sans CJK SC", "DejaVu Sans"],
            "font.family": "sans-serif",
            "svg.fonttype": "none",
        }
    ):
        fig = Figure(figsize=(8, 3.2), dpi=100)
        ax = fig.add_subplot()
        if dates:
            width = max(1.0, (dates[-1] - dates[0]).days / max(len(dates), 1) * 0.8)
            ax.bar(dates, observed, width=width, color="#8aa1b8", label=names["observed"])
        points = [(d, v) for d, v in zip(threshold_dates, threshold, strict=False) if v is not None]
        if points:
            ax.step(
                [p[0] for p in points],
                [p[1] for p in points],
                where="mid",
                color="#a3001b",
                linewidth=1.5,
                label=names["threshold"],
            )
        if alarm_dates:
            ax.scatter(
                alarm_dates, alarm_observed, marker="v", color="#b00020", s=40, zorder=3, label=names["alarm"]
            )
        if title:
            ax.set_title(title, fontsize=10)
        ax.set_ylim(bottom=0)
        ax.spines[["top", "right"]].set_visible(False)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=8, frameon=False)
        fig.autofmt_xdate()
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.find("<svg") :]
