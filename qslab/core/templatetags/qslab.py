"""Template tags shared by every app: the journal and watch panel of an object, charts as images."""

from __future__ import annotations

import base64
from typing import Any

from django import template
from django.contrib.contenttypes.models import ContentType
from django.utils.html import format_html

from qslab.core import services

register = template.Library()


@register.inclusion_tag("core/_object_panel.html", takes_context=True)
def object_panel(context: dict[str, Any], obj: Any) -> dict[str, Any]:
    """Journal entries, a note form for those who may write, and a follow/unfollow button."""
    request = context["request"]
    user = request.user
    ct = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    signed_in = user.is_authenticated
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "obj": obj,
        "content_type_id": ct.pk,
        "journal": list(services.journal_of(obj)) if signed_in else [],
        "may_write": signed_in and services.may_write_journal(user, obj),
        "watching": signed_in and services.is_watching(obj, user),
        "signed_in": signed_in,
    }


@register.simple_tag
def chart_img(svg: str | bytes | None, alt_text: str = "", css_class: str = "chart-img") -> str:
    """An SVG chart as ``<img src="data:image/svg+xml;base64,...">``.

    Matplotlib's SVG carries ``style`` attributes and a ``<style>`` block, which the strict
    Content-Security-Policy (no 'unsafe-inline') blocks when the SVG is pasted into a page; an image's
    own styles are not subject to the page's style-src, and ``img-src`` allows ``data:``. ``alt_text``
    (the chart's title) keeps it accessible. Renders nothing for an empty chart.
    """
    if not svg:
        return ""
    data = svg.encode("utf-8") if isinstance(svg, str) else bytes(svg)
    encoded = base64.b64encode(data).decode("ascii")
    return format_html(
        '<img class="{}" src="data:image/svg+xml;base64,{}" alt="{}">', css_class, encoded, alt_text
    )
