"""Platform machinery every app stands on: change log, journal, calendar, documents, notifications,
deadlines and task progress.

Concrete models elsewhere inherit :class:`ChangeLoggedModel` to get a change record on every save and
delete, and use :class:`RestrictedQuerySet` so that views and the API reach protected rows only
through ``visible_to(user)`` / ``editable_by(user)``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from qslab.core.permissions import ALL, NONE, RestrictedQuerySet


def bilingual(zh: str, en: str, language: str | None = None) -> str:
    """Pick the Chinese or English text for the active language, falling back to the other."""
    use_zh = (language or get_language() or "en").lower().startswith("zh")
    return (zh or en) if use_zh else (en or zh)


class ChangeLoggedModel(models.Model):
    """Abstract base: every create, update and delete leaves a :class:`ChangeRecord`.

    The snapshot taken when a row is loaded is the "before" of the next save, so the record shows
    exactly what changed. Subclasses may list fields to leave out of snapshots in
    ``change_log_exclude`` (e.g. password hashes).
    """

    created = models.DateTimeField(_("created"), auto_now_add=True)
    last_updated = models.DateTimeField(_("last updated"), auto_now=True)

    change_log_exclude: tuple[str, ...] = ()

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        abstract = True

    def get_absolute_url(self) -> str:
        return ""

    @classmethod
    def from_db(cls, db, field_names, values):  # type: ignore[no-untyped-def]
        instance = super().from_db(db, field_names, values)
        # The values as loaded; the snapshot ("before" of the next save) is built from them only when a
        # save or delete asks for it: building it for every row read cost more than reading the row.
        instance.__dict__["_loaded_values"] = dict(zip(field_names, values, strict=True))
        return instance

    @property
    def _loaded_snapshot(self) -> dict[str, Any]:
        """The snapshot of the row as it was loaded (or last saved); AttributeError for a new object."""
        cached = self.__dict__.get("_loaded_snapshot_data")
        if cached is not None:
            return cached
        loaded = self.__dict__.get("_loaded_values")
        if loaded is None:
            raise AttributeError("_loaded_snapshot")
        data = self._snapshot_of(loaded)
        self.__dict__["_loaded_snapshot_data"] = data
        return data

    @_loaded_snapshot.setter
    def _loaded_snapshot(self, data: dict[str, Any]) -> None:
        self.__dict__["_loaded_snapshot_data"] = data

    def snapshot(self) -> dict[str, Any]:
        """Field values as JSON-ready data, for the before/after of a change record."""
        # A field left out by .only()/.defer() is not read: reading it would load the row again, whose
        # from_db would start the same walk again (endless recursion, e.g. a serialiser on a many-to-many).
        deferred = self.get_deferred_fields()
        return self._snapshot_of(
            {
                field.attname: field.value_from_object(self)
                for field in self._meta.concrete_fields
                if field.attname not in deferred
            }
        )

    def _snapshot_of(self, values: dict[str, Any]) -> dict[str, Any]:
        """JSON-ready data from field values by attribute name; a field absent from ``values`` is left out."""
        data: dict[str, Any] = {}
        for field in self._meta.concrete_fields:
            if field.name in ("created", "last_updated") or field.name in self.change_log_exclude:
                continue
            if field.attname not in values:
                continue
            value = values[field.attname]
            if isinstance(value, (dt.datetime, dt.date, dt.time)):
                value = value.isoformat()
            elif isinstance(field, models.FileField):  # a FieldFile on the object, its name as loaded
                value = (value.name if hasattr(value, "name") else value) or ""
            elif not isinstance(value, (str, int, float, bool, type(None), list, dict)):
                value = str(value)
            data[field.attname] = value
        return data


class ChangeRecord(models.Model):
    """One change to one object: who, when, in which request, why, and the data before and after."""

    class Action(models.TextChoices):
        CREATE = "create", _("created")
        UPDATE = "update", _("updated")
        DELETE = "delete", _("deleted")
        TRANSITION = "transition", _("workflow transition")

    time = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    user_name = models.CharField(_("user name"), max_length=150, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True, db_index=True)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(max_length=64, db_index=True)
    object_repr = models.CharField(_("object"), max_length=300)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    transition = models.CharField(_("transition"), max_length=64, blank=True)
    from_state = models.CharField(_("from"), max_length=64, blank=True)
    to_state = models.CharField(_("to"), max_length=64, blank=True)
    reason = models.TextField(_("reason"), blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ("-time", "-id")
        indexes = [models.Index(fields=["content_type", "object_id", "-time"])]
        verbose_name = _("change record")
        verbose_name_plural = _("change records")

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M} {self.user_name or '-'} {self.action} {self.object_repr}"

    @property
    def changed_fields(self) -> list[str]:
        before, after = self.before or {}, self.after or {}
        return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        from qslab.accounts.roles import Role, has_role

        return ALL if has_role(user, Role.OFFICE) else NONE


class JournalEntry(models.Model):
    """A note a person writes about an object (what was discussed, decided or agreed)."""

    class Kind(models.TextChoices):
        INFO = "info", _("information")
        SUCCESS = "success", _("success")
        WARNING = "warning", _("warning")
        DANGER = "danger", _("problem")

    time = models.DateTimeField(_("time"), default=timezone.now)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.CharField(max_length=64)
    target = GenericForeignKey("content_type", "object_id")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.INFO)
    text = models.TextField(_("text"))

    class Meta:
        ordering = ("-time", "-id")
        indexes = [models.Index(fields=["content_type", "object_id"])]
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")

    def __str__(self) -> str:
        return self.text[:60]


class CalendarDay(models.Model):
    """A date whose working status differs from the Monday-to-Friday rule.

    Public holidays on weekdays are non-working; adjusted working days (调休) on weekends are working.
    Seeded from the ``holidays`` package and editable by the office, because the State Council
    publishes each year's schedule only in the preceding winter.
    """

    date = models.DateField(_("date"), unique=True)
    is_working_day = models.BooleanField(_("working day"))
    name = models.CharField(_("name"), max_length=120, blank=True)
    source = models.CharField(_("source"), max_length=40, default="office")

    class Meta:
        ordering = ("date",)
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")

    def __str__(self) -> str:
        return f"{self.date} {'working' if self.is_working_day else 'holiday'} {self.name}"


class DocumentKind(models.Model):
    """A kind of official act with its own yearly number sequence and number pattern."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120)
    prefix = models.CharField(_("number prefix"), max_length=40, help_text=_("e.g. 国质标实"))
    pattern = models.CharField(
        _("number pattern"),
        max_length=80,
        default="{prefix}〔{year}〕{seq}号",
        help_text=_("Placeholders: {prefix}, {year}, {seq} (use {seq:03d} for zero padding)."),
    )
    public_by_default = models.BooleanField(_("public by default"), default=False)

    class Meta:
        ordering = ("code",)
        verbose_name = _("document kind")
        verbose_name_plural = _("document kinds")

    def __str__(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    def format_number(self, year: int, seq: int) -> str:
        return self.pattern.format(prefix=self.prefix, year=year, seq=seq)


class DocumentSequence(models.Model):
    """The last number issued for one kind in one year; locked while a number is drawn."""

    kind = models.ForeignKey(DocumentKind, on_delete=models.PROTECT, related_name="sequences")
    year = models.PositiveIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "year"], name="one_sequence_per_kind_year")]

    def __str__(self) -> str:
        return f"{self.kind_id}/{self.year}: {self.last_number}"


def document_upload_path(instance: OfficialDocument, filename: str) -> str:
    return f"documents/{instance.year}/{instance.kind.code}/{filename}"


class OfficialDocument(models.Model):
    """A numbered official act rendered to PDF, stored once and never changed (hash kept)."""

    kind = models.ForeignKey(DocumentKind, verbose_name=_("kind"), on_delete=models.PROTECT)
    year = models.PositiveIntegerField(_("year"))
    sequence = models.PositiveIntegerField(_("sequence"))
    number = models.CharField(_("document number"), max_length=80, unique=True)
    title_zh = models.CharField(_("title (Chinese)"), max_length=300)
    title_en = models.CharField(_("title (English)"), max_length=300)
    body_zh = models.TextField(_("body (Chinese)"), blank=True)
    body_en = models.TextField(_("body (English)"), blank=True)
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("issued by"),
    )
    pdf_zh = models.FileField(_("PDF (Chinese)"), upload_to=document_upload_path)
    pdf_en = models.FileField(_("PDF (English)"), upload_to=document_upload_path)
    sha256_zh = models.CharField(_("SHA-256 (Chinese)"), max_length=64)
    sha256_en = models.CharField(_("SHA-256 (English)"), max_length=64)
    is_public = models.BooleanField(_("public"), default=False)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    content_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    object_id = models.CharField(max_length=64, blank=True)
    subject = GenericForeignKey("content_type", "object_id")

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ("-issued_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=["kind", "year", "sequence"], name="one_document_per_number"),
        ]
        verbose_name = _("official document")
        verbose_name_plural = _("official documents")

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("core:document", args=[self.pk])

    @property
    def title(self) -> str:
        return bilingual(self.title_zh, self.title_en)

    @property
    def body(self) -> str:
        return bilingual(self.body_zh, self.body_en)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        from qslab.accounts.roles import Role, has_role

        public = models.Q(is_public=True)
        if user is None or not user.is_authenticated:
            return public
        if has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE):
            return ALL
        return public | models.Q(issued_by=user) | models.Q(recipients__user=user)


class DocumentRecipient(models.Model):
    """Someone a non-public document is addressed to (e.g. the lab named in a rectification order)."""

    document = models.ForeignKey(OfficialDocument, on_delete=models.CASCADE, related_name="recipients")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["document", "user"], name="one_recipient_row")]

    def __str__(self) -> str:
        return f"{self.document_id} → {self.user_id}"


class Notification(models.Model):
    """An inbox item; mirrored by email when the user allows it."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    time = models.DateTimeField(default=timezone.now, db_index=True)
    verb = models.CharField(_("what happened"), max_length=64)
    text_zh = models.TextField()
    text_en = models.TextField()
    link = models.CharField(max_length=300, blank=True)
    content_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    object_id = models.CharField(max_length=64, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ("-time", "-id")
        indexes = [models.Index(fields=["recipient", "read_at"])]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        return bilingual(self.text_zh, self.text_en)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if user is None or not user.is_authenticated:
            return NONE
        return models.Q(recipient=user)

    editable_q = visible_q


class Watch(models.Model):
    """A user follows an object and is told of its changes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watches")
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.CharField(max_length=64)
    target = GenericForeignKey("content_type", "object_id")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "content_type", "object_id"], name="one_watch_per_object")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} watches {self.content_type_id}/{self.object_id}"


class Deadline(models.Model):
    """Something someone must do by a date: reminded before, marked overdue after."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.CharField(max_length=64)
    target = GenericForeignKey("content_type", "object_id")
    label_zh = models.CharField(max_length=200)
    label_en = models.CharField(max_length=200)
    due = models.DateField(_("due"), db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="deadlines"
    )
    assignee_role = models.CharField(
        max_length=32, blank=True, help_text=_("when no single person is assigned")
    )
    created = models.DateTimeField(auto_now_add=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ("due", "id")
        verbose_name = _("deadline")
        verbose_name_plural = _("deadlines")

    def __str__(self) -> str:
        return f"{self.label} ({self.due})"

    @property
    def label(self) -> str:
        return bilingual(self.label_zh, self.label_en)

    @property
    def is_overdue(self) -> bool:
        return self.done_at is None and self.due < timezone.localdate()

    @classmethod
    def owned_q(cls, user: Any) -> models.Q:
        """The user's own to-do list: deadlines assigned to them, or to a role they hold with no person."""
        from qslab.accounts.roles import roles_of

        if user is None or not user.is_authenticated:
            return NONE
        return models.Q(assignee=user) | models.Q(
            assignee__isnull=True, assignee_role__in=list(roles_of(user))
        )

    @classmethod
    def overdue_q(cls) -> models.Q:
        return models.Q(done_at__isnull=True, due__lt=timezone.localdate())

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        """One's own deadlines; the office also sees everyone's *overdue* ones, as an overview of what is
        late across the system — not every expert's and manager's personal to-do list."""
        from qslab.accounts.roles import Role, has_role

        if user is None or not user.is_authenticated:
            return NONE
        if has_role(user, Role.OFFICE):
            return cls.owned_q(user) | cls.overdue_q()
        return cls.owned_q(user)


class TaskProgress(models.Model):
    """Progress of a background task, written by the task and shown in the UI while it runs."""

    task_id = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+")
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=16, default="queued")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ("-created",)

    def __str__(self) -> str:
        return f"{self.label} ({self.status})"

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        from qslab.accounts.roles import Role, has_role

        if user is None or not user.is_authenticated:
            return NONE
        return ALL if has_role(user, Role.OFFICE) else models.Q(owner=user)


def attachment_upload_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.content_type.app_label}/{instance.object_id}/{filename}"


class Attachment(models.Model):
    """A file attached to an object, e.g. the evidence a transition requires. Never overwritten."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.CharField(max_length=64)
    target = GenericForeignKey("content_type", "object_id")
    file = models.FileField(_("file"), upload_to=attachment_upload_path)
    name = models.CharField(_("name"), max_length=200)
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    change_record = models.ForeignKey(
        ChangeRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )

    class Meta:
        ordering = ("-uploaded_at",)
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self) -> str:
        return self.name
