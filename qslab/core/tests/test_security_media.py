"""Stored files are never reachable by a guessed ``/media/`` address.

Uploaded evidence, inspection photos and official PDFs live under ``MEDIA_ROOT``. In production the
application serves nothing under ``MEDIA_URL`` (Django's static route exists only with ``DEBUG``), the
proxy must not expose the directory (docs/security.md), and no page may link a file by its media address:
every file goes out through a view that checks who asks (``qslab.core.uploads.download_response``).

The rendered-page half of the rule is in ``qslab.core.testing.check_access``: every page of every app's
access matrix, for every role, is checked for a ``MEDIA_URL`` link.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.db import models
from django.template import Context, Template
from django.urls import Resolver404, resolve

PACKAGE = Path(__file__).resolve().parents[2]

# Templates that still link a stored file by its media address, in apps this rule's owner may not edit.
# Each entry is a leak to fix in that app (a permission-checked download view, as outputs has), then drop.
KNOWN_OFFENDERS: set[str] = set()  # none: supervision's findings now use its checked download view


def file_field_names() -> set[str]:
    """The attribute names of every FileField (and ImageField) of every model."""
    return {
        field.name
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.FileField)
    }


def media_links(text: str, names: set[str]) -> list[str]:
    """The ``<file field>.url`` uses and ``MEDIA_URL`` references in a template's text."""
    alternatives = "|".join(sorted(re.escape(n) for n in names))
    pattern = re.compile(rf"\.(?:{alternatives})\.url\b|\bMEDIA_URL\b|[\"'(]/media/")
    return [m.group(0) for m in pattern.finditer(text)]


def _offending_templates() -> dict[str, list[str]]:
    names = file_field_names()
    found = {}
    for path in sorted(PACKAGE.rglob("templates/**/*.html")):
        hits = media_links(path.read_text(encoding="utf-8"), names)
        if hits:
            found[path.relative_to(PACKAGE.parent).as_posix()] = hits
    return found


def test_no_template_links_a_stored_file_by_its_media_address(db):
    found = _offending_templates()
    new = {name: hits for name, hits in found.items() if name not in KNOWN_OFFENDERS}
    assert not new, f"templates linking stored files by their /media/ address (serve them by a view): {new}"
    fixed = KNOWN_OFFENDERS - set(found)
    assert not fixed, f"fixed, drop from KNOWN_OFFENDERS: {sorted(fixed)}"


def test_no_view_code_hands_out_a_stored_files_media_address(db):
    names = file_field_names()
    pattern = re.compile(rf"\.(?:{'|'.join(sorted(names))})\.url\b")
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{n}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "tests" not in path.parts and "migrations" not in path.parts
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, f"code hands out a stored file's /media/ address: {found}"


@pytest.mark.parametrize(
    "text, flagged",
    [
        ('<a href="{{ a.file.url }}">', True),
        ('<a href="{{ doc.pdf_zh.url }}">', True),
        ('<img src="{{ MEDIA_URL }}photos/1.png">', True),
        ('<a href="/media/attachments/1/x.pdf">', True),
        ('<a href="{% url file_route item.pk a.pk %}">', False),
        ('<a href="{{ item.url }}">', False),  # a work-queue item's link, not a file
        ("@media (max-width: 40em) {}", False),
    ],
)
def test_the_scan_finds_media_links_and_passes_view_links(text, flagged, db):
    assert bool(media_links(text, file_field_names())) is flagged


def test_the_scan_knows_the_protected_file_fields(db):
    assert {"file", "pdf_zh", "pdf_en"} <= file_field_names()


@pytest.mark.parametrize(
    "path", ["/media/attachments/outputs/1/certificate.pdf", "/media/documents/2026/x.pdf", "/media/"]
)
def test_the_application_serves_nothing_under_media_without_debug(path, settings):
    assert settings.DEBUG is False
    with pytest.raises(Resolver404):
        resolve(path)


def test_a_rendered_media_link_would_be_caught_by_the_page_check(db):
    """The page check of the access matrix fails on a page that links a file by its media address."""
    from django.http import HttpResponse

    from qslab.core.testing import Case, assert_no_media_link

    page = Template('<a href="{{ MEDIA_URL }}attachments/1/x.pdf">x</a>').render(
        Context({"MEDIA_URL": "/media/"})
    )
    with pytest.raises(AssertionError, match="links a stored file"):
        assert_no_media_link(Case("x", ()), "anonymous", HttpResponse(page))
    assert_no_media_link(Case("x", ()), "anonymous", HttpResponse('<a href="/outputs/items/1/evidence/2/">'))
