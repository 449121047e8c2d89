"""In-year double monitoring: lags against the configurable curve are flagged and must be answered;
the office may hold back funding. Also the dashboard queues."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from qslab.core.dashboard import queue_for
from qslab.funding import services
from qslab.funding.models import FundingRules, MonitoringFlag
from qslab.funding.tests.conftest import YEAR, budget_with_lines, make_lab, manager_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def budget(users):
    budget = budget_with_lines(make_lab("alpha"), users["office"], status="approved")
    services.record_expenditure(
        users["office"],
        budget,
        {"date": f"{YEAR}-05-01", "line": "equipment", "source": "central", "amount": "400000"},
    )
    return budget


def test_monitoring_flags_lines_that_lag_the_expected_pace(budget, users):
    # July on an even pace: 58.33 % expected, 10 points tolerated;
    # the whole budget is at 40 %, equipment at 67 %, the rest at 0
    flags = services.run_monitoring(users["office"], YEAR, 7)
    subjects = {f.subject for f in flags}
    assert subjects == {"whole budget", "materials", "testing"}
    whole = next(f for f in flags if f.subject == "whole budget")
    assert whole.expected == Decimal("58.33") and whole.actual == Decimal("40.00")


def test_monitoring_twice_for_the_same_month_adds_no_flags(budget, users):
    services.run_monitoring(users["office"], YEAR, 7)
    assert services.run_monitoring(users["office"], YEAR, 7) == []


def test_the_expected_curve_is_data(budget, users):
    FundingRules.objects.create(year=YEAR, expected_curve=[0, 0, 0, 0, 0, 0, 30, 40, 50, 60, 80, 100])
    flags = services.run_monitoring(users["office"], YEAR, 7)
    assert {f.subject for f in flags} == {"materials", "testing"}


def test_the_monitoring_month_defaults_to_july_data(budget, users):
    flags = services.run_monitoring(users["office"], YEAR)
    assert {f.month for f in flags} == {7}


def test_only_the_office_runs_the_monitoring(budget):
    with pytest.raises(PermissionDenied):
        services.run_monitoring(manager_of(budget.laboratory), YEAR, 7)


def test_a_flag_is_answered_with_cause_and_correction_by_the_lab(budget, users):
    flag = services.run_monitoring(users["office"], YEAR, 7)[0]
    manager = manager_of(budget.laboratory)
    with pytest.raises(ValidationError):
        services.answer_flag(manager, flag, "supplier late", "")
    services.answer_flag(manager, flag, "supplier late", "second supplier contracted")
    assert MonitoringFlag.objects.get(pk=flag.pk).answered_at is not None
    with pytest.raises(PermissionDenied):
        services.answer_flag(manager_of(make_lab("beta")), flag, "x", "y")


def test_the_office_holds_back_funding_with_a_reason(budget, users):
    flag = services.run_monitoring(users["office"], YEAR, 7)[0]
    with pytest.raises(PermissionDenied):
        services.hold_funding(manager_of(budget.laboratory), flag, True, "no")
    services.hold_funding(users["office"], flag, True, "no corrective action")
    assert MonitoringFlag.objects.get(pk=flag.pk).hold_funding


def test_the_office_queue_lists_budgets_to_approve(users):
    budget = budget_with_lines(make_lab("alpha"), users["office"], status="submitted")
    labels = [i.label for i in queue_for(users["office"])]
    assert any(str(budget) in label for label in labels)


def test_the_lab_manager_queue_lists_the_budget_due(users):
    from django.utils import timezone

    lab = make_lab("alpha")
    labels = [i.label for i in queue_for(manager_of(lab))]
    year = timezone.localdate().year
    assert any(f"Budget {year} due" in label for label in labels)


def test_the_office_is_asked_to_run_the_monitoring_in_the_rules_month_only(users):
    import datetime as dt

    import time_machine

    with time_machine.travel(dt.datetime(2030, 8, 3, 9, 0, tzinfo=dt.UTC), tick=False):
        labels = [i.label for i in queue_for(users["office"])]
        assert any("in-year monitoring of 2030 (data to month 7)" in label for label in labels)
    FundingRules.objects.create(year=2030, monitoring_month=9, monitoring_data_month=8)
    with time_machine.travel(dt.datetime(2030, 8, 3, 9, 0, tzinfo=dt.UTC), tick=False):
        assert not any("in-year monitoring" in i.label for i in queue_for(users["office"]))
    with time_machine.travel(dt.datetime(2030, 9, 3, 9, 0, tzinfo=dt.UTC), tick=False):
        assert any("(data to month 8)" in i.label for i in queue_for(users["office"]))
