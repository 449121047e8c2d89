"""Demo data of the outputs app: standards in several stages and verified or claimed outputs for the
demo laboratories that exist (the demo lab manager's own and a few named ones). Creates no laboratory;
fictional titles and numbers only (DOIs under the 10.5555 example prefix). Idempotent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Load demo standards and outputs for the existing demo laboratories (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--labs", type=int, default=6, help="how many laboratories get outputs")

    def handle(self, *args: Any, **options: Any) -> None:
        from qslab.accounts.models import User
        from qslab.core.context import acting_as
        from qslab.labs.models import Laboratory
        from qslab.outputs import services
        from qslab.outputs.identifiers import patent_check_digit
        from qslab.outputs.models import Standard

        office = User.objects.filter(username="office").first()
        if office is None:
            self.stdout.write("outputs demo: run load_demo first (it creates the demo users).")
            return
        labs = list(Laboratory.objects.filter(code="demo-hx-robotics"))
        labs += list(
            Laboratory.objects.filter(status="named")
            .exclude(code="demo-hx-robotics")
            .order_by("code")[: max(0, options["labs"] - len(labs))]
        )
        if not labs:
            self.stdout.write("outputs demo: no laboratory yet; run load_demo_labs first.")
            return
        year = dt.date.today().year - 1
        created = 0
        with acting_as(office, "demo data"):
            for i, lab in enumerate(labs, start=1):
                if Standard.objects.filter(laboratory=lab, notes="demo").exists():
                    continue
                published = services.record_standard(
                    office,
                    lab,
                    {
                        "number": f"T/CAQI {900 + i}-{year}",
                        "title_zh": f"{lab.name_zh[:12]}关键性能评价方法（演示）",
                        "title_en": "Evaluation method of key performance (demo)",
                        "role": "lead",
                        "notes": "demo",
                        "proposed_on": dt.date(year - 1, 3, 1),
                    },
                )
                steps = [
                    ("approve_project", dt.date(year - 1, 5, 10)),
                    ("start_drafting", dt.date(year - 1, 6, 1)),
                    ("circulate", dt.date(year - 1, 11, 15)),
                    ("submit_review", dt.date(year, 2, 20)),
                    ("approve", dt.date(year, 4, 8)),
                    ("publish", dt.date(year, 5, 30)),
                ]
                for step, on in steps:
                    services.move_standard(office, published, step, on=on)
                services.verify_standard(office, published, "verify")
                drafting = services.record_standard(
                    office,
                    lab,
                    {
                        "level": "national",
                        "title_zh": "智能检测设备通用技术条件（演示）",
                        "title_en": "General specification of intelligent testing equipment (demo)",
                        "role": "participant",
                        "project_number": f"2025{i:04d}-T-469",
                        "notes": "demo",
                        "proposed_on": dt.date(year, 1, 5),
                    },
                )
                for step, on in (
                    ("approve_project", dt.date(year, 3, 1)),
                    ("start_drafting", dt.date(year, 4, 1)),
                ):
                    services.move_standard(office, drafting, step, on=on)
                services.record_standard(
                    office,
                    lab,
                    {
                        "level": "industry",
                        "title_zh": "在线质量监测数据接口（演示提案）",
                        "title_en": "Data interface of online quality monitoring (demo proposal)",
                        "role": "lead",
                        "notes": "demo",
                    },
                )
                digits = f"{year}1{i:07d}"
                rows = [
                    (
                        "paper",
                        {"doi": f"10.5555/qslab-demo.{lab.pk}.1", "journal": "Demo Journal of Metrology"},
                        True,
                    ),
                    (
                        "patent",
                        {
                            "application_number": f"{digits}.{patent_check_digit(digits)}",
                            "grant_number": f"CN1{lab.pk:08d}B",
                            "granted_on": dt.date(year, 9, 1),
                            "people": "演示发明人",
                        },
                        True,
                    ),
                    ("equipment", {"description": "演示：自主研制的智能检测装置"}, True),
                    ("test_method", {}, True),
                    ("trainee", {"people": "演示研究生"}, True),
                    ("event", {"participants": 60 + 10 * i, "counterpart": "演示学会"}, True),
                    ("transfer", {"value": 50 * i, "counterpart": "演示企业"}, False),
                    ("policy_report", {"policy_question": "如何提升检测装备自主可控水平（演示）"}, False),
                ]
                staff = [
                    ("演示主任", "Demo Director", "director", "研究员", "CNAS 评审员（演示）"),
                    (
                        "演示质量负责人",
                        "Demo Quality Manager",
                        "quality_manager",
                        "高级工程师",
                        "内审员（演示）",
                    ),
                    ("演示工程师", "Demo Engineer", "engineer", "工程师", "一级注册计量师（演示）"),
                ]
                for name_zh, name_en, role, title, qualification in staff:
                    services.add_staff(
                        office,
                        lab,
                        {
                            "name_zh": name_zh,
                            "name_en": name_en,
                            "role": role,
                            "title": title,
                            "qualifications": qualification,
                            "starts_on": dt.date(year - 3, 9, 1),
                        },
                    )
                for kind, extra, verify in rows:
                    item = services.record_output(
                        office,
                        lab,
                        {"kind": kind, "title_zh": f"演示成果：{kind}（{lab.code}）", "year": year, **extra},
                    )
                    if verify:
                        services.move_output(office, item, "verify")
                    created += 1
        self.stdout.write(f"outputs demo: {created} outputs for {len(labs)} laboratories.")
