"""Progress reports during construction fall due on a schedule (the call's ``progress_report_months`` from
the start of construction): the next due date is on the construction page and in the dashboard queue,
the daily job reminds of it and marks it overdue, and each report moves it on."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from qslab.accounts.roles import forget_cached_roles
from qslab.core.dashboard import overdue_overview, queue_for
from qslab.core.models import Deadline, Notification
from qslab.core.reminders import send_reminders
from qslab.core.testing import make_organisation
from qslab.designation import services
from qslab.designation.models import Construction
from qslab.designation.tests.factories import make_application, make_call

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = dt.date(2026, 1, 15)


def on(day: dt.date) -> Any:
    """Travel to 10:00 Beijing time on ``day`` (time stands still)."""
    return time_machine.travel(dt.datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI), tick=False)


def _designated(users: dict[str, Any], code: str, **call_fields: Any) -> Construction:
    applicant = users["lab_manager"]
    applicant.organisation = make_organisation(region_code="320000")
    applicant.save(update_fields=["organisation"])
    with on(START):
        call = make_call(code, reviewers_per_application=1, **call_fields)
        app = make_application(call, applicant.organisation, owner=applicant, status="designated")
        services.hand_over_to_registry(app, users["office"])
    forget_cached_roles(applicant)
    return Construction.objects.get(application=app)


def _progress_deadlines(c: Construction) -> Any:
    return Deadline.objects.filter(
        object_id=str(c.pk),
        label_en__startswith=services.PROGRESS_LABEL_EN,
        content_type__model="construction",
    )


def test_the_first_progress_report_falls_due_six_months_after_the_start_of_construction(users):
    c = _designated(users, "every-six")
    assert (c.starts_on, c.next_report_due) == (START, dt.date(2026, 7, 15))
    deadline = _progress_deadlines(c).get()
    assert (deadline.due, deadline.assignee, deadline.done_at) == (
        dt.date(2026, 7, 15),
        users["lab_manager"],
        None,
    )


def test_the_office_sets_the_period_on_the_call(users):
    c = _designated(users, "yearly", progress_report_months=12)
    assert c.next_report_due == dt.date(2027, 1, 15)


def test_the_daily_job_reminds_the_manager_then_marks_the_report_overdue_on_page_and_dashboard(
    users, clients
):
    c = _designated(users, "remind-progress")
    manager = users["lab_manager"]
    with on(dt.date(2026, 7, 14)):
        assert send_reminders()["reminded"] >= 1
        reminder = Notification.objects.filter(recipient=manager, verb="reminder").get()
        assert "Progress report" in reminder.text_en and "2026-07-15" in reminder.text_en
        page = clients["lab_manager"].get(c.get_absolute_url()).content.decode()
        assert "2026-07-15" in page and "status overdue" not in page.split("next-report")[1][:400]
    with on(dt.date(2026, 7, 16)):
        assert send_reminders()["overdue"] >= 1
        assert _progress_deadlines(c).get().overdue_at is not None
        assert Notification.objects.filter(recipient=manager, verb="overdue").exists()
        assert Construction.objects.get(pk=c.pk).report_overdue
        page = clients["lab_manager"].get(c.get_absolute_url()).content.decode()
        assert "status overdue" in page.split("next-report")[1][:400], "marked overdue on the page"
        mine = [i for i in queue_for(manager) if i.url == c.get_absolute_url() and i.kind == "deadline"]
        progress = [i for i in mine if i.due == dt.date(2026, 7, 15)]
        assert len(progress) == 1 and progress[0].overdue, "overdue in the manager's queue"
        office = [i for i in overdue_overview(users["office"]) if i.due == dt.date(2026, 7, 15)]
        assert office and office[0].overdue, "and in the office's overview of what is overdue elsewhere"
        assert send_reminders() == {"reminded": 0, "overdue": 0}, "marked once"


def test_each_report_closes_the_due_report_and_schedules_the_next(users):
    c = _designated(users, "next-due")
    manager = users["lab_manager"]
    with on(dt.date(2026, 7, 20)):  # five days late
        services.submit_progress_report(manager, c, period="2026-H1", text="平台建设过半")
    c.refresh_from_db()
    assert c.next_report_due == dt.date(2027, 1, 15)
    deadlines = list(_progress_deadlines(c).order_by("due"))
    assert [(d.due, d.done_at is not None) for d in deadlines] == [
        (dt.date(2026, 7, 15), True),
        (dt.date(2027, 1, 15), False),
    ]
    with on(dt.date(2027, 9, 1)):  # two periods missed: one report catches up
        services.submit_progress_report(manager, c, period="2027", text="补报")
    c.refresh_from_db()
    assert c.next_report_due == dt.date(2028, 1, 15)
    assert _progress_deadlines(c).filter(done_at__isnull=True).get().due == dt.date(2028, 1, 15)


def test_no_periodic_report_falls_due_at_the_end_of_the_period_where_acceptance_is_requested(users, clients):
    c = _designated(users, "short", construction_years=1)
    assert c.ends_on == dt.date(2027, 1, 15)
    with on(dt.date(2026, 7, 1)):
        services.submit_progress_report(users["lab_manager"], c, period="2026-H1", text="进展")
    c.refresh_from_db()
    assert c.next_report_due is None
    assert not _progress_deadlines(c).filter(done_at__isnull=True).exists()
    page = clients["lab_manager"].get(c.get_absolute_url()).content.decode()
    assert "the next step is the acceptance request" in page


def test_terminating_the_construction_closes_the_report_deadline(users):
    c = _designated(users, "stop")
    services.move_construction(users["office"], c, "terminate", "建设单位放弃")
    c.refresh_from_db()
    assert c.next_report_due is None
    assert not Deadline.objects.filter(object_id=str(c.pk), done_at__isnull=True).exists(), (
        "nothing is owed any more: neither a report nor the acceptance request"
    )
