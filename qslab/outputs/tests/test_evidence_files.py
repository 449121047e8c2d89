"""Evidence files go out only through the permission-checked download views, as downloads, and come in
only when their content is an accepted document type within the size limit; import files are checked the
same way before a row is read."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from qslab.core.models import Attachment
from qslab.core.uploads import MB
from qslab.outputs import services
from qslab.outputs.models import Output, Standard


def _body(response) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(response.streaming_content)


def test_a_verified_outputs_evidence_is_downloaded_by_anyone_as_an_attachment(world, client):
    response = client.get(f"/outputs/items/{world.verified.pk}/evidence/{world.verified_evidence.pk}/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert 'filename="paper.pdf"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert _body(response).startswith(b"%PDF-1.4")


def test_a_claimed_outputs_evidence_is_hidden_from_the_public_and_other_labs(world, client, clients):
    url = f"/outputs/items/{world.claimed.pk}/evidence/{world.claimed_evidence.pk}/"
    assert client.get(url).status_code == 404
    assert clients["client"].get(url).status_code == 404
    response = clients["lab_manager"].get(url)
    assert response.status_code == 200 and _body(response).startswith(b"%PDF")


def test_a_private_file_cannot_be_fetched_through_a_public_records_address(world, client):
    """The attachment must belong to the record named in the address: no borrowing another's access."""
    url = f"/outputs/items/{world.verified.pk}/evidence/{world.claimed_evidence.pk}/"
    assert client.get(url).status_code == 404
    url = f"/outputs/standards/{world.published.pk}/evidence/{world.proposal_evidence.pk}/"
    assert client.get(url).status_code == 404


def test_record_pages_link_evidence_through_the_download_view_not_media(world, clients):
    page = clients["lab_manager"].get(f"/outputs/items/{world.claimed.pk}/").content.decode()
    assert f"/outputs/items/{world.claimed.pk}/evidence/{world.claimed_evidence.pk}/" in page
    assert "/media/" not in page
    page = clients["lab_manager"].get(f"/outputs/standards/{world.proposal.pk}/").content.decode()
    assert f"/outputs/standards/{world.proposal.pk}/evidence/{world.proposal_evidence.pk}/" in page
    assert "/media/" not in page


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("evil.pdf", b"<html><script>alert(1)</script></html>", "not an accepted type"),
        ("tool.pdf", b"MZ\x90\x00\x03\x00\x00\x00", "not an accepted type"),
        ("empty.pdf", b"", "empty"),
    ],
)
def test_evidence_that_is_not_a_document_is_refused_with_its_reason_and_nothing_is_stored(
    world, clients, name, content, message
):
    before = Attachment.objects.count()
    upload = SimpleUploadedFile(name, content, "application/pdf")
    response = clients["lab_manager"].post(
        f"/outputs/items/{world.claimed.pk}/evidence/", {"file": upload}, follow=True
    )
    assert message in response.content.decode()
    assert Attachment.objects.count() == before


def test_the_service_checks_evidence_too(world):
    """A caller that skips the form (a script, a future API) cannot store an HTML page as evidence."""
    upload = SimpleUploadedFile("page.pdf", b"<!doctype html><p>hi</p>", "application/pdf")
    with pytest.raises(ValidationError):
        services.add_evidence(world.users["lab_manager"], world.claimed, upload)
    assert not Attachment.objects.filter(name="page.pdf").exists()


def test_evidence_over_the_size_limit_is_refused(world, clients):
    big = SimpleUploadedFile("big.pdf", b"%PDF-1.4\n" + b"0" * (services.EVIDENCE_MAX_BYTES + 1))
    response = clients["lab_manager"].post(
        f"/outputs/items/{world.claimed.pk}/evidence/", {"file": big}, follow=True
    )
    assert "too large" in response.content.decode()
    assert not Attachment.objects.filter(name="big.pdf").exists()


@pytest.mark.parametrize("page", ["/outputs/import/", "/outputs/import/standards/"])
@pytest.mark.parametrize(
    "name, content, message",
    [
        ("outputs.csv", b"<html><body>laboratory,kind</body></html>", "not an accepted type"),
        ("outputs.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "not an accepted type"),
        ("outputs.csv", b"", "empty"),
    ],
)
def test_an_import_file_of_the_wrong_type_is_refused_before_parsing_and_changes_nothing(
    world, clients, page, name, content, message
):
    before = (Output.objects.count(), Standard.objects.count())
    response = clients["lab_manager"].post(page, {"file": SimpleUploadedFile(name, content, "text/csv")})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert "import-result" not in response.content.decode()
    assert (Output.objects.count(), Standard.objects.count()) == before


def test_an_import_file_over_the_limit_is_refused(world, clients):
    row = "own,trainee,培训,2026\n".encode()
    content = b"laboratory,kind,title_zh,year\n" + row * (services.IMPORT_MAX_BYTES // len(row) + 1)
    assert len(content) > 10 * MB
    before = Output.objects.count()
    response = clients["lab_manager"].post(
        "/outputs/import/", {"file": SimpleUploadedFile("big.csv", content, "text/csv")}
    )
    assert "too large" in response.content.decode()
    assert Output.objects.count() == before
