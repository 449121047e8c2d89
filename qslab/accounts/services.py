"""Account operations: two-factor enrolment, API tokens, profile."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from qslab.accounts.models import ApiToken, User


def pending_totp_device(user: User) -> TOTPDevice:
    """The unconfirmed device being enrolled (created on first call, reused until confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


@transaction.atomic
def confirm_totp_device(user: User, token: str) -> TOTPDevice | None:
    device = pending_totp_device(user)
    if not device.verify_token(token):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).exclude(pk=device.pk).delete()
    return device


def verify_totp(user: User, token: str) -> TOTPDevice | None:
    for device in TOTPDevice.objects.filter(user=user, confirmed=True):
        if device.verify_token(token):
            return device
    return None


def has_confirmed_device(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def issue_api_token(user: User, name: str, expires_in_days: int | None = 90) -> tuple[ApiToken, str]:
    expires = timezone.now() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    return ApiToken.issue(user, name.strip(), expires)


def revoke_api_token(user: Any, token_id: int) -> ApiToken:
    from qslab.core.permissions import get_editable_or_403

    token = get_editable_or_403(ApiToken, user, pk=token_id)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def update_profile(user: User, data: dict[str, Any]) -> User:
    fields = [f for f in ("display_name", "email", "preferred_language", "email_notifications") if f in data]
    for f in fields:
        setattr(user, f, data[f])
    user.save(update_fields=fields)
    return user


@transaction.atomic
def create_organisation(actor: Any, data: dict[str, Any]) -> Any:
    """Register an organisation (committee office only); validates the USCC and region."""
    from django.core.exceptions import PermissionDenied

    from qslab.accounts.models import Organisation
    from qslab.accounts.roles import Role, has_role
    from qslab.core.context import acting_as

    if not has_role(actor, Role.OFFICE):
        raise PermissionDenied("Only the committee office registers organisations.")
    org = Organisation(**data)
    org.clean()
    org.full_clean()
    with acting_as(actor):
        org.save()
    return org


@transaction.atomic
def grant_role(
    actor: Any,
    user: User,
    role: str,
    *,
    scope: Any = None,
    region_code: str = "",
    industry: str = "",
    organisation: Any = None,
) -> Any:
    """Give ``user`` a role membership (committee office only), recorded in the change log."""
    from django.contrib.contenttypes.models import ContentType
    from django.core.exceptions import PermissionDenied

    from qslab.accounts.models import RoleMembership
    from qslab.accounts.roles import Role, forget_cached_roles, has_role
    from qslab.core.context import acting_as

    if actor is not None and not has_role(actor, Role.OFFICE):
        raise PermissionDenied("Only the committee office grants roles.")
    membership = RoleMembership(
        user=user, role=role, region_code=region_code, industry=industry, organisation=organisation
    )
    if scope is not None:
        membership.scope_type = ContentType.objects.get_for_model(scope, for_concrete_model=True)
        membership.scope_id = str(scope.pk)
    membership.full_clean()
    with acting_as(actor):
        membership.save()
    forget_cached_roles(user)
    return membership
