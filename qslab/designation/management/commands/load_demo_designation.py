"""Demo data of the designation app: a published call with criteria, vetted fictional experts, and
acceptance criteria, a committee term for the demo ``committee`` user, and applications waiting at
each desk (the demo ``labmanager``'s draft, one for the ``authority`` to
recommend, one for the office's formal check, one accepted and ready for assignment). Idempotent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

LEVELS = {
    "necessity": ("弱 weak", "一般 fair", "突出 outstanding"),
    "team": ("不足 insufficient", "基本具备 adequate", "领先 leading"),
    "plan": ("不可行 unworkable", "可行 workable", "周密 thorough"),
    "support": ("弱 weak", "一般 fair", "强 strong"),
}
CRITERIA = [
    (code, zh, en, weight, dict(zip(("1", "3", "5"), LEVELS[code], strict=True)))
    for code, zh, en, weight in (
        ("necessity", "建设必要性", "Need and strategic fit", 30),
        ("team", "团队与条件", "Team and facilities", 30),
        ("plan", "建设方案", "Construction plan", 25),
        ("support", "依托单位支撑", "Institutional support", 15),
    )
]

ACCEPTANCE = [
    ("milestones", "建设任务完成情况", "Construction tasks completed"),
    ("capacity", "能力与运行机制", "Capacity and operating rules"),
]

EXPERTS = [
    ("demo-expert-1", "李明（演示）", "rr-inst", "110000", ["robots", "machine-tools"]),
    ("demo-expert-2", "王芳（演示）", "rr-inst", "110000", ["basic-materials", "strategic-materials"]),
    ("demo-expert-3", "陈刚（演示）", "nh-univ", "420000", ["robots", "ic"]),
    ("demo-expert-4", "赵敏（演示）", "nh-univ", "420000", ["medical-devices", "robots"]),
]

ORGS = {
    "rr-inst": ("瑞融质量研究院（演示）", "Ruirong Quality Research Institute (demo)", "research", "110000"),
    "nh-univ": ("南湖理工大学（演示）", "Nanhu University of Technology (demo)", "university", "420000"),
    "xs-lab": ("西山检测技术中心（演示）", "Xishan Testing Technology Centre (demo)", "supporting", "320000"),
    "bh-inst": ("北湖标准化研究所（演示）", "Beihu Standardisation Institute (demo)", "supporting", "320000"),
    "dq-corp": ("东桥电子股份有限公司（演示）", "Dongqiao Electronics Co. (demo)", "supporting", "320000"),
}

# (institution key or None for the demo labmanager's, status, Chinese topic, English topic, field)
APPLICATIONS = [
    (None, "draft", "智能传感", "Intelligent Sensing", "robots"),
    ("xs-lab", "submitted", "工业互联网安全", "Industrial Internet Security", "industrial-software"),
    ("bh-inst", "recommended", "精密减速器", "Precision Reducer", "robots"),
    ("dq-corp", "accepted", "功率半导体", "Power Semiconductor", "ic"),
]


class Command(BaseCommand):
    help = "Load fictional designation demo data (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        from django.utils import timezone

        from qslab.accounts.models import Organisation, RoleMembership, User
        from qslab.core.context import acting_as
        from qslab.core.management.commands.load_demo import fake_uscc
        from qslab.designation.models import (
            Application,
            Call,
            CommitteeMembership,
            Criterion,
            ExpertProfile,
            IndustryScope,
        )
        from qslab.labs.models import KeyField

        if Call.objects.filter(code="demo-2026").exists():
            self.stdout.write("designation demo data already loaded")
            return
        office = User.objects.filter(username="office").first()
        now = timezone.now()
        with acting_as(office, "demo data"):
            call = Call.objects.create(
                code="demo-2026",
                title_zh="2026年度国家质量标准实验室申报指南（演示）",
                title_en="Call for national quality standards laboratories 2026 (demo)",
                description_zh="面向高端装备制造、新材料、新一代信息技术等重点领域。",
                description_en="For high-end manufacturing, new materials and new-generation IT.",
                eligibility_zh="依托单位为具有独立法人资格的科研院所、高校或企业。",
                eligibility_en="The supporting institution is a legal entity (institute, university, firm).",
                status="published",
                soft_deadline=now + dt.timedelta(days=45),
                hard_deadline=now + dt.timedelta(days=60),
                recommendation_deadline=(now + dt.timedelta(days=75)).date(),
                review_due_on=(now + dt.timedelta(days=105)).date(),
                committee_meeting_on=(now + dt.timedelta(days=120)).date(),
                notice_starts_on=(now + dt.timedelta(days=130)).date(),
                reviewers_per_application=3,
                max_load=3,
                quorum=3,
            )
            call.fields.set(KeyField.objects.filter(code__in=["manufacturing", "materials", "robots", "ic"]))
            for i, (code, zh, en, weight, anchors) in enumerate(CRITERIA):
                Criterion.objects.create(
                    call=call, code=code, name_zh=zh, name_en=en, weight=weight, anchors=anchors, order=i
                )
            for i, (code, zh, en) in enumerate(ACCEPTANCE):
                Criterion.objects.create(
                    call=call,
                    stage="acceptance",
                    code=code,
                    name_zh=zh,
                    name_en=en,
                    weight=50,
                    anchors={"1": "未完成 not met", "3": "基本完成 mostly met", "5": "全面完成 fully met"},
                    order=i,
                )
            equipment = IndustryScope.objects.create(
                industry="Equipment industry", name_zh="装备工业", name_en="Equipment industry"
            )
            equipment.fields.set(KeyField.objects.filter(code="manufacturing"))
            member = User.objects.filter(username="committee").first()
            if member is not None:
                today = timezone.localdate()
                CommitteeMembership.objects.create(
                    user=member,
                    position="member",
                    organisation=member.organisation,
                    term_start=today.replace(month=1, day=1),
                    term_end=today.replace(year=today.year + 4, month=12, day=31),
                )
            orgs = {}
            for key, (zh, en, kind, region) in ORGS.items():
                orgs[key], _ = Organisation.objects.get_or_create(
                    uscc=fake_uscc(f"designation-{key}"),
                    defaults={"name_zh": zh, "name_en": en, "kind": kind, "region_code": region},
                )
            for username, name, org_key, region, fields in EXPERTS:
                user = User.objects.filter(username=username).first()
                if user is None:
                    user = User.objects.create_user(
                        username=username,
                        email=f"{username}@example.invalid",
                        display_name=name,
                        organisation=orgs[org_key],
                        password=None,
                    )
                RoleMembership.objects.get_or_create(
                    user=user, role="expert", region_code="", industry="", scope_type=None, scope_id=""
                )
                self._profile(user, name, orgs[org_key], region, fields, ExpertProfile, KeyField)
            demo_expert = User.objects.filter(username="expert").first()
            if demo_expert is not None and demo_expert.organisation_id:
                self._profile(
                    demo_expert,
                    "专家演示",
                    demo_expert.organisation,
                    demo_expert.organisation.region_code,
                    ["robots", "ic"],
                    ExpertProfile,
                    KeyField,
                )
            manager = User.objects.filter(username="labmanager").first()
            for key, status, topic_zh, topic_en, field in APPLICATIONS:
                institution = orgs[key] if key else (manager.organisation if manager else None)
                if institution is None:
                    continue
                app = Application.objects.create(
                    call=call,
                    institution=institution,
                    created_by=manager if key is None else None,
                    name_zh=f"国家{topic_zh}质量标准实验室",
                    name_en=f"National {topic_en} Quality Standards Laboratory (demo)",
                    region_code=institution.region_code,
                    directions=f"{topic_zh}可靠性、检测方法与标准研制",
                    team="首席专家 1 名，骨干 25 名（演示）",
                    resources="实验面积 5000 平方米，仪器设备原值 1.2 亿元（演示）",
                    construction_plan="第一年：平台建设；第二年：方法研究；第三年：标准研制与验收（演示）",
                    status=status,
                    submitted_at=now if status != "draft" else None,
                )
                app.fields.set(KeyField.objects.filter(code=field))
        self.stdout.write(self.style.SUCCESS("designation demo data loaded"))

    @staticmethod
    def _profile(user, name, org, region, fields, ExpertProfile, KeyField) -> None:
        profile, _ = ExpertProfile.objects.get_or_create(
            user=user, defaults={"name": name, "organisation": org, "region_code": region, "vetted": True}
        )
        profile.fields.set(KeyField.objects.filter(code__in=fields))
