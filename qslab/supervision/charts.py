"""Charts of published evaluation results: for each field or region, one bar split by grade.

Server-drawn SVG (no script), so the campaign page, a PDF and a screen reader (the table beside it)
show the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from qslab.core.models import bilingual

# colours from best to worst grade (colour-blind safe sequence)
PALETTE = ("#1a9850", "#91cf60", "#fee08b", "#d73027", "#762a83", "#999999")


def grade_bars_svg(
    rows: Sequence[tuple[str, dict[str, int]]], grades: Sequence[dict[str, Any]], title: str
) -> str:
    """Horizontal stacked bars: ``rows`` are (label, {grade code: number of labs})."""
    if not rows:
        return ""
    label_w, bar_w, row_h, top = 190, 360, 22, 44
    most = max(sum(c.values()) for _label, c in rows) or 1
    height = top + row_h * len(rows) + 16
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {label_w + bar_w + 40} {height}" '
        f'width="{label_w + bar_w + 40}" height="{height}" class="grade-bars">',
        f"<title>{escape(title)}</title>",
    ]
    x = label_w
    for i, g in enumerate(grades):
        colour = PALETTE[min(i, len(PALETTE) - 1)]
        label = escape(bilingual(g["label_zh"], g["label_en"]))
        out.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 14}" y="17" font-size="11">{label}</text>')
        x += 14 + 8 * len(label) + 12
    for r, (label, counts) in enumerate(rows):
        y = top + r * row_h
        out.append(
            f'<text x="{label_w - 6}" y="{y + 14}" font-size="12" text-anchor="end">{escape(label)}</text>'
        )
        x = float(label_w)
        for i, g in enumerate(grades):
            n = counts.get(g["code"], 0)
            if not n:
                continue
            w = bar_w * n / most
            colour = PALETTE[min(i, len(PALETTE) - 1)]
            name = escape(bilingual(g["label_zh"], g["label_en"]))
            out.append(
                f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row_h - 6}" fill="{colour}" '
                f'data-grade="{escape(g["code"])}"><title>{escape(label)}: {name} {n}</title></rect>'
            )
            x += w
        out.append(f'<text x="{x + 4:.1f}" y="{y + 14}" font-size="11">{sum(counts.values())}</text>')
    out.append("</svg>")
    return "".join(out)
