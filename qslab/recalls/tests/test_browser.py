"""Issue 14, done means, in a real browser: a signal is escalated to an assessment rated "serious", a
bilingual alert is published (in the feed, without its confidential fields), a recall is opened whose
scope query lists the affected distributors, and its progress is recorded to closure.

Every step is driven through the pages: the analyst escalates the signal, builds the assessment and
drafts the alert; the office publishes the alert, approves and publishes the recall; the company
opens the recall, queries its scope and reports progress; the public reads the feed and the notice.
"""

import datetime as dt
import os

import pytest
from playwright.sync_api import expect

from qslab.core.testing import current_totp, make_user, totp_device
from qslab.recalls.tests.conftest import grant_client, load_supply_chain, make_company, make_product

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # pytest-django's live_server beside Playwright

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "correct horse battery staple"


def _sign_in(page, base: str, user, next_url: str, two_factor: bool = False) -> None:
    page.goto(f"{base}/accounts/login/?next={next_url}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if two_factor:
        page.get_by_label("Six-digit code from your authenticator app").fill(current_totp(totp_device(user)))
        page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"**{next_url}")


def _reference_data():
    """The reference data the flow needs (risk matrix with severities, document kinds), made as the
    migrations make it (idempotent): an earlier transactional test may have flushed those tables."""
    import importlib

    from django.apps import apps

    for module, function in (
        ("qslab.risk.migrations.0003_reference_data", "create"),
        ("qslab.risk.migrations.0007_matrix_severities", "fill"),
        ("qslab.recalls.migrations.0002_notice_document", "create_kind"),
        ("qslab.recalls.migrations.0004_closing_document", "create_kind"),
    ):
        getattr(importlib.import_module(module), function)(apps, None)


def _signal():
    """An open early-warning signal on electric kettles, with the taxonomy terms its assessment uses."""
    from qslab.risk.models import SeriesFamily, Signal, Term

    Term.objects.get_or_create(
        kind="product", code="269", defaults={"name_en": "Electric kettles", "name_zh": "电热水壶"}
    )
    thermal = Term.objects.get_or_create(
        kind="hazard", code="thermal", defaults={"name_en": "Burns and scalds", "name_zh": "烫伤"}
    )[0]
    family = SeriesFamily.objects.create(
        name="kettles", source="neiss", by="product_code", period="month", method="earsC"
    )
    signal = Signal.objects.create(
        family=family,
        unit="269",
        unit_label="Electric kettles",
        first_period=dt.date(2025, 10, 1),
        last_period=dt.date(2025, 11, 1),
        observed=40,
        upperbound=20,
        method="earsC",
        config={},
    )
    return signal, thermal


def _serious_alert(analyst_page, office_page, base, analyst, office):
    """In the browser: the analyst escalates the signal, builds the assessment (rated serious), drafts
    the bilingual alert from it and submits it; the office approves and publishes it."""
    from qslab.risk.models import ConsumerAlert, RiskAssessment

    signal, thermal = _signal()
    page = analyst_page
    _sign_in(page, base, analyst, signal.get_absolute_url())
    page.locator("#reason-escalate").fill("lid opens while pouring: scalds")
    page.get_by_role("button", name="escalate to risk assessment").click()
    expect(page.locator("body")).to_contain_text("Status: escalated to assessment")
    page.locator("a[href*='/risk/assessments/']").first.click()
    page.get_by_role("link", name="Edit", exact=True).click()
    page.locator("#id_title_zh").fill("晨星 CX-1 电热水壶烫伤风险评估")
    page.locator("#id_title_en").fill("CX-1 kettle scald risk")
    page.locator("#id_hazard").select_option(str(thermal.pk))
    page.locator("#id_product_name").fill("电热水壶 CX-1")
    page.locator("#id_brand").fill("晨星（测试）")
    page.locator("#id_conclusion_zh").fill("严重风险。")
    page.locator("#id_conclusion_en").fill("Serious risk.")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("link", name="Add a scenario").click()
    page.locator("#id_description_zh").fill("倒水时壶盖弹开")
    page.locator("#id_description_en").fill("Lid opens while pouring")
    page.locator("#id_severity").select_option("3")
    page.locator("#id_steps").fill("1 | 倒水 | pours water\n1/10 | 壶盖弹开 | lid opens\n1/2 | 烫伤 | scald")
    page.get_by_role("button", name="Save scenario").click()
    expect(page.locator("#risk-level")).to_have_text("serious risk")
    page.get_by_role("button", name="complete and issue the report").click()
    expect(page.locator("body")).to_contain_text("Report")
    assessment = RiskAssessment.objects.get(signal=signal)
    assert (assessment.status, assessment.risk_level) == ("completed", "serious")
    assert assessment.document is not None, "the numbered report was issued"

    page.get_by_role("link", name="Draft a consumer alert").click()
    expect(page.locator("#id_risk_level")).to_have_value("serious")  # from the assessment
    page.locator("#id_title_zh").fill("晨星电热水壶烫伤风险")
    page.locator("#id_title_en").fill("Scald risk from the CX-1 kettle")
    page.locator("#id_product_name_zh").fill("电热水壶")
    page.locator("#id_product_name_en").fill("Electric kettle")
    page.locator("#id_model").fill("CX-1")
    page.locator("#id_hazard_description_zh").fill("壶盖可能弹开，开水溅出。")
    page.locator("#id_hazard_description_en").fill("The lid may open and boiling water spill.")
    page.locator("#id_measures_zh").fill("生产者召回产品。")
    page.locator("#id_measures_en").fill("The producer recalls the product.")
    page.locator("#id_advice_zh").fill("停止使用。")
    page.locator("#id_advice_en").fill("Stop using the kettle.")
    page.locator("#id_operator_contact").fill("SECRET-OPERATOR-PHONE")
    page.locator("#id_internal_notes").fill("SECRET-INTERNAL-NOTE")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="submit for approval").click()
    alert = ConsumerAlert.objects.get(assessment=assessment)
    assert alert.status == "submitted"

    _sign_in(office_page, base, office, alert.get_absolute_url(), two_factor=True)
    office_page.get_by_role("button", name="approve and publish").click()
    expect(office_page.locator("body")).to_contain_text("published")
    alert.refresh_from_db()
    assert alert.status == "published"
    return assessment, alert


def test_a_serious_risk_leads_to_an_alert_and_a_recall_carried_out_to_closure(
    live_server, page, browser, settings, tmp_path
):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    _reference_data()
    analyst = make_user("analyst", username="analyst_browser")
    office = make_user("office", username="office_browser")
    totp_device(office)  # the office has set up two-factor before signing in
    company = make_company("320000", name_zh="晨星家电（测试）", name_en="Chenxing Appliances (test)")
    client = make_user("client", username="client_browser")
    grant_client(client, company)
    product = make_product(company, brand="晨星（测试）", model="CX-1")
    load_supply_chain(product)
    base = live_server.url

    # 1-2. signal -> assessment rated serious -> bilingual alert, published; the feed shows it, no secret
    analyst_page = browser.new_context(locale="en-GB").new_page()
    office_page = browser.new_context(locale="en-GB").new_page()
    assessment, alert = _serious_alert(analyst_page, office_page, base, analyst, office)
    public = browser.new_context(locale="en-GB").new_page()
    feed = public.request.get(f"{base}/risk/alerts/feed.atom").text()
    assert "Scald risk from the CX-1 kettle" in feed and "Stop using the kettle." in feed
    assert "SECRET-OPERATOR-PHONE" not in feed and "SECRET-INTERNAL-NOTE" not in feed
    public.goto(f"{base}{alert.get_absolute_url()}")
    expect(public.locator("main")).to_contain_text("Scald risk from the CX-1 kettle")
    expect(public.locator("main")).not_to_contain_text("SECRET-INTERNAL-NOTE")

    # 3. the company opens a recall of lot L1 and submits the plan
    _sign_in(page, base, client, "/recalls/new/")
    page.locator("#id_product").select_option(str(product.pk))
    page.get_by_label("Title (Chinese)").fill("晨星 CX-1 电热水壶召回")
    page.get_by_label("Title (English)").fill("Recall of the CX-1 kettle")
    page.get_by_label("Defect (English)").fill("The lid latch releases while pouring.")
    page.locator(f"input[name=batches][value='{product.batches.get(lot='L1').pk}']").check()
    page.get_by_label("Remedy (English)").fill("Free replacement lid.")
    page.get_by_label("Advice to consumers (English)").fill("Stop using the kettle.")
    page.get_by_label("Recall starts").fill("2025-12-01")
    page.get_by_label("Planned end").fill("2026-06-30")
    page.get_by_label("Public notice (English)").fill("Chenxing recalls CX-1 kettles of lot L1.")
    page.get_by_label("How the defect was found (confidential)").fill("SECRET-TEST-REPORT")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_contain_text("Recall of the CX-1 kettle")
    recall_url = page.url
    page.get_by_role("button", name="submit the recall plan").click()
    expect(page.locator(".recall-status")).to_have_text("submitted")

    # the scope query lists the distributors holding units of lot L1, and their regions
    page.get_by_role("link", name="Scope query").click()
    parties = page.locator("table.parties")
    expect(parties).to_contain_text("D-BJ name")
    expect(parties).to_contain_text("D-JS name")
    expect(parties).not_to_contain_text("D-GD")  # it holds only lot L2
    expect(page.locator("table.regions")).to_contain_text("Jiangsu")
    expect(page.locator(".scope-summary")).to_contain_text("10")

    # the office links the alert and the assessment, approves and publishes the notice
    office_page.goto(recall_url + "edit/")
    office_page.get_by_label("Risk assessment").select_option(str(assessment.pk))
    office_page.get_by_label("Consumer alert").select_option(str(alert.pk))
    office_page.get_by_role("button", name="Save").click()
    office_page.get_by_role("button", name="approve the plan").click()
    office_page.get_by_role("button", name="publish the notice").click()
    expect(office_page.locator(".recall-status")).to_have_text("notice published")

    # the public notice shows the recall and its alert, not the confidential fields
    public.goto(f"{base}/recalls/public/")
    public.get_by_role("link", name="Recall of the CX-1 kettle").click()
    main = public.locator("main")
    expect(main).to_contain_text("Free replacement lid.")
    expect(main).to_contain_text("Scald risk from the CX-1 kettle")
    expect(main).not_to_contain_text("SECRET-TEST-REPORT")

    # 4. the company carries it out and reports progress; the office closes it on the final report
    page.goto(recall_url)
    page.get_by_role("button", name="start carrying out the recall").click()
    expect(page.locator(".recall-status")).to_have_text("in progress")
    page.get_by_role("link", name="Report progress").click()
    page.get_by_label("Up to").fill((dt.date.today() - dt.timedelta(days=1)).isoformat())
    page.get_by_label("Units remedied (cumulative)").fill("4")
    page.get_by_role("button", name="Record progress").click()
    expect(page.locator(".effectiveness")).to_contain_text("4 of 10 affected units remedied (40.0 %)")
    page.get_by_role("link", name="Report progress").click()
    page.get_by_label("Up to").fill(dt.date.today().isoformat())
    page.get_by_label("Units remedied (cumulative)").fill("9")
    page.get_by_label("Final report (summary of the recall)").check()
    page.get_by_role("button", name="Record progress").click()
    expect(page.locator(".effectiveness")).to_contain_text("9 of 10")

    office_page.goto(recall_url)
    office_page.get_by_label("Reason").fill("9 of 10 units remedied; the last owner cannot be reached.")
    office_page.get_by_role("button", name="close the recall").click()
    expect(office_page.locator(".recall-status")).to_have_text("closed")
    chart = office_page.locator("figure img")
    office_page.wait_for_function("img => img.complete", arg=chart.element_handle())
    assert chart.evaluate("img => img.naturalWidth > 0"), "the effectiveness chart is drawn"
