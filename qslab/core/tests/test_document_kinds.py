"""The office keeps the kinds of official documents on its own page (and through the API): names, number
prefix and pattern, and whether documents of the kind are public when issued; every change is audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType

from qslab.core.documents import issue_document
from qslab.core.models import ChangeRecord, DocumentKind
from qslab.core.testing import verified_client

pytestmark = pytest.mark.django_db


def form(kind: DocumentKind, **changes: Any) -> dict[str, Any]:
    values = {"name_zh": kind.name_zh, "name_en": kind.name_en}
    values |= {"prefix": kind.prefix, "pattern": kind.pattern}
    if kind.public_by_default:
        values["public_by_default"] = "on"
    return {**values, **changes}


@pytest.fixture
def office(users: dict[str, Any]) -> Any:
    return verified_client(users["office"])


def test_the_office_makes_a_kind_public_by_default_with_a_reason_and_new_documents_follow(office):
    kind = DocumentKind.objects.get(code="rectification")
    assert kind.public_by_default is False
    listing = office.get("/work/documents/kinds/").content.decode()
    assert f"/work/documents/kinds/{kind.pk}/edit/" in listing and kind.name_en in listing
    assert "/work/documents/kinds/" in office.get("/work/").content.decode()  # in the office's navigation

    r = office.post(
        f"/work/documents/kinds/{kind.pk}/edit/",
        form(kind, public_by_default="on", name_en="Order to rectify", reason="公开整改通知"),
    )

    assert r.status_code == 302
    kind.refresh_from_db()
    assert kind.public_by_default is True and kind.name_en == "Order to rectify"
    change = ChangeRecord.objects.get(
        content_type=ContentType.objects.get_for_model(DocumentKind), object_id=str(kind.pk)
    )
    assert change.reason == "公开整改通知" and change.user.username == "office_user"
    assert change.before["public_by_default"] is False
    assert change.after == {"name_en": "Order to rectify", "public_by_default": True}
    assert issue_document(kind_code="rectification", title_zh="整改", title_en="Rectify").is_public


def test_a_new_pattern_numbers_the_next_document_and_a_broken_one_is_refused(office):
    kind = DocumentKind.objects.get(code="rectification")
    r = office.post(f"/work/documents/kinds/{kind.pk}/edit/", form(kind, pattern="{prefix}-{year}-{seq:03d}"))
    assert r.status_code == 302
    doc = issue_document(kind_code="rectification", title_zh="整改", title_en="Rectify")
    assert doc.number.endswith("-001")

    for bad in ("{prefix}-{year}", "{prefix}-{seq}-{other}", "{prefix.__class__}{seq}", "{seq"):
        page = office.post(f"/work/documents/kinds/{kind.pk}/edit/", form(kind, pattern=bad))
        assert page.status_code == 200, bad
        assert any("pattern" in str(m) for m in page.context["messages"]), bad
    kind.refresh_from_db()
    assert kind.pattern == "{prefix}-{year}-{seq:03d}"


def test_an_empty_name_changes_nothing(office):
    kind = DocumentKind.objects.get(code="notice")
    url = f"/work/documents/kinds/{kind.pk}/edit/"
    page = office.post(url, form(kind, name_zh=" ", public_by_default=""))
    assert page.status_code == 200
    kind.refresh_from_db()
    assert kind.name_zh.strip()
    kinds = ContentType.objects.get_for_model(DocumentKind)
    assert not ChangeRecord.objects.filter(content_type=kinds).exists()


def test_only_the_office_sees_and_changes_document_kinds(users):
    kind = DocumentKind.objects.get(code="notice")
    committee = verified_client(users["committee"])
    assert committee.get("/work/documents/kinds/").status_code == 403
    r = committee.post(f"/work/documents/kinds/{kind.pk}/edit/", form(kind, name_en="Changed"))
    assert r.status_code == 403
    api = committee.patch(
        f"/api/platform/document-kinds/{kind.pk}", {"name_en": "Changed"}, content_type="application/json"
    )
    assert api.status_code == 403
    kind.refresh_from_db()
    assert kind.name_en != "Changed"


def test_the_api_lists_kinds_and_changes_only_the_fields_sent(office):
    kind = DocumentKind.objects.get(code="notice")
    listed = office.get("/api/platform/document-kinds").json()["items"]
    assert kind.code in [k["code"] for k in listed]

    r = office.patch(
        f"/api/platform/document-kinds/{kind.pk}",
        {"public_by_default": not kind.public_by_default, "reason": "review"},
        content_type="application/json",
    )

    assert r.status_code == 200 and r.json()["public_by_default"] is (not kind.public_by_default)
    assert r.json()["name_en"] == kind.name_en
    bad = office.patch(
        f"/api/platform/document-kinds/{kind.pk}", {"pattern": "{prefix}"}, content_type="application/json"
    )
    assert bad.status_code == 422
