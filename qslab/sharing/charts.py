"""The usage chart: machine hours per resource, internal and external stacked, as SVG (page and PDF)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib import pyplot as plt
from matplotlib.figure import Figure


def usage_chart_svg(
    labels: Sequence[str],
    internal_hours: Sequence[float],
    external_hours: Sequence[float],
    *,
    title: str = "",
    legend: tuple[str, str] = ("internal", "external"),
    ylabel: str = "hours",
) -> str:
    """Stacked horizontal bars, one per resource; returns SVG text (fonts left as text, CJK-capable)."""
    with plt.rc_context(
        {
            "font.sans-serif": ["Noto Sans CJK SC", "DejaVu Sans"],
            "font.family": "sans-serif",
            "svg.fonttype": "none",
            "svg.hashsalt": "qslab",
        }
    ):
        fig = Figure(figsize=(8, max(2.0, 0.45 * len(labels) + 1.2)), dpi=100)
        ax = fig.add_subplot()
        y = list(range(len(labels)))
        ax.barh(y, internal_hours, color="#8aa1b8", label=legend[0])
        ax.barh(y, external_hours, left=internal_hours, color="#a3001b", label=legend[1])
        ax.set_yticks(y, labels=list(labels))
        ax.invert_yaxis()
        ax.set_xlabel(ylabel)
        ax.set_xlim(left=0)
        if title:
            ax.set_title(title, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        if labels:
            ax.legend(loc="lower right", fontsize=8, frameon=False)
        fig.tight_layout()
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
        return out.getvalue()
