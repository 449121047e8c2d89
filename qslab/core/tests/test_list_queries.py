"""The main list pages and API lists run a constant number of queries: as many with many rows as with one.

The rows come from the load-test seeder (``manage.py seed_load``) at a small size and then a larger one;
each page is requested as the user of the load test's journey (``load/locustfile.py``).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from qslab.core.management.commands.seed_load import seed

PAGES = [
    ("/", None),
    ("/labs/", None),
    ("/labs/?q=负载", None),
    ("/labs/?region=320000", None),
    ("/api/labs/laboratories?limit=100", None),
    ("/api/risk/reports?limit=100", None),
    ("/api/sharing/resources?limit=100", None),
    ("/work/", "lab_manager"),
    ("/sharing/bookings/", "lab_manager"),
    ("/sharing/", "lab_manager"),
    ("/api/sharing/bookings?limit=100", "lab_manager"),
    ("/risk/reports/", "analyst"),
    ("/risk/signals/", "analyst"),
    ("/work/", "analyst"),
]


def _queries(url: str, client: Client) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return response.status_code, len(captured.captured_queries)


@pytest.fixture
def clients_for(db):
    from qslab.accounts.models import User

    def make() -> dict[str | None, Client]:
        out: dict[str | None, Client] = {None: Client()}
        for role in ("lab_manager", "analyst"):
            client = Client()
            client.force_login(User.objects.get(username=f"load_{role}"))
            out[role] = client
        return out

    return make


def test_list_pages_run_as_many_queries_with_many_rows_as_with_one(clients_for):
    seed(labs=6, incidents=2, bookings=2)  # at least one row on every page (six regions)
    clients = clients_for()
    for url, role in PAGES:  # first requests fill caches (content types, roles, translations)
        clients[role].get(url)
    few = {(url, role): _queries(url, clients[role]) for url, role in PAGES}
    seed(labs=40, incidents=150, bookings=60)
    many = {(url, role): _queries(url, clients[role]) for url, role in PAGES}
    statuses = {key: status for key, (status, _n) in many.items() if status != 200}
    assert not statuses, f"pages that did not answer 200: {statuses}"
    grown = {
        f"{url} as {role or 'anonymous'}": f"{few[(url, role)][1]} -> {n} queries"
        for (url, role), (_status, n) in many.items()
        if n > few[(url, role)][1]
    }
    assert not grown, f"queries grow with the rows (N+1): {grown}"
