"""The funding lists read only their page: as many queries for 30 rows as for 3."""

import itertools
from decimal import Decimal

from qslab.core.testing import list_queries_at_two_sizes, page_queries_at_two_sizes
from qslab.funding.tests.conftest import YEAR, make_lab, quick_budget

_n = itertools.count()


def _add_budgets(n):
    names = []
    for _ in range(n):
        lab = make_lab(f"B{next(_n):04d}")
        quick_budget(lab, YEAR, "approved" if len(names) % 2 else "draft")
        names.append(str(lab))
    return names


def test_lab_grade_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    from qslab.funding.models import LabGrade

    def add(n):
        for _ in range(n):
            LabGrade.objects.create(laboratory=make_lab(f"G{next(_n)}"), year=YEAR, grade="good")

    url = f"/api/funding/grades?year={YEAR}&limit=1000"
    few, many = list_queries_at_two_sizes(clients["office"], url, add)
    assert few == many


def test_budget_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    url = f"/api/funding/budgets?year={YEAR}&limit=1000"
    few, many = list_queries_at_two_sizes(clients["office"], url, _add_budgets)
    assert few == many


def test_budgets_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["office"], f"/funding/?year={YEAR}", _add_budgets)
    assert few == many


def test_expenditure_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    import datetime as dt

    from qslab.funding.models import Expenditure

    budget = quick_budget(make_lab("EXP"), YEAR, "approved")

    def add(n):
        for _ in range(n):
            Expenditure.objects.create(
                budget=budget,
                date=dt.date(YEAR, 3, 1),
                line="equipment",
                source="central",
                amount=Decimal("10.00"),
                created_by=users["office"],
            )

    url = f"/api/funding/budgets/{budget.pk}/expenditures?limit=1000"
    few, many = list_queries_at_two_sizes(clients["office"], url, add)
    assert few == many


def test_allocation_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    from qslab.funding.models import AllocationRun

    def add(n):
        old = None
        for _ in range(n):  # superseded runs, each but the last followed by the amendment that replaced it
            kind = {
                "year": 1000 + next(_n),
                "title_zh": "分配",
                "title_en": "Allocation",
                "total": Decimal(100),
            }
            if old is None:
                old = AllocationRun.objects.create(**kind, status="superseded")
            else:
                AllocationRun.objects.create(**kind, status="issued", amends=old)
                old = None

    few, many = list_queries_at_two_sizes(clients["office"], "/api/funding/allocations?limit=1000", add)
    assert few == many


def test_monitoring_run_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.funding.models import MonitoringRun

    def add(n):
        for _ in range(n):
            MonitoringRun.objects.create(year=YEAR, month=3, trigger="office", ran_by=users["office"])

    few, many = list_queries_at_two_sizes(clients["office"], "/api/funding/monitoring/runs?limit=1000", add)
    assert few == many


PINNED_LISTS = {
    "qslab_funding_api_list_lab_grades": test_lab_grade_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_funding_api_list_budgets": test_budget_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_funding_api_list_expenditures": test_expenditure_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_funding_api_list_allocations": test_allocation_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_funding_api_list_monitoring_runs": (
        test_monitoring_run_list_runs_as_many_queries_for_30_rows_as_for_3
    ),
}
PINNED_PAGES = {
    "funding:budgets": test_budgets_page_runs_as_many_queries_for_30_rows_as_for_3,
}
