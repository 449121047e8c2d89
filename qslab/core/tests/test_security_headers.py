"""Security headers on every kind of response, and templates that a strict CSP can serve.

The pages are generated from the URLconf (every URL name that takes no argument, signed in as the
office) and the API from the OpenAPI schema (every list operation without a path parameter), so a new
page is checked without anyone listing it.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from django.urls import NoReverseMatch, reverse

from qslab.core.testing import api_operations, close_quietly, url_names

QSLAB_DIR = Path(__file__).resolve().parents[2]


def csp_directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def assert_safe_headers(response, where: str, *, docs: bool = False) -> None:
    csp = response.get("Content-Security-Policy", "")
    assert csp, f"{where}: no Content-Security-Policy"
    d = csp_directives(csp)
    if "sandbox" in d:  # a served file: nothing may run or load at all
        assert d.get("default-src") == ["'none'"], f"{where}: {csp}"
    else:
        assert d.get("script-src") == ["'self'"], f"{where}: script-src {d.get('script-src')}"
        assert d.get("object-src") == ["'none'"], f"{where}: {csp}"
        assert d.get("frame-ancestors") == ["'none'"], f"{where}: {csp}"
        assert d.get("base-uri") == ["'self'"], f"{where}: {csp}"
        if docs:
            assert d.get("style-src") == ["'self'", "'unsafe-inline'"], f"{where}: {csp}"
        else:
            assert d.get("style-src") == ["'self'"], f"{where}: style-src {d.get('style-src')}"
    assert "'unsafe-eval'" not in csp, f"{where}: {csp}"
    assert response.get("X-Content-Type-Options") == "nosniff", where
    assert response.get("X-Frame-Options") == "DENY", where
    assert response.get("Referrer-Policy") == "same-origin", where
    assert response.get("Cross-Origin-Opener-Policy") == "same-origin", where
    assert response.get("X-Request-ID"), where


def _argument_free_pages() -> list[str]:
    urls = []
    for name in sorted(url_names()):
        try:
            urls.append(reverse(name))
        except NoReverseMatch:
            continue
    return urls


def test_every_page_without_arguments_carries_the_strict_headers(clients):
    pages = _argument_free_pages()
    assert len(pages) > 20, pages  # the generator found the site
    office = clients["office"]
    for url in pages:
        response = office.get(url)
        try:
            assert_safe_headers(response, f"GET {url} -> {response.status_code}")
        finally:
            close_quietly(response)


def test_anonymous_pages_sign_in_and_errors_carry_the_strict_headers(client, db):
    for url in ("/", reverse("accounts:login"), "/no-such-page/", "/admin/login/"):
        response = client.get(url)
        assert_safe_headers(response, f"GET {url} -> {response.status_code}")


def test_htmx_fragments_carry_the_strict_headers(clients):
    response = clients["office"].get(reverse("core:dashboard"), headers={"HX-Request": "true"})
    assert_safe_headers(response, "htmx dashboard")


def test_every_api_list_carries_the_strict_headers(client, world):
    token = world.tokens["office"]
    seen = 0
    for path, method, _op in api_operations():
        if method != "get" or "{" in path:
            continue
        response = client.get("/api" + path, headers={"Authorization": f"Bearer {token}"})
        try:
            assert_safe_headers(response, f"GET /api{path} -> {response.status_code}")
        finally:
            close_quietly(response)
        seen += 1
    assert seen > 10


def test_only_the_api_docs_page_may_use_inline_styles_and_still_no_inline_script(client, db):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert_safe_headers(response, "/api/docs", docs=True)


def test_a_downloaded_pdf_is_an_attachment_that_cannot_be_sniffed(clients, world):
    response = clients["anonymous"].get(
        reverse("core:document_pdf", kwargs={"document_id": world.document.pk, "language": "en"})
    )
    try:
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment")
        assert response["Content-Type"] == "application/pdf"
        assert_safe_headers(response, "document pdf")
    finally:
        close_quietly(response)


# --- templates --------------------------------------------------------------------------------------

# What a strict CSP (no 'unsafe-inline') blocks in the browser. PDF templates are rendered by WeasyPrint,
# never served as pages, so they are exempt.
INLINE_PATTERNS = {
    "inline <script>": re.compile(
        r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", re.I
    ),
    "<style> element": re.compile(r"<style[\s>]", re.I),
    "style attribute": re.compile(r"\sstyle=[\"']", re.I),
    "event handler attribute": re.compile(r"\son[a-z]+=[\"']", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "hx-on (eval)": re.compile(r"\shx-on", re.I),
}

# Templates that break the strict policy today, with what the owning app must change. This list may only
# shrink: a new offender fails the test below, and so does a listed template once it is fixed (remove it).
# Empty since the heat map, week grid, booking filter and alert photos use classes in qslab/site.css and
# qslab/site.js, and charts are drawn with {% chart_img %} (qslab.core.templatetags.qslab).
KNOWN_OFFENDERS: dict[str, set[str]] = {}


def _page_templates() -> list[Path]:
    return sorted(
        p
        for p in QSLAB_DIR.glob("**/templates/**/*.html")
        if "/pdf/" not in p.as_posix() and ".venv" not in p.parts
    )


def _offences(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return {label for label, pattern in INLINE_PATTERNS.items() if pattern.search(text)}


# Matplotlib's SVG carries style attributes and a <style> block that the CSP blocks when the SVG is pasted
# into a page: charts are drawn with {% chart_img %} instead. Pasted with |safe only SVG that is made of
# attributes alone (checked by the owning app's tests).
INLINE_SVG = re.compile(r"\{\{\s*[\w.]*(?:svg|chart)[\w.]*\s*\|\s*safe", re.I)
ATTRIBUTE_ONLY_SVG = {
    "accounts/templates/accounts/two_factor_setup.html",  # segno's QR code: one <path> with attributes
    "supervision/templates/supervision/campaign.html",  # grade bars drawn by hand: <rect>/<text> attributes
}


def test_no_page_template_pastes_a_chart_svg_inline():
    pasted = {
        p.relative_to(QSLAB_DIR).as_posix()
        for p in _page_templates()
        if INLINE_SVG.search(p.read_text(encoding="utf-8"))
    }
    assert pasted == ATTRIBUTE_ONLY_SVG, f"use {{% chart_img %}}: {sorted(pasted - ATTRIBUTE_ONLY_SVG)}"


def test_no_page_template_needs_unsafe_inline():
    found = {}
    for path in _page_templates():
        offences = _offences(path)
        if offences:
            found[path.relative_to(QSLAB_DIR).as_posix()] = offences
    new = {k: v for k, v in found.items() if v - KNOWN_OFFENDERS.get(k, set())}
    fixed = sorted(k for k in KNOWN_OFFENDERS if k not in found)
    assert not new, f"templates with inline script/style that the CSP blocks: {new}"
    assert not fixed, f"fixed, remove from KNOWN_OFFENDERS: {fixed}"


@pytest.mark.parametrize(
    "snippet, expected",
    [
        ('<script src="/static/x.js"></script>', set()),
        ('<script type="application/json" id="s">{}</script>', set()),
        ("<script>alert(1)</script>", {"inline <script>"}),
        ('<div style="color:red">', {"style attribute"}),
        ('<button onclick="go()">', {"event handler attribute"}),
        ('<div hx-on:click="x()">', {"hx-on (eval)"}),
        ('<div class="styled" data-onclick="x">', set()),
    ],
)
def test_the_template_check_recognises_inline_code(tmp_path, snippet, expected):
    page = tmp_path / "page.html"
    page.write_text(snippet, encoding="utf-8")
    assert _offences(page) == expected


def test_a_chart_is_an_svg_image_with_its_title_as_alt_text_and_no_inline_style_in_the_page():
    from django.template import Context, Template

    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg"><style>*{stroke:red}</style><path style="fill:#f00"/></svg>'
    )
    html = Template("{% load qslab %}{% chart_img svg alt %}").render(Context({"svg": svg, "alt": "A & B"}))
    match = re.fullmatch(
        r'<img class="chart-img" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">', html
    )
    assert match, html
    assert base64.b64decode(match.group(1)).decode() == svg
    assert match.group(2) == "A &amp; B"
    assert not any(p.search(html) for p in INLINE_PATTERNS.values())
    assert Template("{% load qslab %}{% chart_img svg 'x' %}").render(Context({"svg": ""})) == ""
    from django.conf import settings

    assert "data:" in settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"], (
        "the CSP must let data: images in"
    )
