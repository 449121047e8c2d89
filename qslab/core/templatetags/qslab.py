"""Template tags shared by every app: the journal and watch panel of an object."""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib.contenttypes.models import ContentType

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
