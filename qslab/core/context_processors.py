"""Template context every page needs: the user's roles and unread notification count."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def platform(request: HttpRequest) -> dict[str, Any]:
    from qslab.accounts.roles import Role, roles_of
    from qslab.core.models import Notification
    from qslab.core.navigation import nav_for

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {
            "user_roles": set(),
            "unread_notifications": 0,
            "Role": Role,
            "app_nav": nav_for(user, set()) if user is not None else [],
        }
    roles = roles_of(user)
    return {
        "user_roles": roles,
        "unread_notifications": Notification.objects.filter(recipient=user, read_at__isnull=True).count(),
        "Role": Role,
        "app_nav": nav_for(user, roles),
    }
