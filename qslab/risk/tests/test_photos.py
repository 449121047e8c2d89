"""Photos of incident reports and alerts: checked by content and size on upload (UploadValidator),
served only through permission-checked views as safe inline images (nosniff, sandbox), never as a
/media/ address of an unpublished report."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from qslab.core.testing import close_quietly, verified_client
from qslab.risk import services
from qslab.risk.forms import AlertPhotoForm
from qslab.risk.models import IncidentReport
from qslab.risk.tests.conftest import alert_data, make_report, png_bytes
from qslab.risk.tests.test_reports import _form

pytestmark = pytest.mark.django_db


def test_a_file_named_png_that_holds_html_is_refused_by_its_content(client, terms):
    html = SimpleUploadedFile(
        "photo.png", b"<html><script>alert(1)</script></html>", content_type="image/png"
    )
    response = client.post(reverse("risk:report_new"), _form(terms, photo=html))
    assert "photo" in response.context["form"].errors
    assert not IncidentReport.objects.exists()


def test_a_photo_over_five_megabytes_is_refused(client, terms):
    big = SimpleUploadedFile("big.png", png_bytes() + b"\0" * (5 * 1024 * 1024), content_type="image/png")
    response = client.post(reverse("risk:report_new"), _form(terms, photo=big))
    assert "too large" in response.context["form"].errors["photo"][0]


def test_the_service_refuses_a_non_image_even_without_the_form(terms):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        services.submit_report(
            None,
            {
                "product_category": terms["kettle"],
                "brand": "B",
                "incident_date": "2026-01-05",
                "description": "x",
                "consent_publish": True,
            },
            SimpleUploadedFile("a.jpg", b"%PDF-1.7 not a photo", content_type="image/jpeg"),
        )
    assert "photo" in exc.value.message_dict


def test_a_report_photo_is_served_inline_as_a_hardened_image_to_staff_only(terms, users, client):
    report = make_report(terms, users["client"])
    report.photo.save("p.png", ContentFile(png_bytes()), save=True)
    assert report.reference not in report.photo.name  # the stored folder cannot be guessed
    response = verified_client(users["analyst"]).get(reverse("risk:report_photo", args=[report.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["Content-Disposition"].startswith("inline")
    assert "no-store" in response["Cache-Control"]
    close_quietly(response)
    assert client.get(reverse("risk:report_photo", args=[report.pk])).status_code == 404
    page = verified_client(users["client"]).get(reverse("risk:report", args=[report.pk])).content.decode()
    assert "/media/" not in page and reverse("risk:report_photo", args=[report.pk]) in page


def test_a_stored_file_that_is_not_an_image_is_only_ever_an_attachment(terms, users):
    report = make_report(terms, users["client"])
    report.photo.save("p.png", ContentFile(b"<svg onload=alert(1)>"), save=True)  # planted, not uploaded
    response = verified_client(users["analyst"]).get(reverse("risk:report_photo", args=[report.pk]))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    close_quietly(response)


def test_alert_photos_go_through_the_same_check(users, terms):
    form = AlertPhotoForm(
        files={"image": SimpleUploadedFile("k.webp", b"GIF89a....", content_type="image/webp")}
    )
    assert not form.is_valid() and "image" in form.errors
    alert = services.save_alert(users["analyst"], alert_data({**terms, "thermal_hazard": terms["thermal"]}))
    photo = services.add_alert_photo(
        users["analyst"], alert, SimpleUploadedFile("k.png", png_bytes(), content_type="image/png")
    )
    url = reverse("risk:alert_photo", args=[alert.pk, photo.pk])
    response = verified_client(users["analyst"]).get(url)
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    close_quietly(response)
    assert verified_client(users["client"]).get(url).status_code == 404  # a draft's photo


def test_the_admin_links_the_photo_through_the_checked_view_not_media(terms, users, django_user_model):
    report = make_report(terms, users["client"])
    report.photo.save("p.png", ContentFile(png_bytes()), save=True)
    admin = django_user_model.objects.create_superuser(
        "root-photos", "root@example.org", "x-Very-long-pass-1"
    )
    page = verified_client(admin).get(reverse("admin:risk_incidentreport_change", args=[report.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "/media/" not in html and reverse("risk:report_photo", args=[report.pk]) in html
