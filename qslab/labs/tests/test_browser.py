"""In a real browser: the public finds a lab by a Chinese keyword; the office sees a plan's gaps."""

import os

import pytest
from playwright.sync_api import expect

from qslab.core.testing import current_totp, make_user, totp_device
from qslab.labs import services
from qslab.labs.services import TargetRow
from qslab.labs.tests.conftest import make_lab

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # pytest-django's live_server beside Playwright

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_the_public_finds_a_lab_by_typing_a_chinese_keyword(live_server, page):
    make_lab("robots", name_zh="国家工业机器人质量标准实验室", name_en="National Industrial Robots QSL")
    make_lab(
        "fibre",
        name_zh="国家碳纤维质量标准实验室",
        name_en="National Carbon Fibre QSL",
        fields=("materials",),
    )

    page.goto(f"{live_server.url}/labs/")
    assert page.get_by_text("国家碳纤维质量标准实验室").is_visible()
    page.locator("#id_q").fill("机器人")
    results = page.locator("#results")
    expect(results).not_to_contain_text("碳纤维")  # htmx replaced the results as the user typed
    expect(results).to_contain_text("国家工业机器人质量标准实验室")
    assert "?q=" in page.url, "the search is in the address, so it can be shared"


def test_the_office_sees_where_labs_are_missing_on_the_coverage_view(live_server, page):
    office = make_user("office", username="office_plans")
    device = totp_device(office)
    make_lab("js1", region="320000", fields=("robots",))
    plan = services.create_plan(
        office,
        {
            "code": "p35",
            "name_zh": "2035规划",
            "name_en": "Plan to 2035",
            "start_year": 2026,
            "end_year": 2035,
        },
    )
    services.set_plan_targets(
        office, plan, [TargetRow("manufacturing", "320000", 1, 2), TargetRow("biomedicine", "440000", 2, 1)]
    )

    page.goto(f"{live_server.url}/accounts/login/?next=/labs/plans/{plan.pk}/")
    page.get_by_label("Username").fill(office.username)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Six-digit code from your authenticator app").fill(current_totp(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"**/labs/plans/{plan.pk}/")

    assert page.locator("section.chart img.chart-img").count() == 1, "the province map is drawn"
    first_gap = page.locator("table.gaps tbody tr").first.inner_text()
    assert "Guangdong" in first_gap and "2" in first_gap, "the unmet Guangdong target ranks first"
    assert page.locator("table.gaps tbody tr").count() == 1, "Jiangsu's target is met"
