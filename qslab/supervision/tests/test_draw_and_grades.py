"""The double-random draw is reproducible from its recorded seed and excludes conflicted inspectors;
grades follow the thresholds given as data."""

import pytest
from django.core.exceptions import ValidationError

from qslab.supervision.models import DEFAULT_GRADES
from qslab.supervision.services import grade_for, run_draw, seed_for

INPUTS = {
    "labs": [
        {
            "id": i,
            "code": f"lab{i:02d}",
            "org": 100 + i,
            "region": "320000" if i % 2 else "330000",
            "risk": "high" if i < 4 else "normal",
        }
        for i in range(1, 21)
    ],
    "inspectors": [
        {"id": 1000 + j, "org": 100 + j, "region": "320000" if j % 3 == 0 else "440000"} for j in range(1, 13)
    ],
    "proportions": {"high": 1.0, "normal": 0.25},
    "inspectors_per_lab": 2,
    "conflict_rules": ["same_organisation", "same_province"],
}


def test_the_same_seed_and_inputs_give_the_same_labs_and_inspectors():
    seed = seed_for(7, "lottery 2026-03-01: 04 11 19", 1)
    assert run_draw(INPUTS, seed) == run_draw(INPUTS, seed)


def test_another_published_value_gives_another_draw():
    a = run_draw(INPUTS, seed_for(7, "value A", 1))
    b = run_draw(INPUTS, seed_for(7, "value B", 1))
    assert [c["code"] for c in a.checks] != [c["code"] for c in b.checks] or a.checks != b.checks


def test_proportions_by_risk_class_decide_how_many_labs_are_drawn():
    result = run_draw(INPUTS, seed_for(1, "v", 1))
    risks = [c["risk"] for c in result.checks]
    assert risks.count("high") == 3  # all three high-risk labs
    assert risks.count("normal") == 5  # ceil(0.25 * 17)


def test_no_inspector_of_the_same_organisation_or_province_is_drawn_for_a_lab():
    labs = {lab["id"]: lab for lab in INPUTS["labs"]}
    inspectors = {i["id"]: i for i in INPUTS["inspectors"]}
    result = run_draw(INPUTS, seed_for(3, "v", 1))
    assert result.checks
    for check in result.checks:
        lab = labs[check["lab"]]
        assert len(check["inspectors"]) == 2
        for iid in check["inspectors"]:
            assert inspectors[iid]["org"] != lab["org"]
            assert inspectors[iid]["region"][:2] != lab["region"][:2]


def test_a_lab_without_enough_free_inspectors_is_reported_as_shortfall():
    inputs = {**INPUTS, "inspectors": [{"id": 1, "org": 101, "region": "440000"}], "proportions": {"high": 1}}
    assert run_draw(inputs, seed_for(1, "v", 1)).shortfall == ["lab01", "lab02", "lab03"]


def test_grades_follow_the_thresholds():
    assert grade_for(90, DEFAULT_GRADES) == "excellent"
    assert grade_for(89.99, DEFAULT_GRADES) == "good"
    assert grade_for(60, DEFAULT_GRADES) == "pass"
    assert grade_for(59.9, DEFAULT_GRADES) == "fail"
    custom = [
        {"code": "a", "label_zh": "甲", "label_en": "A", "min": 50},
        {"code": "b", "label_zh": "乙", "label_en": "B", "min": 0},
    ]
    assert grade_for(55, custom) == "a"


def test_a_draw_requested_from_a_stale_page_is_refused(world):
    from qslab.supervision import services
    from qslab.supervision.models import SpotCheckDraw

    plan = world.plan  # drawn once (draw #1)
    with pytest.raises(ValidationError, match="drawn meanwhile"):
        services.draw_spot_check(world.users["office"], plan, "回避", after=0)
    services.draw_spot_check(world.users["office"], plan, "回避", after=1)
    assert SpotCheckDraw.objects.filter(plan=plan).count() == 2
