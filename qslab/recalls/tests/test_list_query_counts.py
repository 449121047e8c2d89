"""The recalls lists and pages read only their page: as many queries for 30 rows as for 3."""

import datetime as dt
import itertools

from django.utils import timezone

from qslab.core.testing import list_queries_at_two_sizes, page_queries_at_two_sizes
from qslab.recalls.tests.conftest import load_supply_chain, make_company, make_product, make_recall

_n = itertools.count(1)


def _product(company=None):
    return make_product(company or make_company(), code=f"690123{next(_n):06d}", model=f"ZZ-{next(_n):05d}")


def _add_products(n):
    company = make_company()
    return [_product(company).model for _ in range(n)]


def test_product_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = list_queries_at_two_sizes(
        clients["analyst"], "/api/recalls/products/?limit=1000", _add_products
    )
    assert few == many


def test_products_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["analyst"], "/recalls/products/", _add_products)
    assert few == many


def _add_recalls(n, status="in_progress"):
    """n published recalls in progress, each of its own product, with two progress reports."""
    from qslab.recalls.models import ProgressReport

    references = []
    for _ in range(n):
        recall = make_recall(_product(), status, notice_published_at=timezone.now(), units_affected=100)
        for day in (30, 31):
            ProgressReport.objects.create(recall=recall, period_end=dt.date(2025, 12, day), units_remedied=10)
        references.append(recall.reference)
    return references


def test_recall_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = list_queries_at_two_sizes(clients["analyst"], "/api/recalls/?limit=1000", _add_recalls)
    assert few == many


def test_recall_list_keeps_each_recalls_progress_in_date_order(clients):
    from qslab.recalls.models import ProgressReport, Recall

    (reference,) = _add_recalls(1)
    recall = Recall.objects.get(reference=reference)
    ProgressReport.objects.create(recall=recall, period_end=dt.date(2025, 11, 30), units_remedied=5)
    items = {r["reference"]: r for r in clients["analyst"].get("/api/recalls/?limit=1000").json()["items"]}
    assert [p["period_end"] for p in items[reference]["progress"]] == [
        "2025-11-30",
        "2025-12-30",
        "2025-12-31",
    ]


def test_recalls_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["analyst"], "/recalls/", _add_recalls)
    assert few == many


def test_public_recall_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = list_queries_at_two_sizes(
        clients["anonymous"], "/api/recalls/public?limit=1000", _add_recalls
    )
    assert few == many


def test_public_recalls_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["anonymous"], "/recalls/public/", _add_recalls)
    assert few == many


def _add_uploads(n):
    from qslab.core.models import TaskProgress
    from qslab.recalls.models import TraceUpload

    company = make_company()
    names = []
    for i in range(n):
        name = f"zz-upload-{next(_n):05d}.csv"
        task_id = ""
        if i % 2:  # a loading upload shows its task's progress
            task_id = f"task-{name}"
            TaskProgress.objects.create(task_id=task_id, label="upload", total=10, done=3)
        TraceUpload.objects.create(
            company=company,
            kind="units",
            file=f"recalls/trace/{name}",
            file_name=name,
            status="loading" if task_id else "rejected",
            task_id=task_id,
        )
        names.append(name)
    return names


def test_upload_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = list_queries_at_two_sizes(clients["analyst"], "/api/recalls/uploads?limit=1000", _add_uploads)
    assert few == many


def test_uploads_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["analyst"], "/recalls/uploads/", _add_uploads)
    assert few == many


def _add_producer_reports(n):
    from qslab.recalls.models import ProducerReport, ReportingRule

    rule = ReportingRule.objects.get(code="death-or-serious-injury")
    references = []
    for _ in range(n):
        product = _product()
        reference = f"PRZZ-{next(_n):05d}"
        ProducerReport.objects.create(
            reference=reference,
            company=product.company,
            product=product,
            rule=rule,
            learned_on=dt.date(2026, 1, 5),
            description="incident",
            working_days=2,
            due=dt.date(2026, 1, 7),
        )
        references.append(reference)
    return references


def test_producer_report_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    url = "/api/recalls/incidents?limit=1000"
    few, many = list_queries_at_two_sizes(clients["analyst"], url, _add_producer_reports)
    assert few == many


def test_producer_reports_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["analyst"], "/recalls/incidents/", _add_producer_reports)
    assert few == many


def _add_lab_requests(users, n):
    from qslab.labs.tests.conftest import make_lab
    from qslab.recalls.models import LabTestRequest, Recall

    names = []
    for reference in _add_recalls(n):
        lab = make_lab(f"RL{next(_n):05d}")
        LabTestRequest.objects.create(
            laboratory=lab,
            recall=Recall.objects.get(reference=reference),
            question="Test the lid latch to GB 4706.19.",
            requested_by=users["office"],
        )
        names.append(lab.name)
    return names


def test_lab_request_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    url = "/api/recalls/lab-requests?limit=1000"
    few, many = list_queries_at_two_sizes(clients["analyst"], url, lambda n: _add_lab_requests(users, n))
    assert few == many


def test_lab_requests_page_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    few, many = page_queries_at_two_sizes(
        clients["analyst"], "/recalls/lab-tests/", lambda n: _add_lab_requests(users, n)
    )
    assert few == many


def test_scope_unit_list_runs_as_many_queries_for_10_units_as_for_1(clients, settings, tmp_path):
    """The units come from the supply-chain store, not the database: a page of all ten units runs the
    same database queries as a page of one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    product = _product()
    load_supply_chain(product)
    recall = make_recall(product)
    url = f"/api/recalls/{recall.pk}/scope/units"
    clients["analyst"].get(url)
    counts = {}
    for limit in (1, 1000):
        with CaptureQueriesContext(connection) as captured:
            body = clients["analyst"].get(f"{url}?limit={limit}").json()
        assert len(body["items"]) == min(limit, 10) and body["count"] == 10, body
        counts[limit] = len(captured.captured_queries)
    assert counts[1] == counts[1000]


PINNED_LISTS = {
    "qslab_recalls_api_products": test_product_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_recalls_api_recalls": test_recall_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_recalls_api_public_recalls": test_public_recall_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_recalls_api_uploads": test_upload_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_recalls_api_producer_reports": test_producer_report_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_recalls_api_lab_requests": test_lab_request_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_recalls_api_recall_scope_units": test_scope_unit_list_runs_as_many_queries_for_10_units_as_for_1,
}
PINNED_PAGES = {
    "recalls:products": test_products_page_runs_as_many_queries_for_30_rows_as_for_3,
    "recalls:home": test_recalls_page_runs_as_many_queries_for_30_rows_as_for_3,
    "recalls:public_recalls": test_public_recalls_page_runs_as_many_queries_for_30_rows_as_for_3,
    "recalls:uploads": test_uploads_page_runs_as_many_queries_for_30_rows_as_for_3,
    "recalls:producer_reports": test_producer_reports_page_runs_as_many_queries_for_30_rows_as_for_3,
    "recalls:lab_requests": test_lab_requests_page_runs_as_many_queries_for_30_rows_as_for_3,
}
