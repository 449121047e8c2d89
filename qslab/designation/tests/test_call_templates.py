"""The office replaces and removes a call's templates on the call page: uploads are checked by content
(``qslab.core.uploads``), every change is in the change log, replaced or removed files leave storage, and
the public downloads are served as hardened attachments."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from qslab.core.models import ChangeRecord
from qslab.designation import services
from qslab.designation.models import CallTemplate
from qslab.designation.tests.factories import make_call

pytestmark = pytest.mark.django_db


def docx(text: str) -> bytes:
    """A minimal Word document (a zip with ``word/document.xml``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("word/document.xml", f"<w:document><w:t>{text}</w:t></w:document>")
    return buffer.getvalue()


def _published(users, code="tmpl-edit"):
    call = make_call(code)
    template = services.add_call_template(
        users["office"], call, SimpleUploadedFile("form.docx", docx("2026 版")), "申报书模板"
    )
    return call, template


def _changes(template, action):
    return ChangeRecord.objects.filter(
        content_type__model="calltemplate", object_id=str(template.pk), action=action
    )


def test_the_office_replaces_a_template_s_file_and_the_public_downloads_the_new_one(
    users, clients, client, django_capture_on_commit_callbacks
):
    call, template = _published(users)
    old_name, old_sha = template.file.name, template.sha256
    page = clients["office"].get(call.get_absolute_url()).content.decode()
    assert f"/designation/templates/{template.pk}/replace/" in page
    new = docx("2027 版")
    with django_capture_on_commit_callbacks(execute=True):
        response = clients["office"].post(
            f"/designation/templates/{template.pk}/replace/",
            {"name": "申报书模板（2027 修订）", "file": SimpleUploadedFile("form.docx", new)},
        )
    assert response.status_code == 302 and response.url == call.get_absolute_url()
    template.refresh_from_db()
    assert template.name == "申报书模板（2027 修订）" and template.sha256 != old_sha
    assert not default_storage.exists(old_name), "the replaced file leaves storage"
    download = client.get(f"/designation/templates/{template.pk}/")
    assert b"".join(download.streaming_content) == new
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    change = _changes(template, "update").get()
    assert change.user == users["office"] and change.reason == "template replaced"
    assert (change.before["sha256"], change.after["sha256"]) == (old_sha, template.sha256)


def test_a_replacement_that_is_not_a_pdf_or_office_document_is_refused_and_nothing_changes(users, clients):
    _call, template = _published(users, "tmpl-bad")
    before = (template.file.name, template.sha256)
    response = clients["office"].post(
        f"/designation/templates/{template.pk}/replace/",
        {"file": SimpleUploadedFile("form.pdf", b"MZ\x90\x00 an executable named .pdf")},
        follow=True,
    )
    assert "not an accepted type" in response.content.decode()
    template.refresh_from_db()
    assert (template.file.name, template.sha256) == before
    assert default_storage.exists(template.file.name)
    assert not _changes(template, "update").exists()


def test_the_office_removes_a_template_and_the_change_log_keeps_it(
    users, clients, django_capture_on_commit_callbacks
):
    _call, template = _published(users, "tmpl-rm")
    name = template.file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = clients["office"].post(f"/designation/templates/{template.pk}/remove/")
    assert response.status_code == 302
    assert not CallTemplate.objects.filter(pk=template.pk).exists()
    assert not default_storage.exists(name)
    removed = _changes(template, "delete").get()
    assert removed.user == users["office"] and removed.before["name"] == "申报书模板"
    assert clients["client"].get(f"/designation/templates/{template.pk}/").status_code == 404


def test_only_the_office_replaces_or_removes_templates(users, clients):
    _call, template = _published(users, "tmpl-role")
    for role in ("lab_manager", "expert", "committee"):
        assert clients[role].post(f"/designation/templates/{template.pk}/remove/").status_code == 403
    with pytest.raises(services.PermissionDenied):
        services.remove_call_template(users["lab_manager"], template)
    assert CallTemplate.objects.filter(pk=template.pk).exists()


# -- the same through the API (multipart uploads, checked by the same validator) ---------------------


def _api(user):
    from django.test import Client

    from qslab.accounts.models import ApiToken

    return Client(headers={"Authorization": f"Bearer {ApiToken.issue(user, 't')[1]}"})


def test_the_office_publishes_replaces_and_withdraws_a_template_through_the_api(
    users, client, django_capture_on_commit_callbacks
):
    call = make_call("tmpl-api")
    office = _api(users["office"])
    first = docx("2026 版")
    response = office.post(
        f"/api/designation/calls/{call.pk}/templates",
        {"file": SimpleUploadedFile("form.docx", first), "name": "申报书模板"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    template = CallTemplate.objects.get(pk=body["id"])
    assert (body["call_id"], body["name"], body["sha256"]) == (call.pk, "申报书模板", template.sha256)
    listed = client.get(f"/api/designation/calls/{call.pk}/templates").json()
    assert [t["id"] for t in listed] == [template.pk], "the public lists it"
    assert b"".join(client.get(listed[0]["url"]).streaming_content) == first
    assert _changes(template, "create").get().user == users["office"]

    old_name, second = template.file.name, docx("2027 版")
    with django_capture_on_commit_callbacks(execute=True):
        response = office.post(
            f"/api/designation/templates/{template.pk}/replace",
            {"file": SimpleUploadedFile("f.docx", second)},
        )
    assert response.status_code == 200, response.content
    template.refresh_from_db()
    assert response.json()["name"] == "申报书模板", "the name stays when none is given"
    assert not default_storage.exists(old_name)
    assert b"".join(client.get(f"/designation/templates/{template.pk}/").streaming_content) == second
    assert _changes(template, "update").get().reason == "template replaced"

    with django_capture_on_commit_callbacks(execute=True):
        assert office.delete(f"/api/designation/templates/{template.pk}").status_code == 204
    assert not CallTemplate.objects.filter(pk=template.pk).exists()
    assert not default_storage.exists(template.file.name)
    assert client.get(f"/api/designation/calls/{call.pk}/templates").json() == []


def test_the_api_refuses_a_file_that_is_not_a_pdf_or_office_document_with_its_name(users):
    call, template = _published(users, "tmpl-api-bad")
    office = _api(users["office"])
    exe = b"MZ\x90\x00 an executable named .pdf"
    response = office.post(
        f"/api/designation/calls/{call.pk}/templates", {"file": SimpleUploadedFile("form.pdf", exe)}
    )
    assert response.status_code == 422
    assert "form.pdf" in response.content.decode() and "not an accepted type" in response.content.decode()
    assert list(call.templates.all()) == [template], "nothing added"
    before = (template.file.name, template.sha256)
    response = office.post(
        f"/api/designation/templates/{template.pk}/replace", {"file": SimpleUploadedFile("form.pdf", exe)}
    )
    assert response.status_code == 422
    template.refresh_from_db()
    assert (template.file.name, template.sha256) == before
    missing = office.post(f"/api/designation/calls/{call.pk}/templates", {"name": "无文件"})
    assert missing.status_code == 422 and call.templates.count() == 1


def test_a_lab_manager_cannot_upload_or_withdraw_templates_through_the_api(users):
    call, template = _published(users, "tmpl-api-role")
    manager = _api(users["lab_manager"])
    response = manager.post(
        f"/api/designation/calls/{call.pk}/templates", {"file": SimpleUploadedFile("a.docx", docx("x"))}
    )
    assert response.status_code == 403
    assert "Only the committee office publishes" in response.json()["detail"]
    assert manager.delete(f"/api/designation/templates/{template.pk}").status_code == 403
    assert call.templates.count() == 1
