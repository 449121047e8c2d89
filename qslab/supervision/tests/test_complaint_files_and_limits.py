"""Files sent with a complaint reach the office and the complainant only, and the public forms
(complaints, objections to public notices) refuse a flood from one client with 429, saving nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from qslab.core.models import Attachment
from qslab.core.testing import verified_client
from qslab.labs.tests.conftest import make_lab
from qslab.supervision.models import Complaint

from .conftest import PNG

FORM = {
    "name": "王敏",
    "contact": "13900000000",
    "subject": "报告数据不实",
    "description": "检测报告与样品不符。",
}


@pytest.fixture
def lab(db: Any) -> Any:
    return make_lab("cf1", status="named", region="320000")


def test_the_public_sends_files_with_a_complaint_and_only_the_office_and_complainant_open_them(lab, users):
    client_user = verified_client(users["client"])
    r = client_user.post(
        "/supervision/complaints/new/",
        {**FORM, "laboratory": lab.pk, "files": [SimpleUploadedFile("receipt.png", PNG)]},
    )
    assert r.status_code == 302
    complaint = Complaint.objects.get()
    (file,) = Attachment.objects.filter(object_id=str(complaint.pk), content_type__model="complaint")
    url = f"/supervision/complaints/{complaint.pk}/files/{file.pk}/"

    office = verified_client(users["office"])
    page = office.get(complaint.get_absolute_url()).content.decode()
    assert url in page and "receipt.png" in page
    download = office.get(url)
    assert download.status_code == 200 and b"".join(download.streaming_content) == PNG
    assert download["Content-Disposition"].startswith("attachment")
    own = client_user.get(url)
    assert own.status_code == 200 and b"".join(own.streaming_content) == PNG
    committee = verified_client(users["committee"])
    assert url not in committee.get(complaint.get_absolute_url()).content.decode()
    assert committee.get(url).status_code == 403
    assert verified_client(users["lab_manager"]).get(url).status_code == 404
    assert verified_client(None).get(url).status_code == 302  # to sign-in
    api = committee.get("/api/supervision/complaints").json()["items"]
    assert api[0]["files"] == []
    mine = client_user.get("/api/supervision/complaints").json()["items"]
    assert [f["url"] for f in mine[0]["files"]] == [url]


def test_a_complaint_with_a_file_of_a_wrong_type_is_not_saved(lab):
    public = verified_client(None)
    page = public.post(
        "/supervision/complaints/new/",
        {**FORM, "laboratory": lab.pk, "files": [SimpleUploadedFile("page.html", b"<html><script>")]},
    )
    assert page.status_code == 200
    assert not Complaint.objects.exists() and not Attachment.objects.exists()
    assert any("page.html" in str(m) for m in page.context["messages"])


def test_the_complaint_form_refuses_the_submission_past_the_limit_and_saves_nothing(lab, settings):
    settings.QSLAB_PUBLIC_FORM_LIMIT = 2
    public = verified_client(None)
    for _ in range(2):
        page = public.post("/supervision/complaints/new/", {**FORM, "laboratory": lab.pk})
        assert "supervision/complaint_filed.html" in [t.name for t in page.templates]

    refused = public.post("/supervision/complaints/new/", {**FORM, "laboratory": lab.pk})

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many submissions" in refused.content.decode()
    assert Complaint.objects.count() == 2
    chinese = public.post(
        "/supervision/complaints/new/", {**FORM, "laboratory": lab.pk}, headers={"Accept-Language": "zh-hans"}
    )
    assert chinese.status_code == 429 and "提交次数过多" in chinese.content.decode()
    # Another client (another address) is counted apart.
    other = verified_client(None).post(
        "/supervision/complaints/new/", {**FORM, "laboratory": lab.pk}, REMOTE_ADDR="198.51.100.7"
    )
    assert other.status_code == 200 and Complaint.objects.count() == 3


def test_the_complaint_api_answers_429_past_the_limit_and_saves_nothing(lab, settings):
    settings.QSLAB_PUBLIC_FORM_LIMIT = 1
    api = verified_client(None)
    data = {"laboratory_id": lab.pk, **FORM}
    assert api.post("/api/supervision/complaints", data, content_type="application/json").status_code == 201

    refused = api.post("/api/supervision/complaints", data, content_type="application/json")

    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert "Nothing was saved" in refused.json()["detail"] and refused["Retry-After"]
    assert Complaint.objects.count() == 1


def test_the_office_recording_complaints_is_not_limited(lab, users, settings):
    settings.QSLAB_PUBLIC_FORM_LIMIT = 1
    office = verified_client(users["office"])
    for _ in range(3):
        assert office.post("/supervision/complaints/new/", {**FORM, "laboratory": lab.pk}).status_code == 302
    assert Complaint.objects.count() == 3


def test_a_signed_in_client_is_counted_by_account_not_by_address(lab, users, settings):
    settings.QSLAB_PUBLIC_FORM_LIMIT = 1
    first, second = verified_client(users["client"]), verified_client(users["institution"])
    assert first.post("/supervision/complaints/new/", {**FORM, "laboratory": lab.pk}).status_code == 302
    assert second.post("/supervision/complaints/new/", {**FORM, "laboratory": lab.pk}).status_code == 302
    assert first.post("/supervision/complaints/new/", {**FORM, "laboratory": lab.pk}).status_code == 429
    assert Complaint.objects.count() == 2


def test_objections_to_a_public_notice_are_limited_too(users, settings):
    from qslab.core.testing import make_organisation
    from qslab.designation import services as designation
    from qslab.designation.models import Application, Objection
    from qslab.designation.tests.factories import make_application, make_call

    settings.QSLAB_PUBLIC_FORM_LIMIT = 1
    app = make_application(make_call("limit"), make_organisation(region_code="320000"), status="approved")
    designation.move_application(users["office"], app, "publish_notice")
    notice = Application.objects.get(pk=app.pk).public_notice
    client = verified_client(users["client"])
    url = f"/designation/notices/{notice.pk}/"
    assert client.post(url, {"contact": "王五 138", "text": "材料不实"}).status_code == 302

    refused = client.post(url, {"contact": "王五 138", "text": "再议"})
    assert refused.status_code == 429
    api = client.post(
        f"/api/designation/notices/{notice.pk}/objections",
        {"contact": "王五 138", "text": "再议"},
        content_type="application/json",
    )
    assert api.status_code == 429
    assert Objection.objects.count() == 1


# -- the API takes the same files as the web form, multipart --------------------------------------


def _notifications() -> int:
    from qslab.core.models import Notification

    return Notification.objects.count()


def test_the_complaint_api_takes_files_in_a_multipart_request_seen_by_the_office_and_the_complainant(
    lab, users
):
    complainant = verified_client(users["client"])
    r = complainant.post(
        "/api/supervision/complaints",
        {**FORM, "laboratory_id": lab.pk, "files": [SimpleUploadedFile("receipt.png", PNG)]},
    )
    assert r.status_code == 201, r.content
    complaint = Complaint.objects.get()
    (file,) = Attachment.objects.filter(object_id=str(complaint.pk), content_type__model="complaint")
    url = f"/supervision/complaints/{complaint.pk}/files/{file.pk}/"
    assert [f["url"] for f in r.json()["files"]] == [url]
    assert complaint.channel == "online" and complaint.filed_by == users["client"]

    own = complainant.get(url)
    assert own.status_code == 200 and b"".join(own.streaming_content) == PNG
    office = verified_client(users["office"])
    assert [f["name"] for f in office.get("/api/supervision/complaints").json()["items"][0]["files"]] == [
        "receipt.png"
    ]
    committee = verified_client(users["committee"])
    assert committee.get("/api/supervision/complaints").json()["items"][0]["files"] == []
    assert committee.get(url).status_code == 403
    assert verified_client(users["lab_manager"]).get(url).status_code == 404


def test_a_complaint_sent_to_the_api_with_one_bad_file_saves_nothing(lab, users):
    api = verified_client(users["client"])
    before = _notifications()
    r = api.post(
        "/api/supervision/complaints",
        {
            **FORM,
            "laboratory_id": lab.pk,
            "files": [
                SimpleUploadedFile("receipt.png", PNG),
                SimpleUploadedFile("page.html", b"<html><script>alert(1)</script>"),
            ],
        },
    )
    assert r.status_code == 422
    assert any("page.html" in m for e in r.json()["errors"] for m in e["messages"])
    assert not Complaint.objects.exists() and not Attachment.objects.exists()
    assert _notifications() == before


def test_the_complaint_api_refuses_more_files_than_the_form_allows(lab, users):
    from qslab.supervision.services import COMPLAINT_MAX_FILES

    files = [SimpleUploadedFile(f"p{i}.png", PNG) for i in range(COMPLAINT_MAX_FILES + 1)]
    r = verified_client(users["client"]).post(
        "/api/supervision/complaints", {**FORM, "laboratory_id": lab.pk, "files": files}
    )
    assert r.status_code == 422
    assert not Complaint.objects.exists() and not Attachment.objects.exists()


def test_a_multipart_complaint_counts_against_the_same_limit_as_a_json_one(lab, settings):
    settings.QSLAB_PUBLIC_FORM_LIMIT = 1
    api = verified_client(None)
    sent = api.post(
        "/api/supervision/complaints",
        {**FORM, "laboratory_id": lab.pk, "files": [SimpleUploadedFile("receipt.png", PNG)]},
    )
    assert sent.status_code == 201
    assert sent.json()["files"] == [], "an anonymous complainant is not shown the files back"

    refused = api.post(
        "/api/supervision/complaints",
        {**FORM, "laboratory_id": lab.pk, "files": [SimpleUploadedFile("again.png", PNG)]},
    )
    assert refused.status_code == 429
    assert Complaint.objects.count() == 1 and Attachment.objects.count() == 1


def test_a_complaint_missing_a_field_is_a_422_in_json_and_in_multipart(lab):
    api = verified_client(None)
    data = {k: v for k, v in FORM.items() if k != "subject"}
    as_json = api.post(
        "/api/supervision/complaints", {**data, "laboratory_id": lab.pk}, content_type="application/json"
    )
    as_form = api.post("/api/supervision/complaints", {**data, "laboratory_id": lab.pk})
    assert as_json.status_code == as_form.status_code == 422
    assert ["body", "payload", "subject"] in [e["loc"] for e in as_json.json()["errors"]]
    assert api.post("/api/supervision/complaints", "{", content_type="application/json").status_code == 422
    assert not Complaint.objects.exists()


@pytest.mark.parametrize("role", [None, "client", "institution", "lab_manager", "expert", "office"])
def test_anyone_may_send_files_with_a_complaint_through_the_api(lab, users, role):
    api = verified_client(users[role] if role else None)
    r = api.post(
        "/api/supervision/complaints",
        {**FORM, "laboratory_id": lab.pk, "files": [SimpleUploadedFile("receipt.png", PNG)]},
    )
    assert r.status_code == 201, r.content
    files = Attachment.objects.filter(object_id=str(r.json()["id"]), content_type__model="complaint")
    assert files.count() == 1
