"""Render an HTML template to PDF with WeasyPrint, in the language asked, with CJK fonts.

Fonts: Debian's ``fonts-noto-cjk``. Without a CJK font WeasyPrint draws boxes and says nothing, so
the tests check ``pdffonts`` for a CJK face and ``pdftotext`` for the Chinese text.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils import translation


def render_pdf(template_name: str, context: dict[str, Any], language: str) -> bytes:
    from weasyprint import HTML

    with translation.override(language):
        html = render_to_string(template_name, {**context, "LANGUAGE_CODE": language})
    return HTML(string=html, base_url=None).write_pdf(
        pdf_identifier=context.get("pdf_identifier"),
        custom_metadata=False,
    )
