"""Organisations, users, scoped role memberships and API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from stdnum.cn import uscc

from qslab.accounts.roles import Role, has_role
from qslab.core.models import ChangeLoggedModel, bilingual
from qslab.core.permissions import ALL, NONE, RestrictedQuerySet
from qslab.core.regions import region_choices, region_name, validate_region_code


def validate_uscc(value: str) -> None:
    """Unified Social Credit Code (GB 32100-2015): 18 characters with a check character."""
    try:
        uscc.validate(value)
    except Exception as exc:  # stdnum raises several ValidationError subclasses
        raise ValidationError(
            _("“%(value)s” is not a valid Unified Social Credit Code: %(reason)s"),
            params={"value": value, "reason": str(exc)},
        ) from exc


class Organisation(ChangeLoggedModel):
    class Kind(models.TextChoices):
        SUPPORTING = "supporting", _("Supporting institution")
        UNIVERSITY = "university", _("University")
        RESEARCH = "research", _("Research institute")
        ENTERPRISE = "enterprise", _("Enterprise")
        AUTHORITY = "authority", _("Competent authority")
        MINISTRY = "ministry", _("Ministry")

    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    uscc = models.CharField(
        _("Unified Social Credit Code"),
        max_length=18,
        unique=True,
        validators=[validate_uscc],
        help_text=_("18 characters, GB 32100-2015"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    region_code = models.CharField(
        _("region"),
        max_length=6,
        choices=region_choices(),
        validators=[validate_region_code],
        help_text=_("GB/T 2260 code"),
    )
    website = models.URLField(_("website"), blank=True)

    class Meta:
        ordering = ("name_en",)
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    @property
    def region_label(self) -> str:
        return region_name(self.region_code)

    def clean(self) -> None:
        if self.uscc:
            self.uscc = uscc.compact(self.uscc)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        # Organisations are part of the public directory (names, kind, region), as on the portal.
        return ALL

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return ALL if has_role(user, Role.OFFICE) else NONE


class RestrictedUserManager(UserManager.from_queryset(RestrictedQuerySet)):  # type: ignore[misc]
    """Django's user manager with ``visible_to`` / ``editable_by``."""


class User(AbstractUser):
    """A person. What they may do comes from their role memberships, never from flags on the user."""

    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
    )
    preferred_language = models.CharField(
        _("preferred language"),
        max_length=8,
        choices=[("en", "English"), ("zh-hans", "简体中文")],
        default="zh-hans",
    )
    email_notifications = models.BooleanField(_("email me my notifications"), default=True)

    objects = RestrictedUserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return ALL
        if user is not None and user.is_authenticated:
            return models.Q(pk=user.pk)
        return NONE


class RoleMembership(ChangeLoggedModel):
    """A user's role, optionally scoped to a region, an industry or one object (e.g. a laboratory)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    region_code = models.CharField(
        _("region scope"),
        max_length=6,
        blank=True,
        validators=[validate_region_code],
        help_text=_("competent authorities: the region they cover"),
    )
    industry = models.CharField(_("industry scope"), max_length=100, blank=True)
    scope_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    scope_id = models.CharField(max_length=64, blank=True)
    scope = GenericForeignKey("scope_type", "scope_id")
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("role membership")
        verbose_name_plural = _("role memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "role", "region_code", "industry", "scope_type", "scope_id"],
                name="one_membership_per_scope",
            )
        ]

    def __str__(self) -> str:
        scope = self.region_code or self.industry or (str(self.scope) if self.scope_type_id else "")
        return f"{self.user} · {self.get_role_display()}" + (f" · {scope}" if scope else "")

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from qslab.accounts.roles import OBJECT_SCOPED_ROLES

        if self.role in OBJECT_SCOPED_ROLES and not self.scope_type_id:
            raise ValidationError(_("A laboratory manager's role must name the laboratory it covers."))

    def covers(self, obj: Any) -> bool:
        """Does this membership's scope include ``obj``?

        Objects can declare ``scope_matches(membership) -> bool`` to say how a region or industry scope
        applies to them (a laboratory is in a region); otherwise only an exact object scope matches.
        """
        if not (self.region_code or self.industry or self.scope_type_id):
            return True
        if self.scope_type_id:
            if (
                ContentType.objects.get_for_model(obj, for_concrete_model=True).pk == self.scope_type_id
                and str(obj.pk) == self.scope_id
            ):
                return True
            # A record that belongs to a laboratory (a budget, a study, a standard) is covered by a
            # membership scoped to that laboratory.
            parent = getattr(obj, "laboratory", None)
            return parent is not None and parent is not obj and self.covers(parent)
        matcher = getattr(obj, "scope_matches", None)
        return bool(matcher and matcher(self))

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return ALL
        if user is not None and user.is_authenticated:
            return models.Q(user=user)
        return NONE

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return ALL if has_role(user, Role.OFFICE) else NONE


class ApiToken(models.Model):
    """A personal API token. Only a SHA-256 of the secret is stored; the secret is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_secret(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str, expires_at: Any = None) -> tuple[ApiToken, str]:
        """Create a token; returns it and the plain secret ``qsl_<prefix>_<random>`` (shown once)."""
        prefix = secrets.token_hex(4)
        secret = f"qsl_{prefix}_{secrets.token_urlsafe(32)}"
        token = cls.objects.create(
            user=user, name=name, prefix=prefix, key_hash=cls.hash_secret(secret), expires_at=expires_at
        )
        return token, secret

    @classmethod
    def authenticate(cls, secret: str) -> User | None:
        parts = secret.split("_")
        if len(parts) < 3 or parts[0] != "qsl":
            return None
        token = cls.objects.select_related("user").filter(prefix=parts[1], revoked_at__isnull=True).first()
        if token is None or not secrets.compare_digest(token.key_hash, cls.hash_secret(secret)):
            return None
        if token.expires_at and token.expires_at <= timezone.now():
            return None
        if not token.user.is_active:
            return None
        token.touch()
        return token.user

    #: ``last_used`` is recorded at most this often: a machine posting every second would otherwise
    #: write the token's row on every request (and serialise its concurrent requests on that row).
    LAST_USED_RESOLUTION = dt.timedelta(seconds=60)

    def touch(self) -> None:
        """Record use now unless it was recorded within the last minute (one conditional UPDATE)."""
        now = timezone.now()
        stale = now - self.LAST_USED_RESOLUTION
        if self.last_used is not None and self.last_used >= stale:
            return  # read with the token a moment ago: no query at all
        type(self).objects.filter(
            models.Q(last_used__isnull=True) | models.Q(last_used__lt=stale), pk=self.pk
        ).update(last_used=now)
        self.last_used = now

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if user is not None and user.is_authenticated:
            return models.Q(user=user)
        return NONE

    editable_q = visible_q
