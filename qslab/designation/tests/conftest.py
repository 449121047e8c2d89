"""The designation app's world: an open call with criteria, a closed and a draft call, applications in
the states the access matrix needs, an expert with a profile and a released assignment, and a public
notice that is open. The role user ``lab_manager`` belongs to ``w.org`` (Jiangsu, 320000); the
``authority`` covers Jiangsu."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from qslab.core.testing import make_organisation, make_user

CRITERIA = [
    ("direction", "方向", "Direction", 40, 5, {"0": "none", "5": "excellent"}),
    ("team", "团队", "Team", 60, 5, {"0": "none", "5": "excellent"}),
]


def make_call(code: str = "call", *, status: str = "published", hard_in_days: int = 30, **extra: Any) -> Any:
    from qslab.designation.models import Call, Criterion
    from qslab.labs.models import KeyField

    now = timezone.now()
    call = Call.objects.create(
        code=code,
        title_zh=f"{code}申报指南",
        title_en=f"{code} call",
        status=status,
        soft_deadline=now + dt.timedelta(days=hard_in_days - 1),
        hard_deadline=now + dt.timedelta(days=hard_in_days),
        **{"quorum": 1, **extra},
    )
    call.fields.set(KeyField.objects.filter(code__in=["robots", "manufacturing"]))
    for i, (c, zh, en, w, m, anchors) in enumerate(CRITERIA):
        Criterion.objects.create(
            call=call, code=c, name_zh=zh, name_en=en, weight=w, max_score=m, anchors=anchors, order=i
        )
    return call


def make_application(
    call: Any, institution: Any, *, status: str = "draft", owner: Any = None, **extra: Any
) -> Any:
    from qslab.designation.models import Application
    from qslab.labs.models import KeyField

    n = Application.objects.count() + 1
    app = Application.objects.create(
        call=call,
        institution=institution,
        created_by=owner,
        name_zh=f"国家示例{n}质量标准实验室",
        name_en=f"National Example {n} Quality Standards Laboratory",
        region_code=extra.pop("region_code", institution.region_code),
        directions="机器人可靠性",
        team="张三等 20 人",
        construction_plan="三年建设",
        status=status,
        **extra,
    )
    app.fields.set(KeyField.objects.filter(code="robots"))
    return app


def make_expert(
    org: Any = None, *, region: str = "110000", fields: tuple[str, ...] = ("robots",), user=None
) -> Any:
    from qslab.designation.models import ExpertProfile
    from qslab.labs.models import KeyField

    user = user or make_user("expert")
    profile = ExpertProfile.objects.create(
        user=user,
        name=f"专家{user.pk}",
        organisation=org if org is not None else make_organisation(region_code=region, kind="research"),
        region_code=region,
        vetted=True,
    )
    profile.fields.set(KeyField.objects.filter(code__in=fields))
    return profile


@pytest.fixture
def world(world: Any) -> Any:
    from qslab.designation.models import Assignment, PublicNotice

    w = world
    w.org = make_organisation(region_code="320000", name_zh="示例大学", name_en="Example University")
    w.other_org = make_organisation(region_code="330000", name_zh="另一研究院", name_en="Other Institute")
    manager = w.users["lab_manager"]
    manager.organisation = w.org
    manager.save(update_fields=["organisation"])
    w.call = make_call("open", reviewers_per_application=1)
    w.closed_call = make_call("late", hard_in_days=-1)
    w.draft_call = make_call("draft", status="draft")
    w.app = make_application(w.call, w.org, owner=manager)
    w.other_app = make_application(w.call, w.other_org, status="draft", region_code="330000")
    w.submitted = make_application(w.call, make_organisation(region_code="320000"), status="submitted")
    w.recommended = make_application(w.call, make_organisation(region_code="320000"), status="recommended")
    w.in_review = make_application(w.call, make_organisation(region_code="320000"), status="in_review")
    w.reviewed = make_application(w.call, make_organisation(region_code="320000"), status="reviewed")
    w.accepted = make_application(w.call, make_organisation(region_code="320000"), status="accepted")
    w.profile = make_expert(user=w.users["expert"])
    w.assignment = Assignment.objects.create(application=w.in_review, expert=w.users["expert"], released=True)
    w.noticed = make_application(w.call, make_organisation(region_code="320000"), status="public_notice")
    today = timezone.localdate()
    w.notice = PublicNotice.objects.create(
        application=w.noticed, starts_on=today, ends_on=today + dt.timedelta(days=7)
    )
    from qslab.designation.models import Objection

    w.objection = Objection.objects.create(
        notice=w.notice, objector=w.users["client"], contact="王五 138", text="异议"
    )
    from django.core.files.base import ContentFile

    from qslab.designation.models import ApplicationFile

    w.file = ApplicationFile(application=w.app, kind="plan", name="plan.pdf", size=10, sha256="0" * 64)
    w.file.file.save("plan.pdf", ContentFile(b"%PDF-1.4\n%x\n"), save=False)
    w.file.save()
    return w
