"""The studies' charts, rendered server-side as SVG by one function each and reused in pages and PDFs."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

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

OK, WARN, ACTION, INK = "#2e7d32", "#ef6c00", "#c62828", "#1f4e79"


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def data_uri(svg: str) -> str:
    """The SVG as a data URI, for ``<img>`` in the PDFs."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) if v is not None and math.isfinite(float(v)) else math.nan for v in values]


def scores_chart(codes: Sequence[str], scores: Sequence[float | None], label: str = "z") -> str:
    """Scores by participant as bars, with the warning (|2|) and action (|3|) lines (ISO 13528 10.3)."""
    values = _finite(scores)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(codes) + 1.5), 3.0))
    colours = [
        OK if abs(v) <= 2 else WARN if abs(v) < 3 else ACTION if not math.isnan(v) else "#999" for v in values
    ]
    order = sorted(range(len(values)), key=lambda i: (math.isnan(values[i]), values[i]))
    ax.bar(
        [codes[i] for i in order],
        [0 if math.isnan(values[i]) else values[i] for i in order],
        color=[colours[i] for i in order],
    )
    for y, c in ((2, WARN), (-2, WARN), (3, ACTION), (-3, ACTION)):
        ax.axhline(y, color=c, linewidth=0.8, linestyle="--")
    ax.axhline(0, color="#333", linewidth=0.6)
    ax.set_ylabel(label)
    top = max([3.5, *[abs(v) + 0.5 for v in values if not math.isnan(v)]])
    ax.set_ylim(-top, top)
    ax.tick_params(axis="x", labelrotation=90, labelsize=8)
    return _svg(fig)


def distribution_chart(
    values: Sequence[float],
    x_pt: float,
    sigma_pt: float | None,
    unit: str = "",
    highlight: float | None = None,
) -> str:
    """Participants' results as a histogram with x_pt and x_pt ± 2 sigma_pt; ``highlight`` marks one."""
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    data = [v for v in _finite(values) if not math.isnan(v)]
    ax.hist(data, bins=max(5, min(20, len(data))), color="#90a4ae", edgecolor="white")
    ax.axvline(x_pt, color=INK, linewidth=1.5, label="x_pt")
    if sigma_pt:
        for k in (-2, 2):
            ax.axvline(x_pt + k * sigma_pt, color=WARN, linestyle="--", linewidth=0.9)
    if highlight is not None:
        ax.axvline(highlight, color=ACTION, linewidth=2, label="▲")
    ax.set_xlabel(unit)
    ax.set_ylabel("n")
    return _svg(fig)


def mandel_chart(
    level_names: Sequence[str],
    labs: Sequence[Sequence[str]],
    stats: Sequence[Sequence[float | None]],
    indicators: Sequence[dict[str, float]],
    label: str,
) -> str:
    """Mandel's h or k by laboratory, grouped by level, with the 5 % and 1 % indicator lines."""
    all_labs = sorted({lab for row in labs for lab in row})
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(all_labs) * max(1, len(level_names)) / 2 + 2), 3.0))
    width = 0.8 / max(1, len(level_names))
    for j, (name, lab_row, stat_row) in enumerate(zip(level_names, labs, stats, strict=True)):
        lookup = dict(zip(lab_row, _finite(stat_row), strict=True))
        xs = [i + j * width for i in range(len(all_labs))]
        ax.bar(
            xs,
            [0 if math.isnan(lookup.get(lab, math.nan)) else lookup[lab] for lab in all_labs],
            width=width,
            label=str(name),
        )
    for ind in indicators[:1]:
        for key, colour in (("5%", WARN), ("1%", ACTION)):
            if key in ind and ind[key] is not None:
                ax.axhline(ind[key], color=colour, linestyle="--", linewidth=0.8)
                if label == "h":
                    ax.axhline(-ind[key], color=colour, linestyle="--", linewidth=0.8)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(all_labs))], all_labs, fontsize=8)
    ax.set_ylabel(label)
    if len(level_names) > 1:
        ax.legend(fontsize=7)
    return _svg(fig)


def control_chart_svg(
    stats: Sequence[float],
    center: float | None,
    lcl: float | None,
    ucl: float | None,
    signals: Sequence[bool],
    unit: str = "",
) -> str:
    """The monitor's chart: points, centre line, limits, signalling points in red."""
    fig, ax = plt.subplots(figsize=(7.0, 3.0))
    xs = list(range(1, len(stats) + 1))
    ax.plot(xs, stats, color=INK, linewidth=1, marker="o", markersize=3)
    bad = [(x, y) for x, y, s in zip(xs, stats, signals, strict=True) if s]
    if bad:
        ax.scatter([b[0] for b in bad], [b[1] for b in bad], color=ACTION, zorder=3, s=25)
    if center is not None:
        ax.axhline(center, color=OK, linewidth=1)
    for limit in (lcl, ucl):
        if limit is not None:
            ax.axhline(limit, color=ACTION, linestyle="--", linewidth=0.9)
    ax.set_xlabel("#")
    ax.set_ylabel(unit)
    return _svg(fig)


def contribution_chart(labels: Sequence[str], shares: Sequence[float]) -> str:
    """Each input's share of the combined variance (GUM budget), largest first."""
    pairs = sorted(zip(labels, _finite(shares), strict=True), key=lambda p: p[1])
    fig, ax = plt.subplots(figsize=(5.0, max(1.8, 0.35 * len(pairs) + 0.8)))
    ax.barh([p[0] for p in pairs], [100 * (0 if math.isnan(p[1]) else p[1]) for p in pairs], color=INK)
    ax.set_xlabel("%")
    return _svg(fig)
