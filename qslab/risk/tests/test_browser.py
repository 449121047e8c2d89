"""In a real browser (issue 12, "done means"): the shipped NEISS sample and FDA enforcement reports are
loaded and the scheduled early-warning job raises signals an analyst opens, sees charted and triages;
the public form refuses a bad barcode with a clear message; a Chinese pattern search finds the cases."""

import os

import pytest
from playwright.sync_api import expect

from qslab.core.testing import make_user
from qslab.risk import services
from qslab.risk.models import DefectPattern, SeriesFamily, Signal
from qslab.risk.tests.conftest import make_report, make_terms

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # pytest-django's live_server beside Playwright

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _sign_in(page, live_server, user, next_url):
    page.goto(f"{live_server.url}/accounts/login/?next={next_url}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{next_url}")


def test_the_scheduled_job_over_neiss_and_fda_data_raises_signals_an_analyst_charts_and_triages(
    live_server, page, settings, tmp_path, data_dir
):
    import importlib

    from django.apps import apps

    from qslab.risk.tasks import early_warning_task

    # the risk matrix as migration 0003 makes it (idempotent): an earlier transactional test on the same
    # worker may have flushed the table, and escalating a signal opens an assessment with that matrix
    importlib.import_module("qslab.risk.migrations.0003_reference_data").create(apps, None)
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    codes = data_dir / "neiss" / "codes"
    services.load_neiss_codes(codes)
    services.ingest_file(data_dir / "neiss" / "neiss_sample_2017_2021_10k.csv.gz", "neiss", codes)
    services.ingest_file(
        data_dir / "fda_drug_enforcement" / "drug_enforcement_2012_2023.csv.gz", "fda-enforcement", codes
    )
    for spec in services.DEFAULT_FAMILIES:
        if spec["method"] != "glrnb":  # the weekly GLR family is the slow one; the others cover the job
            SeriesFamily.objects.create(**spec)
    result = early_warning_task.enqueue()  # the scheduled job (run at once by the test task backend)
    assert result.return_value["new_signals"] > 0
    sources = set(Signal.objects.values_list("family__source", flat=True))
    assert sources == {"neiss", "fda-enforcement"}, "both data sets raise signals"
    assert Signal.objects.filter(family__kind="disproportionality").exists()

    analyst = make_user("analyst", username="analyst_browser")
    _sign_in(page, live_server, analyst, "/risk/signals/")
    expect(page.locator("#signal-dashboard")).to_contain_text("Open signals by severity and age")
    page.locator("table").last.locator("tbody tr a").first.click()
    page.wait_for_url("**/risk/signals/*/")
    chart = page.locator("figure img")
    expect(chart).to_be_visible()
    assert page.evaluate("document.querySelector('figure img').naturalWidth") > 0, "the chart was drawn"

    page.get_by_role("button", name="take for review").click()
    expect(page.locator("body")).to_contain_text("Status: under review")
    expect(page.locator("body")).to_contain_text(f"Assigned to {analyst}")
    page.locator("#reason-escalate").fill("cluster of injuries above the threshold")
    page.get_by_role("button", name="escalate to risk assessment").click()
    expect(page.locator("body")).to_contain_text("Status: escalated to assessment")
    page.locator("a[href*='/risk/assessments/']").first.click()
    expect(page.locator("h1")).to_contain_text("Risk assessment")


def test_the_public_form_refuses_a_bad_barcode_with_a_clear_message(live_server, page):
    kettle = make_terms()["kettle"]
    page.goto(f"{live_server.url}/risk/report/")
    page.get_by_label("product category").select_option(value=str(kettle.pk))
    page.get_by_label("brand").fill("晨星")
    page.get_by_label("barcode (EAN/UPC/ISBN)").fill("4006381333932")
    page.get_by_label("date of the incident").fill("2026-01-05")
    page.get_by_label("what happened").fill("壶盖弹开")
    page.get_by_label("I agree to the consent statement").check()
    page.get_by_role("button", name="Submit report").click()
    expect(page.locator("#id_barcode_error")).to_contain_text("its check digit does not match")


def test_a_chinese_pattern_search_finds_the_pattern_and_its_linked_cases(live_server, page):
    terms = make_terms()
    analyst = make_user("analyst", username="analyst_patterns")
    cases = [
        make_report(terms, description="倒水时壶盖弹开，烫伤手背。", brand="晨星"),
        make_report(terms, description="壶盖锁扣断裂，开水溅出。", brand="晨星", model="CX-2"),
    ]
    pattern = DefectPattern.objects.create(
        title_zh="电热水壶壶盖弹开",
        title_en="Kettle lid opens",
        product_category=terms["kettle"],
        hazard=terms["thermal"],
        is_public=True,
    )
    pattern.evidence.set(cases)
    DefectPattern.objects.create(
        title_zh="滑板车折叠关节松开",
        title_en="Folding joint",
        product_category=terms["scooter"],
        hazard=terms["fall"],
    )
    _sign_in(page, live_server, analyst, "/risk/patterns/")
    page.locator("#q").fill("锁扣断裂")  # words of a linked case's narrative, not of the pattern
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table")).to_contain_text("Kettle lid opens")  # the English page shows title_en
    expect(page.locator("table")).not_to_contain_text("Folding joint")
    page.get_by_role("link", name="Kettle lid opens").click()
    for case in cases:
        expect(page.get_by_text(case.reference)).to_be_visible()
