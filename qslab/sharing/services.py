"""Open sharing: the operations that change state, and the figures other apps read.

``book_resource`` checks every rule of the resource on the server and serialises bookings of one
resource (a lock on its row); on PostgreSQL an exclusion constraint refuses overlapping bookings of the
same slot as well, so two requests at the same instant cannot both succeed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from qslab.accounts.roles import Role, has_role
from qslab.core.context import acting_as
from qslab.core.notifications import notify
from qslab.core.services import apply_transition, watch
from qslab.labs.models import Laboratory
from qslab.sharing.models import (
    ACTIVE_BOOKING_STATES,
    Blackout,
    Booking,
    CustodyEvent,
    Invoice,
    Qualification,
    Resource,
    Sample,
    ServiceRequest,
    Standing,
    Tariff,
    UserClass,
    manages_lab,
)

RESOURCE_FIELDS = (
    "code", "kind", "name_zh", "name_en", "description_zh", "description_en", "model_name", "maker",
    "value", "location", "status", "capabilities_zh", "capabilities_en", "accreditation_scope",
    "published", "bookable", "open_weekdays", "opens_at", "closes_at", "min_notice_hours",
    "max_notice_days", "min_duration_minutes", "max_duration_minutes", "buffer_minutes", "capacity",
    "requires_approval", "requires_qualification", "cancel_notice_hours",
)  # fmt: skip

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# --------------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------------


def search_catalogue(
    user: Any, q: str = "", kind: str = "", lab: str = "", status: str = "", region: str = ""
) -> models.QuerySet:
    """Resources ``user`` may see, filtered; ``q`` matches names, maker, model, capabilities (zh, en)."""
    qs = Resource.objects.visible_to(user).select_related("lab")
    q = q.strip()
    if q:
        qs = qs.filter(
            Q(name_zh__icontains=q)
            | Q(name_en__icontains=q)
            | Q(code__icontains=q)
            | Q(maker__icontains=q)
            | Q(model_name__icontains=q)
            | Q(capabilities_zh__icontains=q)
            | Q(capabilities_en__icontains=q)
            | Q(accreditation_scope__icontains=q)
            | Q(lab__name_zh__icontains=q)
            | Q(lab__name_en__icontains=q)
        )
    if kind in Resource.Kind.values:
        qs = qs.filter(kind=kind)
    if status in Resource.Status.values:
        qs = qs.filter(status=status)
    if lab:
        qs = qs.filter(lab__code=lab)
    if region:
        qs = qs.filter(lab__region_code__startswith=region[:2])
    return qs


@transaction.atomic
def save_resource(
    user: Any, lab: Laboratory, data: dict[str, Any], resource: Resource | None = None
) -> Resource:
    """Create or change a resource of ``lab``; only its lab managers (and the office) may."""
    if not manages_lab(user, lab) or (resource is not None and resource.lab_id != lab.pk):
        raise PermissionDenied(_("Only the managers of this laboratory manage its shared resources."))
    fields = [f for f in RESOURCE_FIELDS if f in data]
    weekdays = data.get("open_weekdays")
    if weekdays is not None and (not weekdays or set(weekdays) - set("0123456")):
        raise ValidationError(
            {"open_weekdays": _("Write the open weekdays as digits 0 (Monday) to 6 (Sunday).")}
        )
    if "opens_at" in data and "closes_at" in data and data["closes_at"] <= data["opens_at"]:
        raise ValidationError({"closes_at": _("The closing time must be after the opening time.")})
    if (
        "min_duration_minutes" in data
        and "max_duration_minutes" in data
        and data["max_duration_minutes"] < data["min_duration_minutes"]
    ):
        raise ValidationError(
            {"max_duration_minutes": _("The maximum duration is shorter than the minimum.")}
        )
    with acting_as(user):
        if resource is None:
            if Resource.objects.filter(lab=lab, code=data.get("code", "")).exists():
                raise ValidationError({"code": _("This laboratory already has a resource with this code.")})
            resource = Resource(lab=lab, **{f: data[f] for f in fields})
            resource.full_clean()
            resource.save()
        else:
            if (
                "code" in data
                and Resource.objects.filter(lab=lab, code=data["code"]).exclude(pk=resource.pk).exists()
            ):
                raise ValidationError({"code": _("This laboratory already has a resource with this code.")})
            for f in fields:
                setattr(resource, f, data[f])
            resource.full_clean()
            resource.save(update_fields=[*fields, "last_updated"])
    return resource


@transaction.atomic
def add_blackout(
    user: Any, resource: Resource, kind: str, starts: dt.datetime, ends: dt.datetime, reason: str = ""
) -> Blackout:
    if not manages_lab(user, resource.lab):
        raise PermissionDenied(_("Only the managers of this laboratory manage its shared resources."))
    if ends <= starts:
        raise ValidationError({"ends": _("The end must be after the start.")})
    with acting_as(user):
        return Blackout.objects.create(resource=resource, kind=kind, starts=starts, ends=ends, reason=reason)


@transaction.atomic
def grant_qualification(user: Any, resource: Resource, person: Any, note: str = "") -> Qualification:
    if not manages_lab(user, resource.lab):
        raise PermissionDenied(_("Only the managers of this laboratory qualify users on its resources."))
    with acting_as(user):
        qualification, _created = Qualification.objects.get_or_create(
            resource=resource, user=person, defaults={"granted_by": user, "note": note}
        )
    return qualification


# --------------------------------------------------------------------------------------------------
# Booking rules
# --------------------------------------------------------------------------------------------------


def _local(moment: dt.datetime) -> dt.datetime:
    return timezone.localtime(moment)


def _fmt(moment: dt.datetime) -> str:
    return f"{_local(moment):%Y-%m-%d %H:%M}"


def rule_problems(
    resource: Resource, user: Any, starts: dt.datetime, ends: dt.datetime, now: dt.datetime | None = None
) -> list[str]:
    """Every rule the requested time breaks, as sentences (overlaps are checked under the lock)."""
    now = now or timezone.now()
    problems: list[str] = []
    name = str(resource)
    if not resource.bookable or resource.status != Resource.Status.AVAILABLE:
        problems.append(
            _("%(resource)s is not open for booking (%(status)s).")
            % {
                "resource": name,
                "status": resource.get_status_display() if resource.bookable else _("not bookable"),
            }
        )
        return problems
    if ends <= starts:
        return [_("The end must be after the start.")]
    standing = Standing.objects.filter(user=user).first()
    if standing is not None and standing.is_blocked(now):
        problems.append(
            _("You may not book until %(date)s: too many missed bookings.")
            % {"date": _fmt(standing.blocked_until)}
        )
    start_l, end_l = _local(starts), _local(ends)
    days = ", ".join(WEEKDAYS[int(d)] for d in sorted(set(resource.open_weekdays)))
    if (
        str(start_l.weekday()) not in resource.open_weekdays
        or start_l.date() != end_l.date()
        or start_l.time() < resource.opens_at
        or end_l.time() > resource.closes_at
    ):
        problems.append(
            _("%(resource)s can be booked only between %(opens)s and %(closes)s on %(days)s.")
            % {
                "resource": name,
                "opens": resource.opens_at.strftime("%H:%M"),
                "closes": resource.closes_at.strftime("%H:%M"),
                "days": days,
            }
        )
    if starts - now < dt.timedelta(hours=resource.min_notice_hours):
        problems.append(
            _("%(resource)s must be booked at least %(hours)s hours ahead.")
            % {"resource": name, "hours": resource.min_notice_hours}
        )
    if starts - now > dt.timedelta(days=resource.max_notice_days):
        problems.append(
            _("%(resource)s can be booked at most %(days)s days ahead.")
            % {"resource": name, "days": resource.max_notice_days}
        )
    minutes = (ends - starts).total_seconds() / 60
    if minutes < resource.min_duration_minutes:
        problems.append(
            _("A booking of %(resource)s lasts at least %(minutes)s minutes.")
            % {"resource": name, "minutes": resource.min_duration_minutes}
        )
    if minutes > resource.max_duration_minutes:
        problems.append(
            _("A booking of %(resource)s lasts at most %(minutes)s minutes.")
            % {"resource": name, "minutes": resource.max_duration_minutes}
        )
    for blackout in resource.blackouts.filter(starts__lt=ends, ends__gt=starts):
        problems.append(
            _("%(resource)s is unavailable from %(starts)s to %(ends)s (%(kind)s%(reason)s).")
            % {
                "resource": name,
                "starts": _fmt(blackout.starts),
                "ends": _fmt(blackout.ends),
                "kind": blackout.get_kind_display(),
                "reason": f": {blackout.reason}" if blackout.reason else "",
            }
        )
    if (
        resource.requires_qualification
        and not Qualification.objects.filter(resource=resource, user=user).exists()
    ):
        problems.append(
            _("Only users qualified on %(resource)s may book it; ask the laboratory for training.")
            % {"resource": name}
        )
    return problems


def _free_slot(resource: Resource, starts: dt.datetime, ends: dt.datetime) -> tuple[int | None, str]:
    """The first free parallel slot for the time with its buffer, or None and why not."""
    buffer = dt.timedelta(minutes=resource.buffer_minutes)
    nearby = list(
        Booking.objects.filter(
            resource=resource,
            status__in=ACTIVE_BOOKING_STATES,
            starts__lt=ends + buffer,
            ends__gt=starts - buffer,
        ).order_by("starts")
    )
    for slot in range(resource.capacity):
        if not any(b.slot == slot for b in nearby):
            return slot, ""
    overlapping = [b for b in nearby if b.starts < ends and b.ends > starts]
    if overlapping:
        b = overlapping[0]
        return None, _(
            "This time overlaps another booking of %(resource)s (%(starts)s–%(ends)s); choose another time."
        ) % {"resource": resource, "starts": _fmt(b.starts), "ends": f"{_local(b.ends):%H:%M}"}
    return None, _("Bookings of %(resource)s need a gap of %(minutes)s minutes between them.") % {
        "resource": resource,
        "minutes": resource.buffer_minutes,
    }


def user_class_for(user: Any, lab: Laboratory) -> str:
    """Internal: the lab's own managers and staff of its supporting institution; academic or non-profit:
    members of a university or research institute; everyone else (and users without an organisation):
    industry."""
    from qslab.sharing.models import ACADEMIC_ORGANISATION_KINDS

    if has_role(user, Role.LAB_MANAGER, scope=lab):
        return UserClass.INTERNAL
    org_id = getattr(user, "organisation_id", None)
    if org_id and org_id == lab.supporting_institution_id:
        return UserClass.INTERNAL
    if org_id and user.organisation.kind in ACADEMIC_ORGANISATION_KINDS:
        return UserClass.ACADEMIC
    return UserClass.INDUSTRY


def booking_price(resource: Resource, user_class: str, starts: dt.datetime, ends: dt.datetime) -> Decimal:
    """Hours times the hourly tariff of the user class (no hourly tariff: no charge)."""
    rate = resource.price_for(user_class, Tariff.Unit.HOUR) or Decimal("0")
    hours = Decimal(str(round((ends - starts).total_seconds() / 3600, 4)))
    return (rate * hours).quantize(Decimal("0.01"))


def sample_estimate(resource: Resource | None, user_class: str, samples: int) -> Decimal | None:
    """Samples times the per-sample tariff of the user class; None when there is no such tariff."""
    if resource is None:
        return None
    rate = resource.price_for(user_class, Tariff.Unit.SAMPLE)
    return None if rate is None else (rate * samples).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class PriceQuote:
    user_class: str
    hourly: Decimal | None
    per_sample: Decimal | None
    amount: Decimal | None


def price_quote(
    user: Any,
    resource: Resource,
    starts: dt.datetime | None = None,
    ends: dt.datetime | None = None,
    samples: int | None = None,
) -> PriceQuote:
    """What ``user`` would pay for the resource: their class, its tariffs, and the amount for a time
    (hours times the hourly tariff) or a number of samples (samples times the per-sample tariff)."""
    user_class = (
        user_class_for(user, resource.lab) if getattr(user, "is_authenticated", False) else UserClass.INDUSTRY
    )
    amount = None
    if starts is not None and ends is not None and ends > starts:
        amount = booking_price(resource, user_class, starts, ends)
    elif samples is not None and samples > 0:
        amount = sample_estimate(resource, user_class, samples)
    return PriceQuote(
        user_class=user_class,
        hourly=resource.price_for(user_class, Tariff.Unit.HOUR),
        per_sample=resource.price_for(user_class, Tariff.Unit.SAMPLE),
        amount=amount,
    )


@transaction.atomic
def set_tariffs(user: Any, resource: Resource, prices: dict[tuple[str, str], Decimal | None]) -> list[Tariff]:
    """Replace the given prices of the resource: ``{(user_class, unit): price or None (no tariff)}``.
    Prices already fixed on bookings and service requests do not change."""
    if not manages_lab(user, resource.lab):
        raise PermissionDenied(_("Only the managers of this laboratory manage its shared resources."))
    errors = []
    for (user_class, unit), price in prices.items():
        if user_class not in UserClass.values or unit not in Tariff.Unit.values:
            errors.append(_("Unknown user class or unit: %(c)s / %(u)s.") % {"c": user_class, "u": unit})
        elif price is not None and price < 0:
            errors.append(_("A price must be zero or more."))
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        for (user_class, unit), price in prices.items():
            existing = Tariff.objects.filter(resource=resource, user_class=user_class, unit=unit).first()
            if price is None:
                if existing is not None:
                    existing.delete()
            elif existing is None:
                Tariff.objects.create(resource=resource, user_class=user_class, unit=unit, price=price)
            elif existing.price != price:
                existing.price = price
                existing.save(update_fields=["price", "last_updated"])
    return list(resource.tariffs.all())


MAX_REPEAT_WEEKS = 26


def book_resource(
    user: Any,
    resource: Resource,
    starts: dt.datetime,
    ends: dt.datetime,
    purpose: str = "",
    repeat_weeks: int = 1,
) -> Booking:
    """Book ``resource`` for ``user`` (weekly for ``repeat_weeks`` weeks: all or nothing) or raise
    ``ValidationError`` naming every rule broken, by week when the booking repeats. Returns the first."""
    return book_recurring(user, resource, starts, ends, purpose, repeat_weeks)[0]


def book_recurring(
    user: Any,
    resource: Resource,
    starts: dt.datetime,
    ends: dt.datetime,
    purpose: str = "",
    repeat_weeks: int = 1,
) -> list[Booking]:
    if user is None or not user.is_authenticated:
        raise PermissionDenied(_("Sign in to book."))
    if not Resource.objects.visible_to(user).filter(pk=resource.pk).exists():
        raise PermissionDenied(_("This resource is not in the catalogue."))
    if not 1 <= repeat_weeks <= MAX_REPEAT_WEEKS:
        raise ValidationError(
            {"repeat_weeks": _("A booking repeats for 1 to %(n)s weeks.") % {"n": MAX_REPEAT_WEEKS}}
        )
    times = [(starts + dt.timedelta(weeks=i), ends + dt.timedelta(weeks=i)) for i in range(repeat_weeks)]

    def label(i: int, message: str) -> str:
        if repeat_weeks == 1:
            return message
        return _("%(date)s: %(problem)s") % {"date": f"{_local(times[i][0]):%Y-%m-%d}", "problem": message}

    problems = [label(i, p) for i, (s, e) in enumerate(times) for p in rule_problems(resource, user, s, e)]
    if problems:
        raise ValidationError(problems)
    made: list[Booking] = []
    try:
        with transaction.atomic():
            # the per-resource lock: one booking of this resource at a time (a row lock on PostgreSQL,
            # the database write lock on SQLite, taken here at the start of the transaction)
            Resource.objects.filter(pk=resource.pk).update(booking_lock=F("booking_lock") + 1)
            locked = Resource.objects.select_for_update().select_related("lab").get(pk=resource.pk)
            status = "requested" if locked.requires_approval else "approved"
            user_class = user_class_for(user, locked.lab)
            for i, (s, e) in enumerate(times):
                slot, why = _free_slot(locked, s, e)
                if slot is None:
                    problems.append(label(i, why))
                    continue
                with acting_as(user):
                    made.append(
                        Booking.objects.create(
                            resource=locked,
                            user=user,
                            starts=s,
                            ends=e,
                            slot=slot,
                            status=status,
                            purpose=purpose[:300],
                            user_class=user_class,
                            price=booking_price(locked, user_class, s, e),
                        )
                    )
            if problems:
                raise ValidationError(problems)
    except IntegrityError as exc:  # the exclusion constraint (PostgreSQL) caught a simultaneous booking
        raise ValidationError([_("This time was just booked by someone else; choose another time.")]) from exc
    for booking in made:
        watch(booking, user)
    return made


def move_booking(user: Any, booking: Booking, transition: str, reason: str = "") -> Booking:
    apply_transition(booking, transition, user, reason=reason)
    booking.refresh_from_db()
    return booking


def release_no_shows(now: dt.datetime | None = None) -> int:
    """The job: approved bookings not checked in within the grace period become no-shows (and count as
    a violation of their booker); returns how many were released."""
    from qslab.sharing.models import NO_SHOW_GRACE_MINUTES

    now = now or timezone.now()
    due = Booking.objects.filter(
        status="approved", starts__lte=now - dt.timedelta(minutes=NO_SHOW_GRACE_MINUTES)
    ).values_list("pk", flat=True)
    released = 0
    for pk in list(due):
        booking = Booking.objects.get(pk=pk)
        apply_transition(booking, "no_show", None, reason=_("not checked in"))
        released += 1
    return released


REMIND_STATES = ("approved", "requested")


@transaction.atomic
def send_booking_reminders(now: dt.datetime | None = None) -> int:
    """The daily job's part for bookings: remind each booker of their bookings that start tomorrow
    (approved ones, and requested ones still awaiting approval), once per booking; returns how many."""
    now = now or timezone.now()
    tz = timezone.get_current_timezone()
    tomorrow = timezone.localtime(now).date() + dt.timedelta(days=1)
    start = dt.datetime.combine(tomorrow, dt.time.min, tzinfo=tz)
    due = (
        Booking.objects.select_for_update()
        .filter(status__in=REMIND_STATES, reminded_at__isnull=True, starts__gte=start)
        .filter(starts__lt=start + dt.timedelta(days=1))
        .select_related("resource", "resource__lab", "user")
        .order_by("starts")
    )
    sent = 0
    for b in due:
        s, e = _local(b.starts), _local(b.ends)
        pending_en = "" if b.status == "approved" else " It still awaits the laboratory's approval."
        pending_zh = "" if b.status == "approved" else "该预约仍待实验室审批。"
        notify(
            [b.user],
            verb="reminder",
            obj=b,
            text_en=(
                f"Reminder: you have booked {b.resource.name_en} ({b.resource.lab.name_en}) tomorrow, "
                f"{s:%Y-%m-%d} {s:%H:%M}–{e:%H:%M}. Check in on arrival; cancellation is possible up to "
                f"{b.resource.cancel_notice_hours} h before the start.{pending_en}"
            ),
            text_zh=(
                f"提醒：您已预约明天（{s:%Y-%m-%d}）{s:%H:%M}–{e:%H:%M} 使用{b.resource.name_zh}"
                f"（{b.resource.lab.name_zh}）。到达后请签到；如需取消，请在开始前 "
                f"{b.resource.cancel_notice_hours} 小时之前办理。{pending_zh}"
            ),
        )
        Booking.objects.filter(pk=b.pk).update(reminded_at=now)  # bookkeeping of the job, not a change
        sent += 1
    return sent


# --------------------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarEntry:
    starts: dt.datetime
    ends: dt.datetime
    label: str
    kind: str  # "booking", "mine", "blackout"
    top: float  # percent of the day column
    height: float


@dataclass(frozen=True)
class CalendarDay:
    date: dt.date
    open: bool
    entries: list[CalendarEntry]


def week_of(resource: Resource, user: Any, monday: dt.date) -> list[CalendarDay]:
    """The seven days from ``monday`` with the resource's bookings and blackouts placed on the opening
    hours (other people's bookings are shown as "booked", without names)."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(monday, dt.time.min, tzinfo=tz)
    end = start + dt.timedelta(days=7)
    bookings = list(
        resource.bookings.filter(status__in=ACTIVE_BOOKING_STATES, starts__lt=end, ends__gt=start)
    )
    blackouts = list(resource.blackouts.filter(starts__lt=end, ends__gt=start))
    day_minutes = max(
        1,
        (resource.closes_at.hour * 60 + resource.closes_at.minute)
        - (resource.opens_at.hour * 60 + resource.opens_at.minute),
    )
    days = []
    for i in range(7):
        date = monday + dt.timedelta(days=i)
        d_open = dt.datetime.combine(date, resource.opens_at, tzinfo=tz)
        d_close = dt.datetime.combine(date, resource.closes_at, tzinfo=tz)
        items = [
            (
                b.starts,
                b.ends,
                *(
                    ("mine", _("my booking"))
                    if getattr(user, "pk", None) == b.user_id
                    else ("booking", _("booked"))
                ),
            )
            for b in bookings
        ] + [(bo.starts, bo.ends, "blackout", bo.get_kind_display()) for bo in blackouts]
        entries = []
        for s, e, kind, label in items:
            s, e = max(s, d_open), min(e, d_close)
            if e <= s:
                continue
            top = (s - d_open).total_seconds() / 60 / day_minutes * 100
            height = (e - s).total_seconds() / 60 / day_minutes * 100
            entries.append(CalendarEntry(s, e, str(label), kind, round(top, 2), round(height, 2)))
        days.append(CalendarDay(date, str(date.weekday()) in resource.open_weekdays, entries))
    return days


# --------------------------------------------------------------------------------------------------
# Availability search across the catalogue
# --------------------------------------------------------------------------------------------------


class EpochSeconds(models.Func):
    """Seconds since 1970 of a datetime column, computed by the database (so no datetime objects are
    built for thousands of rows)."""

    output_field = models.BigIntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        if connection.Database.sqlite_version_info >= (3, 38):  # unixepoch(): same value, cheaper
            return self.as_sql(compiler, connection, template="unixepoch(%(expressions)s)")
        return self.as_sql(
            compiler, connection, template="CAST(strftime('%%%%s', %(expressions)s) AS INTEGER)"
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="CAST(EXTRACT(EPOCH FROM %(expressions)s) AS BIGINT)"
        )


class ClockMinutes(models.Func):
    """Minutes after midnight of a time column, computed by the database (no ``time`` objects parsed)."""

    output_field = models.IntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="(CAST(substr(%(expressions)s, 1, 2) AS INTEGER) * 60"
            " + CAST(substr(%(expressions)s, 4, 2) AS INTEGER))",
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="CAST(EXTRACT(HOUR FROM %(expressions)s) * 60 + EXTRACT(MINUTE FROM %(expressions)s)"
            " AS INTEGER)",
        )


@dataclass(slots=True)
class FreeResource:
    """A bookable resource with free time in the searched week: its free windows (each at least the
    asked duration, within opening hours, outside closures, bookings and their buffers), earliest first.
    The windows are kept as minutes from the week's start and turned into datetimes when read."""

    resource_id: int
    code: str
    lab_code: str
    name_zh: str
    name_en: str
    week_start: dt.datetime
    minutes: tuple[tuple[int, int], ...]

    @property
    def windows(self) -> tuple[tuple[dt.datetime, dt.datetime], ...]:
        step = dt.timedelta(minutes=1)
        return tuple((self.week_start + s * step, self.week_start + e * step) for s, e in self.minutes)

    @property
    def first_free(self) -> dt.datetime:
        return self.week_start + dt.timedelta(minutes=self.minutes[0][0])

    @property
    def free_minutes(self) -> int:
        return sum(e - s for s, e in self.minutes)

    @property
    def free_hours(self) -> float:
        return self.free_minutes / 60


#: the catalogue columns the search reads, opening and closing times as minutes after midnight (the
#: expressions last: raw from the cursor, the columns come in this order)
AVAILABILITY_FIELDS = (
    "pk", "code", "lab__code", "name_zh", "name_en", "open_weekdays", "capacity", "buffer_minutes",
    ClockMinutes("opens_at"), ClockMinutes("closes_at"),
)  # fmt: skip


def opening_minutes(
    weekdays: str, opens: dt.time, closes: dt.time, day_starts: list[int], floor: int
) -> list[tuple[int, int]]:
    """The opening hours of a week as minutes from its start (``day_starts``: each day's midnight),
    nothing before ``floor``."""
    return _opening(
        weekdays, opens.hour * 60 + opens.minute, closes.hour * 60 + closes.minute, day_starts, floor
    )


def _opening(weekdays: str, o: int, c: int, day_starts: list[int], floor: int) -> list[tuple[int, int]]:
    out = []
    for i, d in enumerate(day_starts):
        if str(i) in weekdays and d + c > floor:
            out.append((max(d + o, floor), d + c))
    return out


#: a booking lies within one day (a rule of ``book_resource``), so one overlapping a week starts at most a
#: day before it; the bookings query is bounded by this, and an index on the start serves it
BOOKING_SPAN = dt.timedelta(days=1)


def search_availability(
    user: Any,
    monday: dt.date,
    minutes: int = 60,
    q: str = "",
    kind: str = "",
    lab: str = "",
    region: str = "",
    now: dt.datetime | None = None,
) -> list[FreeResource]:
    """Bookable resources ``user`` may see with at least one free window of ``minutes`` in the week from
    ``monday``, earliest free first. Three queries whatever the size of the catalogue (the resources, the
    week's active bookings, the week's closures), times as integers from the database, the windows computed
    in memory."""
    tz = timezone.get_current_timezone()
    monday = monday - dt.timedelta(days=monday.weekday())
    start = dt.datetime.combine(monday, dt.time.min, tzinfo=tz)
    end = start + dt.timedelta(days=7)
    now = now or timezone.now()
    if now >= end:
        return []
    catalogue = search_catalogue(
        user, q=q, kind=kind, lab=lab, status=Resource.Status.AVAILABLE, region=region
    ).filter(bookable=True)
    rows = _raw_rows(catalogue.order_by().values_list(*AVAILABILITY_FIELDS))
    if not rows:
        return []
    base = int(start.timestamp())
    day_starts = [
        int((dt.datetime.combine(monday + dt.timedelta(days=i), dt.time.min, tzinfo=tz)).timestamp() - base)
        // 60
        for i in range(7)
    ]
    floor = max(0, -(-(int(now.timestamp()) - base) // 60))  # the next whole minute from now
    margin = dt.timedelta(minutes=max(r[7] for r in rows))
    ids = [r[0] for r in rows]
    few = len(ids) <= 200  # a narrow search filters the bookings by resource; a wide one by time only
    booking_qs = Booking.objects.filter(
        status__in=ACTIVE_BOOKING_STATES,
        starts__gte=start - BOOKING_SPAN - margin,
        starts__lt=end + margin,
        ends__gt=start - margin,
    )
    closure_qs = Blackout.objects.filter(starts__lt=end, ends__gt=start)
    if few:
        booking_qs, closure_qs = booking_qs.filter(resource__in=ids), closure_qs.filter(resource__in=ids)
    times = (EpochSeconds("starts"), EpochSeconds("ends"))
    booked = _int_rows(booking_qs.order_by().values_list("resource_id", "slot", *times), 4)
    closed = _int_rows(closure_qs.order_by().values_list("resource_id", *times), 3)
    found = []
    for i, windows in _week_windows(rows, booked, closed, base, day_starts, floor, minutes):
        r = rows[i]
        found.append(FreeResource(r[0], r[1], r[2], r[3], r[4], start, windows))
    found.sort(key=lambda f: (f.minutes[0][0], f.lab_code, f.code))
    return found


def _raw_rows(qs: models.QuerySet) -> list[tuple]:
    """The rows of a ``values_list`` query straight from the cursor, without Django's per-row converters
    (the SQL is the ORM's; the caller converts what it needs)."""
    from django.db import connections

    sql, params = qs.query.sql_with_params()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _int_rows(qs: models.QuerySet, width: int) -> Any:
    """The rows of an all-integer ``values_list`` query as an array, read straight from the cursor."""
    return np.array(_raw_rows(qs), dtype=np.int64).reshape(-1, width)


#: sentinels around a week in minutes, and the stride that keeps each group's intervals apart when the
#: intervals of all groups are sorted and swept together
_FAR = 1_000_000
_STRIDE = 4 * _FAR


def _ranges(first: Any, count: Any) -> Any:
    """``first[k], first[k] + 1, ..., first[k] + count[k] - 1`` for every k, concatenated."""
    total = int(count.sum())
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    return np.repeat(first, count) + within


def _week_windows(
    rows: list[tuple],
    booked: Any,
    closed: Any,
    base: int,
    day_starts: list[int],
    floor: int,
    minutes: int,
) -> list[tuple[int, tuple[tuple[int, int], ...]]]:
    """Free windows (minutes from the week's start) of the rows of ``AVAILABILITY_FIELDS`` that have any:
    (row index, windows), by row.

    ``booked`` holds (resource, slot, start, end) and ``closed`` (resource, start, end) in epoch seconds.
    All in numpy at once, whatever the number of resources: each parallel slot of each resource is a group;
    every busy interval of every group (closed hours, closures, the slot's bookings widened by the buffer)
    is sorted by (group, start) and swept with a running maximum of the ends, a gap between that maximum
    and the next start being free time on that slot; the slots' free times of a resource are then merged
    (a second sweep by (resource, start)) and the windows of at least ``minutes`` kept."""
    n = len(rows)
    row_ids = np.array([r[0] for r in rows], dtype=np.int64)
    max_id = int(row_ids.max())
    index = np.full(max_id + 1, -1, dtype=np.int64)
    index[row_ids] = np.arange(n)
    buffer = np.array([r[7] for r in rows], dtype=np.int64)
    cap = np.maximum(np.array([r[6] for r in rows], dtype=np.int64), 1)
    goff = np.cumsum(cap) - cap  # the first group of each row
    group_row = np.repeat(np.arange(n, dtype=np.int64), cap)

    def local(ids: Any) -> Any:
        known = ids <= max_id
        out = np.full(ids.shape, -1, dtype=np.int64)
        out[known] = index[ids[known]]
        return out

    # the closed hours of each opening pattern, with sentinels, for every slot of its resources
    patterns: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        patterns.setdefault((r[5], r[8], r[9]), []).append(i)
    parts_g, parts_s, parts_e = [], [], []
    for (weekdays, opens, closes), members in patterns.items():
        edges = [-_FAR]
        for s, e in _opening(weekdays, opens, closes, day_starts, floor):
            edges += [s, e]
        edges.append(_FAR)
        starts, ends = np.array(edges[0::2], dtype=np.int64), np.array(edges[1::2], dtype=np.int64)
        m = np.array(members, dtype=np.int64)
        groups = _ranges(goff[m], cap[m])
        parts_g.append(np.repeat(groups, starts.size))
        parts_s.append(np.tile(starts, groups.size))
        parts_e.append(np.tile(ends, groups.size))
    # bookings on their slot, widened by the buffer (a slot beyond the capacity is ignored)
    b_idx = local(booked[:, 0])
    keep = b_idx >= 0
    keep[keep] &= booked[keep, 1] < cap[b_idx[keep]]
    b_row, b_slot = b_idx[keep], booked[keep, 1]
    parts_g.append(goff[b_row] + b_slot)
    parts_s.append((booked[keep, 2] - base) // 60 - buffer[b_row])
    parts_e.append(-((base - booked[keep, 3]) // 60) + buffer[b_row])
    # closures on every slot
    c_idx = local(closed[:, 0])
    c_row = c_idx[c_idx >= 0]
    c_start = (closed[c_idx >= 0, 1] - base) // 60
    c_end = -((base - closed[c_idx >= 0, 2]) // 60)
    parts_g.append(_ranges(goff[c_row], cap[c_row]))
    parts_s.append(np.repeat(c_start, cap[c_row]))
    parts_e.append(np.repeat(c_end, cap[c_row]))
    g = np.concatenate(parts_g)
    if not g.size:
        return []
    s = np.clip(np.concatenate(parts_s), -_FAR, _FAR) + _FAR + g * _STRIDE
    e = np.clip(np.concatenate(parts_e), -_FAR, _FAR) + _FAR + g * _STRIDE
    order = np.argsort(s, kind="stable")
    g, s, e = g[order], s[order], e[order]
    reach = np.maximum.accumulate(e)
    gap_start, gap_end = reach[:-1], s[1:]
    hit = (g[:-1] == g[1:]) & (gap_end > gap_start)
    offsets = g[:-1][hit] * _STRIDE + _FAR
    w_row = group_row[g[:-1][hit]]
    w_start, w_end = gap_start[hit] - offsets, gap_end[hit] - offsets  # minutes from the week's start
    # merge the slots' free times of each resource (touching windows join), then keep the long ones
    shift = w_row * _STRIDE + _FAR
    ws, we = w_start + shift, w_end + shift
    if (cap > 1).any():
        order = np.argsort(ws, kind="stable")
        w_row, ws, we = w_row[order], ws[order], we[order]
    if not ws.size:
        return []
    reach = np.maximum.accumulate(we)
    first = np.ones(ws.size, dtype=bool)
    first[1:] = ws[1:] > reach[:-1]
    starts_at = np.flatnonzero(first)
    last = np.append(starts_at[1:], ws.size) - 1
    m_row = w_row[starts_at]
    m_start, m_end = ws[starts_at], reach[last]
    long_enough = m_end - m_start >= minutes
    m_row = m_row[long_enough]
    shift = m_row * _STRIDE + _FAR
    pairs = list(
        zip((m_start[long_enough] - shift).tolist(), (m_end[long_enough] - shift).tolist(), strict=True)
    )
    found_rows, first_at, counts = np.unique(m_row, return_index=True, return_counts=True)
    return [
        (i, tuple(pairs[a : a + c]))
        for i, a, c in zip(found_rows.tolist(), first_at.tolist(), counts.tolist(), strict=True)
    ]


def ics_for(bookings: Iterable[Booking], name: str) -> str:
    """An iCalendar feed of bookings (RFC 5545)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//qslab//sharing//EN", f"X-WR-CALNAME:{name}"]
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    for b in bookings:
        lines += [
            "BEGIN:VEVENT",
            f"UID:booking-{b.pk}@qslab",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{b.starts.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}",
            f"DTEND:{b.ends.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}",
            f"SUMMARY:{b.resource.name_en} ({b.status})",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


# --------------------------------------------------------------------------------------------------
# Service requests and billing
# --------------------------------------------------------------------------------------------------


@transaction.atomic
def request_service(user: Any, lab: Laboratory, data: dict[str, Any]) -> ServiceRequest:
    if user is None or not user.is_authenticated:
        raise PermissionDenied(_("Sign in to request a service."))
    resource = data.get("resource")
    if resource is not None and resource.lab_id != lab.pk:
        raise ValidationError({"resource": _("This resource belongs to another laboratory.")})
    samples = data.get("samples") or 1
    user_class = user_class_for(user, lab)
    with acting_as(user):
        req = ServiceRequest.objects.create(
            lab=lab,
            client=user,
            resource=resource,
            title=data["title"],
            details=data.get("details", ""),
            samples=samples,
            user_class=user_class,
            estimate=sample_estimate(resource, user_class, samples),
        )
    watch(req, user)
    return req


@transaction.atomic
def quote_request(
    user: Any, req: ServiceRequest, amount: Decimal | None = None, note: str = ""
) -> ServiceRequest:
    """Set the price and send the quote (the ``quote`` transition); without an amount the price by the
    tariff (samples times the per-sample price of the client's class) is quoted."""
    if not manages_lab(user, req.lab):
        raise PermissionDenied(_("Only the managers of this laboratory quote its services."))
    if amount is None:
        amount = req.estimate
        if amount is None:
            raise ValidationError(
                {"quote_amount": _("There is no per-sample tariff for this request: enter the price.")}
            )
    if amount < 0:
        raise ValidationError({"quote_amount": _("The quoted price must be zero or more.")})
    if req.status == "requested":
        req.quote_amount = amount
        req.quote_note = note
        with acting_as(user):
            req.save(update_fields=["quote_amount", "quote_note", "last_updated"])
    apply_transition(req, "quote", user)
    req.refresh_from_db()
    return req


def move_request(user: Any, req: ServiceRequest, transition: str, reason: str = "") -> ServiceRequest:
    apply_transition(req, transition, user, reason=reason)
    req.refresh_from_db()
    return req


@transaction.atomic
def receive_samples(
    user: Any, req: ServiceRequest, samples: list[dict[str, Any]], location: str = "", note: str = ""
) -> list[Sample]:
    """Record the samples that arrived (each with its condition on arrival), open their chain of custody
    with a "received" event, and move the accepted request to "samples received". ``samples``: dicts with
    ``description`` and optionally ``quantity``, ``condition``, ``condition_note``. A sample that is not
    intact needs a note saying what is wrong; every problem is reported at once and nothing is saved."""
    if not manages_lab(user, req.lab):
        raise PermissionDenied(_("Only the managers of this laboratory receive its samples."))
    if req.status != "accepted":
        raise ValidationError(_("Samples are received once the client has accepted the quote."))
    if not samples:
        raise ValidationError(_("Record at least one sample."))
    errors = []
    for i, item in enumerate(samples, start=1):
        if not (item.get("description") or "").strip():
            errors.append(_("Sample %(n)s: describe the sample.") % {"n": i})
        condition = item.get("condition") or Sample.Condition.INTACT
        if condition not in Sample.Condition.values:
            errors.append(_("Sample %(n)s: unknown condition.") % {"n": i})
        elif condition != Sample.Condition.INTACT and not (item.get("condition_note") or "").strip():
            errors.append(_("Sample %(n)s: say what is wrong with it on arrival.") % {"n": i})
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    made = []
    holder = user.get_full_name() or user.username
    with acting_as(user):
        for i, item in enumerate(samples, start=1):
            sample = Sample.objects.create(
                request=req,
                code=f"SR{req.pk}-{i:02d}",
                description=item["description"].strip()[:300],
                quantity=(item.get("quantity") or "")[:60],
                condition=item.get("condition") or Sample.Condition.INTACT,
                condition_note=(item.get("condition_note") or "")[:300],
                received_at=now,
                received_by=user,
                holder=holder[:150],
                location=location[:200],
            )
            CustodyEvent.objects.create(
                sample=sample,
                action=CustodyEvent.Action.RECEIVED,
                at=now,
                by=user,
                holder=holder[:150],
                location=location[:200],
                note=sample.get_condition_display()
                + (f": {sample.condition_note}" if sample.condition_note else ""),
            )
            made.append(sample)
        ServiceRequest.objects.filter(pk=req.pk).update(received_at=now, receipt_note=note)
    damaged = [s for s in made if s.condition != Sample.Condition.INTACT]
    reason = _("%(n)s samples received") % {"n": len(made)}
    if damaged:
        reason += "; " + "; ".join(
            f"{s.code}: {s.get_condition_display()} ({s.condition_note})" for s in damaged
        )
    apply_transition(req, "receive", user, reason=reason)
    return made


@transaction.atomic
def record_custody(
    user: Any, sample: Sample, action: str, holder: str = "", location: str = "", note: str = ""
) -> CustodyEvent:
    """Add a link to the sample's chain of custody (who has it now, where); a returned or disposed sample
    leaves the laboratory's custody and takes no further event."""
    if not manages_lab(user, sample.request.lab):
        raise PermissionDenied(_("Only the managers of this laboratory keep the custody of its samples."))
    if action not in CustodyEvent.Action.values or action == CustodyEvent.Action.RECEIVED:
        raise ValidationError({"action": _("Choose what happened to the sample.")})
    locked = Sample.objects.select_for_update().get(pk=sample.pk)
    if locked.disposition != Sample.Disposition.IN_CUSTODY:
        raise ValidationError(
            _("Sample %(code)s has left the laboratory's custody (%(disposition)s).")
            % {"code": locked.code, "disposition": locked.get_disposition_display()}
        )
    if action == CustodyEvent.Action.TRANSFERRED and not holder.strip():
        raise ValidationError({"holder": _("Name the person the sample is handed to.")})
    event = CustodyEvent.objects.create(
        sample=locked, action=action, by=user, holder=holder[:150], location=location[:200], note=note[:300]
    )
    locked.holder = holder[:150] or locked.holder
    locked.location = location[:200] or locked.location
    if action == CustodyEvent.Action.RETURNED:
        locked.disposition = Sample.Disposition.RETURNED
    elif action == CustodyEvent.Action.DISPOSED:
        locked.disposition = Sample.Disposition.DISPOSED
    with acting_as(user):
        locked.save(update_fields=["holder", "location", "disposition", "last_updated"])
    return event


@transaction.atomic
def save_results(
    user: Any, req: ServiceRequest, results_zh: str, results_en: str, method: str = ""
) -> ServiceRequest:
    """The lab writes the results (both languages) while the work is under way."""
    if not manages_lab(user, req.lab):
        raise PermissionDenied(_("Only the managers of this laboratory report its results."))
    if req.status not in ("received", "in_work"):
        raise ValidationError(_("Results are written after the samples are received, before the report."))
    req.results_zh, req.results_en, req.method = results_zh, results_en, method[:300]
    with acting_as(user):
        req.save(update_fields=["results_zh", "results_en", "method", "last_updated"])
    return req


def issue_report(
    user: Any, req: ServiceRequest, results_zh: str = "", results_en: str = "", method: str = ""
) -> ServiceRequest:
    """Save the results given (if any) and issue the numbered test report (the ``deliver`` transition)."""
    with transaction.atomic():
        if results_zh or results_en:
            save_results(user, req, results_zh, results_en, method or req.method)
        apply_transition(req, "deliver", user)
    req.refresh_from_db()
    return req


def issue_test_report(req: ServiceRequest, user: Any) -> Any:
    """Number and render the test report of a service request (an official document, zh + en, addressed
    to the client): the samples with their condition on arrival, their chain of custody, the method and
    the results. Called inside the ``deliver`` transition."""
    from django.utils import translation

    from qslab.core.documents import issue_document

    samples = list(req.sample_items.prefetch_related("custody").order_by("code"))
    who = req.client.get_full_name() or req.client.username
    received = f"{_local(req.received_at):%Y-%m-%d %H:%M}" if req.received_at else "—"
    body = {}
    for language, words in (
        ("zh-hans", ("委托方", "委托编号", "收样时间", "检测设备", "检测方法", "样品", "到样状态",
                     "检测结果")),
        ("en", ("Client", "Request", "Samples received", "Instrument", "Method", "Samples",
                "condition on arrival", "Results")),
    ):  # fmt: skip
        client_w, request_w, received_w, resource_w, method_w, samples_w, condition_w, results_w = words
        with translation.override(language):
            lines = [f"{client_w}: {who}", f"{request_w}: {req.pk}", f"{received_w}: {received}"]
            if req.resource is not None:
                name = req.resource.name_zh if language == "zh-hans" else req.resource.name_en
                lines.append(f"{resource_w}: {name}")
            if req.method:
                lines.append(f"{method_w}: {req.method}")
            lines.append(f"{samples_w}:")
            lines += [
                f"{x.code} {x.description} {x.quantity}, {condition_w}: {x.get_condition_display()}"
                + (f" ({x.condition_note})" if x.condition_note else "")
                for x in samples
            ]
            lines.append(f"{results_w}:")
            lines.append(req.results_zh if language == "zh-hans" else req.results_en)
        body[language] = "\n".join(lines)
    doc = issue_document(
        kind_code="sharing_test_report",
        title_zh=f"{req.lab.name_zh} 检测报告：{req.title}",
        title_en=f"{req.lab.name_en}: test report, {req.title}",
        body_zh=body["zh-hans"],
        body_en=body["en"],
        issued_by=user,
        public=False,
        subject=req,
        recipients=[req.client],
        template="sharing/pdf/test_report.html",
        extra_context={"request": req, "samples": samples},
    )
    ServiceRequest.objects.filter(pk=req.pk).update(report=doc)
    req.report = doc
    return doc


def issue_invoice(
    *,
    lab: Laboratory,
    client: Any,
    lines: list[tuple[str, Decimal]],
    issued_by: Any,
    service_request: ServiceRequest | None = None,
    period: str = "",
) -> Invoice:
    """Number and render an invoice (an official document addressed to the client)."""
    from qslab.core.documents import issue_document

    total = sum((Decimal(str(a)) for _label, a in lines), Decimal("0")).quantize(Decimal("0.01"))
    body_lines = "\n".join(f"{label}: {Decimal(str(a)):.2f} CNY" for label, a in lines)
    who = client.get_full_name() or client.username
    doc = issue_document(
        kind_code="sharing_invoice",
        title_zh=f"{lab.name_zh} 共享服务账单{(' ' + period) if period else ''}",
        title_en=f"{lab.name_en}: invoice for shared services{(' ' + period) if period else ''}",
        body_zh=f"客户：{who}\n{body_lines}\n合计：{total:.2f} 元",
        body_en=f"Client: {who}\n{body_lines}\nTotal: {total:.2f} CNY",
        issued_by=issued_by,
        public=False,
        subject=service_request or lab,
        recipients=[client],
    )
    with acting_as(issued_by):
        return Invoice.objects.create(
            lab=lab,
            client=client,
            period=period,
            lines=[[label, f"{Decimal(str(a)):.2f}"] for label, a in lines],
            total=total,
            document=doc,
            service_request=service_request,
        )


@transaction.atomic
def issue_monthly_statement(user: Any, lab: Laboratory, client: Any, year: int, month: int) -> Invoice:
    """A numbered statement of the client's completed, not yet invoiced bookings at ``lab`` in the month."""
    if not manages_lab(user, lab):
        raise PermissionDenied(_("Only the managers of this laboratory invoice its services."))
    bookings = list(
        Booking.objects.select_for_update()
        .filter(
            resource__lab=lab,
            user=client,
            status="completed",
            invoice__isnull=True,
            starts__year=year,
            starts__month=month,
        )
        .select_related("resource")
        .order_by("starts")
    )
    if not bookings:
        raise ValidationError(
            _("This client has no completed, uninvoiced bookings in %(period)s.")
            % {"period": f"{year}-{month:02d}"}
        )
    lines = [(f"{b} ({b.hours:.2f} h, {b.get_user_class_display()})", b.amount) for b in bookings]
    invoice = issue_invoice(lab=lab, client=client, lines=lines, issued_by=user, period=f"{year}-{month:02d}")
    Booking.objects.filter(pk__in=[b.pk for b in bookings]).update(invoice=invoice)
    return invoice


# --------------------------------------------------------------------------------------------------
# Usage statistics (offered to supervision and funding)
# --------------------------------------------------------------------------------------------------


def _open_hours_per_year(resource: Resource) -> float:
    per_day = (
        dt.datetime.combine(dt.date.min, resource.closes_at)
        - dt.datetime.combine(dt.date.min, resource.opens_at)
    ).total_seconds() / 3600
    return max(per_day, 0) * len(set(resource.open_weekdays)) * 52


def usage_summary(lab: Laboratory, year: int) -> dict[str, Any]:
    """Machine hours, external share and clients of ``lab`` in ``year`` (completed and checked-in
    bookings), per resource, plus the service requests received. Plain data, for any app to read."""
    bookings = Booking.objects.filter(
        resource__lab=lab, starts__year=year, status__in=("completed", "checked_in")
    ).select_related("resource")
    per_resource: dict[int, dict[str, Any]] = {}
    clients: set[int] = set()
    external_clients: set[int] = set()
    for r in Resource.objects.filter(lab=lab).order_by("code"):
        per_resource[r.pk] = {
            "code": r.code,
            "name_zh": r.name_zh,
            "name_en": r.name_en,
            "kind": r.kind,
            "hours": 0.0,
            "external_hours": 0.0,
            "bookings": 0,
            "utilisation": 0.0,
            "_open": _open_hours_per_year(r),
        }
    for b in bookings:
        row = per_resource[b.resource_id]
        row["hours"] += b.hours
        row["bookings"] += 1
        clients.add(b.user_id)
        if b.is_external:
            row["external_hours"] += b.hours
            external_clients.add(b.user_id)
    rows = []
    for row in per_resource.values():
        open_hours = row.pop("_open")
        row["hours"] = round(row["hours"], 2)
        row["external_hours"] = round(row["external_hours"], 2)
        row["utilisation"] = round(row["hours"] / open_hours, 4) if open_hours else 0.0
        rows.append(row)
    hours = round(sum(r["hours"] for r in rows), 2)
    external = round(sum(r["external_hours"] for r in rows), 2)
    requests = ServiceRequest.objects.filter(lab=lab, created__year=year)
    return {
        "lab": lab.code,
        "year": year,
        "machine_hours": hours,
        "external_hours": external,
        "external_share": round(external / hours, 4) if hours else 0.0,
        "clients": len(clients),
        "external_clients": len(external_clients),
        "bookings": sum(r["bookings"] for r in rows),
        "service_requests": requests.count(),
        "service_requests_invoiced": requests.filter(status="invoiced").count(),
        "resources": rows,
    }


# --------------------------------------------------------------------------------------------------
# Dashboard
# --------------------------------------------------------------------------------------------------


def queue_items(user: Any) -> list[Any]:
    """For lab managers: bookings awaiting approval and service requests to quote or deliver."""
    from qslab.core.dashboard import QueueItem

    if not (has_role(user, Role.OFFICE) or has_role(user, Role.LAB_MANAGER)):
        return []
    items = [
        QueueItem(
            label=_("Approve the booking %(booking)s") % {"booking": b},
            url=b.get_absolute_url(),
            due=_local(b.starts).date(),
            kind="sharing",
        )
        for b in Booking.objects.editable_by(user)
        .filter(status="requested", starts__gte=timezone.now())
        .select_related("resource")[:50]
        if manages_lab(user, b.resource.lab)
    ]
    todo = {
        "requested": _("Quote the service request %(req)s"),
        "accepted": _("Receive the samples of the service request %(req)s"),
        "received": _("Start the work on the service request %(req)s"),
        "in_work": _("Issue the test report of the service request %(req)s"),
    }
    items += [
        QueueItem(label=todo[r.status] % {"req": r}, url=r.get_absolute_url(), kind="sharing")
        for r in ServiceRequest.objects.editable_by(user).filter(status__in=list(todo))[:50]
    ]
    return items
