"""Producers' incident reports recorded at the same instant, on PostgreSQL: threads with their own
connections, released together by a barrier. Each gets its own reference (PR<year>-NNNN) and none fails."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from qslab.core.testing import at_once, make_user
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
    report = {
        "company": company,
        "rule": rule,
        "learned_on": timezone.localdate(),
        "description": "A child was scalded.",
    }
    for round_ in range(2):  # the first of the year, then with earlier references
        calls = {str(n): lambda: services.record_producer_report(owner, dict(report)) for n in range(4)}
        outcomes = list(at_once(calls).values())
        assert outcomes == ["ok"] * 4, f"round {round_}: {outcomes}"
    references = list(ProducerReport.objects.values_list("reference", flat=True))
    assert len(references) == len(set(references)) == 8
