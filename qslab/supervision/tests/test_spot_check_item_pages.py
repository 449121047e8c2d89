"""The office keeps the spot-check item list (legal basis, content, method) on pages and through the API:
it adds items, edits them with a reason kept in the change log, and takes items out of use."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType

from qslab.core.models import ChangeRecord
from qslab.core.testing import verified_client
from qslab.supervision.models import SpotCheckItem

ITEM = {
    "code": "records",
    "name_zh": "记录管理",
    "name_en": "Records",
    "legal_basis": "国家质量标准实验室管理办法 第二十条",
    "inspecting_body": "评审委员会办公室",
    "content": "检测记录的完整性",
    "method": "查阅记录",
}


@pytest.fixture
def office(users: dict[str, Any]) -> Any:
    return verified_client(users["office"])


def test_the_office_adds_an_item_from_the_page_linked_on_the_supervision_home(office):
    assert "/supervision/items/new/" in office.get("/supervision/").content.decode()
    assert office.post("/supervision/items/new/", ITEM).status_code == 302

    item = SpotCheckItem.objects.get(code="records")
    assert (item.legal_basis, item.method) == (ITEM["legal_basis"], ITEM["method"])
    page = verified_client(None).get("/supervision/items/").content.decode()
    assert ITEM["content"] in page and "/items/new/" not in page


def test_an_edit_is_audited_with_its_reason_and_an_item_out_of_use_leaves_the_public_list(office):
    item = SpotCheckItem.objects.create(**ITEM)
    page = office.get(f"/supervision/items/{item.pk}/edit/").content.decode()
    assert ITEM["legal_basis"] in page

    r = office.post(
        f"/supervision/items/{item.pk}/edit/", {**ITEM, "method": "现场查阅记录", "reason": "方法表述更正"}
    )

    assert r.status_code == 302
    item.refresh_from_db()
    assert item.method == "现场查阅记录" and item.active is False  # the box was not ticked
    change = ChangeRecord.objects.filter(
        content_type=ContentType.objects.get_for_model(SpotCheckItem), object_id=str(item.pk), action="update"
    ).get()
    assert change.reason == "方法表述更正" and change.after["method"] == "现场查阅记录"
    assert ITEM["content"] not in verified_client(None).get("/supervision/items/").content.decode()
    assert ITEM["content"] in office.get("/supervision/items/").content.decode()


def test_an_edit_with_a_taken_code_or_an_empty_field_changes_nothing(office):
    SpotCheckItem.objects.create(**{**ITEM, "code": "taken"})
    item = SpotCheckItem.objects.create(**ITEM)

    page = office.post(f"/supervision/items/{item.pk}/edit/", {**ITEM, "code": "taken", "content": " "})

    assert page.status_code == 200
    messages = " ".join(str(m) for m in page.context["messages"])
    assert "already used" in messages and "required" in messages
    item.refresh_from_db()
    assert item.code == "records" and item.content == ITEM["content"]


def test_only_the_office_edits_items(users):
    item = SpotCheckItem.objects.create(**ITEM)
    committee = verified_client(users["committee"])
    assert committee.get(f"/supervision/items/{item.pk}/edit/").status_code == 403
    assert committee.post(f"/supervision/items/{item.pk}/edit/", {**ITEM, "method": "x"}).status_code == 403
    item.refresh_from_db()
    assert item.method == ITEM["method"]


def test_the_api_changes_only_the_fields_sent_and_checks_them_like_the_page(office, users):
    item = SpotCheckItem.objects.create(**ITEM)
    url = f"/api/supervision/items/{item.pk}"

    r = office.patch(url, {"active": False, "reason": "停用"}, content_type="application/json")

    assert r.status_code == 200 and r.json()["active"] is False and r.json()["method"] == ITEM["method"]
    assert office.patch(url, {"name_en": " "}, content_type="application/json").status_code == 422
    manager = verified_client(users["lab_manager"])
    refused = manager.patch(url, {"method": "x"}, content_type="application/json")
    assert refused.status_code == 403
    item.refresh_from_db()
    assert (item.active, item.name_en, item.method) == (False, "Records", ITEM["method"])
