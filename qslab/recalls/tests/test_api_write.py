"""The recall work done through the API alone: a company records its product and batches, uploads its
supply-chain records (a background task, followed through the upload's status), drafts the recall plan
and reports progress; analysts rate the risk; the office links the assessment, approves, publishes and
closes. A company acts only for its own products and GTINs; bad input is a 422 naming the field."""

import csv
import datetime as dt
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from qslab.accounts.models import ApiToken
from qslab.core.testing import make_user
from qslab.recalls.models import Batch, Product, Recall, TraceUpload
from qslab.recalls.tests.conftest import PLAN, grant_client, gtin, make_company

pytestmark = pytest.mark.django_db

GTIN = gtin("690123459001")


def _client(user):
    token = ApiToken.issue(user, "test")[1]
    return Client(headers={"Authorization": f"Bearer {token}"})


def _send(client, method, url, data=None):
    if method == "get":
        response = client.get(f"/api{url}")
    else:
        response = getattr(client, method)(
            f"/api{url}", data=json.dumps(data or {}, default=str), content_type="application/json"
        )
    return response.status_code, response.json() if response.content else None


def _fields(body):
    return {e["field"]: e["messages"] for e in body["errors"]}


def _csv(header, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _units(gtin_value, n=20):
    return _csv(
        ["gtin", "serial", "batch", "production_date"],
        [[gtin_value, f"SN{i:06d}", "L1" if i <= 10 else "L2", "2025-03-02"] for i in range(1, n + 1)],
    )


def _events(gtin_value):
    rows = []
    for i in range(1, 21):
        serial = f"SN{i:06d}"
        rows.append(
            [gtin_value, serial, "manufactured", "M-1", "Maker", "manufacturer", "440604", "2025-03-03"]
        )
        distributor = ("D-BJ", "110105") if i % 2 else ("D-JS", "320102")
        rows.append(
            [
                gtin_value,
                serial,
                "distributed",
                distributor[0],
                f"{distributor[0]} Ltd",
                "distributor",
                distributor[1],
                "2025-03-10",
            ]
        )
    return _csv(
        ["gtin", "serial", "kind", "party_id", "party_name", "party_role", "region", "occurred_at"], rows
    )


@pytest.fixture
def scene(settings, tmp_path, users):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    from qslab.risk.tests.conftest import make_terms

    make_terms()
    company = make_company(name_en="API Kettles")
    other = make_company("440000", name_en="Someone else")
    owner = make_user("client")
    grant_client(owner, company)
    stranger = make_user("client")
    grant_client(stranger, other)
    return {
        "company": company,
        "other": other,
        "owner": _client(owner),
        "stranger": _client(stranger),
        "office": _client(users["office"]),
        "analyst": _client(users["analyst"]),
        "lab": _client(users["lab_manager"]),
    }


def _upload(client, kind, content, capture, name="trace.csv", company=None):
    data = {"kind": kind, "file": SimpleUploadedFile(name, content)}
    if company is not None:
        data["company"] = str(company)
    with capture(execute=True):
        response = client.post("/api/recalls/uploads", data=data)
    return response.status_code, response.json()


def test_a_recall_runs_from_product_to_closure_through_the_api_alone(
    scene, django_capture_on_commit_callbacks
):
    owner, office, analyst = scene["owner"], scene["office"], scene["analyst"]
    capture = django_capture_on_commit_callbacks

    # the company records its product and two batches
    status, product = _send(
        owner,
        "post",
        "/recalls/products/",
        {
            "name_zh": "电热水壶",
            "name_en": "Kettle",
            "brand": "晨星",
            "model": "CX-9",
            "gtin": GTIN,
            "category": "269",
        },
    )
    assert status == 201, product
    assert product["company_id"] == scene["company"].pk and product["category"] == "269"
    for lot, first, last in (("L1", "SN000001", "SN000010"), ("L2", "SN000011", "SN000020")):
        status, batch = _send(
            owner,
            "post",
            f"/recalls/products/{product['id']}/batches",
            {
                "lot": lot,
                "produced_from": "2025-03-01",
                "produced_to": "2025-03-05",
                "quantity": 10,
                "serial_first": first,
                "serial_last": last,
            },
        )
        assert status == 201, batch
    assert list(Batch.objects.filter(product_id=product["id"]).values_list("lot", flat=True)) == ["L1", "L2"]

    # its supply-chain records: a background task each, followed through the upload's status
    for kind, content in (("units", _units(GTIN)), ("events", _events(GTIN))):
        status, upload = _upload(owner, kind, content, capture)
        assert status == 201, upload
        status, upload = _send(owner, "get", f"/recalls/uploads/{upload['id']}")
        assert status == 200 and upload["status"] == "done", upload
        assert upload["n_inserted"] > 0 and upload["progress_percent"] == 100 and upload["task_id"]

    # analysts rate the risk serious and complete the assessment
    status, assessment = _send(
        analyst,
        "post",
        "/risk/assessments",
        {
            "title_en": "Kettle lid opens",
            "product_category": "269",
            "hazard": "thermal",
            "conclusion_en": "Serious.",
        },
    )
    assert status == 201
    status, assessment = _send(
        analyst,
        "post",
        f"/risk/assessments/{assessment['id']}/scenarios",
        {
            "description_en": "The lid opens while pouring; boiling water scalds the arm",
            "severity": 4,
            "steps": [
                {"probability": "1/10", "description_en": "the latch is worn"},
                {"probability": "1/2", "description_en": "water reaches the arm"},
            ],
        },
    )
    assert status == 201 and assessment["risk_level"] == "serious"
    status, assessment = _send(
        analyst, "post", f"/risk/assessments/{assessment['id']}/transitions/complete", {}
    )
    assert status == 200 and assessment["status"] == "completed"

    # the company drafts the plan; only the office links the assessment
    plan = {k: v for k, v in PLAN.items() if k != "office_notes"}
    status, recall = _send(
        owner,
        "post",
        "/recalls/",
        {
            **plan,
            "product": product["id"],
            "batches": ["L1"],
            "serial_ranges": [["SN000001", "SN000010"]],
            "hazard": "thermal",
            "risk_level": "serious",
            "units_planned": 10,
        },
    )
    assert status == 201, recall
    assert (
        recall["status"] == "draft"
        and recall["batches"] == ["L1"]
        and recall["investigation"] == PLAN["investigation"]
    )
    status, body = _send(owner, "patch", f"/recalls/{recall['id']}", {"risk_assessment": assessment["id"]})
    assert status == 422 and "risk_assessment" in _fields(body)
    status, recall = _send(office, "patch", f"/recalls/{recall['id']}", {"risk_assessment": assessment["id"]})
    assert status == 200 and recall["risk_assessment"] == assessment["id"]

    # the workflow: submit, approve, publish, start
    for client, step in ((owner, "submit"), (office, "approve"), (office, "publish"), (owner, "start")):
        status, recall = _send(client, "post", f"/recalls/{recall['id']}/transitions/{step}", {})
        assert status == 200, (step, recall)
    assert recall["status"] == "in_progress" and recall["notice_number"]
    assert recall["units_affected"] == 10  # the scope query, stored when the plan moved on

    # the scope: L1's ten units with the two distributors
    status, scope = _send(owner, "get", f"/recalls/{recall['id']}/scope")
    assert status == 200 and scope["n_units"] == 10
    assert {p["party_id"] for p in scope["parties"]} >= {"D-BJ", "D-JS"}

    # progress to closure
    today = timezone.localdate()
    status, _ = _send(
        owner,
        "post",
        f"/recalls/{recall['id']}/progress",
        {"period_end": str(today - dt.timedelta(days=1)), "units_notified": 10, "units_remedied": 4},
    )
    assert status == 201
    status, _ = _send(
        owner,
        "post",
        f"/recalls/{recall['id']}/progress",
        {
            "period_end": str(today),
            "units_notified": 10,
            "units_remedied": 9,
            "is_final": True,
            "summary_en": "Nine of ten lids replaced.",
        },
    )
    assert status == 201
    status, recall = _send(
        office, "post", f"/recalls/{recall['id']}/transitions/close", {"reason": "final report"}
    )
    assert status == 200 and recall["status"] == "closed" and recall["closing_number"]
    assert recall["effectiveness"] == pytest.approx(0.9)
    public = Client().get(f"/api/recalls/public/{recall['id']}").json()
    assert public["status"] == "closed" and "investigation" not in public


def test_a_company_acts_only_for_its_own_products_and_gtins(scene, django_capture_on_commit_callbacks):
    owner, stranger = scene["owner"], scene["stranger"]
    status, product = _send(
        owner,
        "post",
        "/recalls/products/",
        {"name_zh": "电热水壶", "brand": "晨星", "model": "CX-9", "gtin": GTIN},
    )
    assert status == 201
    # another company: no product of ours, no batch on it, no plan for it, no upload of our GTIN
    status, body = _send(
        stranger,
        "post",
        "/recalls/products/",
        {"company": scene["company"].pk, "name_zh": "x", "brand": "b", "model": "m"},
    )
    assert status == 422 and "company" in _fields(body)
    status, _ = _send(
        stranger,
        "post",
        f"/recalls/products/{product['id']}/batches",
        {"lot": "X", "produced_from": "2025-01-01", "produced_to": "2025-01-02"},
    )
    assert status == 404
    status, body = _send(stranger, "post", "/recalls/", {"product": product["id"], "title_zh": "x"})
    assert status == 422 and "product" in _fields(body)
    status, upload = _upload(stranger, "units", _units(GTIN, 3), django_capture_on_commit_callbacks)
    assert status == 201
    upload = TraceUpload.objects.get(pk=upload["id"])
    assert upload.status == "rejected" and {p["column"] for p in upload.problems} == {"gtin"}
    assert not Recall.objects.exists()
    # roles that are not a company cannot write at all
    for client in (scene["lab"], scene["analyst"]):
        status, _ = _send(client, "post", "/recalls/products/", {"name_zh": "x", "brand": "b", "model": "m"})
        assert status == 403
        status, _ = _send(client, "post", "/recalls/", {"product": product["id"], "title_zh": "x"})
        assert status == 403
    assert scene["lab"].post("/api/recalls/uploads", data={"kind": "units"}).status_code in (403, 422)


def test_bad_products_batches_plans_and_files_are_422s_naming_the_field(scene):
    owner = scene["owner"]
    status, body = _send(
        owner,
        "post",
        "/recalls/products/",
        {
            "name_zh": "电热水壶",
            "brand": "晨星",
            "model": "CX-9",
            "gtin": GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10),
            "category": "nope",
        },
    )
    assert status == 422 and {"gtin", "category"} <= set(_fields(body))
    assert not Product.objects.exists()
    _, product = _send(
        owner, "post", "/recalls/products/", {"name_zh": "电热水壶", "brand": "晨星", "model": "CX-9"}
    )
    status, body = _send(
        owner,
        "post",
        f"/recalls/products/{product['id']}/batches",
        {
            "lot": "L1",
            "produced_from": "2025-03-05",
            "produced_to": "2025-03-01",
            "quantity": 50,
            "serial_first": "SN-A000100",
            "serial_last": "SN-B000120",
        },
    )
    assert status == 422 and {"produced_to", "serial_last"} <= set(_fields(body))
    status, body = _send(
        owner,
        "post",
        f"/recalls/products/{product['id']}/batches",
        {
            "lot": "L1",
            "produced_from": "2025-03-01",
            "produced_to": "2025-03-05",
            "quantity": 50,
            "serial_first": "SN000001",
            "serial_last": "SN000010",
        },
    )
    assert status == 422 and "quantity" in _fields(body)
    status, body = _send(
        owner,
        "post",
        "/recalls/",
        {
            "product": product["id"],
            "title_zh": "召回",
            "batches": ["NOPE"],
            "hazard": "nope",
            "serial_ranges": [["SN000100", "SN00099"], ["SN-A1", "SN-B5"], ["X"]],
            "start_date": "2026-05-01",
            "planned_end": "2026-04-01",
            "office_notes": "mine",
        },
    )
    assert status == 422
    errors = _fields(body)
    assert {"batches", "hazard", "serial_ranges", "office_notes"} <= set(errors)
    assert len(errors["serial_ranges"]) == 3 and errors["serial_ranges"][0].startswith("range 1")
    status, body = _send(
        owner,
        "post",
        "/recalls/",
        {
            "product": product["id"],
            "title_zh": "召回",
            "start_date": "2026-05-01",
            "planned_end": "2026-04-01",
        },
    )
    assert status == 422 and "planned_end" in _fields(body)
    assert not Recall.objects.exists()
    response = owner.post(
        "/api/recalls/uploads",
        data={"kind": "units", "file": SimpleUploadedFile("x.csv", b"\x89PNG\r\n\x1a\n....")},
    )
    assert response.status_code == 422 and "file" in {e["field"] for e in response.json()["errors"]}
    response = owner.post(
        "/api/recalls/uploads", data={"kind": "parts", "file": SimpleUploadedFile("x.csv", b"gtin,serial\n")}
    )
    assert response.status_code == 422 and "kind" in {e["field"] for e in response.json()["errors"]}
    assert not TraceUpload.objects.exists()


def test_the_company_edits_its_draft_only_and_the_office_until_closure(scene):
    owner, office = scene["owner"], scene["office"]
    _, product = _send(
        owner, "post", "/recalls/products/", {"name_zh": "电热水壶", "brand": "晨星", "model": "CX-9"}
    )
    _send(
        owner,
        "post",
        f"/recalls/products/{product['id']}/batches",
        {"lot": "L1", "produced_from": "2025-03-01", "produced_to": "2025-03-05"},
    )
    plan = {k: v for k, v in PLAN.items() if k != "office_notes"}
    _, recall = _send(owner, "post", "/recalls/", {**plan, "product": product["id"], "batches": ["L1"]})
    status, recall = _send(
        owner, "patch", f"/recalls/{recall['id']}", {"title_en": "Lid recall", "batches": []}
    )
    assert status == 200 and recall["title_en"] == "Lid recall" and recall["batches"] == []
    assert recall["defect_en"] == PLAN["defect_en"]  # fields not sent stay
    _send(owner, "patch", f"/recalls/{recall['id']}", {"serial_ranges": [["SN000017000", "SN000023999"]]})
    _send(owner, "post", f"/recalls/{recall['id']}/transitions/submit", {})
    status, _ = _send(owner, "patch", f"/recalls/{recall['id']}", {"title_en": "late change"})
    assert status == 403
    status, recall = _send(
        office, "patch", f"/recalls/{recall['id']}", {"office_notes": "checked", "report_every_days": 30}
    )
    assert status == 200 and recall["office_notes"] == "checked" and recall["report_every_days"] == 30
    status, body = _send(office, "patch", f"/recalls/{recall['id']}", {"product": product["id"] + 1})
    assert status == 422 and "product" in _fields(body)
    status, _ = _send(scene["stranger"], "patch", f"/recalls/{recall['id']}", {"title_en": "x"})
    assert status == 404
