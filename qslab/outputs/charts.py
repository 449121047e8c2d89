"""The outputs chart, rendered server-side as SVG by one function (page and PDF alike)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import pyplot as plt
from matplotlib.figure import Figure

plt.rcParams.update(
    {
        "font.sans-serif": ["Noto Sans CJK SC", "DejaVu Sans"],
        "font.family": "sans-serif",
        "svg.fonttype": "none",
        "axes.unicode_minus": False,
        "svg.hashsalt": "qslab",
    }
)

INK, LIGHT = "#1f4e79", "#9db9d6"


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def figures_chart(figures: dict[str, Any], labels: dict[str, str], title: str = "") -> str:
    """Horizontal bars of a laboratory's yearly indicators (``lab_figures``), one bar per ``labels`` key;
    standards published are split by level (stacked: lead drafter dark, the rest light)."""
    keys = list(labels)
    values = [float(figures.get(k, 0) or 0) for k in keys]
    fig, ax = plt.subplots(figsize=(6.0, 0.42 * len(keys) + 1.0))
    y = list(range(len(keys)))[::-1]
    ax.barh(y, values, color=LIGHT)
    if "standards_published" in keys:
        i = keys.index("standards_published")
        ax.barh([y[i]], [figures.get("standards_published_as_lead", 0)], color=INK)
    for yy, v in zip(y, values, strict=True):
        ax.text(v, yy, f" {v:g}", va="center", fontsize=9)
    ax.set_yticks(y, [labels[k] for k in keys], fontsize=9)
    ax.set_xlim(0, max([*values, 1]) * 1.15)
    ax.spines[["top", "right"]].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    return _svg(fig)
