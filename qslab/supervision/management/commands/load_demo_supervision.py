"""Demo data of the supervision app: the inspector directory and item list, last year's annual reports,
a drawn spot-check plan with results, inspections (one for cause, with findings and corrective
actions), a major-change report, a published five-year evaluation with grades (handed to funding) and
an open rectification order. Idempotent (does nothing once the demo item list exists); fictional."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

ITEMS = [
    (
        "demo-operation",
        "实验室运行管理情况",
        "Operation and management of the laboratory",
        "《国家质量标准实验室管理办法》（演示）第二十条",
        "组织管理、人员、经费、开放共享和年度报告的真实性",
        "现场检查、查阅资料",
    ),
    (
        "demo-capability",
        "标准验证与计量测试能力",
        "Standards verification and metrology capability",
        "《国家质量标准实验室管理办法》（演示）第二十二条",
        "能力验证结果、仪器设备状态、量值溯源",
        "现场核查、盲样测试",
    ),
    (
        "demo-integrity",
        "数据与报告诚信",
        "Integrity of data and reports",
        "《检验检测机构监督管理办法》第二十五条",
        "原始记录完整性、报告签发、数据可追溯",
        "抽查原始记录",
    ),
]

INDICATORS = [
    {
        "code": "research",
        "name_zh": "标准研究与验证",
        "name_en": "Standards research and verification",
        "kind": "group",
        "weight": 50,
        "children": [
            {
                "code": "quality",
                "name_zh": "研究质量",
                "name_en": "Quality of research",
                "kind": "qualitative",
                "weight": 3,
            },
            {
                "code": "standards",
                "name_zh": "发布标准",
                "name_en": "Standards published",
                "kind": "quantitative",
                "target": 3,
                "source": "outputs.standards_published",
            },
        ],
    },
    {"code": "openness", "name_zh": "开放共享", "name_en": "Openness", "kind": "qualitative", "weight": 30},
    {
        "code": "management",
        "name_zh": "运行管理",
        "name_en": "Management",
        "kind": "group",
        "weight": 20,
        "children": [
            {
                "code": "conduct",
                "name_zh": "管理规范性",
                "name_en": "Conduct of management",
                "kind": "qualitative",
                "weight": 3,
            },
            {
                "code": "budget",
                "name_zh": "预算执行率（%）",
                "name_en": "Budget execution (%)",
                "kind": "quantitative",
                "target": 90,
                "source": "funding.execution_rate",
            },
            {
                "code": "rectifications",
                "name_zh": "未完成整改",
                "name_en": "Open rectification orders",
                "kind": "quantitative",
                "target": 0,
                "rule": "at_most",
                "source": "supervision.open_rectifications",
            },
        ],
    },
]

SECTIONS = [
    {
        "key": "work",
        "title_zh": "年度工作进展",
        "title_en": "Progress of the year",
        "fields": [
            {"key": "summary", "label_zh": "工作总结", "label_en": "Summary", "type": "text"},
            {
                "key": "staff",
                "label_zh": "固定人员数",
                "label_en": "Permanent staff",
                "type": "number",
                "source": "key_figures.staff",
            },
        ],
    },
    {
        "key": "standards",
        "title_zh": "标准工作",
        "title_en": "Standards work",
        "fields": [
            {
                "key": "standards_drafted",
                "label_zh": "主导制修订标准数",
                "label_en": "Standards drafted",
                "type": "number",
                "source": "key_figures.standards_drafted",
            },
            {
                "key": "services",
                "label_zh": "对外服务次数",
                "label_en": "Services delivered",
                "type": "number",
                "source": "key_figures.services_delivered",
            },
        ],
    },
    {
        "key": "sharing",
        "title_zh": "开放共享与经费",
        "title_en": "Sharing and funds",
        "fields": [
            {
                "key": "machine_hours",
                "label_zh": "大型仪器共享机时",
                "label_en": "Shared-instrument hours",
                "type": "number",
                "source": "sharing.machine_hours",
            },
            {
                "key": "external_share",
                "label_zh": "对外机时占比（%）",
                "label_en": "External share of hours (%)",
                "type": "number",
                "source": "sharing.external_share",
            },
            {
                "key": "execution_rate",
                "label_zh": "年度预算执行率（%）",
                "label_en": "Budget execution (%)",
                "type": "number",
                "source": "funding.execution_rate",
                "required": False,
            },
        ],
    },
]


class Command(BaseCommand):
    help = "Load the supervision demo: reports, a spot-check draw, inspections, an evaluation, an order."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        from django.contrib.auth.models import AnonymousUser
        from django.utils import timezone

        from qslab.accounts.models import RoleMembership, User
        from qslab.core.management.commands.load_demo import DEMO_PASSWORD
        from qslab.labs.models import Laboratory
        from qslab.supervision import services
        from qslab.supervision.models import Inspector, SpotCheckItem

        if SpotCheckItem.objects.filter(code="demo-operation").exists():
            self.stdout.write("supervision demo already loaded")
            return
        office = User.objects.filter(username="office").first()
        expert = User.objects.filter(username="expert").first()
        manager = User.objects.filter(username="labmanager").first()
        named = list(Laboratory.objects.filter(status="named", code__startswith="demo-").order_by("code"))
        if office is None or expert is None or len(named) < 6:
            self.stdout.write("supervision demo skipped: run load_demo (users and labs) first")
            return
        today = timezone.localdate()

        # the two directories: items, and inspectors from different institutions and provinces
        items = [
            SpotCheckItem.objects.create(
                code=c, name_zh=zh, name_en=en, legal_basis=basis, content=content, method=method
            )
            for c, zh, en, basis, content, method in ITEMS
        ]
        inspectors = [expert]
        regions = {"expert": "320000"}
        for username, name, region in (
            ("inspector-a", "Inspector A 检查员甲", "440000"),
            ("inspector-b", "Inspector B 检查员乙", "110000"),
            ("inspector-c", "Inspector C 检查员丙", "510000"),
        ):
            user = User.objects.filter(username=username).first() or User.objects.create_user(
                username=username,
                password=DEMO_PASSWORD,
                email=f"{username}@example.invalid",
                display_name=name,
                preferred_language="zh-hans",
            )
            RoleMembership.objects.get_or_create(user=user, role="expert")
            inspectors.append(user)
            regions[username] = region
        for user in inspectors:
            region = regions.get(user.username, "")
            Inspector.objects.get_or_create(
                user=user,
                defaults={
                    "organisation": user.organisation,
                    "region_code": region,
                    "certificate": "演示-0001",
                },
            )

        # last year's annual reports: the demo lab's partly filled, two submitted, one accepted
        template = services.create_template(
            office,
            year=today.year - 1,
            sections=SECTIONS,
            opens_on=today - dt.timedelta(days=40),
            due_on=today + dt.timedelta(days=20),
        )
        reports = services.open_reporting(office, template)
        for report in reports[:3]:
            report.values = {**report.values, "summary": "演示：全年运行正常。", "staff": 40, "services": 120}
            report.save(update_fields=["values"])
            report.status = "submitted"  # demo state, set directly (no lab manager for these demo labs)
            report.submitted_at = timezone.now()
            report.save(update_fields=["status", "submitted_at"])
        services.move_report(office, reports[0], "accept")

        # this year's double-random spot check
        plan = services.create_plan(
            office,
            year=today.year,
            name_zh=f"{today.year}年度国家质量标准实验室双随机抽查（演示）",
            name_en=f"Double-random spot check {today.year} (demo)",
            items=items,
            proportions={"high": 1, "normal": 0.2, "low": 0.05},
            conflict_rules=["same_organisation", "same_province"],
            seed_source=f"演示：{today.year}年1月5日福彩3D开奖号码 4 1 7",
        )
        services.draw_spot_check(office, plan)
        checks = list(plan.checks.select_related("laboratory"))
        for check, (outcome, text) in zip(
            checks, [("no_issues", ""), ("minor", "部分原始记录未签字。")], strict=False
        ):
            services.enter_result(
                office, check, outcome=outcome, findings=text, inspected_on=today - dt.timedelta(days=3)
            )
        services.inspections_from_draw(office, plan, today + dt.timedelta(days=7))

        # an inspection for cause with a major finding and a corrective action
        target = named[3]
        cause = services.plan_inspection(
            office,
            target,
            kind="for_cause",
            cause="演示：收到关于检测报告数据不实的实名投诉。",
            planned_on=today - dt.timedelta(days=10),
            inspectors=[u for u in inspectors[1:3]],
        )
        finding = services.record_finding(
            inspectors[1],
            cause,
            severity="major",
            description="演示：三份检测报告的原始记录缺失，无法追溯。",
            evidence="现场照片两张；记录本第12–15页。",
        )
        services.record_finding(
            inspectors[1], cause, severity="minor", description="演示：两台仪器检定证书过期一周。"
        )
        services.record_inspection(
            office,
            cause,
            conducted_on=today - dt.timedelta(days=9),
            summary="演示：发现重大问题一项、一般问题一项。",
        )
        services.request_correction(
            office, finding, text="补齐原始记录并说明缺失原因，建立记录归档制度。", working_days=20
        )
        # the complaint behind it, substantiated (the lab is high risk for the next draw), and a new one
        complaint = services.file_complaint(
            office,
            target,
            name="演示投诉人",
            contact="010-00000000",
            subject="演示：检测报告数据不实",
            description="演示：委托检测的三份报告数据与样品实测不符。",
            channel="phone",
            received_on=today - dt.timedelta(days=15),
        )
        services.move_complaint(office, complaint, "accept")
        services.move_complaint(
            office, complaint, "substantiate", "演示：专项检查发现原始记录缺失，投诉属实。"
        )
        services.file_complaint(
            AnonymousUser(),
            named[4],
            name="演示公众",
            contact="public@example.invalid",
            subject="演示：预约共享仪器被无故取消",
            description="演示：已确认的预约在前一天被取消，未说明原因。",
        )

        # the demo lab manager's laboratory: a major-change report and a minor finding to answer
        own = Laboratory.objects.filter(code="demo-hx-robotics", status="named").first()
        if own is not None and manager is not None:
            services.report_major_change(
                manager,
                own,
                kind="director",
                new_value="演示新主任",
                new_title="研究员",
                reason="演示：原主任任期届满，依托单位任命新主任。",
            )
            visit = services.plan_inspection(
                office,
                own,
                kind="scheduled",
                planned_on=today - dt.timedelta(days=5),
                inspectors=[u for u in inspectors if u.organisation_id != own.supporting_institution_id][:2],
            )
            minor = services.record_finding(
                office, visit, severity="minor", description="演示：开放共享仪器预约记录不完整。"
            )
            services.record_inspection(
                office, visit, conducted_on=today - dt.timedelta(days=5), summary="演示：总体良好。"
            )
            services.request_correction(office, minor, text="补全预约记录并公开共享规则。", working_days=15)

        # last year's phased evaluation, published (grades go to the funding app)
        campaign = services.create_campaign(
            office,
            code=f"demo-eval-{today.year - 1}",
            name_zh=f"{today.year - 1}年度国家质量标准实验室评估（演示）",
            name_en=f"Evaluation of national quality standards laboratories {today.year - 1} (demo)",
            year=today.year - 1,
            indicators=INDICATORS,
            visits_from=dt.date(today.year - 1, 4, 7),
            visits_to=dt.date(today.year - 1, 5, 29),
            scoring_due=dt.date(today.year - 1, 6, 15),
            confirmation_due=dt.date(today.year - 1, 6, 30),
        )
        scores = [92, 85, 78, 70, 64, 48]
        for lab in named[:6]:
            entry = services.add_to_campaign(office, campaign, lab, [expert])
            entry.self_report = "演示：自评报告。"
            entry.save(update_fields=["self_report"])
        services.move_campaign(office, campaign, "open_scoring")
        for i, entry in enumerate(campaign.entries.select_related("laboratory").order_by("laboratory__code")):
            services.record_visit(
                expert,
                entry,
                visited_on=dt.date(today.year - 1, 4, 14) + dt.timedelta(days=7 * i),
                place=f"演示：{entry.laboratory.name_zh}主楼",
                experts=[expert],
                agenda="演示：听取汇报，查看设备台账、原始记录和开放共享记录，座谈。",
                summary="演示：管理基本规范，开放共享记录需完善。",
            )
        # quantitative figures (standards published, budget execution, open orders) are computed from
        # the outputs, funding and supervision records when scoring opens; the experts score the rest
        for entry, score in zip(campaign.entries.order_by("laboratory__code"), scores, strict=True):
            services.submit_score_sheet(
                expert, entry, {"quality": score, "openness": score - 2, "conduct": score + 1}
            )
        services.move_campaign(office, campaign, "confirm")
        services.move_campaign(office, campaign, "publish")
        self._refresh_allocation(office, campaign.year)

        # the failing lab is named publicly and ordered to rectify
        failing = campaign.entries.filter(grade="fail").select_related("laboratory").first()
        if failing is not None and failing.laboratory.status == "named":
            services.notify_publicly(
                office,
                [failing.laboratory],
                title_zh="关于评估不合格实验室的通报（演示）",
                title_en="Notification of laboratories that failed the evaluation (demo)",
                body_zh="经评估，下列实验室评估结果为不合格，责令限期整改。",
                body_en="The following laboratories failed the evaluation and are ordered to rectify.",
            )
            services.order_rectification(
                office,
                failing.laboratory,
                grounds="演示：年度评估不合格。",
                working_days=60,
                evaluation=failing,
            )
        self.stdout.write(self.style.SUCCESS("supervision demo loaded"))

    @staticmethod
    def _refresh_allocation(office: Any, year: int) -> None:
        """The published grades feed funding: recompute a draft subsidy allocation of that year (the
        funding demo, which runs first, drew one up from its own provisional grades)."""
        from qslab.funding import services as funding
        from qslab.funding.models import AllocationRun

        for run in AllocationRun.objects.filter(year=year, status=AllocationRun.Status.DRAFT):
            funding.compute_allocation(office, run)
