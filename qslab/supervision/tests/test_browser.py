"""In a real browser, the issue's "done means": the office draws a spot check, records major findings and
publishes them, orders rectification, lets the deadline lapse, proposes revocation; the committee
decides; the office revokes; the public then sees the lab as revoked in the directory and on the
sanctions list, and re-running the draw from the portal gives the same labs and inspectors."""

from __future__ import annotations

import datetime as dt
import os
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from qslab.core.testing import current_totp, make_user, totp_device
from qslab.labs.tests.conftest import make_lab
from qslab.supervision import services
from qslab.supervision.models import Inspector, RectificationOrder, SpotCheckItem

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # pytest-django's live_server beside Playwright

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

LAB_NAME = re.compile("sup-bt|国家浏览器测试质量标准实验室")  # the English name holds the code
PASSWORD = "correct horse battery staple"


def sign_in(page, live_server, user, device) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Six-digit code from your authenticator app").fill(current_totp(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_load_state()


def test_draw_findings_lapsed_order_and_revocation_end_on_the_public_sanctions_list(live_server, page):
    office = make_user("office", username="office_sup")
    committee = make_user("committee", username="committee_sup")
    office_device, committee_device = totp_device(office), totp_device(committee)
    lab = make_lab("sup-bt", status="named", region="320000", name_zh="国家浏览器测试质量标准实验室")
    inspectors = []
    for name, region in (("Wang Inspector", "440000"), ("Li Inspector", "110000")):
        first, last = name.split()
        user = make_user("expert")
        user.first_name, user.last_name = first, last
        user.save(update_fields=["first_name", "last_name"])
        Inspector.objects.create(user=user, region_code=region)
        inspectors.append(user)
    item = SpotCheckItem.objects.create(
        code="ops", name_zh="运行", name_en="Operation", legal_basis="办法", content="运行", method="现场"
    )
    plan = services.create_plan(
        office,
        year=2026,
        name_zh="浏览器抽查",
        name_en="Browser spot check",
        items=[item],
        proportions={"normal": 1, "high": 1, "low": 1},
        conflict_rules=["same_organisation", "same_province"],
        seed_source="lottery 2026-01-05: 4 1 7",
    )

    # the office draws and enters the result
    sign_in(page, live_server, office, office_device)
    page.goto(f"{live_server.url}{plan.get_absolute_url()}")
    page.locator("button[data-action=draw]").click()
    page.wait_for_load_state()
    row = page.locator("table tbody tr", has_text=LAB_NAME)
    expect(row).to_contain_text("Wang Inspector")
    expect(row).to_contain_text("Li Inspector")
    check = plan.checks.get()
    page.locator(f"#o-{check.pk}").select_option("major")
    page.locator(f"#fd-{check.pk}").fill("原始记录缺失，数据不可追溯。")
    page.get_by_role("button", name="Save result").click()
    page.wait_for_load_state()
    expect(page.locator("table tbody tr", has_text=LAB_NAME)).to_contain_text("原始记录缺失")
    page.locator("button[data-action=publish]").click()
    page.wait_for_load_state()
    expect(page.locator("span.status")).to_contain_text("results published")

    # the office orders rectification from the overview
    page.goto(f"{live_server.url}/supervision/overview/?q=sup-bt")
    page.get_by_role("link", name="Order rectification").click()
    page.get_by_label("Grounds").fill("抽查发现重大问题，责令整改。")
    page.get_by_label("Deadline (working days)").fill("1")
    page.get_by_role("button", name="Issue the order").click()
    page.wait_for_load_state()
    order = RectificationOrder.objects.get(laboratory=lab)
    assert order.document is not None, "the labs lifecycle issued the numbered order"
    expect(page.locator("span.status")).to_contain_text("issued")
    expect(page.locator("button[data-transition=lapse]")).to_have_count(0)  # not before the deadline

    # three days after the deadline (at 10:00 Beijing time), the lab has done nothing
    later = dt.datetime.combine(
        order.due_on + dt.timedelta(days=3), dt.time(10), tzinfo=ZoneInfo("Asia/Shanghai")
    )
    with time_machine.travel(later, tick=True):
        page.goto(f"{live_server.url}{order.get_absolute_url()}")
        page.locator("button[data-transition=lapse]").click()
        page.wait_for_load_state()
        expect(page.locator("span.status")).to_contain_text("failed")
        page.locator("#reason-propose_revocation").fill("逾期未整改。")
        page.locator("button[data-transition=propose_revocation]").click()
        page.wait_for_load_state()
        expect(page.locator("span.status")).to_contain_text("revocation proposed")

        committee_page = page.context.browser.new_context().new_page()
        sign_in(committee_page, live_server, committee, committee_device)
        committee_page.goto(f"{live_server.url}{order.get_absolute_url()}")
        committee_page.locator("#reason-decide_revoke").fill("委员会表决同意撤销。")
        committee_page.locator("button[data-transition=decide_revoke]").click()
        committee_page.wait_for_load_state()
        expect(committee_page.locator("span.status")).to_contain_text("revocation decided")

        page.goto(f"{live_server.url}{order.get_absolute_url()}")
        page.locator("#reason-revoke").fill("依据委员会决定撤销命名。")
        page.locator("button[data-transition=revoke]").click()
        page.wait_for_load_state()
        expect(page.locator("span.status")).to_contain_text("revoked")
    lab.refresh_from_db()
    assert lab.status == "revoked"

    # the public: directory, sanctions list, and the draw re-run from the portal
    public = page.context.browser.new_context(locale="en-GB").new_page()
    public.goto(f"{live_server.url}/labs/?q=sup-bt")
    expect(public.locator("#results")).to_contain_text("国家浏览器测试质量标准实验室")  # both names listed
    expect(public.locator("#results tr", has_text=LAB_NAME).locator("span.status")).to_have_class(
        "status revoked"
    )
    public.goto(f"{live_server.url}/supervision/sanctions/")
    sanction = public.locator("table tbody tr", has_text=LAB_NAME)
    expect(sanction).to_have_count(1)
    assert lab.last_document.number in sanction.inner_text(), "the public revocation decision is linked"

    public.goto(f"{live_server.url}/supervision/plans/{plan.pk}/verify/")
    expect(public.locator("[data-matches]")).to_have_attribute("data-matches", "true")
    rerun = public.locator("tr[data-lab=sup-bt]")
    expect(rerun).to_contain_text("Wang Inspector")
    expect(rerun).to_contain_text("Li Inspector")
    recorded = sorted(u.pk for u in check.inspectors.all())
    assert recorded == sorted(u.pk for u in inspectors)
