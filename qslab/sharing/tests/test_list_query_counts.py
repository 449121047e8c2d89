"""The sharing lists and pages read only their page: as many queries for 30 rows as for 3.

The catalogue and bookings pages are pinned with the load test's rows (``core/tests/test_list_queries.py``).
"""

import itertools
from decimal import Decimal

from qslab.core.testing import list_queries_at_two_sizes, page_queries_at_two_sizes
from qslab.core.tests.test_list_query_counts import _add_documents
from qslab.sharing.tests.conftest import at, make_lab, make_resource, scope_to

_n = itertools.count(1)


def _add_resources(n):
    names = []
    for _ in range(n):
        i = next(_n)
        resource = make_resource(make_lab(f"SH{i}"), f"zz{i:04d}", rate_academic=Decimal(50))
        names.append(resource.name_en)
    return names


def test_resource_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = list_queries_at_two_sizes(
        clients["anonymous"], "/api/sharing/resources?limit=1000", _add_resources
    )
    assert few == many


def test_availability_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    url = "/api/sharing/availability?limit=1000"
    few, many = list_queries_at_two_sizes(clients["anonymous"], url, _add_resources)
    assert few == many


def test_availability_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["anonymous"], "/sharing/available/?q=zz", _add_resources)
    assert few == many


def test_booking_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.sharing import services

    lab = make_lab("BK")
    scope_to(users["lab_manager"], lab)

    def add(n):
        for _ in range(n):
            resource = make_resource(lab, f"bk{next(_n):04d}")
            services.book_resource(users["client"], resource, at(3, 9), at(3, 10))

    few, many = list_queries_at_two_sizes(clients["lab_manager"], "/api/sharing/bookings?limit=1000", add)
    assert few == many


def _add_requests(users, lab, n, invoiced=True):
    """n accepted service requests of ``lab``, each with two received samples and, if ``invoiced``, an
    invoice; returns the invoice numbers (or the requests' titles)."""
    from qslab.core.models import OfficialDocument
    from qslab.sharing import services
    from qslab.sharing.models import Invoice

    client, manager = users["client"], users["lab_manager"]
    out = []
    numbers = _add_documents(n) if invoiced else [None] * n
    for number in numbers:
        title = f"zz-request-{next(_n):04d}"
        req = services.request_service(client, lab, {"title": title, "samples": 2})
        services.quote_request(manager, req, Decimal("800"))
        services.move_request(client, req, "accept")
        services.receive_samples(manager, req, [{"description": "gear"}, {"description": "shaft"}], "store A")
        if number:
            Invoice.objects.create(
                lab=lab,
                client=client,
                period="2026-01",
                total=Decimal("800"),
                document=OfficialDocument.objects.get(number=number),
                service_request=req,
            )
        out.append(number or title)
    return out


def test_request_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    lab = make_lab("RQ")
    scope_to(users["lab_manager"], lab)
    url = "/api/sharing/requests?limit=1000"
    few, many = list_queries_at_two_sizes(clients["client"], url, lambda n: _add_requests(users, lab, n))
    assert few == many


def test_request_list_names_each_requests_invoice_and_samples(users, clients):
    lab = make_lab("RQ")
    scope_to(users["lab_manager"], lab)
    numbers = _add_requests(users, lab, 2)
    _add_requests(users, lab, 1, invoiced=False)
    items = clients["client"].get("/api/sharing/requests").json()["items"]
    assert sorted(i["invoice_number"] for i in items if i["invoice_number"]) == sorted(numbers)
    assert [i["invoice_number"] for i in items].count(None) == 1
    assert all(len(i["samples_received"]) == 2 and i["samples_received"][0]["custody"] for i in items)


def test_requests_page_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    lab = make_lab("RQ")
    scope_to(users["lab_manager"], lab)
    few, many = page_queries_at_two_sizes(
        clients["lab_manager"], "/sharing/requests/", lambda n: _add_requests(users, lab, n, invoiced=False)
    )
    assert few == many


def test_invoice_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    lab = make_lab("IN")
    scope_to(users["lab_manager"], lab)
    url = "/api/sharing/invoices?limit=1000"
    few, many = list_queries_at_two_sizes(clients["lab_manager"], url, lambda n: _add_requests(users, lab, n))
    assert few == many


def test_invoices_page_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    lab = make_lab("IN")
    scope_to(users["lab_manager"], lab)
    few, many = page_queries_at_two_sizes(
        clients["lab_manager"], "/sharing/invoices/", lambda n: _add_requests(users, lab, n)
    )
    assert few == many


PINNED_LISTS = {
    "qslab_sharing_api_resources": test_resource_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_sharing_api_search_availability": test_availability_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_sharing_api_bookings": test_booking_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_sharing_api_service_requests": test_request_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_sharing_api_invoices": test_invoice_list_runs_as_many_queries_for_30_rows_as_for_3,
}
PINNED_PAGES = {
    "sharing:availability": test_availability_page_runs_as_many_queries_for_30_rows_as_for_3,
    "sharing:requests": test_requests_page_runs_as_many_queries_for_30_rows_as_for_3,
    "sharing:invoices": test_invoices_page_runs_as_many_queries_for_30_rows_as_for_3,
}
