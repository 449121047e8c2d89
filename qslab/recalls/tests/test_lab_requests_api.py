"""Laboratory testing through the API: the office requests, the laboratory's managers list their own
laboratory's requests and deliver the PDF report (checked by content); the download is checked; other
laboratories get 404; the company whose recall it was for reads the delivered report."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from qslab.accounts.models import ApiToken
from qslab.core.testing import close_quietly, make_user, verified_client
from qslab.labs.tests.conftest import make_lab
from qslab.recalls.models import LabTestRequest
from qslab.recalls.tests.conftest import grant_client, make_company, make_product, make_recall

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"


def _api(user):
    token = ApiToken.issue(user, "test")[1]
    client = verified_client(None)

    def call(method, path, **kw):
        return getattr(client, method)(f"/api/recalls{path}", HTTP_AUTHORIZATION=f"Bearer {token}", **kw)

    return call


@pytest.fixture
def scene(users, settings, tmp_path):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    lab, other_lab = make_lab("lid-lab"), make_lab("other-lab")
    company = make_company(name_en="Kettle maker")
    grant_client(users["client"], company)
    recall = make_recall(make_product(company), "in_progress")
    other_company_user = make_user("client")
    grant_client(other_company_user, make_company("440000", name_en="Someone else"))
    return {
        "lab": lab,
        "recall": recall,
        "office": _api(users["office"]),
        "manager": _api(make_user("lab_manager", scope=lab)),
        "stranger": _api(make_user("lab_manager", scope=other_lab)),
        "company": _api(users["client"]),
        "other_company": _api(other_company_user),
        "analyst": _api(users["analyst"]),
    }


def _create(scene, **extra):
    body = {"laboratory": scene["lab"].pk, "recall": scene["recall"].pk, "question": "Latch force", **extra}
    return scene["office"]("post", "/lab-requests", data=body, content_type="application/json")


def _ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["items"]]


def test_the_office_requests_and_the_labs_managers_deliver_the_report(scene):
    created = _create(scene, due="2026-12-31")
    assert created.status_code == 201, created.content
    item = created.json()
    assert item["status"] == "requested" and item["report_url"] is None and item["due"] == "2026-12-31"

    assert _ids(scene["manager"]("get", "/lab-requests")) == [item["id"]]
    assert _ids(scene["stranger"]("get", "/lab-requests")) == []
    assert scene["stranger"]("get", f"/lab-requests/{item['id']}").status_code == 404
    refused = scene["stranger"](
        "post", f"/lab-requests/{item['id']}/report", data={"file": SimpleUploadedFile("r.pdf", PDF)}
    )
    assert refused.status_code == 404

    delivered = scene["manager"](
        "post",
        f"/lab-requests/{item['id']}/report",
        data={"file": SimpleUploadedFile("latch.pdf", PDF, "application/pdf"), "summary": "Fails at 12 N."},
    )
    assert delivered.status_code == 200, delivered.content
    out = delivered.json()
    assert out["status"] == "reported" and out["report_summary"] == "Fails at 12 N."
    assert out["report_url"] == f"/api/recalls/lab-requests/{item['id']}/report"

    download = scene["office"]("get", f"/lab-requests/{item['id']}/report")
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith("attachment")
    assert b"".join(download.streaming_content) == PDF
    close_quietly(download)
    assert scene["stranger"]("get", f"/lab-requests/{item['id']}/report").status_code == 404

    again = scene["manager"](
        "post", f"/lab-requests/{item['id']}/report", data={"file": SimpleUploadedFile("b.pdf", PDF)}
    )
    assert again.status_code == 409, "a delivered report is not replaced"
    assert again.json()["code"] == "wrong_state" and "already delivered (latch.pdf)" in again.json()["detail"]
    assert LabTestRequest.objects.get(pk=item["id"]).report_name == "latch.pdf"


def test_a_report_that_is_not_a_pdf_is_refused_with_a_422_naming_the_file(scene):
    item = _create(scene).json()
    response = scene["manager"](
        "post",
        f"/lab-requests/{item['id']}/report",
        data={"file": SimpleUploadedFile("r.pdf", b"<html><script>alert(1)</script>", "application/pdf")},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"
    assert LabTestRequest.objects.get(pk=item["id"]).status == "requested"


def test_only_the_office_requests_and_unknown_ids_are_named(scene):
    assert (
        scene["analyst"](
            "post",
            "/lab-requests",
            data={"laboratory": scene["lab"].pk, "recall": scene["recall"].pk, "question": "x"},
            content_type="application/json",
        ).status_code
        == 403
    )
    assert (
        scene["manager"](
            "post",
            "/lab-requests",
            data={"laboratory": scene["lab"].pk, "recall": scene["recall"].pk, "question": "x"},
            content_type="application/json",
        ).status_code
        == 403
    )
    bad = _create(scene, laboratory=999999, assessment=888888)
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"laboratory", "assessment"}
    neither = scene["office"](
        "post",
        "/lab-requests",
        data={"laboratory": scene["lab"].pk, "question": "x"},
        content_type="application/json",
    )
    assert neither.status_code == 422 and "assessment" in str(neither.json()["errors"])
    assert not LabTestRequest.objects.exists()


def test_the_company_reads_the_delivered_report_on_its_own_recall_only(scene, users):
    item = _create(scene).json()
    assert _ids(scene["company"]("get", "/lab-requests")) == [], "nothing before the report is delivered"
    assert scene["company"]("get", f"/lab-requests/{item['id']}/report").status_code == 404
    scene["manager"](
        "post",
        f"/lab-requests/{item['id']}/report",
        data={"file": SimpleUploadedFile("latch.pdf", PDF, "application/pdf"), "summary": "Fails at 12 N."},
    )
    assert _ids(scene["company"]("get", "/lab-requests")) == [item["id"]]
    download = scene["company"]("get", f"/lab-requests/{item['id']}/report")
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF
    close_quietly(download)
    assert scene["other_company"]("get", f"/lab-requests/{item['id']}/report").status_code == 404
    page = verified_client(users["client"]).get(scene["recall"].get_absolute_url()).content.decode()
    assert 'id="lab-tests"' in page and "Fails at 12 N." in page
    assert reverse("recalls:lab_request_report", args=[item["id"]]) in page
