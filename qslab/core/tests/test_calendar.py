"""Working days in mainland China: holidays off, adjusted weekend working days on, office edits win."""

import datetime as dt

from qslab.core.calendar import add_days, is_working_day, seed_china_calendar, working_days_between
from qslab.core.models import CalendarDay


def test_national_day_week_is_skipped_when_counting_working_days(db):
    seed_china_calendar([2026])
    # 2026-09-30 (Wed) + 1 working day: Oct 1-7 are off (Oct 5 observed), so the next is Oct 8.
    assert not is_working_day(dt.date(2026, 10, 1))
    assert add_days(dt.date(2026, 9, 30), 1) == dt.date(2026, 10, 8)


def test_an_adjusted_weekend_working_day_counts(db):
    seed_china_calendar([2026])
    # The package records Jan 2 (Fri) as a day off substituted from Sunday Jan 4, a working day.
    assert is_working_day(dt.date(2026, 1, 4))
    assert not is_working_day(dt.date(2026, 1, 2))
    assert add_days(dt.date(2026, 1, 1), 1) == dt.date(2026, 1, 4)


def test_seeding_twice_changes_nothing_and_keeps_office_edits(db):
    seed_china_calendar([2026])
    CalendarDay.objects.filter(date=dt.date(2026, 10, 8)).delete()
    CalendarDay.objects.create(
        date=dt.date(2026, 10, 8), is_working_day=False, name="extra day off", source="office"
    )
    before = CalendarDay.objects.count()
    assert seed_china_calendar([2026]) == 0
    assert CalendarDay.objects.count() == before
    assert add_days(dt.date(2026, 9, 30), 1) == dt.date(2026, 10, 9)


def test_calendar_days_default_to_monday_to_friday(db):
    assert add_days(dt.date(2030, 3, 8), 1) == dt.date(2030, 3, 11)  # Friday -> Monday
    assert add_days(dt.date(2030, 3, 8), 3, working=False) == dt.date(2030, 3, 11)
    assert working_days_between(dt.date(2030, 3, 8), dt.date(2030, 3, 15)) == 5


def test_due_date_api_counts_working_days(db, client):
    seed_china_calendar([2026])
    response = client.get("/api/platform/calendar/due-date?days=1&start=2026-09-30")
    assert response.status_code == 200 and response.json()["due"] == "2026-10-08"
