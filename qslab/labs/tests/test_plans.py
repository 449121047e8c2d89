"""Layout plans: coverage against targets, ranked gaps, overlaps, revisions and their differences."""

import base64
import re

import pytest
from django.core.exceptions import ValidationError

from qslab.core.testing import make_user
from qslab.labs import services
from qslab.labs.charts import coverage_map_svg
from qslab.labs.models import LayoutPlan
from qslab.labs.services import TargetRow
from qslab.labs.tests.conftest import make_lab


def chart_svgs(page: str) -> list[str]:
    """The SVG charts a page shows as ``<img src="data:image/svg+xml;base64,...">`` ({% chart_img %})."""
    return [
        base64.b64decode(b).decode()
        for b in re.findall(r'<img class="chart-img" src="data:image/svg\+xml;base64,([^"]+)"', page)
    ]


@pytest.fixture
def office(db):
    return make_user("office")


@pytest.fixture
def plan(office):
    return services.create_plan(
        office, {"code": "p", "name_zh": "规划", "name_en": "Plan", "start_year": 2022, "end_year": 2035}
    )


def test_coverage_counts_operating_labs_in_a_field_or_its_subfields_and_ranks_gaps_by_priority(office, plan):
    make_lab("a", region="320000", fields=("robots",))  # sub-field of manufacturing
    make_lab("b", region="320000", fields=("machine-tools",), status="under_rectification")
    make_lab("c", region="320000", fields=("robots",), status="under_construction")  # pipeline only
    make_lab("d", region="330000", fields=("robots",))  # other province
    make_lab("e", region="320000", fields=("robots",), status="revoked")  # does not count
    services.set_plan_targets(
        office,
        plan,
        [
            TargetRow("manufacturing", "320000", 3, 1),
            TargetRow("biomedicine", "310000", 2, 3),
            TargetRow("materials", "000000", 1, 1),
        ],
    )
    coverage = services.plan_coverage(plan)
    cells = {(c.target.field.code, c.target.region_code): c for c in coverage.cells}
    js = cells[("manufacturing", "320000")]
    assert [lab.code for lab in js.operating] == ["a", "b"]
    assert [lab.code for lab in js.pipeline] == ["c"]
    assert (js.gap, js.gap_after_pipeline) == (1, 0)
    # gaps: materials (1 x weight 3 = 3), manufacturing (1 x 3 = 3, priority 1), biomedicine (2 x 1 = 2)
    assert [(c.target.field.code, c.gap, c.score) for c in coverage.gaps] == [
        ("manufacturing", 1, 3),
        ("materials", 1, 3),
        ("biomedicine", 2, 2),
    ]
    assert coverage.by_province() == {"320000": (2, 3), "310000": (0, 2)}
    assert (coverage.total_covered, coverage.total_target) == (2, 6)


def test_a_prefecture_target_counts_only_labs_of_that_prefecture(office, plan):
    make_lab("suzhou", prefecture_code="320500", fields=("robots",))
    make_lab("nanjing", prefecture_code="320100", fields=("robots",))
    services.set_plan_targets(office, plan, [TargetRow("robots", "320500", 1)])
    (cell,) = services.plan_coverage(plan).cells
    assert [lab.code for lab in cell.operating] == ["suzhou"] and cell.gap == 0


def test_overlaps_are_labs_with_the_same_field_and_direction_in_one_province(office, plan):
    make_lab("x1", fields=("photovoltaics",), direction="组件 可靠性")
    make_lab("x2", fields=("photovoltaics",), direction="组件可靠性 ".replace("组件可靠性", "组件 可靠性"))
    make_lab("x3", fields=("photovoltaics",), direction="other", region="330000")
    (overlap,) = services.plan_coverage(plan).overlaps
    assert sorted(lab.code for lab in overlap.labs) == ["x1", "x2"]


def test_every_bad_target_is_reported_at_once_and_nothing_changes(office, plan):
    services.set_plan_targets(office, plan, [TargetRow("robots", "320000", 1)])
    with pytest.raises(ValidationError) as exc:
        services.set_plan_targets(
            office,
            plan,
            [
                TargetRow("nope", "320000", 1),
                TargetRow("robots", "990000", 0),
                TargetRow("robots", "320000", 2, 7),
            ],
        )
    text = " ".join(exc.value.messages)
    assert "Target 1" in text and "nope" in text
    assert "Target 2" in text and "99" in text and "at least 1" in text
    assert "Target 3" in text and "priority" in text
    plan.refresh_from_db()
    assert plan.revision == 1 and plan.targets.count() == 1


def test_each_revision_is_kept_and_the_difference_is_listed(office, plan):
    services.set_plan_targets(office, plan, [TargetRow("robots", "320000", 1), TargetRow("ic", "440000", 2)])
    services.set_plan_targets(
        office, plan, [TargetRow("robots", "320000", 3), TargetRow("biopharma", "310000", 1)], "adjust"
    )
    first, second = plan.revisions.order_by("number")
    diff = services.diff_revisions(first, second)
    assert [r["field"] for r in diff.added] == ["biopharma"]
    assert [r["field"] for r in diff.removed] == ["ic"]
    assert [(a["target"], b["target"]) for a, b in diff.changed] == [(1, 3)]


def test_only_the_office_changes_a_plan(plan):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.set_plan_targets(make_user("authority"), plan, [TargetRow("robots", "320000", 1)])


def test_the_map_is_one_svg_with_each_targeted_province_labelled(office, plan):
    svg = coverage_map_svg({"320000": (1, 3)}, "zh-hans")
    assert svg.startswith("<svg") and "江苏" in svg and "1/3" in svg
    assert "Jiangsu" in coverage_map_svg({"320000": (1, 3)}, "en")


def test_the_coverage_page_and_api_show_the_gap(office, plan, clients):
    make_lab("a", fields=("robots",))
    services.set_plan_targets(office, plan, [TargetRow("manufacturing", "320000", 3, 1)])
    page = clients["office"].get(f"/labs/plans/{plan.pk}/").content.decode()
    (chart,) = chart_svgs(page)
    assert chart.startswith("<svg") and "1/3" in chart and "1/3" in page
    assert 'class="heat-cell heat-3"' in page and "style=" not in page, "a third of the target: heat level 3"
    data = clients["office"].get(f"/api/labs/plans/{plan.pk}/coverage").json()
    assert data["gaps"][0]["gap"] == 2 and data["gaps"][0]["operating"] == ["a"]
    assert LayoutPlan.objects.visible_to(make_user("lab_manager")).count() == 0
