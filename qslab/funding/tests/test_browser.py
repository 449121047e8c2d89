"""In a real browser, the issue's "done means": a lab manager files a budget and targets, the office
approves it, the manager imports expenditures, the office runs the August monitoring, the manager
answers the flags and submits the self-evaluation; the office accepts it and runs an allocation whose
amounts add up exactly to the total; the report by region shows the laboratory."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from qslab.core.testing import current_totp, make_user, totp_device
from qslab.funding import services
from qslab.funding.models import Budget, MonitoringFlag, SelfEvaluation
from qslab.funding.tests.conftest import INDICATORS, quick_budget
from qslab.labs.tests.conftest import make_lab, scope_to

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # pytest-django's live_server beside Playwright

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "correct horse battery staple"
YEAR = 2025


def sign_in(browser, live_server, user, device=None):
    page = browser.new_context(locale="en-GB").new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if device is not None:
        page.get_by_label("Six-digit code from your authenticator app").fill(current_totp(device))
        page.get_by_role("button", name="Verify").click()
    page.wait_for_load_state()
    return page


def click_and_wait(page, locator) -> None:
    with page.expect_navigation():
        locator.click()


def test_budget_to_allocation_adds_up_to_the_total(live_server, browser, tmp_path):
    office = make_user("office", username="office_funding")
    office_device = totp_device(office)
    lab = make_lab("fund-bt", region="320000", fields=("robots",), name_zh="国家浏览器预算质量标准实验室")
    manager = make_user("lab_manager", username="manager_funding")
    scope_to(manager, lab)
    # two other laboratories already reviewed (excellent and fair), so the split has remainders
    for code, score, grade in (("fund-a", "95", "excellent"), ("fund-c", "65", "fair")):
        other = make_lab(code, region="330000", fields=("robots",))
        b = quick_budget(other, YEAR, "approved", actuals=True)
        SelfEvaluation.objects.create(budget=b, status="reviewed", total=Decimal(score), grade=grade)
        services.record_lab_grade(office, other, YEAR, "good", False, "supervision")
    services.record_lab_grade(office, lab, YEAR, "good", False, "supervision")

    # the lab manager opens the budget, enters its lines and targets and submits it
    desk = sign_in(browser, live_server, manager)
    desk.goto(f"{live_server.url}/funding/new/")
    desk.get_by_label("Laboratory").select_option(label=str(lab))
    desk.get_by_label("Year").fill(str(YEAR))
    click_and_wait(desk, desk.get_by_role("button", name="Open"))
    budget = Budget.objects.get(laboratory=lab, year=YEAR)
    click_and_wait(desk, desk.get_by_role("link", name="Edit lines (new version)"))
    desk.locator("input[name=amt_equipment_central]").fill("600000")
    desk.locator("input[name=amt_personnel_supporting]").fill("400000.00")
    click_and_wait(desk, desk.get_by_role("button", name="Save as new version"))
    expect(desk.locator("#budget-total")).to_have_text("1000000.00")
    click_and_wait(desk, desk.get_by_role("link", name="Edit performance targets"))
    desk.get_by_label("Performance targets, one per line").fill(INDICATORS)
    click_and_wait(desk, desk.get_by_role("button", name="Save targets"))
    click_and_wait(desk, desk.get_by_role("button", name="submit for approval"))
    expect(desk.locator("#budget-status")).to_have_text("submitted")

    # the office approves it
    office_page = sign_in(browser, live_server, office, office_device)
    office_page.goto(f"{live_server.url}{budget.get_absolute_url()}")
    click_and_wait(office_page, office_page.get_by_role("button", name="approve", exact=True))
    expect(office_page.locator("#budget-status")).to_have_text("approved")

    # the manager imports the first half-year's expenditures: one bad file first, nothing saved
    desk.goto(f"{live_server.url}{budget.get_absolute_url()}")
    click_and_wait(desk, desk.get_by_role("link", name="Import expenditures"))
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "date,line,source,amount\n"
        f"{YEAR}-02-10,equipment,central,1000.00\n"
        f"{YEAR + 1}-01-05,equipment,central,10\n"
        f"{YEAR}-03-01,boats,central,-5\n",
        encoding="utf-8",
    )
    desk.get_by_label("CSV or XLSX file").set_input_files(str(bad))
    click_and_wait(desk, desk.get_by_role("button", name="Check and import"))
    expect(desk.locator("#import-errors")).to_contain_text("nothing was saved")
    assert desk.locator("#import-errors tbody tr").count() >= 3, "every problem of every row is listed"
    assert not budget.expenditures.exists()
    good = tmp_path / "good.csv"
    good.write_text(
        "date,line,source,amount,description\n"
        f"{YEAR}-02-10,equipment,central,150000.00,spectrometer deposit\n"
        f"{YEAR}-05-20,personnel,supporting,50000.50,salaries\n",
        encoding="utf-8",
    )
    desk.get_by_label("CSV or XLSX file").set_input_files(str(good))
    click_and_wait(desk, desk.get_by_role("button", name="Check and import"))
    assert budget.expenditures.count() == 2

    # August: the office runs the monitoring on January-July data; the budget lags an even pace
    office_page.goto(f"{live_server.url}/funding/monitoring/")
    office_page.get_by_label("Year").fill(str(YEAR))
    office_page.get_by_label("Data up to month").fill("7")
    click_and_wait(office_page, office_page.get_by_role("button", name="Run the monitoring"))
    flags = list(MonitoringFlag.objects.filter(budget=budget))
    assert flags, "20 % spent by July against an expected 58 % is flagged"

    # the manager answers every flag with a cause and a corrective action
    for _flag in flags:
        desk.goto(f"{live_server.url}{budget.get_absolute_url()}")
        click_and_wait(desk, desk.locator("#flags").get_by_role("link", name="Answer").first)
        desk.get_by_label("Cause").fill("设备招标延期")
        desk.get_by_label("Corrective action").fill("九月完成招标并支付")
        click_and_wait(desk, desk.get_by_role("button", name="Save", exact=True))
    assert not MonitoringFlag.objects.filter(budget=budget, answered_at__isnull=True).exists()
    expect(desk.locator("#flags")).to_contain_text("九月完成招标并支付")

    # year end: the rest is spent, the manager enters the achieved values and submits
    budget.refresh_from_db()
    rest = {"date": f"{YEAR}-11-30", "line": "equipment", "source": "central", "amount": "799999.50"}
    services.record_expenditure(manager, budget, rest)
    desk.goto(f"{live_server.url}/funding/{budget.pk}/evaluation/")
    achieved = {"new standards": "4", "first-pass rate": "96", "cost per test": "760", "firms served": "40"}
    for ind in budget.indicators.all():
        value = achieved.get(ind.name_en, "92")
        desk.locator(f"#actual_{ind.pk}").fill(value)
    desk.locator("#summary").fill("四项标准发布；满意度调查见附件。")
    click_and_wait(desk, desk.get_by_role("button", name="Save", exact=True))
    survey = tmp_path / "survey.pdf"
    survey.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    desk.get_by_label("Evidence file (PDF, XLSX or image)").set_input_files(str(survey))
    click_and_wait(desk, desk.get_by_role("button", name="Attach"))
    expect(desk.locator("#evidence")).to_contain_text("survey.pdf")
    click_and_wait(desk, desk.get_by_role("button", name="submit the self-evaluation"))
    expect(desk.locator("#evaluation-status")).to_have_text("submitted")
    # firms served 40 of 50: effect earns 30 x 0.8; execution 100 %: 10 + 50 + 24 + 10
    expect(desk.locator("#evaluation-score")).to_have_text("94.00")

    # the office reviews it and runs an allocation of 1,000,000.01 yuan
    office_page.goto(f"{live_server.url}/funding/{budget.pk}/evaluation/")
    expect(office_page.locator("#evidence")).to_contain_text("survey.pdf")
    click_and_wait(office_page, office_page.get_by_role("button", name="accept the review"))
    expect(office_page.locator("#evaluation-status")).to_have_text("reviewed")
    office_page.goto(f"{live_server.url}/funding/allocations/new/")
    office_page.get_by_label("Year").fill(str(YEAR))
    office_page.get_by_label("Title (Chinese)").fill("2025年度补助资金分配")
    office_page.get_by_label("Title (English)").fill("2025 subsidy allocation")
    office_page.get_by_label("Total amount (yuan)").fill("1000000.01")
    click_and_wait(office_page, office_page.get_by_role("button", name="Compute"))
    cells = office_page.locator("table.numbers tbody tr td:last-child").all_inner_texts()
    amounts = [Decimal(t.strip()) for t in cells]
    assert len(amounts) == 3
    assert sum(amounts) == Decimal("1000000.01"), "the amounts add up exactly to the total"
    expect(office_page.locator("#allocation-sum")).to_have_text("1000000.01")
    # weights 3, 3 (excellent) and 1 (fair): 3/7, 3/7 and 1/7 of 100,000,001 fen floored leave one fen,
    # which goes to the largest remainder (0.43 fen of the 1/7 share against 0.29 of each 3/7 share)
    assert sorted(amounts) == [Decimal("142857.15"), Decimal("428571.43"), Decimal("428571.43")]
    click_and_wait(office_page, office_page.get_by_role("button", name="Issue the allocation document"))
    expect(office_page.get_by_role("link", name="国质标实资")).to_be_visible()

    # the report by region shows the laboratory's execution and score
    desk.goto(f"{live_server.url}/funding/reports/?year={YEAR}&by=region")
    row = desk.locator("table.report tbody tr", has_text="Jiangsu")
    expect(row).to_contain_text("1000000.00")
    expect(row).to_contain_text("100.00")
    expect(row).to_contain_text("94.00")
    assert desk.locator("section.chart img.chart-img").count() == 2
    assert "Zhejiang" not in desk.locator("table.report").inner_text(), "a manager sees only their own lab"
