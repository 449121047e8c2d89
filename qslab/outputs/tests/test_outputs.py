"""Other outputs: what each kind needs, duplicates named, the office verifies (or rejects with a
reason), the lab claims again, evidence files are attached by the lab only."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from qslab.core.models import Attachment, ChangeRecord
from qslab.core.workflow import TransitionRefused
from qslab.outputs import services
from qslab.outputs.identifiers import patent_check_digit
from qslab.outputs.models import Output

APP = f"2026 1 0123456.{patent_check_digit('202610123456')}"
WRONG = "202610123456." + ("1" if APP.endswith(".0") else "0")


def test_a_duplicate_doi_is_refused_with_the_existing_record_named(world):
    with pytest.raises(ValidationError) as exc:
        services.record_output(
            world.users["lab_manager"],
            world.lab,
            {"kind": "paper", "title_zh": "另一篇", "year": 2026, "doi": "https://doi.org/10.1000/OWN.1"},
        )
    assert exc.value.message_dict == {
        "doi": [f"This DOI is already recorded: “论文” (own, record {world.verified.pk})."]
    }


def test_each_kind_asks_for_what_it_needs(world):
    office = world.users["office"]
    cases = {
        "paper": {"doi": ["Required for the kind “paper”."]},
        "patent": {"application_number": ["Required for the kind “patent”."]},
        "transfer": {
            "value": ["Required for the kind “technology transfer”."],
            "counterpart": ["Required for the kind “technology transfer”."],
        },
        "event": {"participants": ["Required for the kind “academic event hosted”."]},
        "policy_report": {"policy_question": ["Required for the kind “policy or research report”."]},
        "trainee": {"people": ["Required for the kind “trainee”."]},
    }
    for kind, expected in cases.items():
        with pytest.raises(ValidationError) as exc:
            services.record_output(office, world.lab, {"kind": kind, "title_zh": "x", "year": 2026})
        assert exc.value.message_dict == expected, kind


def test_bad_values_are_all_reported_at_once(world):
    with pytest.raises(ValidationError) as exc:
        services.record_output(
            world.users["office"],
            world.lab,
            {
                "kind": "equipment",
                "title_zh": "",
                "year": 1800,
                "date": "2026-13-01",
                "application_number": "1",
            },
        )
    assert exc.value.message_dict == {
        "title_zh": ["The Chinese title is required."],
        "year": [f"The year 1800 is outside 1949–{dt.date.today().year + 1}."],
        "date": ["Write the date as YYYY-MM-DD."],
        "application_number": ["Only a patent has this field."],
    }


def test_a_patent_number_is_checked_and_its_type_taken_from_it(world):
    office = world.users["office"]
    with pytest.raises(ValidationError) as exc:
        services.record_output(
            office, world.lab, {"kind": "patent", "title_zh": "x", "year": 2026, "application_number": WRONG}
        )
    assert exc.value.message_dict["application_number"][0].startswith("The check digit of 202610123456 is ")
    patent = services.record_output(
        office,
        world.lab,
        {
            "kind": "patent",
            "title_zh": "一种检测方法",
            "year": 2026,
            "application_number": APP,
            "grant_number": "CN 123456789 B",
            "granted_on": "2026-06-01",
        },
    )
    assert (patent.application_number, patent.patent_type, patent.grant_number) == (
        "CN" + APP.replace(" ", ""),
        "invention",
        "CN123456789B",
    )
    with pytest.raises(ValidationError) as exc:
        services.record_output(
            office,
            world.other_lab,
            {"kind": "patent", "title_zh": "y", "year": 2026, "application_number": APP},
        )
    assert exc.value.message_dict == {
        "application_number": [f"This patent is already recorded: “一种检测方法” (own, record {patent.pk})."]
    }


def test_a_grant_number_needs_its_date_and_a_fitting_kind_code(world):
    with pytest.raises(ValidationError) as exc:
        services.record_output(
            world.users["office"],
            world.lab,
            {
                "kind": "patent",
                "title_zh": "x",
                "year": 2026,
                "application_number": APP,
                "grant_number": "CN 223456789 U",
            },
        )
    assert exc.value.message_dict == {
        "grant_number": ['The kind code "U" does not fit a granted invention: expected B or C.'],
        "granted_on": ["A granted patent needs the date of grant."],
    }


def test_only_the_office_verifies_and_the_verification_is_audited(world, manager_of):
    for user in (world.users["lab_manager"], world.users["committee"], manager_of(world.other_lab)):
        with pytest.raises(TransitionRefused) as exc:
            services.move_output(user, world.claimed, "verify")
        assert exc.value.code == TransitionRefused.FORBIDDEN
    item = services.move_output(world.users["office"], world.claimed, "verify")
    assert (item.status, item.verified_by, item.verified_on) == (
        "verified",
        world.users["office"],
        dt.date.today(),
    )
    record = ChangeRecord.objects.get(object_id=str(item.pk), transition="verify")
    assert (record.from_state, record.to_state, record.user) == ("claimed", "verified", world.users["office"])


def test_a_rejection_needs_a_reason_and_the_lab_may_claim_again_after_editing(world):
    office, manager = world.users["office"], world.users["lab_manager"]
    with pytest.raises(TransitionRefused) as exc:
        services.move_output(office, world.claimed, "reject")
    assert exc.value.code == TransitionRefused.REASON_REQUIRED
    item = services.move_output(office, world.claimed, "reject", reason="no acceptance report attached")
    assert (item.status, item.rejection_reason) == ("rejected", "no acceptance report attached")
    services.edit_output(manager, item, {"description": "acceptance report attached"})
    item = services.move_output(manager, item, "resubmit")
    assert item.status == "claimed"


def test_a_verified_output_is_locked_for_the_lab_until_the_office_reopens_it(world):
    manager = world.users["lab_manager"]
    with pytest.raises(PermissionDenied):
        services.edit_output(manager, world.verified, {"title_en": "x"})
    item = services.move_output(world.users["office"], world.verified, "reopen", reason="wrong year")
    assert item.status == "claimed" and item.verified_by is None
    services.edit_output(manager, item, {"year": 2025})


def test_a_lab_manager_cannot_claim_an_output_for_another_lab(world):
    with pytest.raises(PermissionDenied):
        services.record_output(
            world.users["lab_manager"], world.other_lab, {"kind": "equipment", "title_zh": "x", "year": 2026}
        )
    assert not Output.objects.filter(laboratory=world.other_lab, title_zh="x").exists()


def test_evidence_is_attached_by_the_lab_with_its_hash_and_refused_to_others(world, clients):
    upload = SimpleUploadedFile("acceptance.pdf", b"%PDF-1.4 acceptance", "application/pdf")
    response = clients["lab_manager"].post(f"/outputs/items/{world.claimed.pk}/evidence/", {"file": upload})
    assert response.status_code == 302
    attachment = Attachment.objects.get(object_id=str(world.claimed.pk), name="acceptance.pdf")
    assert len(attachment.sha256) == 64 and attachment.uploaded_by == world.users["lab_manager"]
    with pytest.raises(PermissionDenied):
        services.add_evidence(world.users["lab_manager"], world.other_claimed, upload)
    page = clients["lab_manager"].get(f"/outputs/items/{world.claimed.pk}/")
    assert "acceptance.pdf" in page.content.decode()


def test_the_public_sees_verified_outputs_only(world):
    visible = set(Output.objects.visible_to(None))
    assert visible == {world.verified}


def test_the_api_refuses_a_duplicate_doi_with_422_and_the_field(world):
    from qslab.core.testing import verified_client

    response = verified_client(world.users["lab_manager"]).post(
        "/api/outputs/items",
        {
            "laboratory_id": world.lab.pk,
            "kind": "paper",
            "title_zh": "x",
            "year": 2026,
            "doi": "10.1000/own.1",
        },
        content_type="application/json",
        headers={"Authorization": f"Bearer {world.tokens['lab_manager']}"},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "doi",
            "messages": [f"This DOI is already recorded: “论文” (own, record {world.verified.pk})."],
        }
    ]


def test_the_office_finds_claims_to_verify_on_its_dashboard_and_the_verify_button_on_the_record(
    world, clients
):
    from qslab.core.dashboard import queue_for

    urls = {item.url for item in queue_for(world.users["office"])}
    assert world.claimed.get_absolute_url() in urls and world.verified.get_absolute_url() not in urls
    assert world.claimed.get_absolute_url() not in {
        item.url for item in queue_for(world.users["lab_manager"])
    }
    page = clients["office"].get(f"/outputs/items/{world.claimed.pk}/").content.decode()
    assert 'data-transition="verify"' in page and 'data-transition="reject"' in page
    manager_page = clients["lab_manager"].get(f"/outputs/items/{world.claimed.pk}/").content.decode()
    assert 'data-transition="verify"' not in manager_page
