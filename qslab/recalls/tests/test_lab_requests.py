"""Laboratory testing for a risk assessment or a recall's defect analysis: the office requests it, the
managers of that laboratory see the request and deliver the test report (a PDF, checked by content,
downloaded only through the checked view), the assessment shows it; other laboratories see nothing."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from qslab.core.models import Notification
from qslab.core.testing import make_user, verified_client
from qslab.labs.tests.conftest import make_lab
from qslab.recalls import services
from qslab.recalls.models import LabTestRequest

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"


@pytest.fixture
def scene(users, settings, tmp_path):
    from qslab.risk.models import RiskAssessment, RiskMatrix

    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    lab, other_lab = make_lab("lid-lab"), make_lab("other-lab")
    manager = make_user("lab_manager", scope=lab)
    stranger = make_user("lab_manager", scope=other_lab)
    assessment = RiskAssessment.objects.create(
        reference="RA2026-0777", title_en="Kettle lid", matrix=RiskMatrix.objects.get(code="eu-safety-gate")
    )
    return {
        "lab": lab,
        "manager": manager,
        "stranger": stranger,
        "office": users["office"],
        "analyst": users["analyst"],
        "assessment": assessment,
    }


def _request(scene):
    return services.request_lab_test(
        scene["office"],
        {
            "laboratory": scene["lab"],
            "assessment": scene["assessment"],
            "question": "Latch force to GB 4706.19",
        },
    )


def test_the_lab_manager_delivers_the_report_and_the_assessment_shows_it(scene):
    item = _request(scene)
    assert Notification.objects.filter(recipient=scene["manager"], object_id=str(item.pk)).exists()
    manager = verified_client(scene["manager"])
    assert "Latch force" in manager.get(reverse("recalls:lab_requests")).content.decode()
    page = manager.get(item.get_absolute_url())
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.content.decode()
    response = manager.post(
        item.get_absolute_url(),
        {
            "report": SimpleUploadedFile("latch.pdf", PDF, content_type="application/pdf"),
            "summary": "Latch fails at 12 N.",
        },
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == "reported" and item.report_name == "latch.pdf"
    assert Notification.objects.filter(recipient=scene["office"], object_id=str(item.pk)).exists()

    office = verified_client(scene["office"])
    assessment_page = office.get(reverse("risk:assessment", args=[scene["assessment"].pk])).content.decode()
    report_url = reverse("recalls:lab_request_report", args=[item.pk])
    assert report_url in assessment_page and "Latch fails at 12 N." in assessment_page
    download = office.get(report_url)
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert (
        download["Content-Disposition"].startswith("attachment")
        and download["X-Content-Type-Options"] == "nosniff"
    )
    assert b"".join(download.streaming_content) == PDF


def test_managers_of_other_laboratories_see_nothing(scene):
    item = _request(scene)
    stranger = verified_client(scene["stranger"])
    assert "Latch force" not in stranger.get(reverse("recalls:lab_requests")).content.decode()
    assert stranger.get(item.get_absolute_url()).status_code == 404
    assert stranger.get(reverse("recalls:lab_request_report", args=[item.pk])).status_code == 404
    assert (
        stranger.post(item.get_absolute_url(), {"report": SimpleUploadedFile("x.pdf", PDF)}).status_code
        == 404
    )
    with pytest.raises(PermissionDenied):
        services.deliver_lab_report(scene["stranger"], item, SimpleUploadedFile("x.pdf", PDF))
    assert LabTestRequest.objects.get(pk=item.pk).status == "requested"


def test_a_report_that_is_not_a_pdf_is_refused_and_nothing_is_delivered(scene):
    item = _request(scene)
    response = verified_client(scene["manager"]).post(
        item.get_absolute_url(),
        {
            "report": SimpleUploadedFile(
                "report.pdf", b"<html><script>alert(1)</script>", content_type="application/pdf"
            )
        },
    )
    assert response.status_code == 200 and "not an accepted type" in response.content.decode()
    with pytest.raises(ValidationError):
        services.deliver_lab_report(scene["manager"], item, SimpleUploadedFile("r.pdf", b"MZ\x90\x00"))
    item.refresh_from_db()
    assert item.status == "requested" and not item.report


def test_only_the_office_requests_testing_and_names_what_it_is_for(scene):
    with pytest.raises(PermissionDenied):
        services.request_lab_test(
            scene["analyst"], {"laboratory": scene["lab"], "assessment": scene["assessment"], "question": "x"}
        )
    with pytest.raises(ValidationError) as error:
        services.request_lab_test(scene["office"], {"laboratory": scene["lab"], "question": "x"})
    assert "assessment" in error.value.message_dict
    office = verified_client(scene["office"])
    response = office.post(
        reverse("recalls:lab_request_create"),
        {"laboratory": scene["lab"].pk, "assessment": scene["assessment"].pk, "question": "Latch force"},
    )
    assert response.status_code == 302 and LabTestRequest.objects.filter(question="Latch force").exists()
    assert verified_client(scene["manager"]).get(reverse("recalls:lab_request_create")).status_code == 403


def test_delivering_a_report_again_is_a_conflict_with_a_clear_message_and_keeps_the_first(scene):
    from qslab.core.workflow import TransitionRefused

    item = _request(scene)
    services.deliver_lab_report(scene["manager"], item, SimpleUploadedFile("first.pdf", PDF), "ok")
    manager = verified_client(scene["manager"])

    page = manager.post(
        item.get_absolute_url(), {"report": SimpleUploadedFile("second.pdf", PDF), "summary": "again"}
    )

    assert page.status_code == 409
    assert "already delivered (first.pdf)" in page.content.decode()
    item.refresh_from_db()
    assert (item.report_name, item.report_summary) == ("first.pdf", "ok")
    with pytest.raises(TransitionRefused) as refused:
        services.deliver_lab_report(scene["manager"], item, SimpleUploadedFile("third.pdf", PDF))
    assert refused.value.code == TransitionRefused.WRONG_STATE
    # Someone who could never deliver it is still simply refused.
    with pytest.raises(PermissionDenied):
        services.deliver_lab_report(scene["analyst"], item, SimpleUploadedFile("x.pdf", PDF))
    zh = manager.post(
        item.get_absolute_url(),
        {"report": SimpleUploadedFile("second.pdf", PDF)},
        headers={"Accept-Language": "zh-hans"},
    )
    assert zh.status_code == 409 and "已提交" in zh.content.decode()


def test_testing_is_not_requested_for_a_withdrawn_assessment_or_a_closed_recall(scene):
    from qslab.recalls.tests.conftest import make_company, make_product, make_recall

    closed = make_recall(make_product(make_company(name_en="Closed maker")), "closed")
    scene["assessment"].status = "withdrawn"
    scene["assessment"].save(update_fields=["status"])
    with pytest.raises(ValidationError) as exc:
        services.request_lab_test(
            scene["office"],
            {
                "laboratory": scene["lab"],
                "assessment": scene["assessment"],
                "recall": closed,
                "question": "Latch force",
            },
        )
    assert set(exc.value.message_dict) == {"assessment", "recall"}, "both at once"
    assert not LabTestRequest.objects.exists()


@pytest.mark.parametrize("status", ["suspended", "revoked", "withdrawn", "merged", "proposed"])
def test_testing_is_requested_only_from_a_laboratory_that_is_operating_or_being_built(scene, status):
    """A suspended, revoked, withdrawn, merged or merely proposed laboratory is neither offered on the
    page nor accepted by the service (so the API refuses it too)."""
    from qslab.accounts.models import ApiToken

    idle = make_lab(f"idle-{status}", status=status)
    building = make_lab(f"building-{status}", status="under_construction")
    with pytest.raises(ValidationError) as error:
        services.request_lab_test(
            scene["office"], {"laboratory": idle, "assessment": scene["assessment"], "question": "x"}
        )
    assert "operating" in str(error.value.message_dict["laboratory"])
    office = verified_client(scene["office"])
    page = office.get(reverse("recalls:lab_request_create")).content.decode()
    assert f'value="{idle.pk}"' not in page and f'value="{building.pk}"' in page
    response = office.post(
        reverse("recalls:lab_request_create"),
        {"laboratory": idle.pk, "assessment": scene["assessment"].pk, "question": "Latch force"},
    )
    assert response.status_code == 200 and "laboratory" in response.context["form"].errors
    token = ApiToken.issue(scene["office"], "t")[1]
    response = verified_client(None).post(
        "/api/recalls/lab-requests",
        {"laboratory": idle.pk, "assessment": scene["assessment"].pk, "question": "Latch force"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422, response.content
    assert not LabTestRequest.objects.exists()
    assert (
        services.request_lab_test(
            scene["office"], {"laboratory": building, "assessment": scene["assessment"], "question": "x"}
        ).laboratory
        == building
    )
