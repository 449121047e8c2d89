"""The score-weighted allocation formula: amounts in proportion to weight(grade) × score, in Decimal,
adding up to the total to the fen by the declared largest-remainder rounding; ties; random inputs."""

import itertools
import random
from decimal import Decimal
from fractions import Fraction

import pytest

from qslab.funding import services
from qslab.funding.models import AllocationRun
from qslab.funding.services import allocation_weight, largest_remainder
from qslab.funding.tests.conftest import YEAR
from qslab.funding.tests.test_allocation import _reviewed

D = Decimal
WEIGHTS = {"excellent": "3", "good": "2", "fair": "1", "poor": "0"}


def _formula_run(formula):
    return AllocationRun(year=YEAR, total=D("100.00"), grade_weights=WEIGHTS, formula=formula)


def test_the_score_formula_weighs_the_grade_weight_by_the_score_and_tiers_ignore_the_score():
    score, tiers = _formula_run("score"), _formula_run("tiers")
    assert allocation_weight(score, "excellent", D("95.50")) == D("286.50")
    assert allocation_weight(score, "good", D("81.00")) == D("162.00")
    assert allocation_weight(score, "poor", D("59.00")) == 0, "a grade weighted 0 still gets nothing"
    assert allocation_weight(tiers, "excellent", D("95.50")) == allocation_weight(tiers, "excellent", D(90))


def test_two_laboratories_with_the_same_grade_and_score_tie_and_the_odd_fen_goes_to_the_first_code():
    run = _formula_run("score")
    w = allocation_weight(run, "good", D("85.00"))
    amounts = largest_remainder(D("100.01"), [("lab-b", w), ("lab-a", w)])
    assert amounts == {"lab-a": D("50.01"), "lab-b": D("50.00")}
    three = largest_remainder(D("100.00"), [("c", w), ("a", w), ("b", w)])
    assert three == {"a": D("33.34"), "b": D("33.33"), "c": D("33.33")}


def test_equal_products_tie_even_when_grade_and_score_differ():
    run = _formula_run("score")
    # 3 × 60 == 2 × 90: the formula sees the same weight, so the amounts differ by the odd fen at most
    a, b = allocation_weight(run, "excellent", D(60)), allocation_weight(run, "good", D(90))
    assert a == b
    amounts = largest_remainder(D("0.03"), [("x", a), ("y", b)])
    assert amounts == {"x": D("0.02"), "y": D("0.01")}


def test_random_score_weighted_allocations_add_up_exactly_and_stay_within_a_fen_of_the_exact_share():
    rng = random.Random(20261125)
    for _round in range(300):
        n = rng.randint(1, 25)
        total = D(rng.randint(1, 10**9)) / 100
        rows = []
        for i in range(n):
            grade = rng.choice(list(WEIGHTS))
            score = D(rng.randint(0, 10000)) / 100
            rows.append((f"lab{i:02d}", allocation_weight(_formula_run("score"), grade, score)))
        amounts = largest_remainder(total, rows)
        assert sum(amounts.values()) == total or not any(w > 0 for _k, w in rows)
        whole = sum((Fraction(w) for _k, w in rows), Fraction(0))
        if not whole:
            assert all(v == 0 for v in amounts.values())
            continue
        for key, w in rows:
            exact = Fraction(total) * Fraction(w) / whole
            assert abs(Fraction(amounts[key]) - exact) < Fraction(1, 100), (key, amounts[key], exact)
            assert amounts[key] == amounts[key].quantize(D("0.01")) and amounts[key] >= 0
        by_weight = sorted(rows, key=lambda r: r[1])
        for (k1, w1), (k2, w2) in itertools.pairwise(by_weight):
            if w1 < w2:
                assert amounts[k1] <= amounts[k2], "a larger weight × score never gets less"
        shuffled = list(rows)
        rng.shuffle(shuffled)
        assert largest_remainder(total, shuffled) == amounts, "the order of the rows changes nothing"


@pytest.mark.django_db
def test_a_score_weighted_run_pays_the_better_score_more_within_one_grade_and_records_its_formula(users):
    office = users["office"]
    labs = [_reviewed(users, "a"), _reviewed(users, "b")]
    from qslab.funding.models import SelfEvaluation

    for lab, score in zip(labs, ("99.00", "91.00"), strict=True):
        ev = SelfEvaluation.objects.get(budget__laboratory=lab)
        services.adjust_score(office, ev, D(score), "re-marked")
    data = {
        "year": YEAR,
        "title_zh": "补助",
        "title_en": "Subsidy",
        "total": D("1900.01"),
        "grade_weights": WEIGHTS,
    }
    tiers = services.compute_allocation(office, services.create_allocation_run(office, data))
    by_tiers = dict(tiers.allocations.values_list("laboratory__code", "amount"))
    assert by_tiers == {"a": D("950.01"), "b": D("950.00")}
    scored = services.compute_allocation(
        office, services.create_allocation_run(office, {**data, "formula": "score"})
    )
    by_score = dict(scored.allocations.values_list("laboratory__code", "amount"))
    assert scored.formula == "score" and by_score == {"a": D("990.01"), "b": D("910.00")}
    assert sum(by_score.values()) == D("1900.01")
    assert scored.inputs_sha256 != tiers.inputs_sha256, "the formula is part of the checked inputs"


@pytest.mark.django_db
def test_an_unknown_formula_is_refused_naming_the_field(users):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        services.create_allocation_run(
            users["office"],
            {"year": YEAR, "title_zh": "补助", "title_en": "S", "total": D("1.00"), "formula": "lottery"},
        )
    assert "formula" in refused.value.message_dict
