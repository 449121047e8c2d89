"""In a real browser: one application goes from the call to the named laboratory through every role —
office, applicant, competent authority, a self-registered expert, the Review Committee and a public
objector — with every document numbered and published."""

import datetime as dt
import os
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from qslab.core.testing import current_totp, make_organisation, make_user, totp_device
from qslab.designation.models import Application, Call, PublicNotice
from qslab.designation.tests.factories import add_acceptance_criteria, make_call, seat
from qslab.labs.models import KeyField

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # pytest-django's live_server beside Playwright

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "correct horse battery staple"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _sign_in(browser, base, user, device=None, password=PASSWORD):
    page = browser.new_context(locale="en-GB").new_page()
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(user if isinstance(user, str) else user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if device is not None:
        page.get_by_label("Six-digit code from your authenticator app").fill(current_totp(device))
        page.get_by_role("button", name="Verify").click()
        page.wait_for_url(re.compile(r"^(?!.*two-factor).*$"))
    return page


def _act(page, transition):
    page.locator(f"button[data-transition='{transition}']").click()
    expect(page.locator("body")).to_contain_text("Done.")


def test_one_application_goes_from_the_call_to_naming_through_every_role(live_server, browser):
    base = live_server.url
    office = make_user("office", username="office_b")
    committee = make_user("committee", username="committee_b")
    authority = make_user("authority", username="authority_b", region_code="320000")
    objector = make_user("client", username="citizen_b")
    applicant = make_user("lab_manager", username="applicant_b")
    applicant.organisation = make_organisation(
        region_code="320000", name_zh="示例大学", name_en="Example Univ"
    )
    applicant.save(update_fields=["organisation"])
    expert_org = make_organisation(region_code="110000", name_zh="北方研究院", name_en="Northern Institute")
    seat(committee)
    call = make_call("browser-2026", status="draft", reviewers_per_application=1, quorum=1, min_load=0)
    add_acceptance_criteria(call)
    robots = KeyField.objects.get(code="robots")

    # the office publishes the call
    desk = _sign_in(browser, base, office, totp_device(office))
    desk.goto(f"{base}/designation/calls/{call.pk}/")
    desk.locator("button[data-transition='publish']").click()
    expect(desk.locator(".status")).to_contain_text("published")

    # the public sees it; an expert registers and waits for vetting
    public = browser.new_context(locale="en-GB").new_page()
    public.goto(f"{base}/designation/")
    expect(public.locator("body")).to_contain_text(call.title_en)
    public.goto(f"{base}/designation/experts/register/")
    public.fill("#id_username", "wang_expert")
    public.fill("#id_email", "wang@example.invalid")
    public.fill("#id_password", "a long enough passphrase 42")
    public.fill("#id_name", "王专家")
    public.select_option("#id_organisation", str(expert_org.pk))
    public.select_option("#id_region_code", "110000")
    public.check(f"input[name=fields][value='{robots.pk}']")
    public.get_by_role("button", name="Save").click()
    expect(public.locator("body")).to_contain_text("The office will vet it")

    # the applicant applies and submits
    lab_side = _sign_in(browser, base, applicant)
    lab_side.goto(f"{base}/designation/calls/{call.pk}/")
    lab_side.get_by_role("link", name="Apply").click()
    lab_side.fill("#id_name_zh", "国家示例机器人质量标准实验室")
    lab_side.fill("#id_name_en", "National Example Robotics Quality Standards Laboratory")
    lab_side.fill("#id_directions", "工业机器人可靠性")
    lab_side.fill("#id_team", "30 人")
    lab_side.fill("#id_construction_plan", "三年建成")
    lab_side.check(f"input[name=fields][value='{robots.pk}']")
    lab_side.get_by_role("button", name="Save").click()
    _act(lab_side, "submit")
    app = Application.objects.get(call=call)

    # the competent authority recommends
    region = _sign_in(browser, base, authority)
    region.goto(f"{base}/designation/applications/{app.pk}/")
    _act(region, "recommend")

    # the office passes the formal check, vets the expert, assigns and releases
    desk.goto(f"{base}/designation/applications/{app.pk}/")
    for box in desk.locator("input[id^='c-accept-']").all():
        box.check()
    _act(desk, "accept")
    desk.goto(f"{base}/designation/experts/")
    row = desk.locator("tr[data-expert='wang_expert']")
    row.locator("input[name=approve]").check()
    row.get_by_role("button", name="Save").click()
    desk.goto(f"{base}/designation/calls/{call.pk}/assignment/")
    desk.get_by_role("button", name="Propose an optimal assignment").click()
    expect(desk.locator("table.assignments")).to_contain_text("王专家")
    desk.get_by_role("button", name="Release to the experts").click()
    expect(desk.locator("body")).to_contain_text("1 applications released")

    # the expert reviews and, as the panel's moderator, writes the consensus
    expert = _sign_in(browser, base, "wang_expert", password="a long enough passphrase 42")

    def review_and_agree(stage, stage_scores, summary):
        expert.goto(f"{base}/designation/experts/me/")
        expert.locator(f"a.review[data-stage='{stage}']").click()
        for code, score in stage_scores.items():
            expert.fill(f"#score_{code}", str(score))
        expert.fill("#comments", "材料翔实")
        expert.get_by_role("button", name="Submit review").click()
        expect(expert.locator("body")).to_contain_text("Review submitted.")
        expert.locator(f"a.consensus[data-stage='{stage}']").click()
        for code, score in stage_scores.items():
            expert.fill(f"#score_{code}", str(score))
        expert.fill("#id_summary", summary)
        expert.select_option("#id_recommendation", "positive")
        expert.get_by_role("button", name="Submit consensus report").click()
        expect(expert.locator("body")).to_contain_text("Consensus report submitted.")

    review_and_agree("designation", {"direction": 4, "team": 5}, "方向明确，团队较强")

    # the office closes the review and convenes the committee
    desk.goto(f"{base}/designation/applications/{app.pk}/")
    _act(desk, "close_review")
    desk.goto(f"{base}/designation/committee/meetings/new/")
    desk.fill("#id_title", "评审委员会2026年第一次会议")
    desk.fill("#id_held_on", timezone.localdate().isoformat())
    desk.check(f"input[name=applications][value='{app.pk}']")
    desk.get_by_role("button", name="Save").click()
    expect(desk.locator("ol.agenda")).to_contain_text("Robotics")

    # a committee member in term votes
    member = _sign_in(browser, base, committee, totp_device(committee))
    member.goto(f"{base}/designation/applications/{app.pk}/")
    member.select_option("#id_choice", "approve")
    member.get_by_role("button", name="Vote").click()
    expect(member.locator("body")).to_contain_text("Vote recorded.")

    # the office records the decision and publishes the notice
    desk.goto(f"{base}/designation/applications/{app.pk}/")
    desk.fill("#id_minutes", "一致同意")
    desk.get_by_role("button", name="Record decision").click()
    expect(desk.locator(".status").first).to_contain_text("approved")
    _act(desk, "publish_notice")
    notice = PublicNotice.objects.get(application=app)

    # a member of the public objects under their name; the office dismisses it with a reason
    citizen = _sign_in(browser, base, objector)
    citizen.goto(f"{base}/designation/notices/{notice.pk}/")
    citizen.fill("#id_contact", "赵六 13900000000")
    citizen.fill("#id_text", "请核实团队人数")
    citizen.get_by_role("button", name="File objection").click()
    expect(citizen.locator("body")).to_contain_text("Your objection has been filed")
    desk.goto(f"{base}/designation/notices/{notice.pk}/")
    desk.fill("#id_response", "经核实，团队信息属实")
    desk.get_by_role("button", name="Decide").click()
    expect(desk.locator("body")).to_contain_text("dismissed")

    # the office cannot designate before the notice period has run; then the clock moves on past its
    # last working day (10:00 Beijing time the day after), and the office designates
    desk.goto(f"{base}/designation/applications/{app.pk}/")
    expect(desk.locator("button[data-transition='designate']")).to_have_count(0)
    notice.refresh_from_db()
    assert notice.ends_on > timezone.localdate(), "a period of working days, not shortened by the test"
    after = dt.datetime.combine(notice.ends_on + dt.timedelta(days=1), dt.time(10), tzinfo=SHANGHAI)
    with time_machine.travel(after, tick=True):
        today = timezone.localdate()
        desk.goto(f"{base}/designation/applications/{app.pk}/")
        _act(desk, "designate")
        approval = desk.locator("a.document").inner_text()
        assert "〔" in approval, "the construction approval is a numbered document"

        # the laboratory reports progress and requests acceptance
        lab_side.goto(f"{base}/designation/applications/{app.pk}/")
        lab_side.locator("a.construction").click()
        expect(lab_side.locator("p.next-report")).to_contain_text("Next report due")
        lab_side.fill("#id_period", str(today.year))
        lab_side.fill("#id_text", "平台建成，方法体系形成")
        for box in lab_side.locator("input[name=milestones]").all():
            box.check()
        lab_side.get_by_role("button", name="Submit progress report").click()
        expect(lab_side.locator("body")).to_contain_text("Progress report submitted.")
        lab_side.fill("#id_director_name", "张主任")
        lab_side.fill("#id_contact_email", "lab@example.invalid")
        _act(lab_side, "request_acceptance")
        construction_url = lab_side.url

        # the acceptance review on the same panel machinery
        desk.goto(f"{base}/designation/calls/{call.pk}/assignment/?stage=acceptance")
        desk.get_by_role("button", name="Propose an optimal assignment").click()
        desk.get_by_role("button", name="Release to the experts").click()
        expect(desk.locator("body")).to_contain_text("1 applications released")
        review_and_agree("acceptance", {"milestones": 5, "capacity": 4}, "建设任务全部完成，通过验收")

        # the office names the laboratory: a numbered, published naming document
        desk.goto(construction_url)
        _act(desk, "pass_acceptance")
        expect(desk.locator(".status").first).to_contain_text("named")
        app.refresh_from_db()
        naming = app.laboratory.last_document.number  # the page also links the numbered acceptance consensus
        expect(desk.locator("a.document", has_text=naming)).to_be_visible()
        assert naming != approval and "〔" in naming
        public.goto(f"{base}/labs/")
        expect(public.locator("body")).to_contain_text("国家示例机器人质量标准实验室")
        app.refresh_from_db()
        lab = app.laboratory
        assert lab.status == "named" and lab.last_document.is_public
        public.goto(f"{base}{lab.last_document.get_absolute_url()}")
        expect(public.locator("body")).to_contain_text(lab.last_document.number)
        assert Call.objects.get(pk=call.pk).status == "published"
