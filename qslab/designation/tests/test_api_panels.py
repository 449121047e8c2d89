"""The API covers the panel records, the Review Committee and the expert directory: on-site inspections,
meeting reviews, committee terms and meetings (the office writes, the committee reads), expert
registration by a visitor and vetting by the office."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from qslab.accounts.models import ApiToken
from qslab.accounts.roles import has_role
from qslab.core.testing import make_organisation, make_user
from qslab.designation.models import ExpertProfile
from qslab.designation.tests.factories import make_application, make_call, make_expert
from qslab.designation.tests.test_panels_and_construction import _in_review

pytestmark = pytest.mark.django_db

BASE = "/api/designation"


def _api(user):
    token = ApiToken.issue(user, "t")[1]
    client = Client()

    def request(method, path, data=None):
        return getattr(client, method)(
            BASE + path,
            data=data if method == "get" else (data or {}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )

    return request


def test_an_inspection_is_recorded_through_the_api_by_a_panel_expert_not_for_a_future_date(users):
    _call, app, experts = _in_review(users, "api-visit", k=1)
    expert = _api(experts[0].user)
    future = (timezone.localdate() + dt.timedelta(days=2)).isoformat()
    data = {"visited_on": future, "findings": "场地一致", "conclusion": "confirmed"}
    refused = expert("post", f"/applications/{app.pk}/site-visits", data)
    assert refused.status_code == 422 and "after it took place" in str(refused.json())
    data["visited_on"] = timezone.localdate().isoformat()
    made = expert("post", f"/applications/{app.pk}/site-visits", data)
    assert made.status_code == 201, made.content
    assert made.json()["inspectors"] == [str(experts[0].user)], "the recorder inspects by default"
    listed = _api(users["office"])("get", f"/site-visits?application_id={app.pk}").json()
    assert [v["id"] for v in listed["items"]] == [made.json()["id"]]
    outsider = make_expert()
    assert expert("get", "/site-visits").json()["count"] == 1
    assert _api(outsider.user)("get", "/site-visits").json()["count"] == 0


def test_the_office_records_a_meeting_review_of_the_call_s_applications_only(users):
    call, app, experts = _in_review(users, "api-meet", k=1)
    other = make_application(make_call("api-other"), make_organisation(region_code="320000"))
    office = _api(users["office"])
    data = {
        "held_on": timezone.localdate().isoformat(),
        "application_ids": [app.pk, other.pk],
        "attendee_ids": [experts[0].user.pk],
        "minutes": "答辩",
    }
    assert office("post", f"/calls/{call.pk}/review-meetings", data).status_code == 422
    data["application_ids"] = [app.pk]
    made = office("post", f"/calls/{call.pk}/review-meetings", data)
    assert made.status_code == 201, made.content
    assert made.json()["application_ids"] == [app.pk]
    assert office("get", f"/review-meetings?call_id={call.pk}").json()["count"] == 1
    assert _api(experts[0].user)("post", f"/calls/{call.pk}/review-meetings", data).status_code == 403


def test_terms_and_meetings_through_the_api_end_with_numbered_minutes(users):
    office = _api(users["office"])
    member = users["committee"]
    today = timezone.localdate()
    term = {"user_id": member.pk, "term_start": today.isoformat(), "term_end": f"{today.year + 5}-12-31"}
    made = office("post", "/committee/terms", term)
    assert made.status_code == 201 and made.json()["current"] is True
    again = office("post", "/committee/terms", term)
    assert again.status_code == 422 and "already has a term" in str(again.json())
    outsider = office("post", "/committee/terms", {**term, "user_id": users["analyst"].pk})
    assert outsider.status_code == 422 and "committee role" in str(outsider.json())
    committee = _api(member)
    assert committee("get", "/committee/terms?current=true").json()["count"] == 1
    assert committee("post", "/committee/terms", term).status_code == 403

    call = make_call("api-committee", quorum=1)
    app = make_application(call, make_organisation(region_code="320000"), status="reviewed")
    draft = make_application(call, make_organisation(region_code="320000"))
    meeting = {"title": "第九次会议", "held_on": today.isoformat(), "application_ids": [app.pk, draft.pk]}
    assert office("post", "/committee/meetings", meeting).status_code == 422, "only reviewed applications"
    meeting["application_ids"] = [app.pk]
    created = office("post", "/committee/meetings", meeting)
    assert created.status_code == 201, created.content
    mid = created.json()["id"]
    assert created.json()["agenda"][0]["decision"] is None
    early = office("post", f"/committee/meetings/{mid}/close", {"minutes": "纪要"})
    assert early.status_code == 422 and "Still without a decision" in str(early.json())
    assert committee("post", f"/applications/{app.pk}/votes", {"choice": "approve"}).status_code == 201
    from qslab.designation import services

    services.record_decision(users["office"], app, "同意")
    assert committee("post", f"/committee/meetings/{mid}/close", {"minutes": "纪要"}).status_code == 403
    closed = office("post", f"/committee/meetings/{mid}/close", {"minutes": "会议纪要"})
    assert closed.status_code == 200, closed.content
    body = closed.json()
    assert body["status"] == "closed" and body["agenda"][0]["decision"] == "approve"
    assert body["document_number"].startswith("国质标实纪")
    seen = committee("get", f"/committee/meetings/{mid}").json()
    assert seen["document_url"] == body["document_url"]
    assert _api(users["expert"])("get", f"/committee/meetings/{mid}").status_code == 404


def test_a_visitor_registers_through_the_api_and_the_office_admits_or_refuses_with_a_reason(users):
    anonymous = Client()
    data = {
        "name": "钱专家",
        "fields": ["robots"],
        "username": "qian",
        "email": "qian@example.invalid",
        "password": "a-long-Passphrase-2026!",
    }
    weak = anonymous.post(
        f"{BASE}/experts/register", {**data, "password": "1"}, content_type="application/json"
    )
    assert weak.status_code == 422
    made = anonymous.post(f"{BASE}/experts/register", data, content_type="application/json")
    assert made.status_code == 201, made.content
    assert made.json()["vetted"] is False and made.json()["fields"] == ["robots"]
    profile = ExpertProfile.objects.get(pk=made.json()["id"])
    assert not has_role(profile.user, "expert")
    office = _api(users["office"])
    assert office("get", "/experts?vetted=false").json()["count"] >= 1
    no_reason = office("post", f"/experts/{profile.pk}/vetting", {"approve": False})
    assert no_reason.status_code == 422
    assert office("post", f"/experts/{profile.pk}/vetting", {"approve": "yes"}).status_code == 422
    assert (
        _api(make_user("committee"))("post", f"/experts/{profile.pk}/vetting", {"approve": True}).status_code
        == 403
    )
    admitted = office("post", f"/experts/{profile.pk}/vetting", {"approve": True})
    assert admitted.status_code == 200 and admitted.json()["vetted"] is True
    assert has_role(ExpertProfile.objects.get(pk=profile.pk).user, "expert"), "admission grants the role"
    twice = _api(profile.user)("post", "/experts/register", data)
    assert twice.status_code == 403 and "already in the expert directory" in twice.json()["detail"]
