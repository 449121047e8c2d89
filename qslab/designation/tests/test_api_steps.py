"""The remaining steps of the issue through the API: the office opens a targeted designation, an expert
declares a conflict, the office and committee read the ranking, the applicant reads the anonymous
evaluation summary, and the office answers objections before the designation becomes final."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from qslab.core.models import Deadline
from qslab.core.testing import make_organisation
from qslab.designation import services
from qslab.designation.models import Application, Assignment, ConflictDeclaration
from qslab.designation.tests.factories import make_application, make_call
from qslab.designation.tests.test_api_panels import _api
from qslab.designation.tests.test_panels_and_construction import _in_review

pytestmark = pytest.mark.django_db


def test_the_office_opens_a_targeted_designation_that_the_named_institution_completes(users):
    manager = users["lab_manager"]
    manager.organisation = make_organisation(region_code="320000", name_en="Targeted University")
    manager.save(update_fields=["organisation"])
    call = make_call("api-targeted")
    data = {
        "name_zh": "国家示例定向质量标准实验室",
        "name_en": "National Example Targeted Quality Standards Laboratory",
        "fields": ["robots"],
        "directions": "机器人可靠性",
        "team": "20 人",
        "construction_plan": "三年建设",
    }
    office = _api(users["office"])
    unknown = office("post", f"/calls/{call.pk}/targeted", {**data, "institution_id": 999999})
    assert unknown.status_code == 422 and "institution_id" in unknown.content.decode()
    refused = _api(manager)("post", f"/calls/{call.pk}/targeted", {**data, "institution_id": 999999})
    assert refused.status_code == 403, "the wrong role learns nothing about the organisation"
    response = office(
        "post", f"/calls/{call.pk}/targeted", {**data, "institution_id": manager.organisation_id}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["route"], body["status"]) == ("targeted", "draft")
    submitted = _api(manager)("post", f"/applications/{body['id']}/transitions/submit_targeted", {})
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["status"] == "recommended", "no authority on the targeted route"


def test_an_expert_declaring_a_conflict_leaves_the_panel_and_owes_nothing_more(users):
    _call, app, _experts = _in_review(users, "api-declare", k=2)
    a = app.assignments.select_related("expert").first()
    expert = _api(a.expert)
    assert Deadline.objects.filter(object_id=str(a.pk), done_at__isnull=True).count() == 1
    response = expert("post", f"/applications/{app.pk}/declaration", {"conflicted": True, "note": "曾合作"})
    assert response.status_code == 200, response.content
    assert response.json() == {"application_id": app.pk, "conflicted": True, "note": "曾合作"}
    assert not Assignment.objects.filter(pk=a.pk).exists()
    assert not Deadline.objects.filter(
        object_id=str(a.pk), content_type__model="assignment", done_at__isnull=True
    )
    assert ConflictDeclaration.objects.get(expert=a.expert, application=app).conflicted
    office = _api(users["office"])
    assert office("post", f"/applications/{app.pk}/declaration", {"conflicted": False}).status_code == 403


def _reviewed(users, code):
    _call, app, _experts = _in_review(users, code, k=1)
    a = app.assignments.get()
    services.submit_review(a.expert, a, {"direction": 4, "team": 3}, "方向清晰")
    return app, a


def test_the_ranking_names_its_tie_breaks_and_is_for_the_office_and_committee_only(users):
    app, _a = _reviewed(users, "api-rank")
    response = _api(users["committee"])("get", f"/calls/{app.call_id}/ranking")
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["tie_breaks"]) == len(services.TIE_BREAKS)
    assert [(r["rank"], r["application_id"], r["reviews"]) for r in body["rows"]] == [(1, app.pk, 1)]
    assert body["rows"][0]["score"] == pytest.approx(68.0)
    assert _api(users["lab_manager"])("get", f"/calls/{app.call_id}/ranking").status_code == 403


def test_the_applicant_reads_the_evaluation_without_any_reviewer_s_name(users):
    app, a = _reviewed(users, "api-eval")
    manager = users["lab_manager"]
    Application.objects.filter(pk=app.pk).update(created_by=manager)
    services.submit_consensus(
        a.expert,
        app,
        "designation",
        scores={"direction": 4, "team": 3},
        summary="良",
        recommendation="positive",
    )
    services.move_application(users["office"], app, "close_review")
    response = _api(manager)("get", f"/applications/{app.pk}/evaluation")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["closed"] is True
    assert body["reviews"] == [
        {
            "reviewer": "Reviewer 1",
            "total": pytest.approx(68.0),
            "scores": {"direction": 4, "team": 3},
            "comments": "方向清晰",
        }
    ]
    text = response.content.decode()
    assert a.expert.username not in text and str(a.expert.pk) not in body["reviews"][0]["reviewer"]
    assert _api(manager)("get", f"/applications/{app.pk}/evaluation?stage=other").status_code == 404


def test_the_applicant_sees_no_review_or_score_before_the_review_is_closed(users, clients):
    app, a = _reviewed(users, "api-eval-early")
    manager = users["lab_manager"]
    Application.objects.filter(pk=app.pk).update(created_by=manager)
    early = _api(manager)("get", f"/applications/{app.pk}/evaluation").json()
    assert (early["closed"], early["reviews"], early["consensus"]) == (False, [], None)
    page = clients["lab_manager"].get(app.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "方向清晰" not in page and "once the review is closed" in page
    office = _api(users["office"])("get", f"/applications/{app.pk}/evaluation").json()
    assert office["closed"] is False and office["reviews"][0]["comments"] == "方向清晰", (
        "the office follows the review while it runs"
    )
    services.submit_consensus(
        a.expert,
        app,
        "designation",
        scores={"direction": 4, "team": 3},
        summary="良",
        recommendation="positive",
    )
    still = _api(manager)("get", f"/applications/{app.pk}/evaluation").json()
    assert still["consensus"] is None, "the consensus alone does not close the review"
    services.move_application(users["office"], app, "close_review")
    late = _api(manager)("get", f"/applications/{app.pk}/evaluation").json()
    assert late["closed"] is True and late["consensus"]["summary"] == "良"
    page = clients["lab_manager"].get(app.get_absolute_url()).content.decode()
    assert "方向清晰" in page


def test_the_office_answers_each_objection_and_an_upheld_one_blocks_the_designation(users):
    call = make_call("api-objection")
    app = make_application(call, make_organisation(region_code="320000"), status="approved")
    services.move_application(users["office"], app, "publish_notice")
    notice = Application.objects.get(pk=app.pk).public_notice
    first = services.file_objection(users["client"], notice, "王五 138", "材料不实")
    second = services.file_objection(users["expert"], notice, "赵六 139", "数据存疑")
    office = _api(users["office"])
    assert [o["id"] for o in office("get", f"/notices/{notice.pk}/objections").json()] == [
        first.pk,
        second.pk,
    ]
    mine = _api(users["client"])("get", f"/notices/{notice.pk}/objections").json()
    assert [o["id"] for o in mine] == [first.pk], "an objector sees only their own"
    no_reason = office("post", f"/objections/{first.pk}/handling", {"upheld": False, "response": " "})
    assert no_reason.status_code == 422
    assert (
        _api(users["client"])(
            "post", f"/objections/{first.pk}/handling", {"upheld": False, "response": "x"}
        ).status_code
        == 403
    )
    dismissed = office(
        "post", f"/objections/{first.pk}/handling", {"upheld": False, "response": "经核查不成立"}
    )
    assert dismissed.json()["status"] == "dismissed"
    upheld = office("post", f"/objections/{second.pk}/handling", {"upheld": True, "response": "经核实成立"})
    assert (upheld.json()["status"], upheld.json()["response"]) == ("upheld", "经核实成立")
    with time_machine.travel(notice.ends_on + dt.timedelta(days=1)):
        refused = office("post", f"/applications/{app.pk}/transitions/designate", {})
    assert refused.status_code == 409 and "objection was upheld" in refused.content.decode()


def test_the_office_drafts_equips_and_publishes_a_call_through_the_api(users, client):
    office = _api(users["office"])
    draft = {
        "code": "api-call",
        "title_zh": "2027年度国家质量标准实验室申报指南",
        "title_en": "2027 call for National Quality Standards Laboratories",
        "eligibility_zh": "法人单位",
        "eligibility_en": "Legal entities",
        "fields": ["robots"],
        "soft_deadline": "2027-03-01T17:00:00+08:00",
        "hard_deadline": "2027-03-08T17:00:00+08:00",
        "reviewers_per_application": 4,
    }
    wrong = office("post", "/calls", {**draft, "soft_deadline": "2027-03-09T17:00:00+08:00"})
    assert wrong.status_code == 422 and "soft deadline must not be after" in wrong.content.decode()
    created = office("post", "/calls", draft)
    assert created.status_code == 201, created.content
    call = created.json()
    assert (call["status"], call["reviewers_per_application"], call["notice_working_days"]) == (
        "draft",
        4,
        5,
    ), "unset rules keep their defaults"
    assert client.get(f"/api/designation/calls/{call['id']}").status_code == 404, "a draft is not public"
    early = office("post", f"/calls/{call['id']}/transitions/publish", {})
    assert early.status_code == 409 and "needs review criteria" in early.content.decode()
    criteria = [
        {"code": "team", "name_zh": "团队", "name_en": "Team", "weight": 60, "anchors": {"5": "国际一流"}},
        {"code": "plan", "name_zh": "方案", "name_en": "Plan", "weight": 40},
    ]
    twice = office("put", f"/calls/{call['id']}/criteria", criteria + criteria[:1])
    assert twice.status_code == 422 and "appears twice" in twice.content.decode()
    equipped = office("put", f"/calls/{call['id']}/criteria", criteria)
    assert [(k["code"], k["weight"], k["anchors"]) for k in equipped.json()["criteria"]] == [
        ("team", 60.0, {"5": "国际一流"}),
        ("plan", 40.0, {}),
    ]
    published = office("post", f"/calls/{call['id']}/transitions/publish", {})
    assert published.status_code == 200 and published.json()["status"] == "published"
    public = client.get(f"/api/designation/calls/{call['id']}").json()
    assert (public["eligibility_en"], public["fields"]) == ("Legal entities", ["robots"])
    manager = _api(users["lab_manager"])
    assert manager("post", "/calls", {**draft, "code": "x"}).status_code == 403
    assert manager("post", f"/calls/{call['id']}/transitions/close", {}).status_code == 403


def test_the_applicant_completes_the_application_through_the_api_with_co_applicants_and_pdfs(users):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from qslab.accounts.models import ApiToken

    manager = users["lab_manager"]
    manager.organisation = make_organisation(region_code="320000", name_en="Applicant University")
    manager.save(update_fields=["organisation"])
    call = make_call("api-complete")
    app = make_application(call, manager.organisation, owner=manager, team="", construction_plan="")
    api = _api(manager)
    edited = api("patch", f"/applications/{app.pk}", {"team": "30 人", "budget": 1500.5})
    assert edited.status_code == 200, edited.content
    app.refresh_from_db()
    assert (app.team, str(app.budget), app.directions) == ("30 人", "1500.50", "机器人可靠性"), "others kept"
    partner = make_organisation(region_code="320000", name_en="Partner Co")
    added = api(
        "post", f"/applications/{app.pk}/co-applicants", {"organisation_id": partner.pk, "role": "industry"}
    )
    assert added.status_code == 201 and added.json()["role"] == "industry"
    again = api(
        "post", f"/applications/{app.pk}/co-applicants", {"organisation_id": partner.pk, "role": "user"}
    )
    assert again.status_code == 422 and "already a co-applicant" in again.content.decode()
    upload = Client(headers={"Authorization": f"Bearer {ApiToken.issue(manager, 'f')[1]}"})
    url = f"/api/designation/applications/{app.pk}/files"
    exe = upload.post(url, {"kind": "plan", "file": SimpleUploadedFile("plan.pdf", b"MZ\x90 not a pdf")})
    assert exe.status_code == 422 and "not a PDF file" in exe.content.decode()
    pdf = b"%PDF-1.4\n%plan\n"
    ok = upload.post(url, {"kind": "plan", "file": SimpleUploadedFile("plan.pdf", pdf)})
    assert ok.status_code == 201, ok.content
    stored = app.files.get(pk=ok.json()["id"])
    with stored.file.open("rb") as f:
        assert f.read() == pdf
    assert ok.json()["url"] == f"/designation/files/{stored.pk}/"
    incomplete = api("post", f"/applications/{app.pk}/transitions/submit", {})
    assert incomplete.status_code == 409 and "construction plan" in incomplete.content.decode()
    api("patch", f"/applications/{app.pk}", {"construction_plan": "2027-06 | 平台建成"})
    submitted = api("post", f"/applications/{app.pk}/transitions/submit", {})
    assert submitted.json()["status"] == "submitted"
    late_edit = api("patch", f"/applications/{app.pk}", {"team": "改"})
    assert late_edit.status_code == 403, "a submitted application is no longer the applicant's to change"


def test_the_notice_period_counts_working_days_so_a_friday_notice_ends_the_next_friday(users):
    from zoneinfo import ZoneInfo

    call = make_call("notice-days")  # notice_working_days defaults to 5
    app = make_application(call, make_organisation(region_code="320000"), status="approved")
    with time_machine.travel(dt.datetime(2026, 11, 27, 10, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False):
        services.move_application(users["office"], app, "publish_notice")
    notice = Application.objects.get(pk=app.pk).public_notice
    assert (notice.starts_on, notice.ends_on) == (dt.date(2026, 11, 27), dt.date(2026, 12, 4))


def test_each_declared_tie_break_decides_the_ranking_in_its_turn(users):
    from django.utils import timezone

    from qslab.designation.models import ConsensusReport, Review
    from qslab.designation.tests.factories import make_expert

    call = make_call("ties")
    now = timezone.now()
    experts = [make_expert().user for _i in range(2)]

    def reviewed(totals, submitted_days_ago, consensus=None):
        app = make_application(call, make_organisation(region_code="320000"), status="reviewed")
        Application.objects.filter(pk=app.pk).update(submitted_at=now - dt.timedelta(days=submitted_days_ago))
        for expert, total in zip(experts, totals, strict=False):
            a = Assignment.objects.create(application=app, expert=expert, released=True)
            Review.objects.create(assignment=a, scores={}, total=total, submitted_at=now)
        if consensus is not None:
            ConsensusReport.objects.create(
                application=app,
                moderator=experts[0],
                total=consensus,
                summary="-",
                recommendation="positive",
                submitted_at=now,
            )
        return app.pk

    by_consensus = reviewed([60, 60], 1, consensus=75)  # consensus beats every mean below it
    by_mean = reviewed([80, 70], 9, consensus=70)  # same consensus as the next: higher mean first
    even = reviewed([70, 66], 9, consensus=70)
    steady = reviewed([68, 68], 9)  # mean 68, lowest 68
    swinging = reviewed([76, 60], 9)  # mean 68, lowest 60
    later = reviewed([60, 60], 1)  # the same as ``earlier`` but submitted later
    earlier = reviewed([60, 60], 5)
    order = [
        r["application_id"] for r in _api(users["office"])("get", f"/calls/{call.pk}/ranking").json()["rows"]
    ]
    assert order == [by_consensus, by_mean, even, steady, swinging, earlier, later]


def test_the_office_comments_on_a_progress_report_through_the_api(users, clients):
    from qslab.designation.tests.test_dashboard_queue import _designated

    c = _designated(users)
    report = services.submit_progress_report(users["lab_manager"], c, period="2026-H1", text="平台建设过半")
    office = _api(users["office"])
    url = f"/progress-reports/{report.pk}/comment"
    assert office("post", url, {"office_comment": "  "}).status_code == 422
    assert _api(users["lab_manager"])("post", url, {"office_comment": "自评"}).status_code == 403
    response = office("post", url, {"office_comment": "按期推进，注意预算执行"})
    assert response.status_code == 200 and response.json()["office_comment"] == "按期推进，注意预算执行"
    page = clients["lab_manager"].get(c.get_absolute_url()).content.decode()
    assert "按期推进，注意预算执行" in page, "the manager reads it on the construction page"


def test_a_manager_of_the_lab_reads_the_acceptance_evaluation_but_not_the_designation_one(users):
    from qslab.accounts.roles import Role, forget_cached_roles
    from qslab.accounts.services import grant_role
    from qslab.core.testing import make_user
    from qslab.designation.tests.test_panels_and_construction import _under_construction

    _applicant, app, construction, expert = _under_construction(users, "api-acc-eval")
    a = app.assignments.get(stage="acceptance", expert=expert.user)
    services.submit_review(expert.user, a, {"milestones": 4, "capacity": 3}, "建设任务基本完成")
    second = make_user("second-manager")
    grant_role(users["office"], second, Role.LAB_MANAGER, scope=construction.laboratory)
    forget_cached_roles(second)
    api = _api(second)
    pending = api("get", f"/applications/{app.pk}/evaluation?stage=acceptance").json()
    assert (pending["closed"], pending["reviews"]) == (False, []), "no score before the consensus"
    services.submit_consensus(
        expert.user,
        app,
        "acceptance",
        scores={"milestones": 4, "capacity": 3},
        summary="基本完成",
        recommendation="positive",
    )
    response = api("get", f"/applications/{app.pk}/evaluation?stage=acceptance")
    assert response.status_code == 200, response.content
    assert response.json()["closed"] is True
    assert [(r["reviewer"], r["comments"]) for r in response.json()["reviews"]] == [
        ("Reviewer 1", "建设任务基本完成")
    ]
    assert expert.user.username not in response.content.decode()
    refused = api("get", f"/applications/{app.pk}/evaluation")
    assert refused.status_code in (403, 404), "the designation-stage evaluation is the applicant's"
