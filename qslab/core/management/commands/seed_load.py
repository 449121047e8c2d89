"""Realistic volumes for the load test (``make load``): laboratories, incident reports, bookings, users.

Fast: rows go in with ``bulk_create`` (no per-row change records; this is synthetic load data, never
demo or production data). Idempotent: a second run with the same sizes adds nothing. Prints the users
and writes an API token for the load test to ``<QSLAB_VAR_DIR>/load-token.txt``.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

PASSWORD = "qslab-load-2026"  # noqa: S105 - synthetic load-test users on a loopback server
PREFIX = "load"
BATCH = 2000


def seed(
    labs: int = 1000, incidents: int = 100_000, bookings: int = 10_000, out: Any = None
) -> dict[str, Any]:
    """Create what is missing up to the given sizes; returns the users and the token."""
    from qslab.accounts.models import ApiToken, Organisation, RoleMembership, User
    from qslab.core.management.commands.load_demo import fake_uscc
    from qslab.labs.models import Laboratory
    from qslab.risk.models import IncidentReport, Term
    from qslab.sharing.models import Booking, Resource

    rng = random.Random(2026)
    say = out or (lambda _msg: None)
    started = time.perf_counter()
    regions = ["110000", "310000", "320000", "330000", "440000", "510000"]

    with transaction.atomic():
        have = Laboratory.objects.filter(code__startswith=f"{PREFIX}-").count()
        if have < labs:
            orgs = Organisation.objects.bulk_create(
                [
                    Organisation(
                        name_zh=f"负载测试机构{i}",
                        name_en=f"Load test organisation {i}",
                        uscc=fake_uscc(f"{PREFIX}-org-{i}"),
                        kind=Organisation.Kind.SUPPORTING,
                        region_code=regions[i % len(regions)],
                    )
                    for i in range(have, labs)
                ],
                batch_size=BATCH,
            )
            Laboratory.objects.bulk_create(
                [
                    Laboratory(
                        code=f"{PREFIX}-{i:05d}",
                        name_zh=f"国家负载{i}质量标准实验室",
                        name_en=f"National Load {i} Quality Standards Laboratory",
                        supporting_institution=org,
                        region_code=org.region_code,
                        status="named" if i % 5 else "under_construction",
                    )
                    for i, org in zip(range(have, labs), orgs, strict=True)
                ],
                batch_size=BATCH,
            )
        say(f"laboratories: {labs} ({labs - have} new)")
        first_lab = Laboratory.objects.filter(code__startswith=f"{PREFIX}-").order_by("code").first()

        users = {}
        for role in ("lab_manager", "analyst", "client"):
            user, created = User.objects.get_or_create(
                username=f"{PREFIX}_{role}",
                defaults={"email": f"{PREFIX}_{role}@example.invalid", "preferred_language": "en"},
            )
            if created:
                user.set_password(PASSWORD)
                user.save()
                membership = RoleMembership(user=user, role=role)
                if role == "lab_manager" and first_lab is not None:
                    from django.contrib.contenttypes.models import ContentType

                    membership.scope_type = ContentType.objects.get_for_model(Laboratory)
                    membership.scope_id = str(first_lab.pk)
                membership.save()
            users[role] = user

        products = list(Term.objects.filter(kind=Term.Kind.PRODUCT, active=True)[:50])
        hazards = list(Term.objects.filter(kind=Term.Kind.HAZARD, active=True)[:20])
        if not products:
            products = [
                Term.objects.create(kind=Term.Kind.PRODUCT, code="LOAD-P", name_en="Kettle", name_zh="电水壶")
            ]
        have = IncidentReport.objects.filter(reference__startswith="LD").count()
        statuses = ["published"] * 6 + ["submitted", "under_review", "rejected"]
        today = dt.date.today()
        for start in range(have, incidents, BATCH):
            IncidentReport.objects.bulk_create(
                [
                    IncidentReport(
                        reference=f"LD{i:08d}",
                        status=rng.choice(statuses),
                        product_category=rng.choice(products),
                        hazard=rng.choice(hazards) if hazards else None,
                        brand=f"品牌{i % 300}",
                        incident_date=today - dt.timedelta(days=i % 1500),
                        description=f"负载测试事件 {i}: 产品在正常使用中过热。",
                        injured=i % 7 == 0,
                        victim_age=(i % 90) if i % 7 == 0 else None,
                        public_summary_en=f"Load test incident {i}",
                        public_summary_zh=f"负载测试事件 {i}",
                    )
                    for i in range(start, min(start + BATCH, incidents))
                ],
                batch_size=BATCH,
            )
        say(f"incident reports: {incidents} ({max(0, incidents - have)} new)")

        lab_ids = list(
            Laboratory.objects.filter(code__startswith=f"{PREFIX}-")
            .order_by("code")
            .values_list("pk", flat=True)
        )
        n_resources = min(200, max(1, len(lab_ids)))
        have_res = Resource.objects.filter(code__startswith=f"{PREFIX}-").count()
        if have_res < n_resources:
            Resource.objects.bulk_create(
                [
                    Resource(
                        lab_id=lab_ids[i % len(lab_ids)]
                        if i
                        else (first_lab.pk if first_lab else lab_ids[0]),
                        code=f"{PREFIX}-{i:04d}",
                        name_zh=f"负载测试仪器{i}",
                        name_en=f"Load test instrument {i}",
                    )
                    for i in range(have_res, n_resources)
                ]
            )
        resources = list(Resource.objects.filter(code__startswith=f"{PREFIX}-").order_by("code"))
        have = Booking.objects.filter(purpose__startswith="load ").count()
        base = timezone.now().replace(minute=0, second=0, microsecond=0) - dt.timedelta(days=60)
        bookers = [users["lab_manager"], users["client"]]
        for start in range(have, bookings, BATCH):
            rows = []
            for i in range(start, min(start + BATCH, bookings)):
                resource = resources[i % len(resources)]
                starts = base + dt.timedelta(hours=3 * (i // len(resources)))
                rows.append(
                    Booking(
                        resource=resource,
                        user=bookers[i % 2],
                        starts=starts,
                        ends=starts + dt.timedelta(hours=2),
                        status="approved" if i % 4 else "requested",
                        purpose=f"load {i}",
                    )
                )
            Booking.objects.bulk_create(rows, batch_size=BATCH)
        say(f"bookings: {bookings} ({max(0, bookings - have)} new) on {len(resources)} resources")

        ApiToken.objects.filter(user=users["analyst"], name="load test").delete()
        _row, token = ApiToken.issue(users["analyst"], "load test")
    say(f"seeded in {time.perf_counter() - started:.1f} s")
    return {"users": {role: u.username for role, u in users.items()}, "password": PASSWORD, "token": token}


class Command(BaseCommand):
    help = "Seed realistic volumes for the load test (labs, incident reports, bookings, users, a token)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--labs", type=int, default=1000)
        parser.add_argument("--incidents", type=int, default=100_000)
        parser.add_argument("--bookings", type=int, default=10_000)

    def handle(self, *args: Any, labs: int, incidents: int, bookings: int, **options: Any) -> None:
        from django.conf import settings

        result = seed(labs, incidents, bookings, out=self.stdout.write)
        (settings.VAR_DIR / "load-token.txt").write_text(result["token"])
        self.stdout.write(
            f"users {', '.join(result['users'].values())} (password {result['password']}); "
            f"API token in {settings.VAR_DIR / 'load-token.txt'}"
        )
