"""Public notification (通报) of failing laboratories: the office issues it from a page or the API, it is a
numbered public document naming the laboratories, and everyone sees it on the public list and the API."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from qslab.core.testing import verified_client
from qslab.labs.tests.conftest import make_lab
from qslab.supervision import services
from qslab.supervision.models import PublicNotification

FORM = {
    "title_zh": "关于评估不合格实验室的通报",
    "title_en": "Notification of laboratories that failed the evaluation",
    "body_zh": "下列实验室评估不合格，责令整改。",
    "body_en": "The laboratories below failed the evaluation.",
}


def test_the_office_issues_a_notification_from_the_page_and_the_public_sees_it(users):
    lab = make_lab("nt1", status="named")
    other = make_lab("nt2", status="named")
    office = verified_client(users["office"])
    page = office.get(f"/supervision/notifications/new/?lab={lab.pk}").content.decode()
    assert f'value="{lab.pk}" checked' in page and f'value="{other.pk}" checked' not in page
    response = office.post("/supervision/notifications/new/", {**FORM, "labs": [lab.pk]})
    assert response.status_code == 302
    item = PublicNotification.objects.get()
    assert list(item.laboratories.all()) == [lab]
    assert item.document.is_public and item.document.number
    assert lab.name_zh in item.document.body_zh

    public = verified_client(None)
    listing = public.get("/supervision/notifications/").content.decode()
    assert FORM["title_zh"] in listing or FORM["title_en"] in listing
    assert item.document.number in listing and lab.name_en in listing
    assert item.document.number in public.get("/supervision/sanctions/").content.decode()
    api = public.get("/api/supervision/notifications").json()
    assert api[0]["document_number"] == item.document.number and api[0]["laboratory_ids"] == [lab.pk]


def test_a_notification_needs_laboratories_titles_and_text_and_the_office(users):
    lab = make_lab("nt3", status="named")
    with pytest.raises(ValidationError):
        services.notify_publicly(users["office"], [], **FORM)
    with pytest.raises(ValidationError):
        services.notify_publicly(users["office"], [lab], **{**FORM, "body_zh": "  "})
    with pytest.raises(PermissionDenied):
        services.notify_publicly(users["lab_manager"], [lab], **FORM)
    office = verified_client(users["office"])
    page = office.post("/supervision/notifications/new/", {**FORM, "labs": []})
    assert page.status_code == 200 and PublicNotification.objects.count() == 0


def test_the_office_issues_a_notification_through_the_api(users):
    from qslab.accounts.models import ApiToken

    lab = make_lab("nt4", status="under_rectification")
    _t, token = ApiToken.issue(users["office"], "t")
    r = verified_client(None).post(
        "/api/supervision/notifications",
        {**FORM, "laboratory_ids": [lab.pk]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.content
    assert r.json()["laboratory_ids"] == [lab.pk] and r.json()["document_number"]
    r = verified_client(None).post(
        "/api/supervision/notifications",
        {**FORM, "title_zh": "", "laboratory_ids": [lab.pk]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422
    assert PublicNotification.objects.count() == 1
