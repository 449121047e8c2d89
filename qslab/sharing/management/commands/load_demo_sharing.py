"""Demo data of open sharing: a few shared resources of the existing demo laboratories, bookings in each
state, service requests (one quoted, one with its samples received and the work under way).
Idempotent; creates no laboratory (run ``load_demo_labs`` first).

Past bookings (completed, no-show) are written as they would stand today; upcoming ones go through the
booking service and its workflow, so their rules are checked as for any user.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

RESOURCES = [
    # code, kind, zh, en, maker, model, value, extra
    (
        "sem-01",
        "instrument",
        "场发射扫描电子显微镜",
        "Field-emission scanning electron microscope",
        "Fictional Optics (demo)",
        "FE-5000",
        Decimal("4200000"),
        {
            "capabilities_zh": "金属断口形貌分析、能谱元素分析",
            "capabilities_en": "fracture surface morphology, EDS element analysis",
            "accreditation_scope": "CNAS L0000 (demo): GB/T 17359",
            "requires_qualification": False,
            "buffer_minutes": 15,
            "tariffs": {
                ("internal", "hour"): "300",
                ("academic", "hour"): "500",
                ("industry", "hour"): "800",
            },
        },
    ),
    (
        "xrd-01",
        "instrument",
        "X射线衍射仪",
        "X-ray diffractometer",
        "Fictional Instruments (demo)",
        "XD-3",
        Decimal("1800000"),
        {
            "capabilities_zh": "物相分析、残余应力测定",
            "capabilities_en": "phase analysis, residual stress",
            "requires_approval": True,
            "tariffs": {
                ("internal", "hour"): "200",
                ("academic", "hour"): "300",
                ("industry", "hour"): "500",
                ("internal", "sample"): "150",
                ("academic", "sample"): "250",
                ("industry", "sample"): "400",
            },
        },
    ),
    (
        "env-chamber",
        "facility",
        "步入式环境试验舱",
        "Walk-in climatic test chamber",
        "Fictional Climate (demo)",
        "WC-20",
        Decimal("950000"),
        {
            "max_duration_minutes": 600,
            "tariffs": {("internal", "hour"): "120", ("industry", "hour"): "260"},
        },
    ),
    (
        "defect-db",
        "dataset",
        "工业机器人典型缺陷数据集",
        "Typical defects of industrial robots (data set)",
        "",
        "",
        None,
        {"bookable": False, "tariffs": {("academic", "sample"): "0", ("industry", "sample"): "2000"}},
    ),
    (
        "calib-expert",
        "expert_service",
        "力值计量专家咨询",
        "Force metrology expert consultation",
        "",
        "",
        None,
        {"bookable": False, "location": "online"},
    ),
]


class Command(BaseCommand):
    help = "Load demo shared resources, bookings in each state and a service request (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        from qslab.accounts.models import User
        from qslab.core.context import acting_as
        from qslab.labs.models import Laboratory
        from qslab.sharing import services
        from qslab.sharing.models import Blackout, Booking, Resource, ServiceRequest, Tariff

        labs = list(Laboratory.objects.order_by("code")[:2])
        if not labs:
            self.stdout.write("No laboratories: run load_demo_labs first; nothing loaded.")
            return
        office = User.objects.filter(username="office").first()
        client = User.objects.filter(username="client").first()
        made = 0
        for i, lab in enumerate(labs):
            for code, kind, zh, en, maker, model, value, declared in RESOURCES[: 5 if i == 0 else 3]:
                extra = dict(declared)
                tariffs = extra.pop("tariffs", {})
                resource, created = Resource.objects.get_or_create(
                    lab=lab,
                    code=code,
                    defaults={
                        "kind": kind,
                        "name_zh": zh,
                        "name_en": en,
                        "maker": maker,
                        "model_name": model,
                        "value": value,
                        "location": extra.pop("location", f"{lab.code} building A")
                        if i == 0
                        else "building B",
                        **extra,
                    },
                )
                made += created
                if created:
                    for (user_class, unit), price in tariffs.items():
                        Tariff.objects.create(
                            resource=resource, user_class=user_class, unit=unit, price=Decimal(price)
                        )
        self.stdout.write(f"Shared resources: {made} new.")
        if client is None or office is None or Booking.objects.exists():
            self.stdout.write("Bookings: already there, or no demo client/office user; skipped.")
            return
        lab = labs[0]
        sem = Resource.objects.get(lab=lab, code="sem-01")
        xrd = Resource.objects.get(lab=lab, code="xrd-01")
        chamber = Resource.objects.get(lab=lab, code="env-chamber")
        tz = timezone.get_current_timezone()
        today = timezone.localdate()

        def workday(offset: int) -> dt.date:
            day = today + dt.timedelta(days=offset)
            step = 1 if offset >= 0 else -1
            while day.weekday() > 4:
                day += dt.timedelta(days=step)
            return day

        def at(day: dt.date, hour: int) -> dt.datetime:
            return dt.datetime.combine(day, dt.time(hour), tzinfo=tz)

        with acting_as(office, "demo data"):
            # the past as it stands today: completed and missed bookings
            for offset, hours, status in ((-20, 3, "completed"), (-13, 4, "completed"), (-6, 2, "no_show")):
                day = workday(offset)
                Booking.objects.create(
                    resource=sem,
                    user=client,
                    starts=at(day, 9),
                    ends=at(day, 9 + hours),
                    status=status,
                    user_class="industry",
                    price=services.booking_price(sem, "industry", at(day, 9), at(day, 9 + hours)),
                    purpose="演示：焊缝断口分析",
                    checked_in_at=at(day, 9) if status == "completed" else None,
                )
            now = timezone.localtime().replace(minute=0, second=0, microsecond=0)
            Booking.objects.create(
                resource=chamber,
                user=client,
                starts=now - dt.timedelta(hours=1),
                ends=now + dt.timedelta(hours=2),
                status="checked_in",
                user_class="industry",
                price=services.booking_price(
                    chamber, "industry", now - dt.timedelta(hours=1), now + dt.timedelta(hours=2)
                ),
                purpose="演示：高低温循环",
                checked_in_at=now - dt.timedelta(hours=1),
            )
        # upcoming bookings through the service and the workflow
        approved = services.book_resource(
            client, sem, at(workday(3), 9), at(workday(3), 11), "demo: weld SEM"
        )
        requested = services.book_resource(
            client, xrd, at(workday(4), 13), at(workday(4), 15), "demo: phase ID"
        )
        rejected = services.book_resource(client, xrd, at(workday(5), 9), at(workday(5), 10), "demo")
        services.move_booking(office, rejected, "reject", "演示：该时段已安排校准。")
        cancelled = services.book_resource(client, chamber, at(workday(6), 9), at(workday(6), 12), "demo")
        services.move_booking(client, cancelled, "cancel")
        Blackout.objects.get_or_create(
            resource=chamber,
            starts=at(workday(8), 8),
            defaults={
                "ends": at(workday(8), 18),
                "kind": "maintenance",
                "reason": "年度校准 annual calibration",
            },
        )
        if not ServiceRequest.objects.exists():
            req = services.request_service(
                client,
                lab,
                {"title": "Salt-spray test of 6 coated panels", "details": "GB/T 10125, 240 h", "samples": 6},
            )
            services.quote_request(office, req, Decimal("4800.00"), "demo quote")
            phase = services.request_service(
                client, lab, {"title": "XRD phase analysis of 3 weld coupons", "samples": 3, "resource": xrd}
            )
            services.quote_request(office, phase, None, "demo: priced by the per-sample tariff")
            services.move_request(client, phase, "accept")
            services.receive_samples(
                office,
                phase,
                [
                    {"description": "weld coupon W-1", "quantity": "1 pc"},
                    {"description": "weld coupon W-2", "quantity": "1 pc"},
                    {
                        "description": "weld coupon W-3",
                        "quantity": "1 pc",
                        "condition": "packaging_damaged",
                        "condition_note": "演示：外包装破损，样品完好",
                    },
                ],
                location="样品间 sample store 1",
            )
            services.move_request(office, phase, "start")
            services.request_service(client, lab, {"title": "Hardness test of 3 gears", "samples": 3})
        total = Booking.objects.count()
        self.stdout.write(
            f"Bookings: {total} ({approved.status}, {requested.status}, rejected, cancelled, checked in, "
            f"completed, no-show); service requests: {ServiceRequest.objects.count()}."
        )
