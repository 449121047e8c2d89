"""Uploaded files are accepted by content and size, never by name or stated type, and served as downloads."""

from __future__ import annotations

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from qslab.core.testing import close_quietly
from qslab.core.uploads import (
    IMAGES,
    MB,
    UploadValidator,
    check_upload,
    download_response,
    safe_filename,
)


def xlsx_bytes() -> bytes:
    from qslab.labs.xlsx import write_xlsx  # the spreadsheets the platform itself exports

    return write_xlsx(["名称", "数值"], [["样品", 1.5]])


@pytest.mark.parametrize(
    "name, content, kinds, kind",
    [
        ("report.pdf", b"%PDF-1.7\n%\xe2\xe3\n", ("pdf",), "pdf"),
        ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, IMAGES, "png"),
        ("photo.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 20, IMAGES, "jpeg"),
        ("values.csv", "样品,数值\n甲,1.5\n".encode(), ("text", "xlsx"), "text"),
        ("values.csv", "样品,数值\n甲,1.5\n".encode("gb18030"), ("text",), "text"),
    ],
)
def test_a_file_is_accepted_by_its_content(name, content, kinds, kind):
    assert check_upload(SimpleUploadedFile(name, content), kinds) == kind


def test_a_real_spreadsheet_is_recognised():
    assert check_upload(SimpleUploadedFile("t.xlsx", xlsx_bytes()), ("xlsx",)) == "xlsx"


@pytest.mark.parametrize(
    "name, content, stated",
    [
        ("plan.pdf", b"GIF89a not a pdf", "application/pdf"),  # wrong magic for the name
        ("photo.png", b"MZ\x90\x00\x03 windows executable", "image/png"),
        ("notes.csv", b"<html><script>alert(document.cookie)</script></html>", "text/csv"),
        ("chart.png", b'<?xml version="1.0"?><svg onload="alert(1)"/>', "image/png"),
        ("archive.pdf", b"PK\x03\x04 some zip that is not office", "application/pdf"),
        ("data.csv", b"a,b\n\x00\x01\x02", "text/csv"),
    ],
)
def test_a_file_whose_content_is_not_an_allowed_kind_is_refused_whatever_its_name(name, content, stated):
    with pytest.raises(ValidationError) as caught:
        check_upload(SimpleUploadedFile(name, content, stated), ("pdf", "png", "text"))
    assert caught.value.code == "wrong_type"


def test_a_file_over_the_limit_is_refused_before_its_content_is_read():
    big = SimpleUploadedFile("big.pdf", b"%PDF-1.4\n" + b"0" * (MB + 1))
    with pytest.raises(ValidationError) as caught:
        check_upload(big, ("pdf",), max_bytes=MB)
    assert caught.value.code == "too_large"


def test_an_empty_file_is_refused():
    with pytest.raises(ValidationError) as caught:
        check_upload(SimpleUploadedFile("e.pdf", b""), ("pdf",))
    assert caught.value.code == "empty"


def test_the_validator_works_on_a_form_field_and_leaves_the_file_readable():
    class EvidenceForm(forms.Form):
        file = forms.FileField(validators=[UploadValidator(("pdf",), max_bytes=MB)])

    good = SimpleUploadedFile("e.pdf", b"%PDF-1.4\n%evidence\n")
    form = EvidenceForm(files={"file": good})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["file"].read() == b"%PDF-1.4\n%evidence\n"
    bad = EvidenceForm(files={"file": SimpleUploadedFile("e.pdf", b"<html></html>")})
    assert not bad.is_valid() and "file" in bad.errors
    assert UploadValidator(("pdf",), MB) == UploadValidator(("pdf",), MB)  # deconstructible: migrations


def test_unknown_kinds_are_a_programming_error():
    with pytest.raises(ValueError, match="unknown upload kinds"):
        check_upload(SimpleUploadedFile("x", b"x"), ("exe",))


def test_a_served_file_is_a_download_that_cannot_run_as_a_page(db):
    name = default_storage.save("tests/uploads/page.html", ContentFile(b"<script>alert(1)</script>"))

    class Stored:
        def open(self, mode):
            return default_storage.open(name, mode)

    response = download_response(Stored(), '../../evil"page.html')
    body = b"".join(response.streaming_content)
    close_quietly(response)
    assert body == b"<script>alert(1)</script>"
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="evil_page.html"' in response["Content-Disposition"]
    assert response["Content-Type"] == "application/octet-stream"  # never served as HTML
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    default_storage.delete(name)


def test_download_names_lose_paths_and_header_breaking_characters():
    assert safe_filename("C:\\Users\\x\\report.pdf") == "report.pdf"
    assert safe_filename("a\r\nSet-Cookie: x.pdf") == "a__Set-Cookie: x.pdf"
    assert safe_filename("...") == "download"
