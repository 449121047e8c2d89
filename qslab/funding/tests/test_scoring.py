"""Self-evaluation scoring: each comparator, proportional credit, weights and grade thresholds as data."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from qslab.core.workflow import TransitionRefused
from qslab.funding import services
from qslab.funding.models import FundingRules
from qslab.funding.services import achievement
from qslab.funding.tests.conftest import YEAR, budget_with_lines, make_lab, manager_of

D = Decimal


@pytest.mark.parametrize(
    ("comparator", "target", "actual", "expected"),
    [
        (">=", "4", "5", "1"),
        (">=", "4", "4", "1"),
        (">=", "4", "3", "0.75"),
        ("<=", "800", "700", "1"),
        ("<=", "800", "1000", "0.8"),
        ("=", "100", "100", "1"),
        ("=", "100", "90", "0.9"),
        ("=", "100", "250", "0"),
    ],
)
def test_achievement_follows_the_comparator(comparator, target, actual, expected):
    assert achievement(comparator, D(target), D(actual)) == D(expected)


@pytest.mark.parametrize("comparator", [">=", "<=", "="])
def test_without_proportional_credit_an_unmet_target_earns_nothing(comparator):
    actual = {">=": "3", "<=": "900", "=": "99"}[comparator]
    target = {">=": "4", "<=": "800", "=": "100"}[comparator]
    assert achievement(comparator, D(target), D(actual), proportional=False) == 0


def _evaluated(users, actuals=None, spend="1000000"):
    lab = make_lab("alpha")
    office = users["office"]
    budget = budget_with_lines(lab, office, status="approved")
    services.record_expenditure(
        office, budget, {"date": f"{YEAR}-06-01", "line": "equipment", "source": "central", "amount": spend}
    )
    ev = services.open_evaluation(office, budget)
    values = {i.pk: (actuals or {}).get(i.name_en, i.target) for i in budget.indicators.all()}
    services.record_actuals(office, ev, values, "evidence attached")
    return budget, ev


@pytest.mark.django_db
def test_all_targets_met_and_budget_spent_scores_100(users):
    _budget, ev = _evaluated(users)
    services.move_evaluation(users["office"], ev, "submit")
    assert (ev.score_execution, ev.score_output, ev.score_effect, ev.score_satisfaction) == (
        D("10.00"),
        D("50.00"),
        D("30.00"),
        D("10.00"),
    )
    assert ev.total == D("100.00")
    assert ev.grade == "excellent"


@pytest.mark.django_db
def test_a_partly_met_target_earns_its_share_of_the_level_weight(users):
    # output has weights 2 (new standards), 1, 1: 3 of 4 standards earns 2 × 0.75 of 4 parts of 50
    budget, _ev = _evaluated(users, {"new standards": D("3")}, spend="500000")
    score = services.score_budget(budget)
    assert score.execution == D("5.00")
    assert score.output == D("43.75")
    assert score.total == D("88.75")
    assert score.grade == "good"


@pytest.mark.django_db
def test_weights_and_grade_thresholds_are_data(users):
    budget, _ev = _evaluated(users, {"new standards": D("3")}, spend="500000")
    FundingRules.objects.create(
        year=YEAR,
        weight_execution=20,
        weight_output=40,
        weight_effect=30,
        weight_satisfaction=10,
        grade_excellent=85,
    )
    score = services.score_budget(budget)
    assert score.execution == D("10.00")
    assert score.output == D("35.00")
    assert score.total == D("85.00")
    assert score.grade == "excellent"


@pytest.mark.django_db
def test_a_self_evaluation_with_missing_values_cannot_be_submitted(users):
    budget, ev = _evaluated(users)
    first = budget.indicators.first()
    services.record_actuals(users["office"], ev, {first.pk: None}, "")
    with pytest.raises(TransitionRefused) as exc:
        services.move_evaluation(manager_of(budget.laboratory), ev, "submit")
    assert exc.value.code == TransitionRefused.GUARD


@pytest.mark.django_db
def test_the_office_adjusts_a_score_only_with_a_reason_and_the_grade_follows(users):
    budget, ev = _evaluated(users)
    services.move_evaluation(manager_of(budget.laboratory), ev, "submit")
    with pytest.raises(ValidationError):
        services.adjust_score(users["office"], ev, D("72"), "")
    services.adjust_score(users["office"], ev, D("72"), "two standards lack evidence")
    assert ev.total == D("100.00") and ev.final_score == D("72.00") and ev.grade == "fair"
    services.move_evaluation(users["office"], ev, "accept")
    assert ev.status == "reviewed"


@pytest.mark.django_db
def test_a_lab_manager_may_not_accept_its_own_self_evaluation(users):
    budget, ev = _evaluated(users)
    manager = manager_of(budget.laboratory)
    services.move_evaluation(manager, ev, "submit")
    with pytest.raises(TransitionRefused) as exc:
        services.move_evaluation(manager, ev, "accept")
    assert exc.value.code == TransitionRefused.FORBIDDEN
