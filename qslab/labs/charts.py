"""The coverage map of a layout plan: one tile per province, coloured by how far its targets are met.

One function draws it; the plan page inlines the SVG and the coverage PDF embeds the same SVG.
"""

from __future__ import annotations

import io

from qslab.core.regions import PROVINCES

# Tile grid that keeps China's provinces roughly where they are on a map (column, row).
TILES: dict[str, tuple[int, int]] = {
    "230000": (7, 0),
    "650000": (1, 1),
    "150000": (5, 1),
    "220000": (7, 1),
    "620000": (3, 2),
    "640000": (4, 2),
    "140000": (5, 2),
    "110000": (6, 2),
    "210000": (7, 2),
    "540000": (1, 3),
    "630000": (2, 3),
    "610000": (4, 3),
    "130000": (5, 3),
    "120000": (6, 3),
    "510000": (3, 4),
    "500000": (4, 4),
    "410000": (5, 4),
    "370000": (6, 4),
    "530000": (3, 5),
    "520000": (4, 5),
    "420000": (5, 5),
    "340000": (6, 5),
    "320000": (7, 5),
    "450000": (4, 6),
    "430000": (5, 6),
    "360000": (6, 6),
    "330000": (7, 6),
    "310000": (8, 6),
    "460000": (4, 7),
    "440000": (5, 7),
    "350000": (6, 7),
    "710000": (7, 7),
    "820000": (5, 8),
    "810000": (6, 8),
}

SHORT_EN = {"150000": "Inner Mong.", "650000": "Xinjiang", "210000": "Liaoning", "230000": "Heilongj."}


def _short_zh(name: str) -> str:
    for suffix in ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def coverage_map_svg(by_province: dict[str, tuple[int, int]], language: str = "en", title: str = "") -> str:
    """SVG tile map: for each province, labs counted against targets / target; grey where no target.

    ``by_province`` maps a province code to ``(covered, target)`` (see ``Coverage.by_province``).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.patches import FancyBboxPatch

    zh = language.startswith("zh")
    with plt.rc_context(
        {
            "font.sans-serif": ["Noto Sans CJK SC", "DejaVu Sans"],
            "font.family": "sans-serif",
            "svg.fonttype": "none",
            "svg.hashsalt": "qslab",
        }
    ):
        fig, ax = plt.subplots(figsize=(7.2, 6.6))
        cmap = LinearSegmentedColormap.from_list("gap", ["#c0392b", "#f5c342", "#2e8b57"])
        for code, (col, row) in TILES.items():
            covered, target = by_province.get(code, (0, 0))
            colour = cmap(covered / target) if target else "#e5e8ec"
            ax.add_patch(
                FancyBboxPatch(
                    (col + 0.05, -row + 0.05),
                    0.9,
                    0.9,
                    boxstyle="round,pad=0,rounding_size=0.08",
                    facecolor=colour,
                    edgecolor="#ffffff",
                    linewidth=1.5,
                )
            )
            zh_name, en_name = PROVINCES[code]
            label = _short_zh(zh_name) if zh else SHORT_EN.get(code, en_name)
            ax.text(col + 0.5, -row + 0.62, label, ha="center", va="center", fontsize=7.5 if zh else 6.5)
            if target:
                ax.text(
                    col + 0.5,
                    -row + 0.3,
                    f"{covered}/{target}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    fontweight="bold",
                )
        ax.set_xlim(0, 9.2)
        ax.set_ylim(-8.1, 1.1)
        ax.set_aspect("equal")
        ax.axis("off")
        legend = "数字：已覆盖/目标；灰色：无目标" if zh else "numbers: covered / target; grey: no target"
        ax.text(0.1, -7.6, legend, fontsize=7.5, color="#444444")
        if title:
            ax.set_title(title, fontsize=11)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
        plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]
