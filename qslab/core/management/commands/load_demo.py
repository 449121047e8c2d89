"""Demo data: fictional organisations, one user per role, a published notice. Idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

DEMO_PASSWORD = "qslab-demo-2026"  # noqa: S105 - documented demo login, development only

# (username, display name, role, scope); organisations are fictional, USCCs valid by checksum only.
ORGANISATIONS = [
    (
        "office",
        "国家质量标准实验室评审委员会办公室（演示）",
        "Review Committee Office (demo)",
        "ministry",
        "110000",
    ),
    (
        "hx-inst",
        "华信计量检测研究院（演示）",
        "Huaxin Institute of Metrology and Testing (demo)",
        "supporting",
        "320000",
    ),
    (
        "js-bureau",
        "江苏省市场监督管理局（演示）",
        "Jiangsu Market Regulation Bureau (demo)",
        "authority",
        "320000",
    ),
    (
        "dm-tech",
        "东明新材料科技有限公司（演示）",
        "Dongming New Materials Co. (demo)",
        "enterprise",
        "330000",
    ),
]

USERS = [
    ("office", "Office Demo 办公室", "office", "office", {}),
    ("committee", "Committee Member Demo 委员", "committee", "office", {}),
    ("expert", "Expert Demo 专家", "expert", "hx-inst", {}),
    ("authority", "Authority Demo 主管部门", "authority", "js-bureau", {"region_code": "320000"}),
    ("labmanager", "Lab Manager Demo 实验室", "lab_manager", "hx-inst", {}),
    ("analyst", "Analyst Demo 分析员", "analyst", "hx-inst", {}),
    ("client", "Industry Client Demo 企业", "client", "dm-tech", {}),
    ("institution", "Supporting Institution Demo 依托单位", "institution", "hx-inst", {}),
]


#: demos that read the records of other demos run after them: supervision computes its evaluation's
#: figures from the outputs, sharing and funding demos (budget execution), and its published grades
#: then replace the funding demo's provisional ones and its draft subsidy allocation is recomputed.
DEMO_AFTER = {"supervision": ("outputs", "sharing", "funding")}


def demo_order(labels: list[str]) -> list[str]:
    """``labels`` in their order, each moved after the labels it reads (``DEMO_AFTER``)."""
    ordered = list(labels)
    for label, after in DEMO_AFTER.items():
        if label not in ordered:
            continue
        ordered.remove(label)
        last = max((ordered.index(a) for a in after if a in ordered), default=-1)
        ordered.insert(last + 1, label)
    return ordered


def fake_uscc(seed: str) -> str:
    """A Unified Social Credit Code with valid check characters, derived from ``seed`` (fictional)."""
    import hashlib

    from stdnum.cn import uscc

    digest = hashlib.sha256(seed.encode()).digest()
    org = "".join(
        "0123456789ABCDEFGHJKLMNPQRTUWXY"[b % 31] if i else str(1 + b % 9) for i, b in enumerate(digest[:8])
    )
    # GB 11714 organisation code check character
    values = [int(c, 36) for c in org]
    check = 11 - sum(w * v for w, v in zip((3, 7, 9, 10, 5, 8, 4, 2), values, strict=True)) % 11
    body = "91" + "320000" + org + {10: "X", 11: "0"}.get(check, str(check))
    return body + uscc.calc_check_digit(body)


class Command(BaseCommand):
    help = "Load fictional demo organisations, one user per role, and a published notice (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        from django.utils import timezone

        from qslab.accounts.models import Organisation, RoleMembership, User
        from qslab.core.calendar import seed_china_calendar

        orgs = {}
        for key, zh, en, kind, region in ORGANISATIONS:
            orgs[key], _ = Organisation.objects.get_or_create(
                uscc=fake_uscc(key),
                defaults={"name_zh": zh, "name_en": en, "kind": kind, "region_code": region},
            )
        for username, display, role, org_key, scope in USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_user(
                    username=username,
                    password=DEMO_PASSWORD,
                    email=f"{username}@example.invalid",
                    display_name=display,
                    organisation=orgs[org_key],
                    preferred_language="zh-hans",
                )
            if role == "lab_manager":
                continue  # a lab manager's role is scoped to one laboratory: load_demo_labs grants it
            if role == "institution":
                # a supporting institution's staff: scoped to their own organisation
                from django.contrib.contenttypes.models import ContentType

                scope = {
                    "scope_type": ContentType.objects.get_for_model(Organisation),
                    "scope_id": str(orgs[org_key].pk),
                }
            RoleMembership.objects.get_or_create(user=user, role=role, organisation=orgs[org_key], **scope)
        year = timezone.localdate().year
        seed_china_calendar([year - 1, year, year + 1])
        self._demo_notice()
        self._app_demos()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Logins (password for all: {DEMO_PASSWORD}):"))
        for username, display, role, _org, _scope in USERS:
            self.stdout.write(f"  {username:<11} {role:<12} {display}")
        self.stdout.write("  office and committee set up TOTP two-factor at first sign-in.")

    def _app_demos(self) -> None:
        """Each app may ship ``load_demo_<label>``; run those that exist, in app order, except that a demo
        runs after the demos whose records it reads (``DEMO_AFTER``)."""
        from django.apps import apps
        from django.core.management import call_command, get_commands

        commands = get_commands()
        labels = [
            c.label
            for c in apps.get_app_configs()
            if c.name.startswith("qslab.") and f"load_demo_{c.label}" in commands
        ]
        for label in demo_order(labels):
            call_command(f"load_demo_{label}", stdout=self.stdout)

    def _demo_notice(self) -> None:
        from qslab.accounts.models import User
        from qslab.core.services import apply_transition
        from qslab.portal.models import Notice
        from qslab.portal.services import draft_notice

        if Notice.objects.exists():
            return
        office = User.objects.get(username="office")
        committee = User.objects.get(username="committee")
        notice = draft_notice(
            office,
            {
                "title_zh": "关于开展2026年度国家质量标准实验室建设申报工作的通知（演示）",
                "title_en": "Call for applications to build national quality standards "
                "laboratories, 2026 (demo)",
                "body_zh": "各有关单位：\n根据《关于加快推进国家质量标准实验室建设的指导意见》，"
                "现组织开展2026年度申报工作。",
                "body_en": "To all institutions concerned:\nUnder the Guiding Opinions on national "
                "quality standards laboratories, applications for 2026 are now open.",
            },
        )
        apply_transition(notice, "submit", office)
        apply_transition(notice, "publish", committee)
        draft_notice(
            office,
            {
                "title_zh": "关于2026年度双随机抽查计划的公告（草稿）",
                "title_en": "2026 double-random spot-check plan (draft)",
            },
        )
