"""The producer's statutory report of a death or serious injury (and of a major loss or a recall abroad):
due a number of working days after the producer learned of it (the office's reference data, shipped as
2 and unverified), a deadline reminded and marked overdue by the daily job, overdue in red on the office's
dashboard until the producer reports, and the record says whether the report was late."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from qslab.core.dashboard import overdue_overview, queue_for
from qslab.core.models import CalendarDay, Deadline, Notification
from qslab.core.reminders import send_reminders
from qslab.core.testing import make_user, verified_client
from qslab.recalls import services
from qslab.recalls.models import ProducerReport, ReportingRule
from qslab.recalls.tests.conftest import grant_client, make_company, make_product

pytestmark = pytest.mark.django_db

FRIDAY = dt.datetime(2026, 3, 6, 10, 0)


@pytest.fixture
def scene(settings, tmp_path):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    company = make_company()
    owner = make_user("client")
    grant_client(owner, company)
    return {
        "company": company,
        "owner": owner,
        "office": make_user("office"),
        "product": make_product(company),
        "rule": ReportingRule.objects.get(code="death-or-serious-injury"),
    }


def _record(scene, learned_on, user=None, **extra):
    return services.record_producer_report(
        user or scene["owner"],
        {
            "company": scene["company"],
            "product": scene["product"],
            "rule": scene["rule"],
            "learned_on": learned_on,
            "description": "A child was scalded when the lid opened.",
            **extra,
        },
    )


def _open_deadlines(report):
    return list(
        Deadline.objects.filter(
            object_id=str(report.pk), done_at__isnull=True, label_en__contains="regulator"
        )
    )


def test_the_shipped_rules_say_two_working_days_and_are_marked_unverified():
    rules = {r.code: r for r in ReportingRule.objects.all()}
    assert set(rules) == {"death-or-serious-injury", "major-property-loss", "recall-abroad"}
    assert all(r.working_days == 2 and not r.verified and "unverified" in r.source for r in rules.values())


def test_learning_of_a_death_on_friday_makes_the_report_due_on_tuesday_for_the_company(scene):
    with time_machine.travel(FRIDAY, tick=False):
        report = _record(scene, dt.date(2026, 3, 6))
    assert report.due == dt.date(2026, 3, 10) and report.working_days == 2 and report.status == "open"
    (deadline,) = _open_deadlines(report)
    assert deadline.due == dt.date(2026, 3, 10) and deadline.assignee == scene["owner"]
    assert report.reference in deadline.label_en and report.reference in deadline.label_zh


def test_public_holidays_are_not_counted(scene):
    CalendarDay.objects.update_or_create(
        date=dt.date(2026, 3, 9), defaults={"is_working_day": False, "name": "test"}
    )
    with time_machine.travel(FRIDAY, tick=False):
        assert _record(scene, dt.date(2026, 3, 6)).due == dt.date(2026, 3, 11)


def test_the_office_sets_the_days_and_a_report_keeps_the_days_it_was_given(scene):
    with time_machine.travel(FRIDAY, tick=False):
        before = _record(scene, dt.date(2026, 3, 6))
        scene["rule"].working_days = 5
        scene["rule"].save(update_fields=["working_days"])
        after = _record(scene, dt.date(2026, 3, 6))
    assert (before.due, after.due) == (dt.date(2026, 3, 10), dt.date(2026, 3, 13))
    before.refresh_from_db()
    assert before.due == dt.date(2026, 3, 10) and before.working_days == 2
    scene["rule"].working_days = 0
    with pytest.raises(ValidationError):
        scene["rule"].full_clean()


def test_the_daily_job_marks_it_overdue_and_the_office_dashboard_shows_it_until_reported_late(scene):
    with time_machine.travel(FRIDAY, tick=False):
        report = _record(scene, dt.date(2026, 3, 6))
    with time_machine.travel(dt.datetime(2026, 3, 9, 9, 0), tick=False):  # Monday: due tomorrow
        send_reminders()
        assert not report.is_overdue
    with time_machine.travel(dt.datetime(2026, 3, 11, 9, 0), tick=False):  # Wednesday: a day late
        assert send_reminders()["overdue"] >= 1
        report.refresh_from_db()
        assert report.is_overdue
        (deadline,) = _open_deadlines(report)
        assert deadline.overdue_at is not None
        verbs = set(Notification.objects.filter(recipient=scene["owner"]).values_list("verb", flat=True))
        assert {"reminder", "overdue"} <= verbs
        # The producer owes it; the office sees it in its overview of what is overdue elsewhere.
        items = [i for i in overdue_overview(scene["office"]) if report.reference in i.label]
        assert items and items[0].overdue and items[0].due == dt.date(2026, 3, 10)
        dashboard = verified_client(scene["office"]).get(reverse("core:dashboard")).content.decode()
        row = next(line for line in dashboard.splitlines() if report.reference in line)
        assert 'class="overdue"' in dashboard and "2026-03-10" in dashboard, row
        listing = verified_client(scene["office"]).get(reverse("recalls:producer_reports")).content.decode()
        assert 'class="overdue"' in listing and report.reference in listing
    with time_machine.travel(dt.datetime(2026, 3, 12, 15, 0), tick=False):
        report = services.move_producer_report(
            scene["owner"], report, "report", "Reported to the provincial market regulator online."
        )
        assert report.status == "reported" and report.reported_late and not report.is_overdue
        assert report.report_text.startswith("Reported to the provincial")
        assert _open_deadlines(report) == []
        office_sees = queue_for(scene["office"]) + overdue_overview(scene["office"])
        assert not [i for i in office_sees if report.reference in i.label]
        page = verified_client(scene["owner"]).get(report.get_absolute_url()).content.decode()
        assert "late" in page


def test_a_report_made_in_time_is_not_late_and_needs_to_say_what_was_reported(scene):
    from qslab.core.workflow import TransitionRefused

    with time_machine.travel(FRIDAY, tick=False):
        report = _record(scene, dt.date(2026, 3, 6))
    with time_machine.travel(dt.datetime(2026, 3, 10, 9, 0), tick=False):
        with pytest.raises(TransitionRefused):
            services.move_producer_report(scene["owner"], report, "report", "")
        report = services.move_producer_report(
            scene["owner"], report, "report", "Telephoned and filed online."
        )
    assert report.status == "reported" and not report.reported_late


def test_the_office_may_record_it_for_the_company_and_the_company_answers_for_it(scene):
    with time_machine.travel(FRIDAY, tick=False):
        report = _record(scene, dt.date(2026, 3, 5), user=scene["office"])
    (deadline,) = _open_deadlines(report)
    assert deadline.assignee == scene["owner"] and report.due == dt.date(2026, 3, 9)


def test_bad_dates_and_other_companies_products_are_refused_with_the_field(scene):
    other_product = make_product(make_company("440000"), "690123450077")
    with time_machine.travel(FRIDAY, tick=False), pytest.raises(ValidationError) as error:
        _record(scene, dt.date(2026, 3, 7), occurred_on=dt.date(2026, 3, 8), product=other_product)
    assert {"learned_on", "product"} <= set(error.value.message_dict)
    with time_machine.travel(FRIDAY, tick=False), pytest.raises(ValidationError) as error:
        _record(scene, dt.date(2026, 3, 5), occurred_on=dt.date(2026, 3, 6))
    assert "occurred_on" in error.value.message_dict
    assert not ProducerReport.objects.exists()


def test_another_company_neither_sees_nor_reports_it(scene):
    from django.core.exceptions import PermissionDenied

    with time_machine.travel(FRIDAY, tick=False):
        report = _record(scene, dt.date(2026, 3, 6))
    stranger = make_user("client")
    grant_client(stranger, make_company("440000"))
    assert verified_client(stranger).get(report.get_absolute_url()).status_code == 404
    assert report not in services.producer_reports_for(stranger)
    with pytest.raises(PermissionDenied):
        services.record_producer_report(
            stranger,
            {
                "company": scene["company"],
                "rule": scene["rule"],
                "learned_on": dt.date(2026, 3, 6),
                "description": "x",
            },
        )


def test_the_api_records_it_and_lists_the_overdue_ones(scene):
    import json

    from django.test import Client

    from qslab.accounts.models import ApiToken

    owner = Client(headers={"Authorization": f"Bearer {ApiToken.issue(scene['owner'], 't')[1]}"})
    office = Client(headers={"Authorization": f"Bearer {ApiToken.issue(scene['office'], 't')[1]}"})
    with time_machine.travel(FRIDAY, tick=False):
        response = owner.post(
            "/api/recalls/incidents",
            data=json.dumps(
                {
                    "rule": "death-or-serious-injury",
                    "learned_on": "2026-03-06",
                    "description": "scald",
                    "product": scene["product"].pk,
                }
            ),
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["due"] == "2026-03-10" and body["rule_verified"] is False and not body["overdue"]
        bad = owner.post(
            "/api/recalls/incidents",
            data=json.dumps({"rule": "nope", "learned_on": "2026-03-09", "description": "x"}),
            content_type="application/json",
        )
        assert bad.status_code == 422
        assert {e["field"] for e in bad.json()["errors"]} == {"rule"}
    with time_machine.travel(dt.datetime(2026, 3, 11, 9, 0), tick=False):
        overdue = office.get("/api/recalls/incidents?overdue=true").json()
        assert [r["reference"] for r in overdue["items"]] == [body["reference"]]
        moved = owner.post(
            f"/api/recalls/incidents/{body['id']}/transitions/report",
            data=json.dumps({"reason": "filed online"}),
            content_type="application/json",
        ).json()
        assert moved["status"] == "reported" and moved["reported_late"] is True
        assert office.get("/api/recalls/incidents?overdue=true").json()["count"] == 0
