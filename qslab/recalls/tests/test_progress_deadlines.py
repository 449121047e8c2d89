"""Periodic progress reports have deadlines: opened when the recall starts and after each report (the
recall's period, 90 days by default, configurable), reminded and marked overdue by the daily reminder
job, shown on the dashboard queue and the recall page, closed by the final report."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from qslab.core.models import Deadline, Notification
from qslab.core.reminders import send_reminders
from qslab.core.testing import make_user, verified_client
from qslab.recalls import services
from qslab.recalls.models import Recall
from qslab.recalls.queues import recalls_queue
from qslab.recalls.tests.conftest import grant_client, make_company, make_product, make_recall

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(settings, tmp_path):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    company = make_company()
    owner = make_user("client")
    grant_client(owner, company)
    office = make_user("office")
    recall = make_recall(
        make_product(company),
        "public",
        start_date=dt.date(2026, 3, 2),
        report_every_days=30,
        created_by=owner,
    )
    return {"owner": owner, "office": office, "recall": recall}


def _open(recall):
    return list(
        Deadline.objects.filter(object_id=str(recall.pk), done_at__isnull=True, label_en__contains="progress")
    )


def test_starting_the_recall_opens_the_first_report_deadline_for_the_company(scene):
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 0), tick=False):
        services.move_recall(scene["owner"], scene["recall"], "start")
    (deadline,) = _open(scene["recall"])
    assert deadline.due == dt.date(2026, 4, 1) and deadline.assignee == scene["owner"]
    assert scene["recall"].reference in deadline.label_en and scene["recall"].reference in deadline.label_zh


def test_each_report_closes_the_deadline_and_opens_the_next_and_the_final_one_closes_all(scene):
    recall = scene["recall"]
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 0), tick=False):
        services.move_recall(scene["owner"], recall, "start")
    with time_machine.travel(dt.datetime(2026, 4, 1, 9, 0), tick=False):
        services.record_progress(
            scene["owner"], recall, {"period_end": dt.date(2026, 3, 31), "units_remedied": 5}
        )
    (deadline,) = _open(recall)
    assert deadline.due == dt.date(2026, 4, 30)
    with time_machine.travel(dt.datetime(2026, 4, 20, 9, 0), tick=False):
        services.record_progress(
            scene["owner"],
            recall,
            {"period_end": dt.date(2026, 4, 19), "units_remedied": 9, "is_final": True},
        )
    assert _open(recall) == []
    assert Deadline.objects.filter(object_id=str(recall.pk), label_en__contains="progress").count() == 2


def test_the_daily_job_reminds_before_and_marks_overdue_after(scene):
    recall = scene["recall"]
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 0), tick=False):
        services.move_recall(scene["owner"], recall, "start")
    with time_machine.travel(dt.datetime(2026, 3, 30, 9, 0), tick=False):  # Monday; due Wednesday 1 April
        assert send_reminders()["reminded"] >= 1
    with time_machine.travel(dt.datetime(2026, 4, 3, 9, 0), tick=False):
        assert send_reminders()["overdue"] >= 1
        (deadline,) = _open(recall)
        assert deadline.overdue_at is not None and deadline.is_overdue
        verbs = set(Notification.objects.filter(recipient=scene["owner"]).values_list("verb", flat=True))
        assert {"reminder", "overdue"} <= verbs
        items = [i for i in recalls_queue(scene["owner"]) if recall.reference in i.label]
        assert items and items[0].due == dt.date(2026, 4, 1) and items[0].overdue
        office_items = [i for i in recalls_queue(scene["office"]) if recall.reference in i.label]
        assert office_items and office_items[0].overdue
        page = (
            verified_client(scene["owner"]).get(reverse("recalls:recall", args=[recall.pk])).content.decode()
        )
        assert "Next progress report" in page
        assert 'class="overdue"' in page


def test_changing_the_period_of_a_running_recall_moves_the_next_deadline(scene):
    recall = scene["recall"]
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 0), tick=False):
        services.move_recall(scene["owner"], recall, "start")
        services.save_recall(scene["office"], {"report_every_days": 14}, recall=recall)
    (deadline,) = _open(recall)
    assert deadline.due == dt.date(2026, 3, 16)


def test_the_period_defaults_to_the_setting_and_is_bounded(settings):
    from django.core.exceptions import ValidationError

    settings.QSLAB_RECALL_REPORT_EVERY_DAYS = 60
    assert Recall().report_every_days == 60
    field = Recall._meta.get_field("report_every_days")
    with pytest.raises(ValidationError):
        field.clean(3, Recall())
