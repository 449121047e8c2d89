"""In a real browser (Debian chromium): a proficiency-testing round with three participants from set-up
to reports, and a monitor's out-of-limits point reaching the alarm triage queue."""

import os

import pytest

from qslab.core.testing import make_organisation, make_user
from qslab.studies.models import PTMeasurand, PTParticipant, PTResult, PTRound
from qslab.studies.tests.conftest import make_lab

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # pytest-django's live_server beside Playwright

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "correct horse battery staple"


def sign_in(page, live_server, user, next_path="/studies/"):
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{next_path}")


def messages(page):
    box = page.locator("ul.messages")
    return box.inner_text() if box.count() else ""


def act(page, transition):
    page.locator(f"[data-transition={transition}]").click()
    page.wait_for_load_state()
    assert "Done." in page.content(), f"{transition} was refused: {messages(page)}"


def register(page, live_server, rnd, *, laboratory=None):
    page.goto(f"{live_server.url}/studies/pt/{rnd.pk}/")
    if laboratory is not None:
        page.locator("#id_laboratory").select_option(value=str(laboratory.pk))
    else:
        page.get_by_label("register my organisation instead").check()
    page.get_by_role("button", name="Register").click()
    page.wait_for_url("**/participants/*/")
    return PTParticipant.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))


def submit_by_form(page, measurand, value, u):
    page.locator(f"#id_value_{measurand.pk}").fill(str(value))
    page.locator(f"#id_u_{measurand.pk}").fill(str(u))
    page.locator(f"#id_k_{measurand.pk}").fill("2")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_load_state()


def upload(page, text):
    page.locator("#id_file").set_input_files(
        files=[{"name": "results.csv", "mimeType": "text/csv", "buffer": text.encode()}]
    )
    page.get_by_role("button", name="Upload").click()
    page.wait_for_load_state()


def test_a_pt_round_with_three_participants_runs_from_set_up_to_reports(live_server, page):
    organiser_lab, lab_a, lab_b = make_lab("pt-org"), make_lab("pt-a"), make_lab("pt-b")
    organiser = make_user("lab_manager", username="pt_organiser", scope=organiser_lab)
    manager_a = make_user("lab_manager", username="pt_manager_a", scope=lab_a)
    manager_b = make_user("lab_manager", username="pt_manager_b", scope=lab_b)
    outsider = make_user("client", username="pt_outsider")
    outsider.organisation = make_organisation(kind="enterprise", name_en="Outside Testing Co.")
    outsider.save(update_fields=["organisation"])

    # set-up: the round, one measurand with its homogeneity and stability data, then open it
    sign_in(page, live_server, organiser, "/studies/pt/new/")
    page.locator("#id_code").fill("PT-2026-07")
    page.locator("#id_title_zh").fill("面粉中的铜")
    page.locator("#id_title_en").fill("Copper in flour")
    page.locator("#id_items_prepared").fill("10")
    page.locator("#id_deadline").fill("2099-12-31")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/studies/pt/*/")
    rnd = PTRound.objects.get(code="PT-2026-07")
    page.get_by_role("link", name="Add measurand").click()
    page.locator("#id_name_zh").fill("铜")
    page.locator("#id_name_en").fill("Cu")
    page.locator("#id_unit").fill("mg/kg")
    page.locator("#id_assigned_method").select_option("crm")
    page.locator("#id_assigned_value").fill("3.10")
    page.locator("#id_assigned_uncertainty").fill("0.02")
    page.locator("#id_sigma_method").select_option("fixed")
    page.locator("#id_sigma_pt").fill("0.3")
    page.locator("#id_homogeneity_data").fill("\n".join(f"3.{10 + i % 3}, 3.{11 - i % 2}" for i in range(10)))
    page.locator("#id_stability_before").fill("3.10, 3.11, 3.09")
    page.locator("#id_stability_after").fill("3.11, 3.10, 3.10")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"**/studies/pt/{rnd.pk}/")
    assert "✓" in page.locator("section.card", has_text="Measurands").inner_text(), "homogeneity passes"
    act(page, "open")
    measurand = PTMeasurand.objects.get(round=rnd)

    # participant A: a laboratory, results by the form
    sign_in(page, live_server, manager_a)
    p_a = register(page, live_server, rnd, laboratory=lab_a)
    submit_by_form(page, measurand, 3.16, 0.05)
    assert "1 results saved." in page.content()

    # participant B: a laboratory, a malformed file is refused with every problem, then a good one
    sign_in(page, live_server, manager_b)
    p_b = register(page, live_server, rnd, laboratory=lab_b)
    upload(page, "measurand,value,u\nZn,2.9,0.1\nCu,abc,0.1\n")
    alerts = messages(page)
    assert "row 1, measurand" in alerts and "row 2, value" in alerts
    assert not PTResult.objects.filter(participant=p_b).exists()
    upload(page, "measurand,value,u,k\nCu,2.95,0.04,2\n")
    assert PTResult.objects.get(participant=p_b).channel == "file"

    # participant C: an outside organisation; a negative uncertainty is refused, then corrected
    sign_in(page, live_server, outsider)
    p_c = register(page, live_server, rnd)
    submit_by_form(page, measurand, 3.85, -0.1)
    assert not PTResult.objects.filter(participant=p_c).exists()
    submit_by_form(page, measurand, 3.85, 0.1)
    assert PTResult.objects.filter(participant=p_c).count() == 1
    assert [p.code for p in (p_a, p_b, p_c)] == ["P01", "P02", "P03"]

    # the organiser closes, scores, reads the summary with its charts, and publishes
    sign_in(page, live_server, organiser, f"/studies/pt/{rnd.pk}/")
    act(page, "close")
    act(page, "score")
    page.get_by_role("link", name="Round summary").click()
    page.wait_for_url(f"**/studies/pt/{rnd.pk}/summary/")
    summary = page.content()
    assert all(code in summary for code in ("P01", "P02", "P03"))
    assert page.locator("img.chart-img").count() >= 3, "scores by participant and the distribution of results"
    page.goto(f"{live_server.url}/studies/pt/{rnd.pk}/")
    act(page, "publish")

    # the outside participant sees only its own code, its z score and its bilingual report
    sign_in(page, live_server, outsider, f"/studies/pt/{rnd.pk}/")
    detail = page.content()
    assert "P03" in detail and "P01" not in detail and "P02" not in detail
    page.goto(f"{live_server.url}/studies/pt/{rnd.pk}/participants/{p_c.pk}/")
    row = page.locator("table tbody tr").first.inner_text()
    assert "2.50" in row, "z = (3.85 - 3.10) / 0.3"
    href = page.get_by_role("link", name="Report (PDF)").get_attribute("href")
    report = page.request.get(f"{live_server.url}{href}")
    assert report.status == 200 and report.headers["content-type"] == "application/pdf"
    assert report.body().startswith(b"%PDF")
    other = page.request.get(f"{live_server.url}/studies/pt/{rnd.pk}/participants/{p_a.pk}/report.pdf")
    assert other.status == 404, "another participant's report stays hidden"


def test_a_point_beyond_the_limits_posted_by_a_machine_appears_in_the_open_triage_queue(live_server, page):
    import json
    import urllib.request

    from playwright.sync_api import expect

    from qslab.accounts.models import ApiToken
    from qslab.studies import services
    from qslab.studies.models import Alarm, Monitor

    lab = make_lab("spc-lab")
    manager = make_user("lab_manager", username="spc_manager", scope=lab)
    monitor = services.save_monitor(
        manager,
        lab,
        {
            "name_zh": "灰分",
            "name_en": "Ash content",
            "characteristic": "ash",
            "unit": "%",
            "chart": Monitor.Chart.I,
            "center": 10.0,
            "sigma": 0.1,
            "rules": "we",
        },
    )
    _, secret = ApiToken.issue(manager, "line 3 gateway")

    sign_in(page, live_server, manager, "/studies/alarms/")
    rows = page.locator("#alarm-rows")
    expect(rows).to_contain_text("None.")

    def post(points):
        request = urllib.request.Request(  # noqa: S310 (the live test server)
            f"{live_server.url}/api/studies/monitors/{monitor.pk}/points",
            data=json.dumps({"points": points}).encode(),
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request) as response:  # noqa: S310
            return response.status, json.loads(response.read())

    status, stored = post([10.02, 9.97])
    assert status == 201 and all(not p["signals"] for p in stored)
    status, stored = post([10.45])  # beyond centre + 3 sigma
    assert status == 201 and stored[0]["signals"]
    # the open queue refreshes itself (htmx, every second): no reload
    expect(rows).to_contain_text("Ash content", timeout=5000)
    expect(rows.locator("tr")).to_have_count(1)
    alarm = Alarm.objects.get(monitor=monitor)
    assert alarm.point.seq == 3 and alarm.status == "open"
    rows.get_by_role("link", name="3").click()
    page.wait_for_url(f"**/studies/alarms/{alarm.pk}/")
    act(page, "acknowledge")
