"""The public report form, consent, barcode and photo checks, and the analyst's review."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from qslab.core.models import ChangeRecord
from qslab.core.testing import close_quietly, make_user, verified_client
from qslab.risk.models import IncidentReport
from qslab.risk.tests.conftest import make_report, png_bytes

pytestmark = pytest.mark.django_db


def _form(terms, **extra):
    data = {
        "product_category": terms["kettle"].pk,
        "brand": "晨星（测试）",
        "model": "CX-1",
        "incident_date": "2026-01-05",
        "hazard": terms["thermal"].pk,
        "description": "The lid opened while pouring.",
        "consent_publish": "on",
    }
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def test_a_member_of_the_public_files_a_report_and_the_consent_is_recorded(client, terms):
    response = client.post(reverse("risk:report_new"), _form(terms, barcode="4006381333931"))
    assert response.status_code == 302
    report = IncidentReport.objects.get()
    assert report.status == "submitted"
    assert report.consent_publish and report.consent_at is not None
    assert "anonymised summary" in report.consent_text
    assert report.barcode == "4006381333931"


def test_the_public_form_rejects_a_bad_barcode_with_a_clear_message(client, terms):
    response = client.post(reverse("risk:report_new"), _form(terms, barcode="4006381333932"))
    assert response.status_code == 200
    assert "check digit does not match" in response.content.decode()
    assert not IncidentReport.objects.exists()


def test_a_report_without_consent_is_not_accepted(client, terms):
    response = client.post(reverse("risk:report_new"), _form(terms, consent_publish=None))
    assert response.status_code == 200
    assert (
        "consent" in response.context["form"].errors["consent_publish"][0].lower()
        or response.context["form"].errors["consent_publish"]
    )
    assert not IncidentReport.objects.exists()


def test_an_injury_without_a_diagnosis_and_a_future_date_are_both_reported(client, terms):
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    response = client.post(reverse("risk:report_new"), _form(terms, injured="on", incident_date=future))
    errors = response.context["form"].errors
    assert "diagnosis" in errors and "incident_date" in errors


def test_a_photo_that_is_not_an_image_or_is_a_gif_is_refused(client, terms):
    text = SimpleUploadedFile("photo.png", b"not an image", content_type="image/png")
    response = client.post(reverse("risk:report_new"), _form(terms, photo=text))
    assert "photo" in response.context["form"].errors
    gif = SimpleUploadedFile("photo.gif", png_bytes(fmt="GIF"), content_type="image/gif")
    response = client.post(reverse("risk:report_new"), _form(terms, photo=gif))
    assert "not an accepted type (.jpg, .jpeg, .png, .webp)" in response.context["form"].errors["photo"][0]
    assert not IncidentReport.objects.exists()


def test_a_png_photo_is_kept_and_shown_only_to_the_reporter_and_analysts(terms, users):
    reporter = users["client"]
    photo = SimpleUploadedFile("photo.png", png_bytes(), content_type="image/png")
    response = verified_client(reporter).post(reverse("risk:report_new"), _form(terms, photo=photo))
    report = IncidentReport.objects.get()
    assert response.status_code == 302 and report.reporter == reporter and report.photo
    url = reverse("risk:report_photo", args=[report.pk])
    for user in (reporter, users["analyst"]):
        photo_response = verified_client(user).get(url)
        assert photo_response.status_code == 200
        assert b"".join(photo_response.streaming_content) == png_bytes()
        close_quietly(photo_response)
    assert verified_client(make_user("client")).get(url).status_code == 404


def test_a_reporter_sees_their_own_report_but_not_anothers(terms, users):
    mine = make_report(terms, users["client"])
    other = make_report(terms, make_user("client"))
    c = verified_client(users["client"])
    assert c.get(reverse("risk:report", args=[mine.pk])).status_code == 200
    assert c.get(reverse("risk:report", args=[other.pk])).status_code == 404


def test_an_analyst_reviews_and_publishes_with_a_summary_and_the_steps_are_audited(terms, users):
    report = make_report(terms, users["client"])
    analyst = verified_client(users["analyst"])
    analyst.post(reverse("risk:report_transition", args=[report.pk, "review"]))
    report.refresh_from_db()
    assert report.status == "under_review" and report.reviewer == users["analyst"]
    response = analyst.post(reverse("risk:report_transition", args=[report.pk, "publish"]), follow=True)
    assert "public summary" in response.content.decode()
    report.refresh_from_db()
    assert report.status == "under_review"
    analyst.post(
        reverse("risk:report_review", args=[report.pk]),
        {
            "product_category": terms["kettle"].pk,
            "public_summary_zh": "壶盖弹开致烫伤。",
            "public_summary_en": "",
        },
    )
    analyst.post(reverse("risk:report_transition", args=[report.pk, "publish"]))
    report.refresh_from_db()
    assert report.status == "published"
    moves = ChangeRecord.objects.filter(action="transition", object_id=str(report.pk)).order_by("time", "id")
    assert [(m.from_state, m.to_state, m.user_id) for m in moves] == [
        ("submitted", "under_review", users["analyst"].pk),
        ("under_review", "published", users["analyst"].pk),
    ]
    assert verified_client(None).get(reverse("risk:report", args=[report.pk])).status_code == 200


def test_a_reporter_cannot_publish_their_own_report(terms, users):
    report = make_report(terms, users["client"], status="under_review", public_summary_en="x")
    response = verified_client(users["client"]).post(
        reverse("risk:report_transition", args=[report.pk, "publish"])
    )
    assert response.status_code == 403
    report.refresh_from_db()
    assert report.status == "under_review"


def test_rejecting_needs_a_reason(terms, users):
    report = make_report(terms, users["client"])
    analyst = verified_client(users["analyst"])
    analyst.post(reverse("risk:report_transition", args=[report.pk, "reject"]), {"reason": ""})
    report.refresh_from_db()
    assert report.status == "submitted"
    analyst.post(reverse("risk:report_transition", args=[report.pk, "reject"]), {"reason": "not a product"})
    report.refresh_from_db()
    assert report.status == "rejected"


def test_the_api_rejects_a_bad_barcode_and_an_unknown_product_code_at_once(terms, client):
    response = client.post(
        "/api/risk/reports",
        {
            "product_category": "99999",
            "brand": "X",
            "incident_date": "2026-01-05",
            "description": "d",
            "barcode": "4006381333932",
            "consent_publish": True,
        },
        content_type="application/json",
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"barcode", "product_category"}
    assert not IncidentReport.objects.exists()


def test_a_pattern_search_in_chinese_finds_the_pattern_and_its_linked_cases(terms, users):
    from qslab.risk import services

    case = make_report(terms, users["client"], status="published", public_summary_zh="壶盖弹开")
    services.promote_to_pattern(
        users["analyst"],
        [case],
        {
            "title_zh": "电热水壶壶盖弹开",
            "title_en": "Kettle lid opens",
            "product_category": terms["kettle"],
            "hazard": terms["thermal"],
            "is_public": True,
        },
    )
    found = list(services.search_patterns(users["analyst"], "开水烫伤"))  # only in the case's narrative
    assert [p.title_en for p in found] == ["Kettle lid opens"]
    # the public matches the published case's summary, never its confidential narrative
    assert list(services.search_patterns(None, "壶盖弹开")) == found
    assert list(services.search_patterns(None, "开水烫伤")) == []
    page = verified_client(None).get(reverse("risk:pattern", args=[found[0].pk])).content.decode()
    assert case.reference in page
    assert list(services.search_patterns(None, "滑板车")) == []
