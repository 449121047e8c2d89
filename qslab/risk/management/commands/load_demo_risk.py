"""Demo data of the risk app: taxonomies, public reports in each state, a defect pattern, a NEISS
sample and FDA recalls in the analytical store, and one early-warning run. Idempotent; fictional
brands only."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

REPORTS = [
    # brand, model, product code, hazard, description, target state, summary zh, summary en
    (
        "晨星（演示）",
        "CX-200 电热水壶",
        "269",
        "thermal",
        "The kettle lid opened by itself while pouring; boiling water scalded my hand. "
        "倒水时壶盖自动弹开，开水烫伤手背。",
        "published",
        "某品牌电热水壶倒水时壶盖自动弹开，导致手部烫伤。",
        "A kettle lid opened while pouring and scalded the user's hand.",
    ),
    (
        "晨星（演示）",
        "CX-210 电热水壶",
        "269",
        "thermal",
        "Lid latch failed, hot water spilled on my child's arm. 壶盖锁扣失效，热水洒到孩子手臂。",
        "under_review",
        "",
        "",
    ),
    (
        "乐童（演示）",
        "LT 儿童滑板车",
        "1329",
        "fall",
        "The folding joint unlocked while riding and my son fell. 骑行中折叠关节松开，孩子摔倒。",
        "submitted",
        "",
        "",
    ),
    (
        "乐童（演示）",
        "LT 积木套装",
        "1345",
        "choking",
        "A small part came off and my toddler put it in her mouth. 小零件脱落，幼儿放入口中。",
        "rejected",
        "",
        "",
    ),
]


class Command(BaseCommand):
    help = (
        "Load the risk demo data: taxonomies, reports, a pattern, a risk assessment and a published "
        "consumer alert, NEISS/FDA records, one early-warning run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=Path(os.environ.get("QSLAB_SHARED_DIR", settings.BASE_DIR.parent / "shared")) / "data",
            help="folder of the shared public data (neiss/, fda_drug_enforcement/)",
        )
        parser.add_argument("--skip-store", action="store_true", help="do not load the analytical store")

    def handle(self, *args: Any, data_dir: Path, skip_store: bool = False, **options: Any) -> None:
        from qslab.risk import services

        codes = data_dir / "neiss" / "codes"
        if not codes.is_dir():
            raise CommandError(f"NEISS code tables not found in {codes}; pass --data-dir")
        counts = services.load_neiss_codes(codes)
        self.stdout.write(f"taxonomies: {counts}")
        reports = self._reports()
        self._pattern(reports)
        self._assessment_and_alert()
        if not skip_store:
            for path, source in (
                (data_dir / "neiss" / "neiss_sample_2017_2021_10k.csv.gz", "neiss"),
                (data_dir / "fda_drug_enforcement" / "drug_enforcement_2012_2023.csv.gz", "fda-enforcement"),
            ):
                if path.is_file():
                    self.stdout.write(services.ingest_file(path, source, codes).summary())
            services.ensure_default_families()
            from qslab.risk.models import EarlyWarningRun

            if not EarlyWarningRun.objects.exists():  # the demo shows one run; loading again adds none
                run = services.run_early_warning()
                self.stdout.write(run.report)

    def _reports(self) -> list[Any]:
        from qslab.accounts.models import User
        from qslab.core.context import acting_as
        from qslab.risk import services
        from qslab.risk.models import IncidentReport, Term

        analyst = User.objects.filter(username="analyst").first()
        client = User.objects.filter(username="client").first()
        out = []
        for i, (brand, model, product, hazard, text, state, zh, en) in enumerate(REPORTS):
            existing = IncidentReport.objects.filter(brand=brand, model=model).first()
            if existing:
                out.append(existing)
                continue
            report = services.submit_report(
                client,
                {
                    "product_category": Term.objects.get(kind=Term.Kind.PRODUCT, code=product),
                    "hazard": Term.objects.get(kind=Term.Kind.HAZARD, code=hazard),
                    "brand": brand,
                    "model": model,
                    "incident_date": dt.date(2026, 1, 5) + dt.timedelta(days=7 * i),
                    "description": text,
                    "consent_publish": True,
                    "language": "zh-hans",
                },
            )
            if analyst is not None and state != "submitted":
                with acting_as(analyst):
                    if state == "rejected":
                        services.move_report(analyst, report, "reject", "duplicate of an earlier report")
                    else:
                        services.move_report(analyst, report, "review")
                        if state == "published":
                            services.code_report(
                                analyst, report, {"public_summary_zh": zh, "public_summary_en": en}
                            )
                            services.move_report(analyst, report, "publish")
            out.append(report)
        return out

    def _pattern(self, reports: list[Any]) -> None:
        from qslab.accounts.models import User
        from qslab.risk import services
        from qslab.risk.models import DefectPattern, Term

        analyst = User.objects.filter(username="analyst").first()
        if (
            analyst is None
            or DefectPattern.objects.filter(title_en="Kettle lid opens while pouring").exists()
        ):
            return
        services.promote_to_pattern(
            analyst,
            [r for r in reports if "热水壶" in r.model],
            {
                "title_zh": "电热水壶倒水时壶盖弹开导致烫伤",
                "title_en": "Kettle lid opens while pouring",
                "product_category": Term.objects.get(kind=Term.Kind.PRODUCT, code="269"),
                "hazard": Term.objects.get(kind=Term.Kind.HAZARD, code="thermal"),
                "failure_mode": (
                    "Lid latch wears or is too weak; the lid opens when the kettle is tilted. "
                    "壶盖锁扣强度不足。"
                ),
                "injury_mechanism": "Boiling water on hands and arms. 开水烫伤手部和手臂。",
                "scenario": "Pouring with one hand, kettle full. 单手倒满壶开水。",
                "detection_method": "GB 4706.19 clause 21 (mechanical strength); lid retention test",
                "summary_zh": "壶盖锁扣失效，倾倒时壶盖弹开，开水烫伤。",
                "summary_en": (
                    "The lid latch fails and the lid opens while pouring; boiling water scalds the user."
                ),
                "is_public": True,
            },
        )

    def _assessment_and_alert(self) -> None:
        """A completed kettle assessment (two scenarios, serious) and its published bilingual alert."""
        from qslab.accounts.models import User
        from qslab.risk import services
        from qslab.risk.models import ConsumerAlert, RiskAssessment, Term

        analyst = User.objects.filter(username="analyst").first()
        office = User.objects.filter(username="office").first()
        if (
            analyst is None
            or office is None
            or RiskAssessment.objects.filter(title_en="Demo kettle lid").exists()
        ):
            return
        kettle = Term.objects.get(kind=Term.Kind.PRODUCT, code="269")
        thermal = Term.objects.get(kind=Term.Kind.HAZARD, code="thermal")
        assessment = services.save_assessment(
            analyst,
            {
                "title_zh": "演示：晨星电热水壶壶盖弹开",
                "title_en": "Demo kettle lid",
                "product_category": kettle,
                "hazard": thermal,
                "product_name": "电热水壶 Electric kettle",
                "brand": "晨星（演示）",
                "model": "CX-1 热水壶",
                "batch": "2025-11A",
                "conclusion_zh": "成人倒水时壶盖弹开可致需住院的烫伤，风险严重。",
                "conclusion_en": (
                    "The lid can open while an adult pours; scalds needing admission: serious risk."
                ),
            },
        )
        services.save_scenario(
            analyst,
            assessment,
            {
                "description_zh": "成人单手倒水，壶盖弹开，开水烫伤手臂",
                "description_en": "An adult pours one-handed, the lid opens and boiling water scalds the arm",
                "consumer": "adult (intended user)",
                "injury": "scald, 2nd degree, > 6 % body surface",
                "severity": 3,
                "steps": "1/10 | 锁扣磨损 | the latch is worn\n1/2 | 倒满壶水 | the kettle is full\n"
                "1/4 | 开水溅到手臂 | water reaches the arm\n1 | 烫伤 | scald",
            },
        )
        services.save_scenario(
            analyst,
            assessment,
            {
                "description_zh": "儿童拉倒水壶，壶盖弹开",
                "description_en": "A child pulls the kettle over and the lid opens",
                "consumer": "child 1-4 years",
                "injury": "scald of face and chest",
                "severity": 4,
                "steps": "1/1000 | 儿童够到电源线 | child reaches the cord\n1/2 | 壶盖弹开 | the lid opens\n"
                "1/2 | 开水浇到身上 | water pours over the child",
            },
        )
        assessment = services.move_assessment(analyst, assessment, "complete")
        alert = services.save_alert(
            analyst,
            {
                **services.alert_initial_from_assessment(assessment),
                "assessment": assessment,
                "product_category": kettle,
                "hazard": thermal,
                "product_name_zh": "电热水壶",
                "product_name_en": "Electric kettle",
                "country_of_origin": "中国 China",
                "hazard_description_zh": "壶盖锁扣强度不足，倾倒时壶盖弹开，开水可致严重烫伤。",
                "hazard_description_en": "The lid latch is too weak: the lid opens while pouring and boiling "
                "water can cause serious scalds.",
                "measures_zh": "生产者自愿召回 2025-11A 批次并免费更换壶盖。",
                "measures_en": ("The producer recalls batch 2025-11A and replaces the lids free of charge."),
                "advice_zh": "请立即停止使用该批次水壶，联系销售商免费更换壶盖。",
                "advice_en": "Stop using kettles of this batch; the seller replaces the lid free.",
                "operator_name": "演示电器有限公司（虚构）",
                "operator_contact": "demo@example.invalid",
                "supply_chain": "Fictional distributor in Jiangsu; 1,200 units sold online.",
                "information_source": "Demo: incident reports and the early-warning signal.",
            },
        )
        services.move_alert(analyst, alert, "submit")
        alert = services.move_alert(office, alert, "approve")
        services.add_alert_update(
            office, alert, {"text_zh": "召回范围扩大到 2025-12B 批次。", "text_en": "Batch 2025-12B added."}
        )
        year, week, _day = alert.published_at.isocalendar()
        services.build_weekly_digest(year, week)
        self.stdout.write(
            f"assessment {assessment.reference}: {assessment.risk_level}; alert {alert.reference}"
        )
        assert ConsumerAlert.objects.filter(pk=alert.pk, status="published").exists()
