"""Roles and the question every permission asks: does this user hold this role (for this object)?

A role membership may be scoped: a competent authority to a region or an industry, a lab manager to one
laboratory (any model instance, so the labs app can attach scopes without this app knowing it).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OFFICE = "office", _("Committee office")
    COMMITTEE = "committee", _("Committee member")
    EXPERT = "expert", _("Expert")
    AUTHORITY = "authority", _("Competent authority")
    LAB_MANAGER = "lab_manager", _("Laboratory manager")
    ANALYST = "analyst", _("Risk analyst")
    CLIENT = "client", _("Industry client")
    INSTITUTION = "institution", _("Supporting institution")


# Roles that only mean something for one object: an unscoped membership of these covers nothing
# (a laboratory manager manages the laboratory named in the membership, never every laboratory; a
# supporting institution's staff see the laboratories of the organisation named in the membership).
OBJECT_SCOPED_ROLES = frozenset({Role.LAB_MANAGER, Role.INSTITUTION})


def _memberships(user: Any) -> list[Any]:
    """Active memberships, cached on the user object for the request."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    cached = getattr(user, "_qslab_memberships", None)
    if cached is None:
        cached = list(user.role_memberships.filter(active=True).select_related("scope_type"))
        user._qslab_memberships = cached
    return cached


def forget_cached_roles(user: Any) -> None:
    if hasattr(user, "_qslab_memberships"):
        del user._qslab_memberships


def roles_of(user: Any) -> set[str]:
    return {m.role for m in _memberships(user)}


def has_role(user: Any, role: str, scope: Any = None) -> bool:
    """True if ``user`` holds ``role``; with ``scope``, only a membership covering that object counts.

    An unscoped membership covers everything (e.g. the national office); a scoped one covers the
    object it names.
    """
    for membership in _memberships(user):
        if membership.role != role:
            continue
        if scope is None:
            return True
        if role in OBJECT_SCOPED_ROLES and not membership.scope_type_id:
            continue
        if membership.covers(scope):
            return True
    return False


def scoped_ids(user: Any, role: str, model: type[models.Model]) -> list[str] | None:
    """Ids of ``model`` objects the user's ``role`` memberships are scoped to; ``None`` means all."""
    ids: list[str] = []
    for membership in _memberships(user):
        if membership.role != role:
            continue
        if membership.scope_type_id is None:
            if role in OBJECT_SCOPED_ROLES:
                continue
            return None
        if membership.scope_type.model_class() is model:
            ids.append(membership.scope_id)
    return ids


def authority_regions(user: Any) -> list[str] | None:
    """GB/T 2260 region codes a competent authority covers; ``None`` means nationwide."""
    regions: list[str] = []
    for membership in _memberships(user):
        if membership.role != Role.AUTHORITY:
            continue
        if not membership.region_code or membership.region_code == "000000":
            if not membership.industry:
                return None
            continue
        regions.append(membership.region_code)
    return regions
