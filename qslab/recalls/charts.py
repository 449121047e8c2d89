"""The chart of a recall: units remedied over time against the units affected, as SVG."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib import pyplot as plt
from matplotlib.figure import Figure


def effectiveness_chart_svg(
    dates: Sequence[dt.date],
    remedied: Sequence[int],
    affected: int,
    *,
    title: str = "",
    labels: dict[str, str] | None = None,
) -> str:
    """Cumulative remedied units as a step line, the units affected as a dashed level, and the share
    remedied (effectiveness, right axis); returns SVG text."""
    names = {
        "remedied": "units remedied",
        "affected": "units affected",
        "share": "effectiveness",
        **(labels or {}),
    }
    with plt.rc_context(
        {
            "font.sans-serif": ["Noto Sans CJK SC", "DejaVu Sans"],
            "font.family": "sans-serif",
            "svg.fonttype": "none",
            "axes.unicode_minus": False,
        }
    ):
        fig = Figure(figsize=(8, 3.2), dpi=100)
        ax = fig.add_subplot()
        if dates:
            ax.step(dates, remedied, where="post", color="#1b6e3a", linewidth=2, label=names["remedied"])
            ax.scatter(dates, remedied, color="#1b6e3a", s=18, zorder=3)
        if affected:
            ax.axhline(affected, color="#a3001b", linestyle="--", linewidth=1.2, label=names["affected"])
            share = ax.secondary_yaxis(
                "right", functions=(lambda v: v / affected * 100, lambda p: p * affected / 100)
            )
            share.set_ylabel(f"{names['share']} (%)", fontsize=8)
        if title:
            ax.set_title(title, fontsize=10)
        ax.set_ylim(bottom=0, top=max([affected, *remedied, 1]) * 1.08)
        ax.spines[["top"]].set_visible(False)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=8, frameon=False)
        fig.autofmt_xdate()
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.find("<svg") :]
