"""Evidence files of findings and corrective actions are checked by content and size on the way in and
served on the way out only to those who may see the finding, as downloads that never render as a page."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from qslab.core.models import Attachment
from qslab.core.testing import close_quietly, make_user, verified_client
from qslab.labs.tests.conftest import make_lab, scope_to
from qslab.supervision import services
from qslab.supervision.models import Finding, Inspector

PDF = b"%PDF-1.7\n%evidence\n"


def status_of(client: Any, url: str) -> int:
    response = client.get(url)
    close_quietly(response)  # not response.close(): that would close the PostgreSQL test connection
    return response.status_code


@pytest.fixture
def env(users: dict[str, Any]) -> Any:
    class Env:
        pass

    e = Env()
    e.users, e.office, e.manager, e.expert = users, users["office"], users["lab_manager"], users["expert"]
    e.lab = make_lab("ev", status="named", region="320000")
    scope_to(e.manager, e.lab)
    Inspector.objects.create(user=e.expert, region_code="110000")
    e.inspection = services.plan_inspection(
        e.office, e.lab, kind="scheduled", planned_on=timezone.localdate(), inspectors=[e.expert]
    )
    return e


def test_a_file_that_is_not_an_accepted_type_is_refused_and_nothing_is_recorded(env):
    html = SimpleUploadedFile("photo.png", b"<html><script>alert(1)</script></html>", "image/png")
    exe = SimpleUploadedFile("report.pdf", b"MZ\x90\x00binary", "application/pdf")
    with pytest.raises(ValidationError) as refused:
        services.record_finding(
            env.expert, env.inspection, severity="minor", description="x", files=[html, exe]
        )
    text = " ".join(refused.value.messages)
    assert "photo.png" in text and "report.pdf" in text
    assert not Finding.objects.exists() and not Attachment.objects.exists()


def test_an_empty_corrective_action_file_is_refused_and_the_action_stays_open(env):
    finding = services.record_finding(env.office, env.inspection, severity="major", description="缺记录")
    services.record_inspection(env.office, env.inspection, conducted_on=timezone.localdate(), summary="s")
    action = services.request_correction(env.office, finding, text="补全")
    with pytest.raises(ValidationError, match="empty"):
        services.respond_to_correction(env.manager, action, "已补全", [SimpleUploadedFile("a.pdf", b"")])
    action.refresh_from_db()
    assert action.status == "requested"
    services.respond_to_correction(env.manager, action, "已补全", [SimpleUploadedFile("fix.pdf", PDF)])
    assert (
        Attachment.objects.filter(object_id=str(action.pk), content_type__model="correctiveaction").count()
        == 1
    )


def test_evidence_is_served_as_a_download_only_to_those_who_see_the_finding(env):
    services.record_finding(
        env.expert,
        env.inspection,
        severity="major",
        description="原始记录缺失",
        files=[SimpleUploadedFile("scan.pdf", PDF)],
    )
    file = Attachment.objects.get()
    url = f"/supervision/files/{file.pk}/"
    # unannounced: the lab sees neither the finding nor its evidence before the findings are recorded
    assert status_of(verified_client(env.manager), url) == 404
    response = verified_client(env.expert).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    close_quietly(response)
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    services.record_inspection(env.office, env.inspection, conducted_on=timezone.localdate(), summary="s")
    assert status_of(verified_client(env.manager), url) == 200
    other = make_user("lab_manager", scope=make_lab("elsewhere"))
    assert status_of(verified_client(other), url) == 404
    assert status_of(verified_client(None), url) in (302, 403)
    page = verified_client(env.manager).get(f"/supervision/inspections/{env.inspection.pk}/").content.decode()
    assert url in page and "/media/" not in page
