"""Quantitative indicators are computed, never typed in: each names a source key, and its figure is read from
the app that owns the records (outputs, sharing, funding, supervision) for the laboratory and the campaign's
period, with the source and period recorded beside the figure."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from qslab.core.testing import verified_client
from qslab.labs.tests.conftest import make_lab, scope_to
from qslab.supervision import figures, services
from qslab.supervision.models import RectificationOrder

TREE = [
    {
        "code": "output",
        "name_zh": "产出",
        "name_en": "Output",
        "kind": "group",
        "weight": 1,
        "children": [
            {"code": "quality", "name_zh": "质量", "name_en": "Quality", "kind": "qualitative"},
            {
                "code": "standards",
                "name_zh": "发布标准",
                "name_en": "Standards published",
                "kind": "quantitative",
                "target": 4,
                "source": "outputs.standards_published",
            },
            {
                "code": "budget",
                "name_zh": "预算执行",
                "name_en": "Budget execution",
                "kind": "quantitative",
                "target": 90,
                "source": "funding.execution_rate",
            },
            {
                "code": "external",
                "name_zh": "对外共享",
                "name_en": "External share",
                "kind": "quantitative",
                "target": 30,
                "source": "sharing.external_share",
            },
            {
                "code": "orders",
                "name_zh": "未完成整改",
                "name_en": "Open rectifications",
                "kind": "quantitative",
                "target": 0,
                "rule": "at_most",
                "source": "supervision.open_rectifications",
            },
            {
                "code": "late",
                "name_zh": "逾期年报",
                "name_en": "Overdue annual reports",
                "kind": "quantitative",
                "target": 0,
                "rule": "at_most",
                "source": "supervision.overdue_reports",
            },
        ],
    }
]


@pytest.fixture
def env(users: dict[str, Any]) -> Any:
    class Env:
        pass

    e = Env()
    e.users, e.office, e.expert = users, users["office"], users["expert"]
    e.lab = make_lab("fig", status="named", region="320000")
    e.other = make_lab("fig2", status="named", region="330000")
    scope_to(users["lab_manager"], e.lab)
    e.year = timezone.localdate().year - 1
    return e


def _standard(lab: Any, published_on: dt.date, n: int) -> None:
    from qslab.outputs.models import Standard

    Standard.objects.create(
        laboratory=lab,
        number=f"GB/T {40000 + n}-{published_on.year}",
        level="national",
        title_zh=f"标准{n}",
        role="lead",
        stage="published",
        published_on=published_on,
    )


def _budget_spent(env: Any, lab: Any, year: int, share: Decimal) -> None:
    from qslab.funding import services as funding
    from qslab.funding.tests.conftest import budget_with_lines

    budget = budget_with_lines(lab, env.office, year=year, status="approved")
    rows = [["date", "line", "source", "amount", "description"]]
    for ln in budget.approved_version.lines.all():
        rows.append(
            [f"{year}-06-15", ln.line, ln.source, str((ln.amount * share).quantize(Decimal("0.01"))), "x"]
        )
    funding.import_expenditures(env.office, budget, rows)


def _campaign(env: Any, period_from: int | None = None) -> Any:
    campaign = services.create_campaign(
        env.office,
        code="computed",
        name_zh="评估",
        name_en="Evaluation",
        year=env.year,
        indicators=TREE,
        period_from=period_from,
    )
    for lab in (env.lab, env.other):
        services.add_to_campaign(env.office, campaign, lab, [env.expert])
    return campaign


def test_figures_are_computed_from_the_other_apps_when_scoring_opens_with_their_source(env):
    _standard(env.lab, dt.date(env.year, 5, 1), 1)
    _standard(env.lab, dt.date(env.year, 9, 1), 2)
    _standard(env.lab, dt.date(env.year - 1, 9, 1), 3)  # before the period
    _budget_spent(env, env.lab, env.year, Decimal("0.72"))
    RectificationOrder.objects.create(laboratory=env.other, grounds="问题", due_on=timezone.localdate())
    campaign = _campaign(env)
    services.move_campaign(env.office, campaign, "open_scoring")
    own = campaign.entries.get(laboratory=env.lab)
    other = campaign.entries.get(laboratory=env.other)
    assert own.figures == {"standards": 2.0, "budget": 72.0, "external": 0.0, "orders": 0.0, "late": 0.0}
    assert other.figures["orders"] == 1.0 and other.figures["budget"] is None, "no budget: no figure"
    meta = own.figure_sources["budget"]
    assert (meta["source"], meta["from"], meta["to"], meta["no_data"]) == (
        "funding.execution_rate",
        env.year,
        env.year,
        False,
    )
    assert other.figure_sources["budget"]["no_data"] is True

    scores = services.entry_scores(own)
    assert scores["standards"] == 50.0 and scores["budget"] == 80.0 and scores["orders"] == 100.0
    other_scores = services.entry_scores(other)
    assert other_scores["orders"] == 0.0, "one open order against a target of at most none"
    assert other_scores["budget"] == 0.0, "a computed indicator without data scores 0"

    page = verified_client(env.office).get(own.get_absolute_url()).content.decode()
    assert "funding.execution_rate" in page and f"{env.year}–{env.year}" in page
    from qslab.accounts.models import ApiToken

    _t, token = ApiToken.issue(env.office, "t")
    rows = verified_client(None).get(
        f"/api/supervision/entries/{own.pk}/figures", headers={"Authorization": f"Bearer {token}"}
    )
    budget = next(r for r in rows.json() if r["indicator"] == "budget")
    assert (budget["value"], budget["source"], budget["period_from"]) == (
        72.0,
        "funding.execution_rate",
        env.year,
    )


def test_a_campaign_period_sums_counts_over_its_years(env):
    _standard(env.lab, dt.date(env.year, 5, 1), 1)
    _standard(env.lab, dt.date(env.year - 2, 9, 1), 2)
    _standard(env.lab, dt.date(env.year - 4, 9, 1), 3)  # before the period
    campaign = _campaign(env, period_from=env.year - 2)
    services.move_campaign(env.office, campaign, "open_scoring")
    assert campaign.entries.get(laboratory=env.lab).figures["standards"] == 2.0
    assert figures.compute("outputs.standards_published", env.lab, [env.year - 4]) == 1.0


def test_figures_are_refreshed_at_confirmation_and_frozen_after(env):
    campaign = _campaign(env)
    services.move_campaign(env.office, campaign, "open_scoring")
    for entry in campaign.entries.all():
        services.submit_score_sheet(env.expert, entry, {"quality": 80})
    _standard(env.lab, dt.date(env.year, 5, 1), 1)  # recorded while the experts score
    services.move_campaign(env.office, campaign, "confirm")
    entry = campaign.entries.get(laboratory=env.lab)
    assert entry.figures["standards"] == 1.0
    with pytest.raises(ValidationError, match="fixed"):
        services.compute_figures(env.office, campaign)


def test_quantitative_figures_cannot_be_typed_in_and_need_a_known_source(env):
    campaign = _campaign(env)
    entry = campaign.entries.get(laboratory=env.lab)
    client = verified_client(env.office)
    client.post(f"/supervision/entries/{entry.pk}/figures/", {"fig_standards": "99"})
    entry.refresh_from_db()
    assert entry.figures["standards"] == 0.0, "the page recomputes; it never takes a typed figure"
    assert not hasattr(services, "set_figures")
    bad = [{**TREE[0], "children": [{**TREE[0]["children"][1], "source": "typed"}]}]
    with pytest.raises(ValidationError, match="computed source"):
        services.create_campaign(
            env.office, code="x", name_zh="x", name_en="x", year=env.year, indicators=bad
        )
    missing = [{**TREE[0], "children": [{k: v for k, v in TREE[0]["children"][1].items() if k != "source"}]}]
    with pytest.raises(ValidationError, match="computed source"):
        services.create_campaign(
            env.office, code="y", name_zh="y", name_en="y", year=env.year, indicators=missing
        )


def test_every_source_key_computes_for_a_lab_without_records(env):
    for key in figures.SOURCES:
        value = figures.compute(key, env.lab, [env.year])
        assert value is None or value == 0.0, key
