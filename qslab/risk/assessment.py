"""Risk assessment by injury scenarios (EU Safety Gate method): probabilities, levels, sensitivity.

A scenario's overall probability is the product of its steps' probabilities; with its severity (1-4)
the risk matrix (reference data, :class:`~qslab.risk.models.RiskMatrix`) gives its risk level. The
product's level is the highest scenario's, or the first scenario's, as the matrix says. The
sensitivity view recomputes the level with each step's probability multiplied or divided by 10.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from qslab.risk.models import RISK_LEVEL_ORDER, RiskAssessment, RiskLevel, RiskMatrix, RiskScenario

_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?(?:[eE]-?\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?)\s*)?(%)?\s*$")


def parse_probability(text: str | float) -> float:
    """``"1/50"``, ``"0.02"``, ``"2%"`` or ``"1"`` as a probability in (0, 1]; raises ValidationError."""
    if isinstance(text, int | float):
        value = float(text)
    else:
        cleaned = str(text).replace(",", "").replace("，", "").replace("／", "/").strip()
        match = _NUMBER.match(cleaned)
        if not match:
            raise ValidationError(
                _("“%(text)s” is not a probability; write 1/50, 0.02 or 2%%.") % {"text": text}
            )
        number, denominator, percent = match.groups()
        value = float(number) / float(denominator) if denominator else float(number)
        if percent:
            value /= 100
    if not (0 < value <= 1) or math.isnan(value):
        raise ValidationError(
            _("A probability must be above 0 and at most 1 (got %(value)s).") % {"value": text}
        )
    return value


def format_probability(value: float | None) -> str:
    """A probability as ``1/n`` when it is close to one (as the guidelines write them), else decimal."""
    if value is None:
        return "–"
    if value >= 1:
        return "1"
    fraction = Fraction(value).limit_denominator(10**9)
    if fraction.numerator == 1:
        return f"1/{fraction.denominator:,}".replace(",", " ")
    inverse = 1 / value
    if inverse >= 2:
        return f"1/{inverse:,.0f}".replace(",", " ")
    return f"{value:.3g}"


def level_rank(level: str) -> int:
    return RISK_LEVEL_ORDER.index(level) if level in RISK_LEVEL_ORDER else -1


def level_label(level: str) -> str:
    return str(RiskLevel(level).label) if level in RiskLevel.values else ""


@dataclass(frozen=True)
class ScenarioResult:
    scenario_id: int
    probability: float
    severity: int
    level: str


def scenario_probability(probabilities: list[float]) -> float:
    return math.prod(probabilities) if probabilities else 0.0


def evaluate(
    matrix: RiskMatrix, scenarios: list[tuple[int, list[float], int]]
) -> tuple[str, int | None, list]:
    """Risk level of a set of scenarios ``(id, step probabilities, severity)``.

    Returns ``(level, deciding scenario id, per-scenario results)``; the level is empty when no
    scenario has a step.
    """
    results = [
        ScenarioResult(
            sid,
            scenario_probability(steps),
            severity,
            matrix.level_for(scenario_probability(steps), severity),
        )
        for sid, steps, severity in scenarios
        if steps
    ]
    if not results:
        return "", None, []
    if matrix.combination == RiskMatrix.Combination.FIRST:
        deciding = results[0]
    else:
        deciding = max(results, key=lambda r: (level_rank(r.level), r.severity, r.probability))
    return deciding.level, deciding.scenario_id, results


def _scenario_inputs(assessment: RiskAssessment) -> list[tuple[RiskScenario, list[Any]]]:
    return [(s, list(s.steps.all())) for s in assessment.scenarios.prefetch_related("steps").all()]


def compute(assessment: RiskAssessment) -> dict[str, Any]:
    """The assessment's current scenarios evaluated with its matrix (nothing saved)."""
    inputs = _scenario_inputs(assessment)
    level, deciding, results = evaluate(
        assessment.matrix, [(s.pk, [st.probability for st in steps], s.severity) for s, steps in inputs]
    )
    return {"level": level, "deciding": deciding, "results": {r.scenario_id: r for r in results}}


def sensitivity(assessment: RiskAssessment) -> list[dict[str, Any]]:
    """For each step: the overall level if its probability were ten times higher or lower.

    A probability multiplied by 10 is capped at 1. Each row: scenario, step, the level with the step
    x10 and /10, and whether that changes the assessment's level.
    """
    inputs = _scenario_inputs(assessment)
    base = [(s.pk, [st.probability for st in steps], s.severity) for s, steps in inputs]
    current, _deciding, _results = evaluate(assessment.matrix, base)
    rows = []
    for i, (scenario, steps) in enumerate(inputs):
        for j, step in enumerate(steps):
            row: dict[str, Any] = {"scenario": scenario, "step": step}
            for name, factor in (("up", 10.0), ("down", 0.1)):
                changed = [list(b[1]) for b in base]
                changed[i][j] = min(1.0, step.probability * factor)
                level, _d, _r = evaluate(
                    assessment.matrix, [(b[0], changed[k], b[2]) for k, b in enumerate(base)]
                )
                row[name] = level
                row[f"{name}_label"] = level_label(level)
                row[f"{name}_changes"] = level != current
            rows.append(row)
    return rows


def readiness_problem(assessment: RiskAssessment) -> str | None:
    """Why the assessment cannot be completed yet, or None."""
    if not assessment.product_category_id or not assessment.hazard_id:
        return _("Name the product category and the hazard before completing the assessment.")
    scenarios = _scenario_inputs(assessment)
    if not scenarios:
        return _("Describe at least one injury scenario before completing the assessment.")
    for scenario, steps in scenarios:
        if not steps:
            return _("Scenario %(n)d has no steps with probabilities.") % {"n": scenario.position}
    if not (assessment.conclusion_zh.strip() or assessment.conclusion_en.strip()):
        return _("Write the conclusion (Chinese or English) before completing the assessment.")
    return None
