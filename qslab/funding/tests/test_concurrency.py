"""Money at the same instant: on PostgreSQL, office users issuing or computing allocations in parallel
get one issued list, one document, one row per laboratory and per allocation one entry in the next
year's budget; two runs of one year issued at once issue one (the subsidy is paid once); two workers
starting the scheduled monitoring at once run it once."""

import threading
import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from qslab.core.models import OfficialDocument
from qslab.core.testing import make_user
from qslab.funding import services
from qslab.funding.models import (
    Allocation,
    AllocationRun,
    Budget,
    FundingRules,
    MonitoringFlag,
    MonitoringRun,
    SubsidyEntry,
)
from qslab.funding.tests.conftest import YEAR, budget_with_lines, make_lab

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: threads and row locks"),
]
D = Decimal


@pytest.fixture(autouse=True)
def allocation_document_kind(transactional_db):
    """The reference row the migration writes, in case a transactional test run earlier in the same
    process left the tables flushed (``make test`` runs these in their own process)."""
    import importlib

    from django.apps import apps

    importlib.import_module("qslab.funding.migrations.0002_document_kinds").create_kinds(apps, None)


def in_parallel(*calls):
    """Run the calls in threads released at the same instant; each outcome is "ok" or the error."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def attempt(i, call):
        try:
            barrier.wait()
            call()
            outcomes[i] = "ok"
        except Exception as exc:  # reported by the asserts
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def reviewed_lab(office, code):
    lab = make_lab(code)
    services.record_lab_grade(office, lab, YEAR - 1, "good")
    budget = budget_with_lines(lab, office, status="approved")
    ev = services.open_evaluation(office, budget)
    services.record_actuals(office, ev, {i.pk: i.target for i in budget.indicators.all()}, "")
    services.move_evaluation(office, ev, "submit")
    services.move_evaluation(office, ev, "accept")
    return lab


def new_run(office, total):
    return services.create_allocation_run(
        office,
        {
            "year": YEAR,
            "title_zh": "补助",
            "title_en": "Subsidy",
            "total": D(total),
            "grade_weights": {"excellent": "3", "good": "2", "fair": "1", "poor": "0"},
        },
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_office_users_issuing_one_allocation_at_once_issue_it_once():
    first, second = make_user("office"), make_user("office")
    labs = [reviewed_lab(first, code) for code in ("p1", "p2", "p3")]
    next_year = services.create_budget(first, labs[0], YEAR + 1)
    services.save_budget_version(first, next_year, {("equipment", "central"): D("1.00")})
    run = services.compute_allocation(first, new_run(first, "1000000.01"))
    outcomes = in_parallel(
        lambda: services.issue_allocation(first, run), lambda: services.issue_allocation(second, run)
    )
    assert outcomes.count("ok") == 1, outcomes
    refused = next(o for o in outcomes if o != "ok")
    assert isinstance(refused, ValidationError) and "cannot be recomputed" in " ".join(refused.messages)
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.ISSUED
    assert OfficialDocument.objects.filter(kind__code="subsidy_allocation").count() == 1
    rows = Allocation.objects.filter(run=run)
    assert rows.count() == 3 and sum(a.amount for a in rows) == D("1000000.01")
    assert SubsidyEntry.objects.count() == 1
    assert next_year.versions.count() == 2, "one subsidy version, not two"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_computing_one_allocation_twice_at_once_leaves_one_row_per_laboratory():
    first, second = make_user("office"), make_user("office")
    for code in ("q1", "q2"):
        reviewed_lab(first, code)
    run = new_run(first, "999.99")
    outcomes = in_parallel(
        lambda: services.compute_allocation(first, run), lambda: services.compute_allocation(second, run)
    )
    assert outcomes == ["ok", "ok"]
    rows = Allocation.objects.filter(run=run)
    assert rows.count() == 2 and sum(a.amount for a in rows) == D("999.99")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_runs_of_one_year_issued_at_once_issue_one_and_pay_the_subsidy_once():
    first, second = make_user("office"), make_user("office")
    lab = reviewed_lab(first, "r1")
    budget = services.create_budget(first, lab, YEAR + 1)
    a = services.compute_allocation(first, new_run(first, "100.00"))
    b = services.compute_allocation(second, new_run(second, "50.00"))
    outcomes = in_parallel(
        lambda: services.issue_allocation(first, a), lambda: services.issue_allocation(second, b)
    )
    assert outcomes.count("ok") == 1, outcomes
    refused = next(o for o in outcomes if o != "ok")
    assert isinstance(refused, ValidationError) and "twice" in " ".join(refused.messages)
    issued = AllocationRun.objects.get(status=AllocationRun.Status.ISSUED)
    assert AllocationRun.objects.filter(status=AllocationRun.Status.DRAFT).count() == 1
    assert OfficialDocument.objects.filter(kind__code="subsidy_allocation").count() == 1
    assert SubsidyEntry.objects.filter(budget=budget).count() == 1
    assert budget.current_version.amounts() == {("other", "central"): issued.total}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_opening_a_budget_while_its_subsidy_is_issued_enters_the_subsidy_once(monkeypatch):
    """The budget is opened just after the issuing transaction looked for it and before it committed:
    the lock on the laboratory makes the opening wait and then see the issued allocation."""
    office = make_user("office")
    lab = reviewed_lab(office, "s1")
    run = services.compute_allocation(office, new_run(office, "70.00"))
    real_feed, looked = services.feed_subsidy, threading.Event()

    def feed_then_linger(user, laboratory, year):
        entries = real_feed(user, laboratory, year)
        if threading.current_thread().name == "issuer":
            looked.set()
            time.sleep(1.5)  # the opening runs now, while the issue is not committed yet
        return entries

    monkeypatch.setattr(services, "feed_subsidy", feed_then_linger)
    outcomes: dict[str, object] = {}

    def issue():
        try:
            services.issue_allocation(office, run)
            outcomes["issue"] = "ok"
        except Exception as exc:  # reported by the assert
            outcomes["issue"] = exc
        finally:
            connections.close_all()

    def open_budget():
        looked.wait(timeout=60)
        try:
            services.create_budget(make_user("office"), lab, YEAR + 1)
            outcomes["open"] = "ok"
        except Exception as exc:  # reported by the assert
            outcomes["open"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=issue, name="issuer"), threading.Thread(target=open_budget)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == {"issue": "ok", "open": "ok"}
    budget = Budget.objects.get(laboratory=lab, year=YEAR + 1)
    assert SubsidyEntry.objects.get().budget == budget
    assert budget.current_version.amounts() == {("other", "central"): D("70.00")}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_starting_the_scheduled_monitoring_at_once_run_it_once():
    office = make_user("office")
    year = timezone.localdate().year
    FundingRules.objects.create(year=year, monitoring_month=1, monitoring_day=1, monitoring_data_month=12)
    budget_with_lines(make_lab("t1"), office, year=year, status="approved")  # nothing spent: flagged
    outcomes = in_parallel(services.run_scheduled_monitoring, services.run_scheduled_monitoring)
    assert outcomes == ["ok", "ok"]
    assert MonitoringRun.objects.filter(trigger="scheduled").count() == 1
    subjects = list(MonitoringFlag.objects.values_list("subject", flat=True))
    assert len(subjects) == len(set(subjects)) > 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_database_refuses_a_second_row_for_a_laboratory_in_one_run():
    office = make_user("office")
    lab = reviewed_lab(office, "u1")
    run = services.compute_allocation(office, new_run(office, "10.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.create(run=run, laboratory=lab, eligible=True, amount=D("10.00"))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_office_and_the_daily_job_monitoring_at_once_raise_each_flag_once():
    office = make_user("office")
    year = timezone.localdate().year
    FundingRules.objects.create(year=year, monitoring_month=1, monitoring_day=1, monitoring_data_month=12)
    for code in ("v1", "v2", "v3"):
        budget_with_lines(make_lab(code), office, year=year, status="approved")  # nothing spent
    outcomes = in_parallel(
        services.run_scheduled_monitoring, lambda: services.run_monitoring(make_user("office"), year, 12)
    )
    assert outcomes == ["ok", "ok"]
    keys = list(MonitoringFlag.objects.values_list("budget_id", "month", "kind", "subject"))
    assert len(keys) == len(set(keys)) > 0
