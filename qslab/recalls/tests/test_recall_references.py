"""Recall plans drafted at the same instant, on PostgreSQL: threads with their own connections, released
together by a barrier. Each plan gets its own reference (RC<year>-NNNN) and none fails on the unique
reference."""

from __future__ import annotations

import pytest
from django.db import connection

from qslab.core.testing import at_once, make_user
from qslab.recalls import services
from qslab.recalls.models import Recall
from qslab.recalls.tests.conftest import PLAN, grant_client, make_company, make_product

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: threads and row locks"),
]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_plans_drafted_at_the_same_instant_each_get_their_own_reference(settings, tmp_path):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    company = make_company()
    owner = make_user("client")
    grant_client(owner, company)
    product = make_product(company)
    data = {**PLAN, "product": product, "serial_ranges": []}
    data.pop("office_notes")
    for round_ in range(2):  # the first of the year, then with earlier references
        outcomes = list(
            at_once({str(n): lambda: services.save_recall(owner, dict(data)) for n in range(4)}).values()
        )
        assert outcomes == ["ok"] * 4, f"round {round_}: {outcomes}"
    references = list(Recall.objects.values_list("reference", flat=True))
    assert len(references) == len(set(references)) == 8
