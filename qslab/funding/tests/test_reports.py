"""Reports by key field and by province: budget in force, execution, target attainment, scores and
grades, with CSV/XLSX exports; each user sees only the budgets they may see."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest

from qslab.core.testing import make_user, verified_client
from qslab.funding import reports
from qslab.funding.models import BudgetLine, Expenditure, Indicator, SelfEvaluation
from qslab.funding.tests.conftest import YEAR, quick_budget
from qslab.labs.tests.conftest import make_lab, scope_to
from qslab.labs.xlsx import read_xlsx

pytestmark = pytest.mark.django_db


def chart_svgs(page: str) -> list[str]:
    """The SVG charts a page shows as ``<img src="data:image/svg+xml;base64,...">`` ({% chart_img %})."""
    return [
        base64.b64decode(b).decode()
        for b in re.findall(r'<img class="chart-img" src="data:image/svg\+xml;base64,([^"]+)"', page)
    ]


@pytest.fixture
def labs_with_budgets():
    """Jiangsu: a robots lab (manufacturing) and a lab in robots and fibre materials (manufacturing and
    new materials); Zhejiang: a biomedicine lab. Each has an approved budget of 1,000,000 (the
    Zhejiang one also a draft for next year), expenditures and a self-evaluation."""
    robots = make_lab("r1", region="320100", fields=("robots",))
    both = make_lab("r2", region="320000", fields=("robots", "frontier-materials"))
    bio = make_lab("b1", region="330000", fields=("biomedicine",))
    budgets = {}
    for lab, spent, score, grade in (
        (robots, "250000.00", "92.50", "excellent"),
        (both, "500000.10", "81.00", "good"),
        (bio, "0.00", None, ""),
    ):
        b = quick_budget(lab, YEAR, "approved", actuals=True)
        if Decimal(spent):
            Expenditure.objects.create(
                budget=b, date=dt.date(YEAR, 6, 1), line="equipment", source="central", amount=Decimal(spent)
            )
        if score:
            SelfEvaluation.objects.create(budget=b, status="reviewed", total=Decimal(score), grade=grade)
        budgets[lab.code] = b
    quick_budget(bio, YEAR + 1, "draft")
    # one unmet target at the robots lab: the first indicator ">= 4 items" achieved 3
    Indicator.objects.filter(budget=budgets["r1"], position=1).update(actual=Decimal(3))
    return budgets


def test_the_report_by_province_adds_money_exactly_and_rates_follow(labs_with_budgets):
    office = make_user("office")
    rep = reports.report(office, YEAR, "region")
    by_code = {g.code: g for g in rep.rows}
    assert set(by_code) == {"320000", "330000"}, "the Nanjing lab counts in Jiangsu"
    js = by_code["320000"]
    assert (js.laboratories, js.approved) == (2, 2)
    assert js.budgeted == Decimal("2000000.00")
    assert js.spent == Decimal("750000.10")
    assert js.execution == Decimal("37.50")
    assert js.mean_score == Decimal("86.75")
    assert js.grades["excellent"] == 1 and js.grades["good"] == 1
    assert (js.targets_met, js.targets_measured) == (9, 10)
    assert js.attainment == Decimal("90.00")
    zj = by_code["330000"]
    assert zj.execution == Decimal("0.00") and zj.mean_score is None
    assert rep.total.budgeted == Decimal("3000000.00")
    assert rep.total.spent == Decimal("750000.10")
    assert rep.rows[0].code == "320000", "largest budget first"


def test_the_report_by_field_counts_a_lab_in_each_top_level_field_it_works_in(labs_with_budgets):
    rep = reports.report(make_user("committee"), YEAR, "field")
    by_code = {g.code: g for g in rep.rows}
    assert set(by_code) == {"manufacturing", "materials", "biomedicine"}
    assert by_code["manufacturing"].laboratories == 2, "two labs work in robots, a manufacturing sub-field"
    assert by_code["materials"].laboratories == 1
    assert by_code["materials"].spent == Decimal("500000.10")
    assert rep.total.laboratories == 3, "the total counts each laboratory once"


def test_a_lab_manager_sees_only_their_own_laboratory_and_an_authority_its_province(labs_with_budgets):
    manager = make_user("lab_manager")
    scope_to(manager, labs_with_budgets["r1"].laboratory)
    rep = reports.report(manager, YEAR, "region")
    assert [r.budget.laboratory.code for r in rep.budgets] == ["r1"]
    assert rep.total.budgeted == Decimal("1000000.00")
    authority = make_user("authority", region_code="320000")
    codes = {r.budget.laboratory.code for r in reports.report(authority, YEAR, "field").budgets}
    assert codes == {"r1", "r2"}
    assert reports.report(make_user("expert"), YEAR).budgets == []


def test_the_report_page_draws_both_charts_and_lists_the_groups(labs_with_budgets):
    client = verified_client(make_user("committee"))
    response = client.get("/funding/reports/", {"year": YEAR, "by": "region"})
    assert response.status_code == 200
    html = response.content.decode()
    assert len(chart_svgs(html)) == 2 and "<svg" not in html
    assert "Jiangsu" in html and "Zhejiang" in html
    assert "37.50" in html


def test_the_group_table_exports_as_csv_and_xlsx_with_the_same_numbers(labs_with_budgets):
    client = verified_client(make_user("committee"))
    response = client.get("/funding/reports/export/", {"year": YEAR, "by": "region", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == list(reports.GROUP_COLUMNS)
    js = next(r for r in rows if r[0] == "320000")
    assert js[5:8] == ["2000000.00", "750000.10", "37.50"]
    assert rows[-1][1] == "All" and rows[-1][5] == "3000000.00"

    response = client.get("/funding/reports/export/", {"year": YEAR, "by": "region", "format": "xlsx"})
    sheet = read_xlsx(response.content)
    assert sheet[0] == list(reports.GROUP_COLUMNS)
    js = next(r for r in sheet if r[0] == "320000")
    assert Decimal(js[5]) == Decimal("2000000") and Decimal(js[6]) == Decimal("750000.1")


def test_the_budget_table_exports_one_row_per_budget_with_fields_and_region(labs_with_budgets):
    client = verified_client(make_user("committee"))
    response = client.get("/funding/reports/export/", {"year": YEAR, "table": "budgets", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["laboratory"] for r in rows] == ["b1", "r1", "r2"]
    r2 = rows[2]
    assert "Industrial robots" not in r2["fields"], "top-level fields, not sub-fields"
    assert r2["region"] == "Jiangsu" and r2["score"] == "81.00" and r2["grade"] == "good"
    assert rows[1]["targets_met"] == "4" and rows[1]["targets_measured"] == "5"


def test_a_budgets_expenditures_export_in_date_order(labs_with_budgets):
    budget = labs_with_budgets["r2"]
    Expenditure.objects.create(
        budget=budget, date=dt.date(YEAR, 2, 1), line="travel", source="local", amount=Decimal("12.34")
    )
    client = verified_client(make_user("office"))
    response = client.get(f"/funding/{budget.pk}/expenditures/export/", {"format": "csv"})
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["date", "line", "source", "amount"]
    assert [r[0] for r in rows[1:]] == [f"{YEAR}-02-01", f"{YEAR}-06-01"]
    assert rows[1][3] == "12.34"
    xlsx = read_xlsx(client.get(f"/funding/{budget.pk}/expenditures/export/", {"format": "xlsx"}).content)
    assert len(xlsx) == 3


def test_the_api_report_matches_the_page_and_refuses_an_unknown_grouping(labs_with_budgets):
    client = verified_client(make_user("office"))
    data = client.get("/api/funding/reports", {"year": YEAR, "by": "region"}).json()
    js = next(r for r in data["rows"] if r["code"] == "320000")
    assert Decimal(js["budgeted"]) == Decimal("2000000.00")
    assert Decimal(js["execution_pct"]) == Decimal("37.50")
    assert js["grades"] == {"excellent": 1, "good": 1, "fair": 0, "poor": 0}
    assert client.get("/api/funding/reports", {"year": YEAR, "by": "colour"}).status_code == 422


def test_budgets_not_yet_approved_add_no_money(labs_with_budgets):
    rep = reports.report(make_user("office"), YEAR + 1, "region")
    assert rep.total.budgets == 1 and rep.total.approved == 0
    assert rep.total.budgeted == Decimal(0) and rep.total.execution is None
    assert BudgetLine.objects.filter(version__budget__year=YEAR + 1).exists()
