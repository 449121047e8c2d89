"""Demo data of the labs app: about 40 fictional laboratories across fields, provinces and states, one
of them managed by the demo user ``labmanager``, and two layout plans with visible gaps. Idempotent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

# sub-field code, Chinese topic, English topic, direction
TOPICS = [
    ("robots", "工业机器人可靠性", "Industrial Robot Reliability", "整机可靠性试验"),
    ("machine-tools", "数控机床精度", "CNC Machine Tool Accuracy", "精度保持性"),
    ("aerospace", "航空复合材料构件", "Aerospace Composite Components", "无损检测"),
    ("rail", "轨道交通装备安全", "Rail Transit Equipment Safety", "牵引制动安全"),
    ("basic-materials", "先进钢铁材料", "Advanced Steel Materials", "高强钢性能评价"),
    ("strategic-materials", "稀土功能材料", "Rare-earth Functional Materials", "成分分析"),
    ("frontier-materials", "石墨烯材料", "Graphene Materials", "表征方法"),
    ("ic", "集成电路封装测试", "IC Packaging and Test", "封装可靠性"),
    ("industrial-software", "工业软件质量", "Industrial Software Quality", "软件测评"),
    ("communications", "通信设备", "Communication Equipment", "射频一致性"),
    ("photovoltaics", "光伏组件", "Photovoltaic Module", "组件可靠性"),
    ("energy-storage", "储能电池安全", "Energy Storage Battery Safety", "热失控"),
    ("medical-devices", "医用影像设备", "Medical Imaging Equipment", "影像质量"),
    ("biopharma", "生物药质量", "Biopharmaceutical Quality", "标准物质"),
    ("durables", "家用电器安全", "Household Appliance Safety", "电气安全"),
    ("childrens-products", "儿童用品安全", "Children's Product Safety", "化学安全"),
]
QUALIFIERS = [("", ""), ("检测评价", " Testing and Evaluation"), ("计量", " Metrology")]
# province, prefecture (may be empty), city name for the institution
PLACES = [
    ("320000", "320500", "苏州", "Suzhou"),
    ("330000", "330100", "杭州", "Hangzhou"),
    ("440000", "440300", "深圳", "Shenzhen"),
    ("370000", "370200", "青岛", "Qingdao"),
    ("110000", "", "北京", "Beijing"),
    ("310000", "", "上海", "Shanghai"),
    ("510000", "", "成都", "Chengdu"),
    ("420000", "", "武汉", "Wuhan"),
    ("610000", "", "西安", "Xi'an"),
    ("340000", "", "合肥", "Hefei"),
]
STATES = (
    ["named"] * 22
    + ["under_construction"] * 5
    + ["proposed"] * 3
    + ["acceptance"] * 3
    + ["under_rectification"] * 2
    + ["suspended", "revoked", "withdrawn"]
)

PLANS = [
    (
        "plan-2025",
        "国家质量标准实验室布局规划（至2025年）（演示）",
        "Layout plan of national quality standards laboratories to 2025 (demo)",
        2022,
        2025,
        [
            ("manufacturing", "320000", 2, 1),
            ("materials", "000000", 3, 1),
            ("it", "440000", 2, 1),
            ("biomedicine", "310000", 1, 2),
        ],
        [
            ("manufacturing", "320000", 2, 1),
            ("materials", "000000", 4, 1),
            ("it", "440000", 2, 1),
            ("biomedicine", "310000", 1, 2),
            ("energy-electronics", "320000", 2, 1),
        ],
    ),
    (
        "plan-2035",
        "国家质量标准实验室布局规划（至2035年）（演示）",
        "Layout plan of national quality standards laboratories to 2035 (demo)",
        2022,
        2035,
        [
            ("manufacturing", "320000", 3, 1),
            ("manufacturing", "510000", 2, 2),
            ("manufacturing", "610000", 2, 2),
            ("materials", "370000", 2, 2),
            ("materials", "620000", 1, 3),
            ("it", "440000", 3, 1),
            ("it", "110000", 2, 1),
            ("energy-electronics", "320000", 2, 1),
            ("energy-electronics", "650000", 1, 2),
            ("biomedicine", "310000", 2, 1),
            ("biomedicine", "420000", 1, 2),
            ("consumer-goods", "330000", 2, 2),
            ("consumer-goods", "450000", 1, 3),
        ],
        None,
    ),
]


class Command(BaseCommand):
    help = "Load fictional laboratories and layout plans (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        from django.contrib.contenttypes.models import ContentType
        from django.utils import timezone

        from qslab.accounts.models import Organisation, RoleMembership, User
        from qslab.core.context import acting_as
        from qslab.core.management.commands.load_demo import fake_uscc
        from qslab.labs import services
        from qslab.labs.models import KeyField, KeyFigures, Laboratory, LayoutPlan, Partner, ResearchPriority

        office = User.objects.filter(username="office").first()
        if office is None:
            self.stdout.write("labs demo: run load_demo first (it creates the demo users).")
            return
        fields = {f.code: f for f in KeyField.objects.all()}
        priorities = list(ResearchPriority.objects.all())
        year = timezone.localdate().year
        created = 0
        with acting_as(office, "demo data"):
            institutions = {}
            for province, _pref, city_zh, city_en in PLACES:
                key = f"labs-demo-{province}"
                institutions[province], _ = Organisation.objects.get_or_create(
                    uscc=fake_uscc(key),
                    defaults={
                        "name_zh": f"{city_zh}质量技术研究院（演示）",
                        "name_en": f"{city_en} Institute of Quality Technology (demo)",
                        "kind": Organisation.Kind.SUPPORTING,
                        "region_code": province,
                    },
                )
            university, _ = Organisation.objects.get_or_create(
                uscc=fake_uscc("labs-demo-university"),
                defaults={
                    "name_zh": "东江理工大学（演示）",
                    "name_en": "Dongjiang University of Technology (demo)",
                    "kind": Organisation.Kind.UNIVERSITY,
                    "region_code": "320000",
                },
            )
            labs = []
            for i, state in enumerate(STATES):
                sub, topic_zh, topic_en, direction = TOPICS[i % len(TOPICS)]
                q_zh, q_en = QUALIFIERS[i // len(TOPICS)]
                province, prefecture, _c, _e = PLACES[(i * 3) % len(PLACES)]
                code = f"demo-{sub}-{i + 1:02d}"
                lab = Laboratory.objects.filter(code=code).first()
                if lab is None:
                    lab = Laboratory.objects.create(
                        code=code,
                        name_zh=f"国家{topic_zh}{q_zh}质量标准实验室",
                        name_en=f"National {topic_en}{q_en} Quality Standards Laboratory (demo)",
                        supporting_institution=institutions[province],
                        region_code=province,
                        prefecture_code=prefecture,
                        status=state,  # the demo registry starts from a recorded state
                        direction=direction,
                        director_name=f"演示主任{i + 1}",
                        director_title="研究员",
                        contact_email=f"lab{i + 1}@example.invalid",
                        summary_zh=f"围绕{topic_zh}开展标准验证、计量测试与质量共性技术研究（演示数据）。",
                        summary_en=f"Standards verification, metrology and common quality technologies for "
                        f"{topic_en.lower()} (demo data).",
                        named_on=dt.date(year - 1 - i % 3, 6, 30)
                        if state in ("named", "under_rectification", "suspended")
                        else None,
                    )
                    lab.fields.set([fields[sub]])
                    lab.priorities.set([priorities[i % len(priorities)], priorities[2]])
                    if state in ("named", "under_rectification"):
                        KeyFigures.objects.create(
                            laboratory=lab,
                            year=year - 1,
                            staff=40 + i,
                            instrument_value=1200 + 37 * i,
                            standards_drafted=3 + i % 5,
                            patents=2 + i % 7,
                            services_delivered=150 + 11 * i,
                        )
                    created += 1
                labs.append(lab)
            # an overlap: a second photovoltaic module lab in Jiangsu with the same direction
            if not Laboratory.objects.filter(code="demo-photovoltaics-js2").exists():
                twin = Laboratory.objects.create(
                    code="demo-photovoltaics-js2",
                    name_zh="国家光伏组件可靠性质量标准实验室",
                    name_en="National Photovoltaic Module Reliability Quality Standards Laboratory (demo)",
                    supporting_institution=institutions["320000"],
                    region_code="320000",
                    prefecture_code="320200",
                    status="named",
                    direction="组件可靠性",
                    contact_email="pv2@example.invalid",
                )
                twin.fields.set([fields["photovoltaics"]])
            # the demo lab manager's own laboratory, walked through its lifecycle with documents
            own = Laboratory.objects.filter(code="demo-hx-robotics").first()
            labmanager = User.objects.filter(username="labmanager").first()
            if own is None:
                hx = Organisation.objects.get(uscc=fake_uscc("hx-inst"))
                own = services.register_laboratory(
                    office,
                    {
                        "code": "demo-hx-robotics",
                        "name_zh": "国家智能制造装备质量标准实验室",
                        "name_en": "National Intelligent Manufacturing Equipment Quality Standards Laboratory"
                        " (demo)",
                        "supporting_institution": hx,
                        "region_code": "320000",
                        "prefecture_code": "320100",
                        "direction": "智能装备可靠性与功能安全",
                        "director_name": "演示主任",
                        "contact_email": "hx-lab@example.invalid",
                        "fields": [fields["manufacturing"], fields["robots"]],
                        "priorities": priorities[1:3],
                    },
                )
                Partner.objects.create(laboratory=own, organisation=university, role="academia")
                created += 1
                if labmanager is not None:
                    ct = ContentType.objects.get_for_model(Laboratory)
                    RoleMembership.objects.get_or_create(
                        user=labmanager,
                        role="lab_manager",
                        scope_type=ct,
                        scope_id=str(own.pk),
                    )  # no organisation: load_demo looks its own membership up by (user, role, organisation)
                services.move_laboratory(office, own, "approve_construction", "演示：同意筹建。")
                services.move_laboratory(office, own, "request_acceptance")
                services.move_laboratory(office, own, "designate", "演示：验收通过，予以命名。")
            # a lab manager sees and edits only their own laboratory: the demo login's unscoped role goes
            if labmanager is not None:
                for m in RoleMembership.objects.filter(
                    user=labmanager, role="lab_manager", scope_type__isnull=True, active=True
                ):
                    m.active = False
                    m.save(update_fields=["active", "last_updated"])
            for code, zh, en, start, end, first, second in PLANS:
                if LayoutPlan.objects.filter(code=code).exists():
                    continue
                plan = services.create_plan(
                    office, {"code": code, "name_zh": zh, "name_en": en, "start_year": start, "end_year": end}
                )
                rows = [services.TargetRow(field=f, region=r, target=t, priority=p) for f, r, t, p in first]
                services.set_plan_targets(office, plan, rows, "初始布局（演示）")
                if second:
                    rows = [
                        services.TargetRow(field=f, region=r, target=t, priority=p) for f, r, t, p in second
                    ]
                    services.set_plan_targets(office, plan, rows, "动态调整：增加能源电子布局（演示）")
        self.stdout.write(f"labs demo: {created} laboratories added; labmanager manages demo-hx-robotics.")
