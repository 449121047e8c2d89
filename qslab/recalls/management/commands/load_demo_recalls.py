"""Demo data of the recalls app: a fictional kettle producer, its product and batches, serialised units
and supply-chain events in the analytical store, and recalls in several states. Idempotent; fictional
companies and brands only."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand

COMPANY = ("cx-appliances", "晨星家电有限公司（演示）", "Chenxing Appliances Co. (demo)", "440000")
GTIN_BODY = "690123456001"  # fictional GS1 prefix; the check digit is computed
DISTRIBUTORS = [
    ("D-BJ-01", "北方家电批发（演示）", "110105"),
    ("D-JS-01", "苏南商贸（演示）", "320102"),
    ("D-GD-01", "岭南电器分销（演示）", "440106"),
]
RETAILERS = [
    ("R-BJ-01", "京城家电商场（演示）", "110108", "D-BJ-01"),
    ("R-JS-01", "金陵电器店（演示）", "320104", "D-JS-01"),
    ("R-GD-01", "羊城生活馆（演示）", "440104", "D-GD-01"),
]


def demo_units(gtin: str, n_per_batch: int = 120) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Units of two batches and their events: made, distributed, mostly sold, some recalled/remedied."""
    start = recall_start()
    units, events = [], []
    for b, (lot, made) in enumerate((("L2405A", "2024-05-06"), ("L2405B", "2024-05-20"))):
        for i in range(n_per_batch):
            serial = f"CX{b * n_per_batch + i + 1:06d}"
            units.append(
                {
                    "gtin": gtin,
                    "serial": serial,
                    "model": "CX-200",
                    "batch": lot,
                    "production_date": made,
                    "manufacturer_id": "M-CX",
                    "manufacturer_name": COMPANY[1],
                }
            )
            day = dt.date.fromisoformat(made)
            dist_id, dist_name, dist_region = DISTRIBUTORS[i % 3]
            retail = RETAILERS[i % 3]
            chain = [
                ("manufactured", "M-CX", COMPANY[1], "manufacturer", "440604", day),
                ("distributed", dist_id, dist_name, "distributor", dist_region, day + dt.timedelta(days=7)),
            ]
            shop = (retail[0], retail[1], "retailer", retail[2])
            if i % 4:  # three in four reach a retailer and are sold
                chain.append(("distributed", *shop, day + dt.timedelta(days=14)))
                chain.append(("sold", *shop, day + dt.timedelta(days=30 + i)))
            if i % 5 == 0:
                chain.append(("recalled", *shop, start + dt.timedelta(days=16)))
            if i % 10 == 0:
                chain.append(
                    (
                        "remedied",
                        "S-CX",
                        "晨星售后（演示）",
                        "service",
                        "440604",
                        start + dt.timedelta(days=35),
                    )
                )
            for kind, party, name, role, region, when in chain:
                events.append(
                    {
                        "gtin": gtin,
                        "serial": serial,
                        "kind": kind,
                        "party_id": party,
                        "party_name": name,
                        "party_role": role,
                        "region": region,
                        "occurred_at": when.isoformat(),
                    }
                )
    return units, events


def recall_start() -> dt.date:
    """The demo recall began about five months ago (dates follow the day the demo is loaded)."""
    from django.utils import timezone

    return timezone.localdate() - dt.timedelta(days=160)


class Command(BaseCommand):
    help = "Load the recalls demo data: a product with batches, supply-chain records, recalls in each state."

    def handle(self, *args: Any, **options: Any) -> None:
        from stdnum import ean

        from qslab.accounts.models import Organisation, RoleMembership, User
        from qslab.core.management.commands.load_demo import fake_uscc
        from qslab.recalls import services
        from qslab.recalls.models import Batch, Product, Recall
        from qslab.risk.models import Term

        office = User.objects.filter(username="office").first()
        client = User.objects.filter(username="client").first()
        if office is None or client is None:
            self.stdout.write("recalls: run load_demo first (needs the office and client users)")
            return
        key, zh, en, region = COMPANY
        company, _created = Organisation.objects.get_or_create(
            uscc=fake_uscc(key),
            defaults={
                "name_zh": zh,
                "name_en": en,
                "kind": Organisation.Kind.ENTERPRISE,
                "region_code": region,
            },
        )
        RoleMembership.objects.get_or_create(user=client, role="client", organisation=company)
        if hasattr(client, "_qslab_recall_companies"):
            del client._qslab_recall_companies
        gtin = GTIN_BODY + ean.calc_check_digit(GTIN_BODY)
        product = Product.objects.filter(company=company, brand="晨星（演示）", model="CX-200").first()
        if product is None:
            product = services.save_product(
                client,
                {
                    "company": company,
                    "name_zh": "电热水壶",
                    "name_en": "Electric kettle",
                    "brand": "晨星（演示）",
                    "model": "CX-200",
                    "gtin": gtin,
                    "category": Term.objects.filter(kind="product", code="269").first(),
                },
            )
        batches = []
        for b, (lot, made) in enumerate((("L2405A", "2024-05-06"), ("L2405B", "2024-05-20"))):
            batch = Batch.objects.filter(product=product, lot=lot).first() or services.add_batch(
                client,
                product,
                {
                    "lot": lot,
                    "produced_from": dt.date.fromisoformat(made),
                    "produced_to": dt.date.fromisoformat(made) + dt.timedelta(days=4),
                    "quantity": 120,
                    "serial_first": f"CX{b * 120 + 1:06d}",
                    "serial_last": f"CX{b * 120 + 120:06d}",
                },
            )
            batches.append(batch)

        units, events = demo_units(gtin)
        try:
            store = services.trace_store()
            try:
                store.ingest_units(units, name="demo-units")
                store.ingest_events(events, name="demo-events")
            finally:
                store.close()
        except Exception as error:  # the demo still loads the relational part
            self.stdout.write(f"recalls: supply-chain records not loaded ({error})")

        if Recall.objects.filter(product=product).exists():
            self.stdout.write("recalls: demo data already loaded")
            return
        hazard = Term.objects.filter(kind="hazard", code="thermal").first()
        plan = {
            "product": product,
            "title_zh": "晨星（演示）CX-200 电热水壶召回",
            "title_en": "Recall of the 晨星 (demo) CX-200 electric kettle",
            "hazard": hazard,
            "risk_level": "serious",
            "defect_zh": "壶盖锁扣在倒水时可能松开，壶盖弹开，开水溅出，存在烫伤风险。",
            "defect_en": (
                "The lid latch may release while pouring; the lid opens and boiling water can scald."
            ),
            "units_planned": 240,
            "remedy": "replace",
            "remedy_text_zh": "免费更换改进后的壶盖组件。",
            "remedy_text_en": "The lid assembly is replaced free of charge with an improved one.",
            "advice_zh": "请立即停止使用，联系销售商或拨打客服电话预约更换。",
            "advice_en": (
                "Stop using the kettle now and contact the seller or the service line to book a replacement."
            ),
            "start_date": recall_start(),
            "planned_end": recall_start() + dt.timedelta(days=200),
            "notice_zh": (
                "晨星家电有限公司（演示）决定召回2024年5月生产的CX-200电热水壶（批次L2405A、L2405B）。"
            ),
            "notice_en": (
                "Chenxing Appliances (demo) recalls CX-200 kettles made in May 2024 (lots L2405A, L2405B)."
            ),
            "investigation": (
                "Three consumer complaints before the recall; latch spring below specification "
                "(test report T-26-041)."
            ),
            "sales_channels": (
                "Three regional distributors (Beijing, Jiangsu, Guangdong) and their retailers."
            ),
            "contact_name": "王工（演示）",
            "contact_phone": "020-0000-0000",
            "serial_ranges": [],
        }
        recall = services.save_recall(client, plan, batches=batches)
        services.move_recall(client, recall, "submit")
        services.move_recall(office, recall, "approve")
        services.move_recall(office, recall, "publish")
        services.move_recall(client, recall, "start")
        services.record_progress(
            client,
            recall,
            {
                "period_end": recall_start() + dt.timedelta(days=46),
                "units_notified": 180,
                "units_remedied": 24,
                "summary_zh": "已通知全部经销商，开始更换。",
                "summary_en": "All distributors notified; replacements started.",
                "from_trace": True,
            },
        )
        services.record_progress(
            client,
            recall,
            {
                "period_end": recall_start() + dt.timedelta(days=138),
                "units_notified": 230,
                "units_remedied": 96,
                "summary_zh": "继续更换。",
                "summary_en": "Replacements continue.",
            },
        )
        draft = dict(plan, title_zh="晨星（演示）CX-210 草稿召回计划", title_en="Draft recall plan (demo)")
        services.save_recall(client, draft, batches=batches[:1])
        self.stdout.write(self.style.SUCCESS("recalls: demo product, supply chain and recalls loaded"))
