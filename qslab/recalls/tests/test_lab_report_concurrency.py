"""Two managers of the laboratory deliver the test report at the same instant, on PostgreSQL: threads with
their own connections, released together by a barrier. One delivery wins; the other is told the report
was already delivered (409 Conflict, not a 500), and its PDF is not left behind in storage."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections

from qslab.core.testing import make_user, verified_client
from qslab.labs.tests.conftest import make_lab
from qslab.recalls import services
from qslab.recalls.models import LabTestRequest

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: threads and row locks"),
]

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_of_two_deliveries_at_once_the_second_is_a_conflict_and_leaves_no_file(users, settings, tmp_path):
    from qslab.risk.models import RiskAssessment, RiskMatrix

    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    settings.MEDIA_ROOT = tmp_path / "media"
    lab = make_lab("lid-lab")
    managers = [make_user("lab_manager", scope=lab) for _ in range(2)]
    assessment = RiskAssessment.objects.create(
        reference="RA2026-0777", title_en="Kettle lid", matrix=RiskMatrix.objects.get(code="eu-safety-gate")
    )
    item = services.request_lab_test(
        users["office"], {"laboratory": lab, "assessment": assessment, "question": "Latch force"}
    )
    clients = [verified_client(m) for m in managers]
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def deliver(n: int) -> None:
        try:
            barrier.wait()
            response = clients[n].post(
                item.get_absolute_url(),
                {"report": SimpleUploadedFile(f"report{n}.pdf", PDF, content_type="application/pdf")},
            )
            outcomes.append(response.status_code)
        except Exception as exc:  # an unexpected error is the failure we report
            outcomes.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes, key=str) == [302, 409], outcomes
    item = LabTestRequest.objects.get(pk=item.pk)
    assert item.status == "reported"
    stored = [p.name for p in Path(settings.MEDIA_ROOT).rglob("*.pdf")]
    assert stored == [Path(item.report.name).name], stored
