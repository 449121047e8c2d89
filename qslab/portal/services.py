"""Public notices: drafting and editing (state changes go through the declared workflow)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from qslab.accounts.roles import Role, has_role
from qslab.core.context import acting_as
from qslab.core.services import apply_transition, watch
from qslab.portal.models import Notice

EDITABLE_FIELDS = ("title_zh", "title_en", "body_zh", "body_en")


@transaction.atomic
def draft_notice(user: Any, data: dict[str, Any]) -> Notice:
    if not has_role(user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office drafts notices."))
    with acting_as(user):
        notice = Notice.objects.create(author=user, **{f: data.get(f, "") for f in EDITABLE_FIELDS})
    watch(notice, user)
    return notice


@transaction.atomic
def edit_notice(user: Any, notice: Notice, data: dict[str, Any]) -> Notice:
    if not Notice.objects.editable_by(user).filter(pk=notice.pk).exists():
        raise PermissionDenied(_("Only a draft can be edited, by the committee office."))
    fields = [f for f in EDITABLE_FIELDS if f in data]
    for f in fields:
        setattr(notice, f, data[f])
    with acting_as(user):
        notice.save(update_fields=[*fields, "last_updated"])
    return notice


def move_notice(user: Any, notice: Notice, transition: str, reason: str = "") -> Notice:
    apply_transition(notice, transition, user, reason=reason)
    notice.refresh_from_db()
    return notice


def search_public(user: Any, query: str) -> dict[str, list[Any]]:
    """Search what the user may see: notices and official documents (title and body)."""
    from django.db.models import Q

    from qslab.core.models import OfficialDocument

    query = query.strip()
    if not query:
        return {"notices": [], "documents": []}
    text = (
        Q(title_zh__icontains=query)
        | Q(title_en__icontains=query)
        | Q(body_zh__icontains=query)
        | Q(body_en__icontains=query)
    )
    return {
        "notices": list(Notice.objects.visible_to(user).filter(text)[:50]),
        "documents": list(
            OfficialDocument.objects.visible_to(user).filter(text | Q(number__icontains=query))[:50]
        ),
    }
