"""The one path to protected data.

Every protected model declares who may see and who may change its rows as ``Q`` filters
(``visible_q(user)``, ``editable_q(user)``); its queryset exposes them as ``visible_to(user)`` and
``editable_by(user)``. Views and API endpoints fetch rows only through these, and use
:func:`get_visible_or_404` / :func:`get_editable_or_403`, so a permission is written once, next to the
data it protects. A model that declares nothing is visible to nobody but superusers.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from django.utils.translation import gettext as _

# "Every row" and "no row" as filters. Never use an empty ``Q()`` for "every row": ``Q() | X`` is just
# ``X``, so an "everyone sees all" rule would silently narrow the moment someone ORs it with another.
ALL = models.Q(pk__isnull=False)
NONE = models.Q(pk__in=[])


def _q_for(model: type[models.Model], method: str, user: Any) -> models.Q:
    if user is not None and getattr(user, "is_superuser", False) and getattr(user, "is_active", False):
        return ALL
    declared = getattr(model, method, None)
    if declared is None:
        return NONE
    return declared(user)


def spawns_duplicates(model: type[models.Model], q: models.Q) -> bool:
    """Whether filtering ``model`` by ``q`` may return a row more than once: some lookup in it crosses a
    to-many relation (a reverse foreign key or a many-to-many). Filters by expressions (``Exists``, a
    subquery with ``__in``) join nothing and cannot."""
    from django.contrib.admin.utils import lookup_spawns_duplicates

    for child in q.children:
        if isinstance(child, models.Q):
            if spawns_duplicates(model, child):
                return True
        elif isinstance(child, tuple) and lookup_spawns_duplicates(model._meta, child[0]):
            return True
    return False


class RestrictedQuerySet(models.QuerySet):
    """``DISTINCT`` only where a rule crosses a to-many relation: on a large table (100,000 incident
    reports) ``SELECT DISTINCT`` over every column sorts the whole table for one page."""

    def _restricted(self, method: str, user: Any) -> RestrictedQuerySet:
        q = _q_for(self.model, method, user)
        qs = self.filter(q)
        return qs.distinct() if spawns_duplicates(self.model, q) else qs

    def visible_to(self, user: Any) -> RestrictedQuerySet:
        return self._restricted("visible_q", user)

    def editable_by(self, user: Any) -> RestrictedQuerySet:
        return self._restricted("editable_q" if hasattr(self.model, "editable_q") else "_none_q", user)


def get_visible_or_404(queryset: models.QuerySet | type[models.Model], user: Any, **lookup: Any) -> Any:
    """The object if ``user`` may see it; 404 otherwise, so its existence is not revealed."""
    qs = queryset.objects.all() if isinstance(queryset, type) else queryset
    try:
        return qs.visible_to(user).get(**lookup)
    except (qs.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404(_("Not found.")) from exc


def get_editable_or_403(queryset: models.QuerySet | type[models.Model], user: Any, **lookup: Any) -> Any:
    """The object if ``user`` may change it; 404 if they cannot see it, 403 if they can see but not edit."""
    obj = get_visible_or_404(queryset, user, **lookup)
    qs = queryset.objects.all() if isinstance(queryset, type) else queryset
    if not qs.editable_by(user).filter(pk=obj.pk).exists():
        raise PermissionDenied(_("You may view this record but not change it."))
    return obj
