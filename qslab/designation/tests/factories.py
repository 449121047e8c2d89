"""Builders for the designation tests: calls with criteria, applications, vetted experts."""

from __future__ import annotations

import datetime as dt
from typing import Any

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
        status=status,
        **{"directions": "机器人可靠性", "team": "张三等 20 人", "construction_plan": "三年建设", **extra},
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


def seat(user: Any, *, organisation: Any = None, years: int = 5) -> Any:
    """A current term on the Review Committee for ``user`` (who holds the committee role)."""
    from qslab.designation.models import CommitteeMembership

    today = timezone.localdate()
    return CommitteeMembership.objects.create(
        user=user,
        organisation=organisation,
        term_start=today - dt.timedelta(days=1),
        term_end=today + dt.timedelta(days=365 * years),
    )


def on_agenda(*apps: Any, title: str = "第一次全体会议") -> Any:
    """A scheduled committee meeting today with ``apps`` on its agenda."""
    from qslab.designation.models import AgendaItem, CommitteeMeeting

    meeting = CommitteeMeeting.objects.create(title=title, held_on=timezone.localdate())
    for i, app in enumerate(apps):
        AgendaItem.objects.create(meeting=meeting, application=app, order=i)
    return meeting


ACCEPTANCE_CRITERIA = [
    ("milestones", "建设任务完成", "Milestones reached", 50, 5, {"0": "none", "5": "all"}),
    ("capacity", "能力形成", "Capacity built", 50, 5, {"0": "none", "5": "full"}),
]


def add_acceptance_criteria(call: Any) -> None:
    from qslab.designation.models import Criterion

    for i, (c, zh, en, w, m, anchors) in enumerate(ACCEPTANCE_CRITERIA):
        Criterion.objects.create(
            call=call,
            stage="acceptance",
            code=c,
            name_zh=zh,
            name_en=en,
            weight=w,
            max_score=m,
            anchors=anchors,
            order=i,
        )
