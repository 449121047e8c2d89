"""Availability search across 2,000 shared resources for a week (issue 9): p95 per search, target under
150 ms, against a naive reference measured in the same run on the same data.

``qslab.sharing.services.search_availability`` reads the catalogue, the week's active bookings and the
week's closures in three queries and computes the free windows in memory (integer minutes). The reference
is the obvious ORM code: the matching resources as model instances, then per resource its bookings and its
closures (two queries each), and an independent interval-splitting of each slot's opening hours. Both must
return the same resources with the same windows.

The data live in a throw-away test database (SQLite in memory, or a ``bench_sharing`` database on the
server of ``DATABASE_URL``): 40 laboratories, 2,000 resources (a few under maintenance or not bookable,
one in ten with two parallel slots, buffers of 0-30 minutes), about six bookings per bookable resource and
week over three weeks, and a one-day closure for one resource in twenty.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
from typing import Any

from bench.harness import Row, timed

KINDS = ["instrument"] * 6 + ["facility"] * 2 + ["reference_material", "expert_service"]
TYPES = [
    ("扫描电镜", "Scanning electron microscope"),
    ("X射线衍射仪", "X-ray diffractometer"),
    ("电感耦合等离子体质谱仪", "ICP mass spectrometer"),
    ("万能材料试验机", "Universal testing machine"),
    ("气相色谱质谱联用仪", "Gas chromatograph mass spectrometer"),
    ("步入式环境试验舱", "Walk-in climatic chamber"),
    ("电磁兼容暗室", "EMC anechoic chamber"),
    ("三坐标测量机", "Coordinate measuring machine"),
    ("透射电镜", "Transmission electron microscope"),
    ("激光粒度仪", "Laser particle size analyser"),
]
SEARCHES = [
    {},
    {"kind": "instrument"},
    {"q": "电镜"},
    {"q": "microscope"},
    {"kind": "facility"},
    {"q": "spectrometer"},
    {"lab": "bench-07"},
    {"q": "试验"},
]


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qslab.settings.test")
    import django

    django.setup()


def _make_data(n_resources: int, n_labs: int, first_monday: dt.date, weeks: int, seed: int = 9) -> int:
    from django.utils import timezone

    from qslab.core.testing import make_organisation, make_user
    from qslab.labs.models import Laboratory
    from qslab.sharing.models import Blackout, Booking, Resource

    rng = random.Random(seed)
    tz = timezone.get_current_timezone()
    labs = [
        Laboratory.objects.create(
            code=f"bench-{i:02d}",
            name_zh=f"基准测试实验室{i}",
            name_en=f"Benchmark laboratory {i}",
            supporting_institution=make_organisation(),
            region_code="320000",
            status="named",
        )
        for i in range(n_labs)
    ]
    users = [make_user("client") for _ in range(20)]
    resources = []
    for i in range(n_resources):
        zh, en = TYPES[i % len(TYPES)]
        opens = rng.choice((dt.time(8), dt.time(8, 30), dt.time(9)))
        resources.append(
            Resource(
                lab=labs[i % n_labs],
                code=f"r{i:05d}",
                kind=rng.choice(KINDS),
                name_zh=f"{zh} {i}",
                name_en=f"{en} {i}",
                maker="Fictional Instruments",
                model_name=f"FX-{i % 97}",
                status="maintenance" if rng.random() < 0.03 else "available",
                bookable=rng.random() > 0.05,
                open_weekdays=rng.choice(("01234", "01234", "01234", "0123456", "0246")),
                opens_at=opens,
                closes_at=rng.choice((dt.time(17), dt.time(18), dt.time(20))),
                capacity=2 if rng.random() < 0.1 else 1,
                buffer_minutes=rng.choice((0, 0, 15, 30)),
            )
        )
    Resource.objects.bulk_create(resources, batch_size=500)
    resources = list(Resource.objects.filter(lab__code__startswith="bench-"))
    bookings, blackouts = [], []
    for r in resources:
        for w in range(weeks):
            for d in range(7):
                day = first_monday + dt.timedelta(days=7 * w + d)
                if str(d) not in r.open_weekdays:
                    continue
                for slot in range(r.capacity):
                    hour = r.opens_at.hour + 1
                    while rng.random() < 0.55 and hour + 1 < r.closes_at.hour:
                        length = rng.choice((1, 1, 2, 3))
                        starts = dt.datetime.combine(day, dt.time(hour), tzinfo=tz)
                        ends = min(
                            starts + dt.timedelta(hours=length),
                            dt.datetime.combine(day, r.closes_at, tzinfo=tz),
                        )
                        status = rng.choice(("approved",) * 6 + ("requested", "checked_in", "cancelled"))
                        bookings.append(
                            Booking(
                                resource=r, user=rng.choice(users), starts=starts, ends=ends, slot=slot,
                                status=status,
                            )
                        )  # fmt: skip
                        hour += length + rng.choice((0, 1, 2))
        if rng.random() < 0.05:
            day = first_monday + dt.timedelta(days=rng.randrange(7 * weeks))
            blackouts.append(
                Blackout(
                    resource=r,
                    starts=dt.datetime.combine(day, dt.time.min, tzinfo=tz),
                    ends=dt.datetime.combine(day, dt.time(23, 59), tzinfo=tz),
                    reason="bench",
                )
            )
    Booking.objects.bulk_create(bookings, batch_size=2000)
    Blackout.objects.bulk_create(blackouts, batch_size=500)
    return len(bookings)


def naive_search(monday: dt.date, minutes: int, now: dt.datetime, **filters: Any) -> list[tuple]:
    """The reference: per resource two queries and a plain interval split on datetimes."""
    from django.utils import timezone

    from qslab.sharing import services
    from qslab.sharing.models import ACTIVE_BOOKING_STATES

    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(monday, dt.time.min, tzinfo=tz)
    end = start + dt.timedelta(days=7)
    need = dt.timedelta(minutes=minutes)
    found = []
    resources = services.search_catalogue(None, status="available", **filters).filter(bookable=True)
    for r in resources:
        buffer = dt.timedelta(minutes=r.buffer_minutes)
        bookings = list(
            r.bookings.filter(
                status__in=ACTIVE_BOOKING_STATES, starts__lt=end + buffer, ends__gt=start - buffer
            )
        )
        closures = list(r.blackouts.filter(starts__lt=end, ends__gt=start))
        windows = []
        for i in range(7):
            day = monday + dt.timedelta(days=i)
            if str(i) not in r.open_weekdays:
                continue
            day_open = max(dt.datetime.combine(day, r.opens_at, tzinfo=tz), now)
            day_close = dt.datetime.combine(day, r.closes_at, tzinfo=tz)
            for slot in range(r.capacity):
                free = [(day_open, day_close)] if day_close > day_open else []
                blockers = [(c.starts, c.ends) for c in closures] + [
                    (b.starts - buffer, b.ends + buffer) for b in bookings if b.slot == slot
                ]
                for bs, be in blockers:
                    free = [
                        piece
                        for fs, fe in free
                        for piece in ((fs, min(fe, bs)), (max(fs, be), fe))
                        if piece[1] > piece[0]
                    ] if any(bs < fe and be > fs for fs, fe in free) else free  # fmt: skip
                windows += free
        windows.sort()
        merged: list[list[dt.datetime]] = []
        for s, e in windows:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        long_enough = tuple((s, e) for s, e in merged if e - s >= need)
        if long_enough:
            found.append((r.pk, long_enough))
    return sorted(found, key=lambda f: (f[1][0][0], f[0]))


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def _bench(quick: bool) -> list[Row]:
    from django.utils import timezone

    from qslab.sharing import services

    n_resources, n_labs = (400, 8) if quick else (2000, 40)
    today = timezone.localdate()
    first_monday = today + dt.timedelta(days=7 - today.weekday())
    weeks = 3
    n_bookings = _make_data(n_resources, n_labs, first_monday, weeks)
    now = timezone.now()
    mondays = [first_monday + dt.timedelta(days=7 * w) for w in range(weeks)]
    plan = [
        (mondays[k % weeks], (60, 120, 240)[k % 3], SEARCHES[k % len(SEARCHES)])
        for k in range(12 if quick else 48)
    ]
    ours_times, matches = [], 0
    results = {}
    for k, (monday, minutes, filters) in enumerate(plan):
        seconds, found = timed(lambda m=monday, n=minutes, f=filters: services.search_availability(
            None, m, n, now=now, **f))  # fmt: skip
        ours_times.append(seconds)
        results[k] = found
        matches += len(found)
    compared = plan[: 4 if quick else 8]
    ref_times, same = [], True
    for k, (monday, minutes, filters) in enumerate(compared):
        seconds, reference = timed(lambda m=monday, n=minutes, f=filters: naive_search(m, n, now, **f))
        ref_times.append(seconds)
        ours = sorted(((f.resource_id, f.windows) for f in results[k]), key=lambda f: (f[1][0][0], f[0]))
        same = same and ours == reference
    ours_p95 = _p95(ours_times)
    ours_on_compared = _p95(ours_times[: len(compared)])
    note = (
        f"{n_resources} resources, {n_bookings} bookings over {weeks} weeks; {len(plan)} searches "
        f"(filters, 1-4 h), {matches / len(plan):.0f} hits each on average; median "
        f"{statistics.median(ours_times) * 1000:.0f} ms; reference on the first {len(compared)} searches "
        f"(p95 of ours on those {ours_on_compared * 1000:.0f} ms); {'same' if same else 'DIFFERENT'} results"
    )
    return [
        Row(
            f"sharing availability search, {n_resources} resources, one week (p95)",
            ours_p95,
            "per-resource ORM queries",
            _p95(ref_times),
            target="p95 < 150 ms, same results",
            met=ours_p95 < 0.150 and same,
            note=note,
        )
    ]


def run(quick: bool) -> list[Row]:
    _setup_django()
    from django.db import connection

    test = connection.settings_dict.setdefault("TEST", {})
    test["NAME"] = None if connection.vendor == "sqlite" else "bench_sharing"
    test["MIGRATE"] = connection.vendor != "sqlite"  # tables straight from the models on SQLite: faster
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        return _bench(quick)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
