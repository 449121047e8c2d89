"""Availability search across the catalogue: which bookable resources have a free window of a given
length in a week, after opening hours, closures, bookings with their buffers and parallel capacity."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from qslab.core.testing import make_user
from qslab.sharing import services
from qslab.sharing.models import Blackout, Booking
from qslab.sharing.tests.conftest import make_resource

MONDAY_ONLY = {"open_weekdays": "0", "opens_at": dt.time(8), "closes_at": dt.time(18)}


@pytest.fixture
def monday():
    today = timezone.localdate()
    return today + dt.timedelta(days=14 - today.weekday())


def local(day, hour, minute=0):
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_current_timezone())


@pytest.fixture
def lab(labs):
    return labs[0]


def booked(resource, starts, ends, slot=0, status="approved"):
    """Test set-up: a booking row written directly (the rules are tested elsewhere)."""
    return Booking.objects.create(
        resource=resource, user=make_user("client"), starts=starts, ends=ends, slot=slot, status=status
    )


def windows(found, code):
    (hit,) = [f for f in found if f.code == code]
    return [(f"{timezone.localtime(s):%H:%M}", f"{timezone.localtime(e):%H:%M}") for s, e in hit.windows]


def test_free_windows_are_opening_hours_minus_bookings_and_too_short_gaps_do_not_count(lab, monday):
    r = make_resource(lab, "sem", **MONDAY_ONLY)
    booked(r, local(monday, 8), local(monday, 17, 30))
    assert [f.code for f in services.search_availability(None, monday, 60)] == []
    found = services.search_availability(None, monday, 30)
    assert windows(found, "sem") == [("17:30", "18:00")]


def test_the_buffer_around_bookings_is_not_free(lab, monday):
    r = make_resource(lab, "sem", buffer_minutes=30, **MONDAY_ONLY)
    booked(r, local(monday, 9), local(monday, 17))
    assert windows(services.search_availability(None, monday, 30), "sem") == [
        ("08:00", "08:30"),
        ("17:30", "18:00"),
    ]


def test_a_resource_with_two_parallel_slots_is_free_while_one_slot_is(lab, monday):
    r = make_resource(lab, "chamber", capacity=2, **MONDAY_ONLY)
    booked(r, local(monday, 8), local(monday, 18), slot=0)
    booked(r, local(monday, 8), local(monday, 12), slot=1)
    assert windows(services.search_availability(None, monday, 60), "chamber") == [("12:00", "18:00")]


def test_closures_cancelled_bookings_and_resources_not_open_for_booking(lab, monday):
    closed = make_resource(lab, "closed", **MONDAY_ONLY)
    Blackout.objects.create(resource=closed, starts=local(monday, 0), ends=local(monday, 23, 59))
    freed = make_resource(lab, "freed", **MONDAY_ONLY)
    booked(freed, local(monday, 8), local(monday, 18), status="cancelled")
    make_resource(lab, "broken", status="maintenance", **MONDAY_ONLY)
    make_resource(lab, "db", bookable=False, **MONDAY_ONLY)
    make_resource(lab, "draft", published=False, **MONDAY_ONLY)
    found = services.search_availability(None, monday, 60)
    assert [f.code for f in found] == ["freed"]
    assert windows(found, "freed") == [("08:00", "18:00")]


def test_the_past_is_not_free_and_results_come_earliest_first(lab, monday):
    make_resource(lab, "late", open_weekdays="2", opens_at=dt.time(8), closes_at=dt.time(18))
    make_resource(lab, "early", **MONDAY_ONLY)
    found = services.search_availability(None, monday, 60, now=local(monday, 12))
    assert [f.code for f in found] == ["early", "late"]
    assert windows(found, "early") == [("12:00", "18:00")]
    assert found[0].free_minutes == 360


def test_the_page_and_the_api_list_the_free_resources_with_their_windows(lab, monday, client):
    make_resource(lab, "sem", name_en="Scanning electron microscope", **MONDAY_ONLY)
    page = client.get(reverse("sharing:availability"), {"week": monday.isoformat(), "minutes": "120"})
    assert "Scanning electron microscope" in page.content.decode()
    body = client.get("/api/sharing/availability", {"week": monday.isoformat(), "minutes": 120}).json()
    (item,) = body["items"]
    assert item["code"] == "sem" and item["free_minutes"] == 600 and len(item["windows"]) == 1


def test_the_search_agrees_minute_by_minute_with_a_plain_grid_over_random_resources(lab, monday):
    """Random opening hours, capacities, buffers, bookings and closures; the windows must be exactly the
    runs of free minutes of a plain per-minute grid (a minute is free if some slot is free then)."""
    import random

    rng = random.Random(4)
    user = make_user("client")
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(monday, dt.time.min, tzinfo=tz)
    expected = {}
    for i in range(25):
        capacity, buffer = rng.choice((1, 1, 2, 3)), rng.choice((0, 10, 30))
        opens, closes = dt.time(rng.choice((7, 8, 9)), rng.choice((0, 30))), dt.time(rng.choice((16, 18, 21)))
        weekdays = "".join(sorted(rng.sample("0123456", rng.randint(1, 7))))
        r = make_resource(
            lab, f"r{i}", capacity=capacity, buffer_minutes=buffer, opens_at=opens, closes_at=closes,
            open_weekdays=weekdays,
        )  # fmt: skip
        grid = [[False] * (7 * 1440) for _ in range(capacity)]
        for d in range(7):
            if str(d) in weekdays:
                for slot in range(capacity):
                    for minute in range(opens.hour * 60 + opens.minute, closes.hour * 60):
                        grid[slot][d * 1440 + minute] = True
        taken: dict[int, list[tuple[int, int]]] = {}
        for _ in range(rng.randint(0, 12)):
            d, slot = rng.randrange(7), rng.randrange(capacity)
            s = d * 1440 + rng.randrange(6 * 60, 20 * 60, 5)
            e = s + rng.choice((20, 45, 60, 150))
            status = rng.choice(("approved", "requested", "cancelled"))
            if any(s < te and e > ts for ts, te in taken.get(slot, [])):
                status = "cancelled"  # one slot holds no overlapping active bookings (a database constraint)
            if status != "cancelled":
                taken.setdefault(slot, []).append((s, e))
            Booking.objects.create(
                resource=r, user=user, slot=slot, status=status,
                starts=start + dt.timedelta(minutes=s), ends=start + dt.timedelta(minutes=e),
            )  # fmt: skip
        for b in r.bookings.filter(status__in=("approved", "requested")):
            s = int((b.starts - start).total_seconds() // 60) - buffer
            e = int((b.ends - start).total_seconds() // 60) + buffer
            for minute in range(max(s, 0), min(e, 7 * 1440)):
                grid[b.slot][minute] = False
        if rng.random() < 0.3:
            d = rng.randrange(7)
            s, e = d * 1440 + 600, d * 1440 + 900
            Blackout.objects.create(
                resource=r, starts=start + dt.timedelta(minutes=s), ends=start + dt.timedelta(minutes=e)
            )
            for slot in range(capacity):
                for minute in range(s, e):
                    grid[slot][minute] = False
        free = [any(grid[k][m] for k in range(capacity)) for m in range(7 * 1440)]
        runs, m = [], 0
        while m < 7 * 1440:
            if free[m]:
                n = m
                while n < 7 * 1440 and free[n]:
                    n += 1
                if n - m >= 45:
                    runs.append((m, n))
                m = n
            else:
                m += 1
        expected[r.code] = runs
    found = {f.code: list(f.minutes) for f in services.search_availability(None, monday, 45, now=start)}
    assert found == {code: runs for code, runs in expected.items() if runs}


@pytest.mark.parametrize("week", ["0", "20261130", "1732924800", "2026-11", "next monday"])
def test_the_api_takes_a_week_only_as_an_iso_date(lab, monday, client, week):
    """The schema says ``format: date``; pydantic alone would read ``0`` or a timestamp as a date."""
    resource = make_resource(lab, "sem", **MONDAY_ONLY)
    for path in ("/api/sharing/availability", f"/api/sharing/resources/{resource.pk}/availability"):
        assert client.get(path, {"week": week}).status_code == 422
        assert client.get(path, {"week": monday.isoformat()}).status_code == 200


def test_a_nul_character_in_the_search_terms_is_ignored(lab, monday, client):
    """PostgreSQL refuses text containing NUL; the API drops it instead of failing with a server error."""
    make_resource(lab, "sem", **MONDAY_ONLY)
    query = {"week": monday.isoformat(), "q": "s\x00em", "kind": "\x00", "lab": "\x00", "region": "\x00"}
    response = client.get("/api/sharing/availability", query)
    assert response.status_code == 200
