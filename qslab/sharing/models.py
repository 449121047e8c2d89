"""Open sharing: each laboratory's catalogue of shared resources, bookings checked against the resource's
rules, service requests (quote, acceptance, delivery, invoice) and the invoices themselves.

Guiding Opinions II.4 item 4 (open sharing of equipment, facilities and services with society).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeBoundary, RangeOperators
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from qslab.accounts.roles import Role, has_role, scoped_ids
from qslab.core.models import ChangeLoggedModel, OfficialDocument, bilingual
from qslab.core.permissions import ALL, NONE, RestrictedQuerySet
from qslab.core.workflow import State, Transition, Workflow
from qslab.labs.models import Laboratory

#: minutes before the start when check-in opens, and after the start when a booking counts as a no-show
CHECK_IN_OPENS_MINUTES = 15
NO_SHOW_GRACE_MINUTES = 15
#: missed bookings that block a user from booking, and for how long
VIOLATION_LIMIT = 3
BLOCK_DAYS = 30


def manages_lab(user: Any, lab: Any) -> bool:
    """The committee office, or a lab manager whose membership covers this laboratory."""
    return has_role(user, Role.OFFICE) or has_role(user, Role.LAB_MANAGER, scope=lab)


def managed_lab_q(user: Any, prefix: str = "lab") -> models.Q:
    """Rows of the laboratories ``user`` manages (the office: all)."""
    if has_role(user, Role.OFFICE):
        return ALL
    ids = scoped_ids(user, Role.LAB_MANAGER, Laboratory)
    if ids is None:
        return ALL
    return models.Q(**{f"{prefix}__in": ids})


def _or(a: models.Q, b: models.Q) -> models.Q:
    return a | b


def _nothing() -> models.Q:
    return NONE


class UserClass(models.TextChoices):
    """Who pays which price: the laboratory's own people, academic and non-profit users, industry."""

    INTERNAL = "internal", _("internal")
    ACADEMIC = "academic", _("academic or non-profit")
    INDUSTRY = "industry", _("industry")


#: organisation kinds (``accounts.Organisation.Kind``) whose members pay the academic/non-profit price
ACADEMIC_ORGANISATION_KINDS = ("university", "research")


# --------------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------------


class Resource(ChangeLoggedModel):
    """One shared resource of a laboratory, with its booking rules and its price list."""

    class Kind(models.TextChoices):
        INSTRUMENT = "instrument", _("instrument")
        FACILITY = "facility", _("facility")
        DATASET = "dataset", _("data set")
        REFERENCE_MATERIAL = "reference_material", _("reference material")
        EXPERT_SERVICE = "expert_service", _("expert service")

    class Status(models.TextChoices):
        AVAILABLE = "available", _("available")
        MAINTENANCE = "maintenance", _("under maintenance")
        RETIRED = "retired", _("retired")

    lab = models.ForeignKey(
        Laboratory, verbose_name=_("laboratory"), on_delete=models.PROTECT, related_name="shared_resources"
    )
    code = models.SlugField(_("code"), max_length=40)
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices, default=Kind.INSTRUMENT)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    description_zh = models.TextField(_("description (Chinese)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    model_name = models.CharField(_("model"), max_length=120, blank=True)
    maker = models.CharField(_("maker"), max_length=120, blank=True)
    value = models.DecimalField(
        _("value (CNY)"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    location = models.CharField(_("location"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.AVAILABLE)
    capabilities_zh = models.TextField(_("capabilities (Chinese)"), blank=True)
    capabilities_en = models.TextField(_("capabilities (English)"), blank=True)
    accreditation_scope = models.TextField(
        _("accreditation scope"), blank=True, help_text=_("CNAS/CMA scope items covering this resource")
    )
    published = models.BooleanField(_("published in the catalogue"), default=True)
    # booking rules
    bookable = models.BooleanField(_("bookable by the hour"), default=True)
    open_weekdays = models.CharField(
        _("open weekdays"),
        max_length=7,
        default="01234",
        help_text=_("0 = Monday ... 6 = Sunday, e.g. 01234"),
    )
    opens_at = models.TimeField(_("opens at"), default=dt.time(8, 0))
    closes_at = models.TimeField(_("closes at"), default=dt.time(18, 0))
    min_notice_hours = models.PositiveIntegerField(_("minimum notice (hours)"), default=24)
    max_notice_days = models.PositiveIntegerField(_("maximum notice (days)"), default=60)
    min_duration_minutes = models.PositiveIntegerField(_("minimum duration (minutes)"), default=30)
    max_duration_minutes = models.PositiveIntegerField(_("maximum duration (minutes)"), default=480)
    buffer_minutes = models.PositiveIntegerField(_("buffer between bookings (minutes)"), default=0)
    capacity = models.PositiveIntegerField(
        _("capacity"), default=1, validators=[MinValueValidator(1)], help_text=_("bookings at the same time")
    )
    requires_approval = models.BooleanField(_("bookings need approval"), default=False)
    requires_qualification = models.BooleanField(_("only qualified users may book"), default=False)
    cancel_notice_hours = models.PositiveIntegerField(_("cancellation notice (hours)"), default=24)
    booking_lock = models.PositiveBigIntegerField(default=0, editable=False)

    change_log_exclude = ("booking_lock",)

    class Meta:
        ordering = ("lab__code", "code")
        verbose_name = _("shared resource")
        verbose_name_plural = _("shared resources")
        constraints = [models.UniqueConstraint(fields=("lab", "code"), name="sharing_resource_code_per_lab")]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    @property
    def description(self) -> str:
        return bilingual(self.description_zh, self.description_en)

    @property
    def capabilities(self) -> str:
        return bilingual(self.capabilities_zh, self.capabilities_en)

    def get_absolute_url(self) -> str:
        return reverse("sharing:resource", args=[self.pk])

    def price_for(self, user_class: str, unit: str) -> Decimal | None:
        """The tariff of ``user_class`` per ``unit`` (hour or sample); the academic class pays the
        industry price where the laboratory set no academic one; None where there is no tariff."""
        prices = {(t.user_class, t.unit): t.price for t in self.tariffs.all()}
        price = prices.get((user_class, unit))
        if price is None and user_class == UserClass.ACADEMIC:
            price = prices.get((UserClass.INDUSTRY, unit))
        return price

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        public = models.Q(published=True) & ~models.Q(status=cls.Status.RETIRED)
        if user is None or not getattr(user, "is_authenticated", False):
            return public
        return _or(public, managed_lab_q(user)) if _is_manager_at_all(user) else public

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return managed_lab_q(user) if _is_manager_at_all(user) else _nothing()


def _is_manager_at_all(user: Any) -> bool:
    return has_role(user, Role.OFFICE) or has_role(user, Role.LAB_MANAGER)


class Tariff(ChangeLoggedModel):
    """One price of a resource: per hour or per sample, for one user class (the price list as data)."""

    class Unit(models.TextChoices):
        HOUR = "hour", _("per hour")
        SAMPLE = "sample", _("per sample")

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="tariffs")
    user_class = models.CharField(_("user class"), max_length=12, choices=UserClass.choices)
    unit = models.CharField(_("unit"), max_length=8, choices=Unit.choices)
    price = models.DecimalField(
        _("price (CNY)"), max_digits=10, decimal_places=2, validators=[MinValueValidator(0)]
    )

    class Meta:
        ordering = ("resource", "unit", "user_class")
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        constraints = [
            models.UniqueConstraint(fields=("resource", "user_class", "unit"), name="sharing_one_tariff"),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="sharing_tariff_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.resource}: {self.get_user_class_display()} {self.price} {self.get_unit_display()}"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q(resource__in=Resource.objects.visible_to(user).values("pk"))

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return managed_lab_q(user, "resource__lab") if _is_manager_at_all(user) else _nothing()


class Blackout(ChangeLoggedModel):
    """A period when a resource cannot be booked: a closure or planned maintenance."""

    class Kind(models.TextChoices):
        BLACKOUT = "blackout", _("closed")
        MAINTENANCE = "maintenance", _("maintenance")

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="blackouts")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.MAINTENANCE)
    starts = models.DateTimeField(_("starts"))
    ends = models.DateTimeField(_("ends"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        ordering = ("starts",)
        verbose_name = _("blackout")
        verbose_name_plural = _("blackouts")

    def __str__(self) -> str:
        return f"{self.resource}: {self.get_kind_display()} {self.starts:%Y-%m-%d %H:%M}"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q(resource__in=Resource.objects.visible_to(user).values("pk"))

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return managed_lab_q(user, "resource__lab") if _is_manager_at_all(user) else _nothing()


class Qualification(ChangeLoggedModel):
    """A user trained and cleared to book a resource that requires it."""

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="qualifications")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("qualification")
        verbose_name_plural = _("qualifications")
        constraints = [models.UniqueConstraint(fields=("resource", "user"), name="sharing_one_qualification")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.resource}"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if user is None or not getattr(user, "is_authenticated", False):
            return _nothing()
        own = models.Q(user=user)
        return _or(own, managed_lab_q(user, "resource__lab")) if _is_manager_at_all(user) else own

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return managed_lab_q(user, "resource__lab") if _is_manager_at_all(user) else _nothing()


class Standing(models.Model):
    """A user's booking record: missed bookings (violations) and a temporary block."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    violations = models.PositiveIntegerField(_("violations"), default=0)
    blocked_until = models.DateTimeField(_("blocked until"), null=True, blank=True)

    class Meta:
        verbose_name = _("booking standing")
        verbose_name_plural = _("booking standings")

    def __str__(self) -> str:
        return f"{self.user}: {self.violations}"

    def is_blocked(self, now: dt.datetime | None = None) -> bool:
        return bool(self.blocked_until and self.blocked_until > (now or timezone.now()))


# --------------------------------------------------------------------------------------------------
# Bookings
# --------------------------------------------------------------------------------------------------


def _booker(user: Any, booking: Any) -> bool:
    return getattr(user, "pk", None) is not None and user.pk == booking.user_id


def _manager(user: Any, booking: Any) -> bool:
    return manages_lab(user, booking.resource.lab)


def _check_in_window(booking: Booking) -> str | None:
    now = timezone.now()
    if now < booking.starts - dt.timedelta(minutes=CHECK_IN_OPENS_MINUTES):
        return str(
            _("Check-in opens %(minutes)s minutes before the start.") % {"minutes": CHECK_IN_OPENS_MINUTES}
        )
    if now > booking.ends:
        return str(_("The booked time is over; it can no longer be checked in."))
    return None


def _cancellation_policy(booking: Booking) -> str | None:
    hours = booking.resource.cancel_notice_hours
    if booking.starts - timezone.now() < dt.timedelta(hours=hours):
        return str(
            _("Bookings of %(resource)s can be cancelled only up to %(hours)s hours before the start.")
            % {"resource": booking.resource, "hours": hours}
        )
    return None


def _missed(booking: Booking) -> str | None:
    if timezone.now() < booking.starts + dt.timedelta(minutes=NO_SHOW_GRACE_MINUTES):
        return str(
            _("A booking counts as missed only %(minutes)s minutes after its start.")
            % {"minutes": NO_SHOW_GRACE_MINUTES}
        )
    return None


def _has_started(booking: Booking) -> str | None:
    if timezone.now() < booking.starts:
        return str(_("A booking can be completed only after it has started."))
    return None


def _count_violation(booking: Booking, user: Any, reason: str) -> None:
    standing, _created = Standing.objects.select_for_update().get_or_create(user_id=booking.user_id)
    standing.violations += 1
    fields = ["violations"]
    if standing.violations >= VIOLATION_LIMIT:
        standing.blocked_until = timezone.now() + dt.timedelta(days=BLOCK_DAYS)
        standing.violations = 0
        fields.append("blocked_until")
    standing.save(update_fields=fields)


def _stamp_check_in(booking: Booking, user: Any, reason: str) -> None:
    booking.checked_in_at = timezone.now()
    booking.save(update_fields=["checked_in_at"])


def _lab_managers(booking: Booking) -> list[Any]:
    from django.contrib.contenttypes.models import ContentType

    from qslab.accounts.models import User

    ct = ContentType.objects.get_for_model(Laboratory)
    return list(
        User.objects.filter(
            role_memberships__role=Role.LAB_MANAGER,
            role_memberships__active=True,
            role_memberships__scope_type=ct,
            role_memberships__scope_id=str(booking.resource.lab_id),
        )
    )


def _the_booker(booking: Any) -> list[Any]:
    return [booking.user]


ACTIVE_BOOKING_STATES = ("requested", "approved", "checked_in")


class TsTzRange(models.Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class PostgresExclusionConstraint(ExclusionConstraint):
    """An exclusion constraint that exists on PostgreSQL only (SQLite has no GiST; the service serialises
    bookings per resource there)."""

    def constraint_sql(self, model: Any, schema_editor: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().constraint_sql(model, schema_editor)

    def create_sql(self, model: Any, schema_editor: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().create_sql(model, schema_editor)

    def remove_sql(self, model: Any, schema_editor: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().remove_sql(model, schema_editor)

    def validate(self, *args: Any, **kwargs: Any) -> None:
        return None  # the booking service checks overlaps with a readable message first


class Booking(ChangeLoggedModel):
    """A resource booked for a time; the resource's rules are checked by ``services.book_resource``."""

    UserClass = UserClass

    workflow = Workflow(
        state_field="status",
        states=(
            State("requested", "requested", "待审批"),
            State("approved", "approved", "已批准"),
            State("rejected", "rejected", "已拒绝", terminal=True),
            State("checked_in", "checked in", "已签到"),
            State("completed", "completed", "已完成", terminal=True),
            State("cancelled", "cancelled", "已取消", terminal=True),
            State("no_show", "no-show", "爽约", terminal=True),
        ),
        transitions=(
            Transition(
                "approve", ("requested",), "approved", (Role.LAB_MANAGER,), "approve", "批准",
                allowed=_manager, notify=_the_booker,
            ),
            Transition(
                "reject", ("requested",), "rejected", (Role.LAB_MANAGER,), "reject", "拒绝",
                allowed=_manager, requires_reason=True, notify=_the_booker,
            ),
            Transition(
                "check_in", ("approved",), "checked_in", (Role.CLIENT,), "check in", "签到",
                allowed=lambda u, b: _booker(u, b) or _manager(u, b), guard=_check_in_window,
                on_enter=_stamp_check_in,
            ),
            Transition(
                "complete", ("checked_in",), "completed", (Role.CLIENT,), "complete", "完成",
                allowed=lambda u, b: _booker(u, b) or _manager(u, b), guard=_has_started,
            ),
            Transition(
                "cancel", ("requested", "approved"), "cancelled", (Role.CLIENT,), "cancel", "取消",
                allowed=_booker, guard=_cancellation_policy, notify=_lab_managers,
            ),
            Transition(
                "withdraw", ("requested", "approved"), "cancelled", (Role.LAB_MANAGER,),
                "cancel for the laboratory", "实验室取消",
                allowed=_manager, requires_reason=True, notify=_the_booker,
            ),
            Transition(
                "no_show", ("approved",), "no_show", (Role.LAB_MANAGER,), "record a no-show", "记录爽约",
                allowed=lambda u, b: u is None or _manager(u, b), guard=_missed,
                on_enter=_count_violation, notify=_the_booker,
            ),
        ),
    )  # fmt: skip

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="bookings")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("booked by"), on_delete=models.PROTECT, related_name="+"
    )
    starts = models.DateTimeField(_("starts"))
    ends = models.DateTimeField(_("ends"))
    slot = models.PositiveSmallIntegerField(default=0, editable=False)
    status = models.CharField(_("status"), max_length=16, default="requested", choices=workflow.choices())
    purpose = models.CharField(_("purpose"), max_length=300, blank=True)
    user_class = models.CharField(
        _("user class"), max_length=12, choices=UserClass.choices, default=UserClass.INDUSTRY
    )
    price = models.DecimalField(
        _("price (CNY)"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        help_text=_("hours times the hourly tariff of the user class, fixed when booked"),
    )
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True, editable=False)
    invoice = models.ForeignKey(
        "Invoice", null=True, blank=True, on_delete=models.SET_NULL, related_name="bookings"
    )

    class Meta:
        ordering = ("starts",)
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        indexes = [
            models.Index(fields=("resource", "starts")),
            models.Index(fields=("user", "starts")),
            # Covers the availability search (a week's active bookings by time) from the index alone.
            models.Index(
                fields=("starts", "ends", "status", "resource", "slot"), name="sharing_booking_window"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends__gt=models.F("starts")), name="sharing_booking_ends_after_start"
            ),
            PostgresExclusionConstraint(
                name="sharing_booking_no_overlap",
                expressions=[
                    ("resource", RangeOperators.EQUAL),
                    ("slot", RangeOperators.EQUAL),
                    (TsTzRange("starts", "ends", RangeBoundary()), RangeOperators.OVERLAPS),
                ],
                condition=models.Q(status__in=ACTIVE_BOOKING_STATES),
            ),
        ]

    def __str__(self) -> str:
        start = timezone.localtime(self.starts)
        return f"{self.resource} {start:%Y-%m-%d %H:%M}–{timezone.localtime(self.ends):%H:%M}"

    def get_absolute_url(self) -> str:
        return reverse("sharing:booking", args=[self.pk])

    @property
    def hours(self) -> float:
        return (self.ends - self.starts).total_seconds() / 3600

    @property
    def amount(self) -> Decimal:
        return self.price

    @property
    def is_external(self) -> bool:
        return self.user_class != UserClass.INTERNAL

    @property
    def status_label(self) -> str:
        return self.workflow.state(self.status).label

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if user is None or not getattr(user, "is_authenticated", False):
            return _nothing()
        own = models.Q(user=user)
        return _or(own, managed_lab_q(user, "resource__lab")) if _is_manager_at_all(user) else own

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return cls.visible_q(user)


# --------------------------------------------------------------------------------------------------
# Service requests and invoices
# --------------------------------------------------------------------------------------------------


def _requester(user: Any, req: Any) -> bool:
    return getattr(user, "pk", None) is not None and user.pk == req.client_id


def _lab_manager_of_request(user: Any, req: Any) -> bool:
    return manages_lab(user, req.lab)


def _has_quote(req: ServiceRequest) -> str | None:
    if req.quote_amount is None:
        return str(_("Enter the quoted price before sending the quote."))
    return None


def _has_samples(req: ServiceRequest) -> str | None:
    if not req.sample_items.exists():
        return str(_("Record the samples received, with their condition on arrival."))
    return None


def _has_results(req: ServiceRequest) -> str | None:
    if not (req.results_zh.strip() and req.results_en.strip()):
        return str(_("Enter the results in Chinese and English before issuing the report."))
    return None


def _issue_report(req: ServiceRequest, user: Any, reason: str) -> None:
    from qslab.sharing.services import issue_test_report

    issue_test_report(req, user)


def _issue_invoice(req: ServiceRequest, user: Any, reason: str) -> None:
    from qslab.sharing.services import issue_invoice

    issue_invoice(
        lab=req.lab,
        client=req.client,
        lines=[(req.title, req.quote_amount or Decimal("0"))],
        issued_by=user,
        service_request=req,
    )


def _requester_list(req: Any) -> list[Any]:
    return [req.client]


def _request_managers(req: Any) -> list[Any]:
    from django.contrib.contenttypes.models import ContentType

    from qslab.accounts.models import User

    ct = ContentType.objects.get_for_model(Laboratory)
    return list(
        User.objects.filter(
            role_memberships__role=Role.LAB_MANAGER,
            role_memberships__active=True,
            role_memberships__scope_type=ct,
            role_memberships__scope_id=str(req.lab_id),
        )
    )


class ServiceRequest(ChangeLoggedModel):
    """A client asks a laboratory for a test or service; the lab quotes, the client accepts, the lab
    delivers and invoices."""

    workflow = Workflow(
        state_field="status",
        states=(
            State("requested", "requested", "已申请"),
            State("quoted", "quoted", "已报价"),
            State("accepted", "accepted", "已接受"),
            State("received", "samples received", "已收样"),
            State("in_work", "in work", "检测中"),
            State("delivered", "report issued", "已出报告"),
            State("invoiced", "invoiced", "已开票", terminal=True),
            State("declined", "declined", "已拒绝", terminal=True),
            State("cancelled", "cancelled", "已取消", terminal=True),
        ),
        transitions=(
            Transition(
                "quote", ("requested",), "quoted", (Role.LAB_MANAGER,), "send the quote", "发送报价",
                allowed=_lab_manager_of_request, guard=_has_quote, notify=_requester_list,
            ),
            Transition(
                "decline", ("requested", "accepted", "received"), "declined", (Role.LAB_MANAGER,),
                "decline", "婉拒",
                allowed=_lab_manager_of_request, requires_reason=True, notify=_requester_list,
            ),
            Transition(
                "accept", ("quoted",), "accepted", (Role.CLIENT,), "accept the quote", "接受报价",
                allowed=_requester, notify=_request_managers,
            ),
            Transition(
                "cancel", ("requested", "quoted"), "cancelled", (Role.CLIENT,), "cancel", "取消",
                allowed=_requester, notify=_request_managers,
            ),
            Transition(
                "receive", ("accepted",), "received", (Role.LAB_MANAGER,),
                "record sample receipt", "登记收样",
                allowed=_lab_manager_of_request, guard=_has_samples, notify=_requester_list,
            ),
            Transition(
                "start", ("received",), "in_work", (Role.LAB_MANAGER,), "start the work", "开始检测",
                allowed=_lab_manager_of_request, notify=_requester_list,
            ),
            Transition(
                "deliver", ("in_work",), "delivered", (Role.LAB_MANAGER,),
                "issue the test report", "出具检测报告",
                allowed=_lab_manager_of_request, guard=_has_results, on_enter=_issue_report,
                notify=_requester_list,
            ),
            Transition(
                "invoice", ("delivered",), "invoiced", (Role.LAB_MANAGER,), "invoice", "开具账单",
                allowed=_lab_manager_of_request, on_enter=_issue_invoice, notify=_requester_list,
            ),
        ),
    )  # fmt: skip

    lab = models.ForeignKey(
        Laboratory, verbose_name=_("laboratory"), on_delete=models.PROTECT, related_name="+"
    )
    resource = models.ForeignKey(
        Resource,
        verbose_name=_("resource"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("client"), on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(_("what is needed"), max_length=200)
    details = models.TextField(_("details"), blank=True)
    samples = models.PositiveIntegerField(_("number of samples"), default=1)
    status = models.CharField(_("status"), max_length=16, default="requested", choices=workflow.choices())
    user_class = models.CharField(
        _("user class"), max_length=12, choices=UserClass.choices, default=UserClass.INDUSTRY
    )
    estimate = models.DecimalField(
        _("price by the tariff (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True,
        help_text=_("samples times the per-sample tariff of the client's class, when the resource has one"),
    )  # fmt: skip
    quote_amount = models.DecimalField(
        _("quoted price (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)],
    )  # fmt: skip
    quote_note = models.TextField(_("quote note"), blank=True)
    delivery_note = models.TextField(_("delivery note"), blank=True)
    received_at = models.DateTimeField(_("samples received at"), null=True, blank=True)
    receipt_note = models.TextField(_("receipt note"), blank=True)
    method = models.CharField(
        _("test method"),
        max_length=300,
        blank=True,
        help_text=_("standard or method followed, e.g. GB/T 10125-2021"),
    )
    results_zh = models.TextField(_("results (Chinese)"), blank=True)
    results_en = models.TextField(_("results (English)"), blank=True)
    report = models.OneToOneField(
        OfficialDocument, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("test report"),
    )  # fmt: skip

    class Meta:
        ordering = ("-created",)
        verbose_name = _("service request")
        verbose_name_plural = _("service requests")

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("sharing:request", args=[self.pk])

    @property
    def status_label(self) -> str:
        return self.workflow.state(self.status).label

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if user is None or not getattr(user, "is_authenticated", False):
            return _nothing()
        own = models.Q(client=user)
        return _or(own, managed_lab_q(user)) if _is_manager_at_all(user) else own

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return managed_lab_q(user) if _is_manager_at_all(user) else _nothing()


class Invoice(ChangeLoggedModel):
    """A numbered invoice (an official document) from a laboratory to a client."""

    lab = models.ForeignKey(
        Laboratory, verbose_name=_("laboratory"), on_delete=models.PROTECT, related_name="+"
    )
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("client"), on_delete=models.PROTECT, related_name="+"
    )
    period = models.CharField(
        _("period"), max_length=7, blank=True, help_text=_("YYYY-MM for a monthly statement")
    )
    lines = models.JSONField(_("lines"), default=list)
    total = models.DecimalField(_("total (CNY)"), max_digits=14, decimal_places=2)
    document = models.OneToOneField(OfficialDocument, on_delete=models.PROTECT, related_name="+")
    service_request = models.OneToOneField(
        ServiceRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice"
    )

    class Meta:
        ordering = ("-created",)
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")

    def __str__(self) -> str:
        return self.document.number

    def get_absolute_url(self) -> str:
        return self.document.get_absolute_url()

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if user is None or not getattr(user, "is_authenticated", False):
            return _nothing()
        own = models.Q(client=user)
        return _or(own, managed_lab_q(user)) if _is_manager_at_all(user) else own

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _nothing()


class Sample(ChangeLoggedModel):
    """One sample of a service request: its condition on arrival and where it is now (the last custody
    event); every move is a ``CustodyEvent``."""

    class Condition(models.TextChoices):
        INTACT = "intact", _("intact, as described")
        PACKAGING_DAMAGED = "packaging_damaged", _("packaging damaged, sample intact")
        DAMAGED = "damaged", _("sample damaged")
        INSUFFICIENT = "insufficient", _("insufficient quantity")
        NOT_AS_DESCRIBED = "not_as_described", _("not as described")

    class Disposition(models.TextChoices):
        IN_CUSTODY = "in_custody", _("in the laboratory's custody")
        RETURNED = "returned", _("returned to the client")
        DISPOSED = "disposed", _("disposed of")

    request = models.ForeignKey(ServiceRequest, on_delete=models.PROTECT, related_name="sample_items")
    code = models.CharField(_("sample code"), max_length=40, unique=True)
    description = models.CharField(_("description"), max_length=300)
    quantity = models.CharField(_("quantity"), max_length=60, blank=True)
    condition = models.CharField(
        _("condition on arrival"), max_length=20, choices=Condition.choices, default=Condition.INTACT
    )
    condition_note = models.CharField(_("condition note"), max_length=300, blank=True)
    received_at = models.DateTimeField(_("received at"))
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("received by"), on_delete=models.PROTECT, related_name="+"
    )
    holder = models.CharField(_("current holder"), max_length=150, blank=True)
    location = models.CharField(_("current location"), max_length=200, blank=True)
    disposition = models.CharField(
        _("disposition"), max_length=12, choices=Disposition.choices, default=Disposition.IN_CUSTODY
    )

    class Meta:
        ordering = ("request", "code")
        verbose_name = _("sample")
        verbose_name_plural = _("samples")

    def __str__(self) -> str:
        return f"{self.code} {self.description}"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q(request__in=ServiceRequest.objects.visible_to(user).values("pk"))

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return managed_lab_q(user, "request__lab") if _is_manager_at_all(user) else _nothing()


class CustodyEvent(models.Model):
    """One link of a sample's chain of custody: who handed it to whom, where, when. Append-only: the
    service writes events and never changes or deletes one."""

    class Action(models.TextChoices):
        RECEIVED = "received", _("received from the client")
        STORED = "stored", _("stored")
        TRANSFERRED = "transferred", _("handed over")
        TESTED = "tested", _("tested")
        RETURNED = "returned", _("returned to the client")
        DISPOSED = "disposed", _("disposed of")

    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="custody")
    action = models.CharField(_("action"), max_length=12, choices=Action.choices)
    at = models.DateTimeField(_("at"), default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), on_delete=models.PROTECT, related_name="+"
    )
    holder = models.CharField(_("to"), max_length=150, blank=True, help_text=_("the person now holding it"))
    location = models.CharField(_("location"), max_length=200, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ("sample", "at", "id")
        verbose_name = _("custody event")
        verbose_name_plural = _("custody events")

    def __str__(self) -> str:
        return f"{self.sample.code} {self.get_action_display()} {self.at:%Y-%m-%d %H:%M}"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q(sample__in=Sample.objects.visible_to(user).values("pk"))

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _nothing()
