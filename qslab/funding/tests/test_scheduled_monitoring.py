"""The in-year monitoring runs unattended: the daily job does it once the rules' date is reached (default
1 August, on the data to July), notifies the flagged labs' managers and the office, shows its progress,
and does nothing new on a second run that day or any later day."""

import datetime as dt

import pytest
import time_machine

from qslab.core import scheduling
from qslab.core.models import Notification, TaskProgress
from qslab.funding import services
from qslab.funding.models import FundingRules, MonitoringFlag, MonitoringRun
from qslab.funding.tasks import scheduled_monitoring_task
from qslab.funding.tests.conftest import budget_with_lines, make_lab, manager_of

pytestmark = pytest.mark.django_db

YEAR = 2030
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def on(day: dt.date, hour: int = 2):
    return time_machine.travel(dt.datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI), tick=False)


@pytest.fixture
def lagging(users):
    """An approved budget of 2030 spending 40 % by May: behind an even pace at the end of July."""
    lab = make_lab("sched")
    budget = budget_with_lines(lab, users["office"], year=YEAR, status="approved")
    services.record_expenditure(
        users["office"],
        budget,
        {"date": f"{YEAR}-05-01", "line": "equipment", "source": "central", "amount": "400000"},
    )
    return budget


def test_the_monitoring_job_is_registered_as_a_daily_job():
    assert "qslab.funding.tasks.scheduled_monitoring_task" in {j.task_path for j in scheduling.jobs("daily")}


def test_the_job_does_nothing_before_the_monitoring_date(lagging):
    with on(dt.date(YEAR, 7, 31), hour=23):
        assert scheduled_monitoring_task.enqueue().return_value == {"ran": False}
    assert not MonitoringFlag.objects.exists()
    assert not MonitoringRun.objects.exists()


def test_on_the_first_of_august_the_job_flags_the_july_data_and_notifies(lagging, users):
    manager = manager_of(lagging.laboratory)
    with on(dt.date(YEAR, 8, 1)):
        result = scheduled_monitoring_task.enqueue()
    assert result.return_value["ran"] and result.return_value["month"] == 7
    flags = MonitoringFlag.objects.filter(budget=lagging)
    assert {f.subject for f in flags} == {"whole budget", "materials", "testing"}
    assert {f.month for f in flags} == {7}
    run = MonitoringRun.objects.get()
    assert (run.trigger, run.year, run.month, run.budgets, run.new_flags) == ("scheduled", YEAR, 7, 1, 3)
    to_manager = Notification.objects.get(recipient=manager, verb="monitoring_flags")
    assert "3 deviation(s)" in to_manager.text_en and to_manager.link == lagging.get_absolute_url()
    assert Notification.objects.filter(recipient=users["office"], verb="monitoring_run").exists()
    progress = TaskProgress.objects.get(task_id=str(result.id))
    assert (progress.status, progress.total, progress.done) == ("done", 1, 1)
    assert "3 new flags" in progress.message


def test_a_second_run_the_same_day_or_later_does_nothing_new(lagging, users):
    with on(dt.date(YEAR, 8, 1)):
        scheduled_monitoring_task.enqueue()
    notes = Notification.objects.count()
    # new spending would not be flagged again either: the year's scheduled run is done
    for day in (dt.date(YEAR, 8, 1), dt.date(YEAR, 8, 2), dt.date(YEAR, 11, 30)):
        with on(day, hour=20):
            assert scheduled_monitoring_task.enqueue().return_value == {"ran": False}
    assert MonitoringFlag.objects.count() == 3
    assert MonitoringRun.objects.count() == 1
    assert Notification.objects.count() == notes


def test_the_monitoring_date_and_data_month_are_configurable(lagging):
    FundingRules.objects.create(year=YEAR, monitoring_month=9, monitoring_day=15, monitoring_data_month=8)
    with on(dt.date(YEAR, 9, 14)):
        assert scheduled_monitoring_task.enqueue().return_value == {"ran": False}
    with on(dt.date(YEAR, 9, 15)):
        assert scheduled_monitoring_task.enqueue().return_value["month"] == 8
    assert {f.month for f in MonitoringFlag.objects.all()} == {8}


def test_a_missed_date_is_caught_up_once_later_in_the_year(lagging):
    with on(dt.date(YEAR, 8, 20)):
        assert scheduled_monitoring_task.enqueue().return_value["ran"]
    assert MonitoringRun.objects.filter(trigger="scheduled").count() == 1


def test_the_scheduled_run_adds_no_duplicate_of_a_flag_the_office_already_raised(lagging, users):
    with on(dt.date(YEAR, 7, 31)):
        office_flags = services.run_monitoring(users["office"], YEAR, 7)
    with on(dt.date(YEAR, 8, 1)):
        assert scheduled_monitoring_task.enqueue().return_value["flags"] == 0
    assert MonitoringFlag.objects.count() == len(office_flags) == 3


def test_an_office_run_of_the_data_month_takes_the_office_reminder_off_the_dashboard(lagging, users):
    from qslab.core.dashboard import queue_for

    with on(dt.date(YEAR, 8, 3)):
        assert any("in-year monitoring" in str(i.label) for i in queue_for(users["office"]))
        services.run_monitoring(users["office"], YEAR, 7)
        assert not any("in-year monitoring" in str(i.label) for i in queue_for(users["office"]))
