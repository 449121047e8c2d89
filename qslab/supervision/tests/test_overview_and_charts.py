"""The office overview filters and exports exactly what it shows (CSV and XLSX); a published campaign shows
its grades by key field and by province, to everyone, and the API gives the same counts."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from qslab.core.testing import verified_client
from qslab.labs.tests.conftest import make_lab
from qslab.labs.xlsx import read_xlsx
from qslab.supervision import services
from qslab.supervision.tests.conftest import INDICATORS


@pytest.fixture
def env(users: dict[str, Any]) -> Any:
    class Env:
        pass

    e = Env()
    e.users, e.office = users, users["office"]
    e.js = make_lab("js-lab", status="named", region="320000", fields=("robots",))
    e.zj = make_lab("zj-lab", status="named", region="330000", fields=("robots",))
    return e


def test_the_overview_filters_by_risk_and_exports_the_same_rows_as_csv_and_xlsx(env):
    services.order_rectification(env.office, env.js, grounds="问题", working_days=10)
    client = verified_client(env.office)
    page = client.get("/supervision/overview/?risk=high")
    assert "National js-lab" in page.content.decode() and "National zj-lab" not in page.content.decode()

    response = client.get("/supervision/overview/?risk=high&format=xlsx")
    rows = read_xlsx(response.content)
    assert rows[0][:3] == ["code", "laboratory", "status"]
    assert [r[0] for r in rows[1:]] == ["js-lab"]
    assert rows[1][rows[0].index("open rectifications")] == "1"

    csv_text = client.get("/supervision/overview/?format=csv").content.decode("utf-8")
    assert csv_text.startswith("\ufeff"), "a BOM so spreadsheet programs read UTF-8"
    assert "js-lab" in csv_text and "zj-lab" in csv_text


def test_the_overview_is_refused_to_a_lab_manager(env):
    response = verified_client(env.users["lab_manager"]).get("/supervision/overview/?format=xlsx")
    assert response.status_code == 403


def _published_campaign(env: Any) -> Any:
    campaign = services.create_campaign(
        env.office, code="chart", name_zh="评估", name_en="Eval", year=2025, indicators=INDICATORS
    )
    expert = env.users["expert"]
    for lab in (env.js, env.zj):
        services.add_to_campaign(env.office, campaign, lab, [expert])
    services.move_campaign(env.office, campaign, "open_scoring")
    for lab, score in ((env.js, 95), (env.zj, 40)):
        entry = campaign.entries.get(laboratory=lab)
        services.submit_score_sheet(expert, entry, {"quality": score, "openness": score})
    services.move_campaign(env.office, campaign, "confirm")
    return campaign


def test_results_by_field_and_region_are_charted_only_once_published(env):
    campaign = _published_campaign(env)
    anonymous = Client()
    assert anonymous.get(campaign.get_absolute_url()).status_code == 404, "confirmed is not public yet"
    office_page = verified_client(env.office).get(campaign.get_absolute_url()).content.decode()
    assert office_page.count("<svg") == 2, "the office previews the charts before publication"

    services.move_campaign(env.office, campaign, "publish")
    page = anonymous.get(campaign.get_absolute_url()).content.decode()
    assert page.count("<svg") == 2
    assert 'data-grade="excellent"' in page and 'data-grade="fail"' in page

    results = services.campaign_results(campaign)
    assert [counts for _label, counts in results["field"]] == [{"excellent": 1, "fail": 1}]
    assert sorted(str(counts) for _label, counts in results["region"]) == ["{'excellent': 1}", "{'fail': 1}"]
    api = anonymous.get(f"/api/supervision/campaigns/{campaign.pk}/results").json()
    assert sorted(str(r["counts"]) for r in api["by_region"]) == ["{'excellent': 1}", "{'fail': 1}"]
    assert {e["code"]: e["grade"] for e in api["entries"]} == {"js-lab": "excellent", "zj-lab": "fail"}
