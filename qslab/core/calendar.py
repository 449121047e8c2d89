"""Working days in mainland China: weekends and public holidays off, adjusted working days (调休) on.

Exceptions to the Monday-to-Friday rule live in :class:`~qslab.core.models.CalendarDay` rows, seeded
from the maintained ``holidays`` package and editable by the office. Notice periods and due dates are
counted here.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db import transaction

from qslab.core.models import CalendarDay

_SUBSTITUTED = re.compile(r"substituted from (\d{2})/(\d{2})/(\d{4})")


def _exceptions(start: dt.date, end: dt.date) -> dict[dt.date, bool]:
    return dict(
        CalendarDay.objects.filter(date__gte=start, date__lte=end).values_list("date", "is_working_day")
    )


def is_working_day(day: dt.date) -> bool:
    override = _exceptions(day, day).get(day)
    return override if override is not None else day.weekday() < 5


def add_days(start: dt.date, days: int, *, working: bool = True) -> dt.date:
    """The date ``days`` (working) days after ``start``; ``start`` itself is not counted."""
    if not working:
        return start + dt.timedelta(days=days)
    if days < 0:
        raise ValueError("days must be >= 0")
    # Look far enough ahead for the longest holiday runs (Spring Festival, National Day).
    horizon = start + dt.timedelta(days=days * 2 + 30)
    overrides = _exceptions(start, horizon)
    day, remaining = start, days
    while remaining:
        day += dt.timedelta(days=1)
        working_day = overrides.get(day, day.weekday() < 5)
        if working_day:
            remaining -= 1
        if day > horizon:
            horizon = day + dt.timedelta(days=days + 30)
            overrides.update(_exceptions(day, horizon))
    return day


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 if ``end`` <= ``start``)."""
    if end <= start:
        return 0
    overrides = _exceptions(start, end)
    count, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        count += overrides.get(day, day.weekday() < 5)
    return count


@transaction.atomic
def seed_china_calendar(years: list[int]) -> int:
    """Load public holidays and adjusted working days for ``years``; rows the office edited are kept.

    Returns how many rows were created. Running it again creates nothing new.
    """
    import holidays

    created = 0
    for year in years:
        table = holidays.China(years=year, language="en_US")
        for day, name in sorted(table.items()):
            if day.weekday() < 5:
                _row, was_created = CalendarDay.objects.get_or_create(
                    date=day, defaults={"is_working_day": False, "name": name, "source": "holidays"}
                )
                created += was_created
            match = _SUBSTITUTED.search(name)
            if match:
                month, dom, yr = (int(g) for g in match.groups())
                workday = dt.date(yr, month, dom)
                _row, was_created = CalendarDay.objects.get_or_create(
                    date=workday,
                    defaults={
                        "is_working_day": True,
                        "name": f"Adjusted working day for {day}",
                        "source": "holidays",
                    },
                )
                created += was_created
    return created
