"""The call's timetable: the office sets the later milestones (expert reviews due, committee meeting,
start of the public notice) as dates on the call, in order; the public reads them on the call page and
in the API; the experts' review deadline follows the call's date (15 working days without one)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from qslab.core.calendar import add_days
from qslab.core.models import Deadline
from qslab.core.testing import make_organisation
from qslab.designation import services
from qslab.designation.tests.factories import make_application, make_call, make_expert
from qslab.designation.tests.test_api_panels import _api

pytestmark = pytest.mark.django_db


def _timetable(call, **dates):
    today = timezone.localdate()
    body = {
        "opens_on": today.isoformat(),
        "soft_deadline": call.soft_deadline.isoformat(),
        "hard_deadline": call.hard_deadline.isoformat(),
        "recommendation_deadline": (today + dt.timedelta(days=40)).isoformat(),
        "review_due_on": (today + dt.timedelta(days=60)).isoformat(),
        "committee_meeting_on": (today + dt.timedelta(days=75)).isoformat(),
        "notice_starts_on": (today + dt.timedelta(days=80)).isoformat(),
    }
    body.update({k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in dates.items()})
    return body


def test_the_office_sets_the_later_milestones_and_the_public_reads_them_on_the_call_page(users):
    call = make_call("timetable")
    today = timezone.localdate()
    response = _api(users["office"])("put", f"/calls/{call.pk}/timetable", _timetable(call))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["review_due_on"] == (today + dt.timedelta(days=60)).isoformat()
    assert body["committee_meeting_on"] == (today + dt.timedelta(days=75)).isoformat()
    assert body["notice_starts_on"] == (today + dt.timedelta(days=80)).isoformat()

    visitor = Client()
    public = visitor.get(f"/api/designation/calls/{call.pk}").json()
    assert public["notice_starts_on"] == body["notice_starts_on"]
    page = visitor.get(f"/designation/calls/{call.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Expert reviews due" in page and (today + dt.timedelta(days=60)).isoformat() in page
    assert "Review Committee meeting" in page and (today + dt.timedelta(days=75)).isoformat() in page
    assert "Public notice starts" in page and (today + dt.timedelta(days=80)).isoformat() in page

    refused = _api(users["lab_manager"])("put", f"/calls/{call.pk}/timetable", _timetable(call))
    assert refused.status_code == 403


def test_milestones_out_of_order_are_refused_naming_the_date_that_comes_too_early(users, clients):
    call = make_call("timetable-order")
    today = timezone.localdate()
    office = _api(users["office"])
    early = office(
        "put",
        f"/calls/{call.pk}/timetable",
        _timetable(call, committee_meeting_on=today + dt.timedelta(days=50)),
    )
    assert early.status_code == 422
    assert "committee_meeting_on" in early.content.decode()
    assert "must be after the expert reviews due date" in early.content.decode()
    call.refresh_from_db()
    assert call.committee_meeting_on is None, "nothing half-written"

    with pytest.raises(ValidationError) as exc:
        services.save_call(
            users["office"],
            {
                "review_due_on": call.hard_deadline.date() - dt.timedelta(days=1),
                "notice_starts_on": today + dt.timedelta(days=90),
            },
            call,
        )
    assert set(exc.value.message_dict) == {"review_due_on"}
    assert "must be after the hard deadline" in exc.value.message_dict["review_due_on"][0]

    with pytest.raises(ValidationError) as exc:
        services.save_call(users["office"], {"opens_on": today + dt.timedelta(days=45)}, call)
    assert "soft deadline" in exc.value.message_dict["opens_on"][0]

    form = clients["office"].post(
        f"/designation/calls/{call.pk}/edit/",
        {
            "code": call.code,
            "title_zh": call.title_zh,
            "title_en": call.title_en,
            "opens_on": today.isoformat(),
            "soft_deadline": timezone.localtime(call.soft_deadline).strftime("%Y-%m-%dT%H:%M"),
            "hard_deadline": timezone.localtime(call.hard_deadline).strftime("%Y-%m-%dT%H:%M"),
            "review_due_on": (today + dt.timedelta(days=60)).isoformat(),
            "notice_starts_on": (today + dt.timedelta(days=59)).isoformat(),
            "recommendation_quota": 2,
            "reviewers_per_application": 3,
            "min_load": 0,
            "max_load": 5,
            "conflict_years": 3,
            "quorum": 5,
            "majority": "0.5",
            "notice_working_days": 5,
            "construction_years": 3,
            "progress_report_months": 6,
            "extension_years": 1,
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert form.status_code == 200, "the form comes back with the error"
    assert "must be after the expert reviews due date" in form.content.decode()


def _release(users, code, **call_extra):
    call = make_call(code, reviewers_per_application=1, max_load=3, **call_extra)
    app = make_application(call, make_organisation(region_code="320000"), status="accepted")
    make_expert()
    services.propose_assignment(users["office"], call)
    services.release_assignments(users["office"], call)
    return app.assignments.get()


def test_the_experts_review_deadline_is_the_call_s_review_due_date(users, clients):
    due = timezone.localdate() + dt.timedelta(days=50)
    call = make_call("timetable-page", review_due_on=due)
    page = clients["office"].get(f"/designation/calls/{call.pk}/assignment/").content.decode()
    assert f'data-review-due="{due.isoformat()}"' in page, "the office sees the date before releasing"
    a = _release(users, "timetable-due", review_due_on=due)
    assert a.due == due
    assert Deadline.objects.get(object_id=str(a.pk), content_type__model="assignment").due == due


def test_without_a_review_due_date_experts_have_fifteen_working_days(users):
    a = _release(users, "timetable-default")
    assert a.due == add_days(timezone.localdate(), 15)
    past = timezone.localdate() - dt.timedelta(days=1)
    call = make_call("timetable-past", review_due_on=past)
    assert services.review_due_date(call) == add_days(timezone.localdate(), 15), (
        "a review date already past does not give the experts an overdue review"
    )
    assert services.review_due_date(call, "acceptance") == add_days(timezone.localdate(), 15)
