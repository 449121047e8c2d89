"""What the studies' pages and PDFs show, assembled from stored engine results (never recomputed)."""

from __future__ import annotations

import math
from typing import Any

from django.utils import timezone

from qslab.core.pdf import render_pdf
from qslab.studies import charts
from qslab.studies.models import (
    Monitor,
    PrecisionExperiment,
    PTMeasurand,
    PTParticipant,
    PTResult,
    PTRound,
    UncertaintyBudget,
)


def _scores(evaluation: dict[str, Any] | None) -> dict[str, Any] | None:
    return (evaluation or {}).get("scores")


def participant_charts(
    p: PTParticipant, measurands: list[PTMeasurand], results: dict[int, PTResult]
) -> list[dict[str, Any]]:
    """Per measurand: the distribution of all results (no codes) with this participant's marked."""
    out = []
    for m in measurands:
        scores = _scores(m.evaluation)
        if not scores:
            continue
        mine = results.get(m.pk)
        out.append(
            {
                "measurand": m,
                "result": mine,
                "x_pt": scores["x_pt"],
                "u_x_pt": scores["u_x_pt"],
                "sigma_pt": scores["sigma_pt"],
                "svg": charts.distribution_chart(
                    scores["results"],
                    scores["x_pt"],
                    scores["sigma_pt"],
                    m.unit,
                    mine.value if mine else None,
                ),
            }
        )
    return out


def round_sections(rnd: PTRound) -> list[dict[str, Any]]:
    """The organiser's summary: per measurand the assigned value, every participant's scores, charts."""
    names = {p.code: p.name for p in rnd.participants.select_related("laboratory", "organisation")}
    sections = []
    for m in rnd.measurands.all():
        ev = m.evaluation or {}
        scores = ev.get("scores")
        section: dict[str, Any] = {"measurand": m, "evaluation": ev, "error": ev.get("error")}
        if scores:
            rows = []
            for i, code in enumerate(scores["participants"]):
                rows.append(
                    {
                        "code": code,
                        "name": names.get(code, ""),
                        "result": scores["results"][i],
                        **{k: scores[k][i] for k in ("z", "z_prime", "zeta", "e_n", "z_class", "e_n_class")},
                    }
                )
            section.update(
                rows=rows,
                x_pt=scores["x_pt"],
                u_x_pt=scores["u_x_pt"],
                sigma_pt=scores["sigma_pt"],
                negligible=scores["u_x_pt_negligible"],
                z_svg=charts.scores_chart(scores["participants"], scores["z"], "z"),
                zeta_svg=charts.scores_chart(scores["participants"], scores["zeta"], "ζ"),
                dist_svg=charts.distribution_chart(
                    scores["results"], scores["x_pt"], scores["sigma_pt"], m.unit
                ),
            )
        sections.append(section)
    return sections


def _pdf(template: str, context: dict[str, Any]) -> bytes:
    """One PDF with both languages: the template renders its body in Chinese, then in English."""
    return render_pdf(template, context, "zh-hans")


def participant_report_pdf(p: PTParticipant) -> bytes:
    measurands = list(p.round.measurands.all())
    results = {r.measurand_id: r for r in p.results.all()}
    sections = participant_charts(p, measurands, results)
    for s in sections:
        s["img"] = charts.data_uri(s.pop("svg"))
    return _pdf(
        "studies/pdf/participant_report.html",
        {"p": p, "round": p.round, "sections": sections, "generated": timezone.localtime()},
    )


def round_summary_pdf(rnd: PTRound) -> bytes:
    sections = round_sections(rnd)
    for s in sections:
        for key in ("z_svg", "zeta_svg", "dist_svg"):
            if key in s:
                s[key.replace("_svg", "_img")] = charts.data_uri(s.pop(key))
    return _pdf(
        "studies/pdf/round_summary.html",
        {"round": rnd, "sections": sections, "generated": timezone.localtime()},
    )


def mandel_charts(study: PrecisionExperiment) -> dict[str, str]:
    stored = (study.estimates or study.analysis or {}).get("result")
    if not stored:
        return {}
    levels = stored["levels"]
    names = [lv["level"] for lv in levels]
    labs = [lv["labs"] for lv in levels]
    return {
        "h": charts.mandel_chart(
            names, labs, [lv["mandel_h"] for lv in levels], [lv["mandel_h_indicators"] for lv in levels], "h"
        ),
        "k": charts.mandel_chart(
            names, labs, [lv["mandel_k"] for lv in levels], [lv["mandel_k_indicators"] for lv in levels], "k"
        ),
    }


def precision_report_pdf(study: PrecisionExperiment) -> bytes:
    figures = {k: charts.data_uri(v) for k, v in mandel_charts(study).items()}
    return _pdf(
        "studies/pdf/precision_report.html",
        {
            "study": study,
            "levels": (study.estimates or {}).get("result", {}).get("levels", []),
            "decisions": study.decisions.select_related("decided_by"),
            "figures": figures,
            "generated": timezone.localtime(),
        },
    )


def budget_tables(budget: UncertaintyBudget) -> list[dict[str, Any]]:
    stored = (budget.result or {}).get("result")
    if not stored:
        return []
    out = []
    mcm_outputs = {o["label"]: o for o in (stored.get("mcm") or {}).get("outputs", [])}
    for table, estimate in zip(stored["guf"]["budgets"], stored["guf"]["outputs"], strict=False):
        out.append(
            {
                "table": table,
                "estimate": estimate,
                "mcm": mcm_outputs.get(table["output"]),
                "svg": charts.contribution_chart(
                    [r["label"] for r in table["rows"] if not r.get("component_of")],
                    [r["share"] for r in table["rows"] if not r.get("component_of")],
                ),
            }
        )
    return out


def monitor_chart(monitor: Monitor, last: int = 200) -> str | None:
    points = list(monitor.points.order_by("-seq")[:last])[::-1]
    if not points:
        return None
    lcl = ucl = None
    if monitor.has_limits:
        n = monitor.subgroup_size if monitor.chart == Monitor.Chart.XBAR else 1
        half = 3 * monitor.sigma / math.sqrt(n)
        lcl, ucl = monitor.center - half, monitor.center + half
    return charts.control_chart_svg(
        [p.statistic for p in points],
        monitor.center,
        lcl,
        ucl,
        [bool(p.signals) for p in points],
        monitor.unit,
    )
