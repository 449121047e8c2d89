"""The consumer-alert API: analysts draft and submit, the office returns or publishes, follow-ups are
added; the public operations never carry a confidential field, the staff ones only to risk staff."""

import json

import pytest
from django.test import Client

from qslab.accounts.models import ApiToken
from qslab.core.testing import close_quietly
from qslab.risk.models import ConsumerAlert
from qslab.risk.tests.conftest import SECRETS

pytestmark = pytest.mark.django_db


def _client(user):
    token = ApiToken.issue(user, "test")[1]
    return Client(headers={"Authorization": f"Bearer {token}"})


def _send(client, method, url, data=None):
    if method == "get":
        response = client.get(f"/api/risk{url}")
    else:
        response = getattr(client, method)(
            f"/api/risk{url}", data=json.dumps(data or {}), content_type="application/json"
        )
    return response.status_code, response.json() if response.content else None


def _payload():
    return {
        "title_zh": "晨星电热水壶壶盖弹开",
        "title_en": "Chenxing kettle lid opens",
        "product_category": "269",
        "product_name_zh": "电热水壶",
        "product_name_en": "Electric kettle",
        "brand": "晨星",
        "barcode": "4006381333931",
        "hazard": "thermal",
        "risk_level": "serious",
        "hazard_description_zh": "壶盖在沸腾时弹开。",
        "hazard_description_en": "The lid opens while boiling.",
        "measures_zh": "召回并更换壶盖。",
        "measures_en": "Recalled; lids replaced.",
        "advice_zh": "请停止使用。",
        "advice_en": "Stop using the kettle.",
        **SECRETS,
    }


@pytest.fixture
def api(users, terms):
    return {role: _client(users[role]) for role in ("analyst", "office", "client")}


def test_an_alert_goes_from_draft_through_rejection_to_publication_with_a_follow_up(api):
    status, draft = _send(api["analyst"], "post", "/alerts", _payload())
    assert status == 201, draft
    assert draft["status"] == "draft" and draft["internal_notes"] == SECRETS["internal_notes"]
    alert_id = draft["id"]

    assert _send(api["analyst"], "post", f"/alerts/{alert_id}/transitions/submit")[0] == 200
    # the analyst can neither edit a submitted alert nor publish it
    assert _send(api["analyst"], "patch", f"/alerts/{alert_id}", {"brand": "x"})[0] == 403
    assert _send(api["analyst"], "post", f"/alerts/{alert_id}/transitions/publish")[0] == 403
    # the office rejects it with a reason (the workflow's "return")
    assert _send(api["office"], "post", f"/alerts/{alert_id}/transitions/reject")[0] == 409
    status, body = _send(
        api["office"], "post", f"/alerts/{alert_id}/transitions/reject", {"reason": "Add the batch."}
    )
    assert (status, body["status"]) == (200, "draft")

    status, body = _send(api["analyst"], "patch", f"/alerts/{alert_id}", {"batch": "2025-11A"})
    assert (status, body["batch"], body["brand"]) == (200, "2025-11A", "晨星")
    _send(api["analyst"], "post", f"/alerts/{alert_id}/transitions/submit")
    status, body = _send(api["office"], "post", f"/alerts/{alert_id}/transitions/publish")
    assert (status, body["status"]) == (200, "published") and body["published_at"]

    status, update = _send(
        api["analyst"], "post", f"/alerts/{alert_id}/updates", {"text_en": "Batch 2025-12B too."}
    )
    assert status == 201 and update["is_public"]
    _send(
        api["analyst"],
        "post",
        f"/alerts/{alert_id}/updates",
        {"text_en": "INTERNAL-UPDATE", "is_public": False},
    )

    public = Client().get(f"/api/risk/alerts/{alert_id}").content.decode()
    listing = Client().get("/api/risk/alerts").content.decode()
    for text in (public, listing):
        assert "Batch 2025-12B too." in text and "INTERNAL-UPDATE" not in text
        for value in SECRETS.values():
            assert value.split()[0] not in text
    full = _send(api["office"], "get", f"/alerts/{alert_id}/full")[1]
    assert full["operator_name"] == SECRETS["operator_name"]
    assert [u["text_en"] for u in full["all_updates"]] == ["Batch 2025-12B too.", "INTERNAL-UPDATE"]


def test_a_company_user_gets_no_confidential_field_of_a_published_alert(api, users):
    _status, draft = _send(api["analyst"], "post", "/alerts", _payload())
    _send(api["analyst"], "post", f"/alerts/{draft['id']}/transitions/submit")
    _send(api["office"], "post", f"/alerts/{draft['id']}/transitions/approve")
    assert _send(api["client"], "get", f"/alerts/{draft['id']}/full")[0] == 403
    assert _send(api["client"], "get", "/staff/alerts")[0] == 403
    status, body = _send(api["client"], "get", f"/alerts/{draft['id']}")
    assert status == 200 and "operator_name" not in body and "internal_notes" not in body
    assert _send(api["client"], "post", f"/alerts/{draft['id']}/updates", {"text_en": "x"})[0] == 403


def test_a_draft_with_a_wrong_barcode_or_unknown_hazard_is_refused_with_every_problem(api):
    status, body = _send(
        api["analyst"], "post", "/alerts", {**_payload(), "barcode": "4006381333932", "hazard": "nope"}
    )
    assert status == 422
    text = json.dumps(body, ensure_ascii=False)
    assert "check digit does not match" in text and "nope" in text
    assert not ConsumerAlert.objects.exists()


def test_submitting_an_incomplete_draft_says_what_is_missing(api):
    _status, draft = _send(api["analyst"], "post", "/alerts", {"title_en": "Only English"})
    status, body = _send(api["analyst"], "post", f"/alerts/{draft['id']}/transitions/submit")
    assert status == 409 and "Chinese and English" in json.dumps(body)


def test_staff_list_filters_drafts_and_shows_confidential_fields(api):
    _send(api["analyst"], "post", "/alerts", _payload())
    status, body = _send(api["analyst"], "get", "/staff/alerts?status=draft")
    assert status == 200 and body["items"][0]["supply_chain"] == SECRETS["supply_chain"]


def _upload(client, alert_id, content, name="kettle.png", **captions):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        f"/api/risk/alerts/{alert_id}/photos",
        data={"image": SimpleUploadedFile(name, content), **captions},
    )
    return response.status_code, response.json() if response.content else None


def test_photos_are_added_and_removed_through_the_api_and_published_with_the_alert(api):
    from qslab.risk.tests.conftest import png_bytes

    _status, draft = _send(api["analyst"], "post", "/alerts", _payload())
    alert_id = draft["id"]
    status, photo = _upload(api["analyst"], alert_id, png_bytes(), caption_zh="壶盖", caption_en="The lid")
    assert status == 201, photo
    assert (photo["caption_zh"], photo["caption_en"], photo["position"]) == ("壶盖", "The lid", 1)
    status, second = _upload(api["analyst"], alert_id, png_bytes(fmt="JPEG"), name="side.jpg")
    assert status == 201
    full = _send(api["analyst"], "get", f"/alerts/{alert_id}/full")[1]
    assert [p["id"] for p in full["photo_items"]] == [photo["id"], second["id"]]
    assert full["photos"] == [photo["url"], second["url"]]

    assert _send(api["analyst"], "delete", f"/alerts/{alert_id}/photos/{second['id']}")[0] == 204
    assert _send(api["analyst"], "delete", f"/alerts/{alert_id}/photos/{second['id']}")[0] == 404
    # not public while a draft
    assert Client().get(photo["url"]).status_code == 404

    _send(api["analyst"], "post", f"/alerts/{alert_id}/transitions/submit")
    _send(api["office"], "post", f"/alerts/{alert_id}/transitions/publish")
    public = Client().get(f"/api/risk/alerts/{alert_id}").json()
    assert public["photos"] == [photo["url"]] and "photo_items" not in public
    served = Client().get(photo["url"])
    close_quietly(served)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    # a published alert's photos no longer change
    assert _upload(api["office"], alert_id, png_bytes())[0] == 403
    assert _send(api["office"], "delete", f"/alerts/{alert_id}/photos/{photo['id']}")[0] == 403


def test_a_file_that_is_not_an_image_is_refused_as_on_the_page(api):
    from qslab.risk.models import AlertPhoto

    _status, draft = _send(api["analyst"], "post", "/alerts", _payload())
    status, body = _upload(api["analyst"], draft["id"], b"%PDF-1.4 not a photo", name="kettle.png")
    assert status == 422 and "image" in json.dumps(body)
    status, body = _upload(api["analyst"], draft["id"], b"\x89PNG\r\n\x1a\n broken", name="kettle.png")
    assert status == 422
    missing = api["analyst"].post(f"/api/risk/alerts/{draft['id']}/photos", data={"caption_en": "x"})
    assert missing.status_code == 422
    assert not AlertPhoto.objects.filter(alert_id=draft["id"]).exists()
    # the company user may not add photos at all
    assert _upload(api["client"], draft["id"], b"\x89PNG")[0] in (403, 404)
