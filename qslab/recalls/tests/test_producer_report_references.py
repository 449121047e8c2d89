"""Producers' incident reports recorded at the same instant, on PostgreSQL: threads with their own
connections, released together by a barrier. Each gets its own reference (PR<year>-NNNN) and none fails."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from qslab.core.testing import make_user
from qslab.recalls import services
from qslab.recalls.models import ProducerReport, ReportingRule
from qslab.recalls.tests.conftest import grant_client, make_company

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: threads and row locks"),
]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_reports_recorded_at_the_same_instant_each_get_their_own_reference():
    company = make_company()
    owner = make_user("client")
    grant_client(owner, company)
    rule = ReportingRule.objects.get(code="death-or-serious-injury")
    for round_ in range(2):  # the first of the year, then with earlier references
        barrier = threading.Barrier(4)
        outcomes: list[str] = []

        def record(barrier=barrier, outcomes=outcomes) -> None:
            try:
                barrier.wait()
                services.record_producer_report(
                    owner,
                    {
                        "company": company,
                        "rule": rule,
                        "learned_on": timezone.localdate(),
                        "description": "A child was scalded.",
                    },
                )
                outcomes.append("ok")
            except Exception as exc:  # an unexpected error is the failure we report
                outcomes.append(f"{type(exc).__name__}: {exc}")
            finally:
                connections.close_all()

        threads = [threading.Thread(target=record) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes == ["ok"] * 4, f"round {round_}: {outcomes}"
    references = list(ProducerReport.objects.values_list("reference", flat=True))
    assert len(references) == len(set(references)) == 8
