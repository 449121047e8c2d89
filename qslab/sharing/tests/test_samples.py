"""Service requests after acceptance: sample receipt (condition on arrival), the chain of custody, the
results and the numbered test report (PDF in Chinese and English), all visible to the client."""

import subprocess
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from qslab.core.models import Notification
from qslab.core.testing import make_user, verified_client
from qslab.core.workflow import TransitionRefused
from qslab.sharing import services
from qslab.sharing.models import CustodyEvent, Sample
from qslab.sharing.tests.conftest import make_resource, scope_to


@pytest.fixture
def lab(labs):
    return labs[0]


@pytest.fixture
def manager(lab):
    user = make_user("lab_manager")
    scope_to(user, lab)
    return user


@pytest.fixture
def customer(db):
    return make_user("client")


@pytest.fixture
def accepted(lab, manager, customer):
    resource = make_resource(lab, "hardness", name_zh="洛氏硬度计", name_en="Rockwell hardness tester")
    req = services.request_service(
        customer, lab, {"title": "Hardness of gears", "samples": 2, "resource": resource}
    )
    services.quote_request(manager, req, Decimal("600"))
    return services.move_request(customer, req, "accept")


def test_samples_are_received_with_their_condition_and_the_receipt_opens_the_chain_of_custody(
    accepted, manager, customer
):
    samples = services.receive_samples(
        manager,
        accepted,
        [
            {"description": "gear A", "quantity": "1 pc"},
            {"description": "gear B", "condition": "packaging_damaged", "condition_note": "box crushed"},
        ],
        location="sample store 1",
    )
    accepted.refresh_from_db()
    assert accepted.status == "received" and accepted.received_at is not None
    assert [s.code for s in samples] == [f"SR{accepted.pk}-01", f"SR{accepted.pk}-02"]
    assert samples[1].condition == "packaging_damaged"
    events = CustodyEvent.objects.filter(sample__request=accepted)
    assert [(e.action, e.by, e.location) for e in events] == [("received", manager, "sample store 1")] * 2
    note = Notification.objects.filter(recipient=customer).latest("pk")
    assert "samples received" in note.text_en or str(accepted) in note.text_en


def test_a_receipt_reports_every_bad_row_at_once_and_saves_nothing(accepted, manager):
    with pytest.raises(ValidationError) as exc:
        services.receive_samples(
            manager,
            accepted,
            [{"description": ""}, {"description": "gear B", "condition": "damaged"}],
        )
    assert len(exc.value.messages) == 2
    assert "Sample 1: describe the sample." in exc.value.messages
    assert "Sample 2: say what is wrong with it on arrival." in exc.value.messages
    accepted.refresh_from_db()
    assert accepted.status == "accepted" and not Sample.objects.exists()


def test_samples_cannot_be_received_before_the_quote_is_accepted_nor_by_another_lab(
    lab, labs, manager, customer
):
    req = services.request_service(customer, lab, {"title": "Early"})
    with pytest.raises(ValidationError, match="accepted the quote"):
        services.receive_samples(manager, req, [{"description": "x"}])
    stranger = make_user("lab_manager")
    scope_to(stranger, labs[1])
    with pytest.raises(PermissionDenied):
        services.receive_samples(stranger, req, [{"description": "x"}])


def test_the_chain_of_custody_records_each_hand_over_and_ends_when_the_sample_is_returned(accepted, manager):
    (sample,) = services.receive_samples(manager, accepted, [{"description": "gear A"}], "store 1")
    with pytest.raises(ValidationError, match="Name the person"):
        services.record_custody(manager, sample, "transferred")
    services.record_custody(manager, sample, "transferred", holder="analyst Wang", location="lab 203")
    services.record_custody(manager, sample, "tested", holder="analyst Wang")
    services.record_custody(manager, sample, "returned", holder="courier", note="SF 123")
    sample.refresh_from_db()
    assert sample.disposition == "returned" and sample.holder == "courier" and sample.location == "lab 203"
    assert list(sample.custody.values_list("action", flat=True)) == [
        "received",
        "transferred",
        "tested",
        "returned",
    ]
    with pytest.raises(ValidationError, match="left the laboratory's custody"):
        services.record_custody(manager, sample, "stored")


def test_the_report_needs_results_in_both_languages_and_is_issued_as_a_numbered_bilingual_pdf(
    accepted, manager, customer
):
    services.receive_samples(
        manager, accepted, [{"description": "gear A", "condition": "damaged", "condition_note": "chipped"}]
    )
    services.move_request(manager, accepted, "start")
    with pytest.raises(TransitionRefused, match="results in Chinese and English"):
        services.issue_report(manager, accepted)
    req = services.issue_report(manager, accepted, "硬度 HRC 58", "hardness HRC 58", "GB/T 230.1-2018")
    assert req.status == "delivered"
    doc = req.report
    assert doc.number.startswith("质标共享检") and doc.kind.code == "sharing_test_report"
    assert list(doc.recipients.values_list("user", flat=True)) == [customer.pk]
    en = subprocess.run(
        ["pdftotext", doc.pdf_en.path, "-"], capture_output=True, text=True, check=True
    ).stdout
    zh = subprocess.run(
        ["pdftotext", doc.pdf_zh.path, "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "hardness HRC 58" in en and "chipped" in en and "Chain of custody" in en
    assert "硬度 HRC 58" in zh and "洛氏硬度计" in zh


def test_the_client_follows_the_request_page_from_receipt_to_report(accepted, manager, customer):
    lab_client = verified_client(manager)
    response = lab_client.post(
        reverse("sharing:request_receive", args=[accepted.pk]),
        {
            "samples-TOTAL_FORMS": "2",
            "samples-INITIAL_FORMS": "0",
            "samples-0-description": "gear A",
            "samples-0-condition": "intact",
            "samples-1-description": "gear B",
            "samples-1-condition": "insufficient",
            "samples-1-condition_note": "only half the mass",
            "location": "store 1",
        },
    )
    assert response.status_code == 302
    services.move_request(manager, accepted, "start")
    response = lab_client.post(
        reverse("sharing:request_report", args=[accepted.pk]),
        {"results_zh": "合格", "results_en": "passes", "issue": "1"},
    )
    assert response.status_code == 302
    accepted.refresh_from_db()
    page = verified_client(customer).get(accepted.get_absolute_url()).content.decode()
    assert "only half the mass" in page and accepted.report.number in page and "report issued" in page
