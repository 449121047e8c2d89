"""The funding app's world: two laboratories (the role user ``lab_manager`` manages ``w.lab`` only; the
``authority`` covers Jiangsu, where ``w.lab`` is), a draft, a submitted and an approved budget with
targets and expenditures, a monitoring flag, a submitted self-evaluation and an allocation run."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from qslab.core.testing import make_organisation, make_user

YEAR = 2025


def make_lab(code: str, *, status: str = "named", region: str = "320000") -> Any:
    from qslab.labs.models import Laboratory

    return Laboratory.objects.create(
        code=code,
        name_zh=f"国家{code}质量标准实验室",
        name_en=f"National {code} Quality Standards Laboratory",
        supporting_institution=make_organisation(region_code=region),
        region_code=region,
        status=status,
    )


def scope_to(user: Any, lab: Any) -> None:
    from django.contrib.contenttypes.models import ContentType

    from qslab.accounts.models import RoleMembership
    from qslab.accounts.roles import forget_cached_roles

    ct = ContentType.objects.get_for_model(lab)
    RoleMembership.objects.filter(user=user, role="lab_manager").update(scope_type=ct, scope_id=str(lab.pk))
    forget_cached_roles(user)


def manager_of(lab: Any) -> Any:
    return make_user("lab_manager", scope=lab)


INDICATORS = (
    "quantity, 新标准数, new standards, >=, 4, items, planned, 2\n"
    "quality, 一次通过率, first-pass rate, >=, 95, %, industry, 1\n"
    "cost, 单次检测成本, cost per test, <=, 800, yuan, historical, 1\n"
    "social, 服务企业数, firms served, >=, 50, firms, planned, 1\n"
    "served, 用户满意度, client satisfaction, >=, 90, %, planned, 1\n"
)


def budget_with_lines(lab: Any, user: Any, year: int = YEAR, status: str = "draft") -> Any:
    """A budget of ``lab`` with lines and targets, moved to ``status`` by the office."""
    from qslab.funding import services

    office = user
    budget = services.create_budget(office, lab, year)
    services.save_budget_version(
        office,
        budget,
        {
            ("equipment", "central"): Decimal("600000.00"),
            ("materials", "supporting"): Decimal("200000.00"),
            ("testing", "service"): Decimal("200000.00"),
        },
    )
    services.set_indicators(office, budget, services.parse_indicators(INDICATORS))
    if status in ("submitted", "approved"):
        services.move_budget(office, budget, "submit")
    if status == "approved":
        services.move_budget(office, budget, "approve")
    return budget


@pytest.fixture
def world(world: Any) -> Any:
    from qslab.funding import services
    from qslab.funding.models import AllocationRun, MonitoringFlag

    w = world
    w.lab = make_lab("own", region="320000")
    w.other_lab = make_lab("other", region="330000")
    scope_to(w.users["lab_manager"], w.lab)
    office = w.users["office"]
    w.draft = budget_with_lines(w.lab, office, year=YEAR + 1)
    w.submitted = budget_with_lines(w.other_lab, office, year=YEAR + 1, status="submitted")
    w.approved = budget_with_lines(w.lab, office, status="approved")
    w.other_approved = budget_with_lines(w.other_lab, office, status="approved")
    services.record_expenditure(
        office,
        w.approved,
        {"date": dt.date(YEAR, 3, 1).isoformat(), "line": "equipment", "source": "central", "amount": "1000"},
    )
    w.flag = MonitoringFlag.objects.create(
        budget=w.approved, month=7, kind="execution", subject="whole budget", expected=58, actual=1
    )
    w.other_flag = MonitoringFlag.objects.create(
        budget=w.other_approved, month=7, kind="execution", subject="whole budget", expected=58, actual=0
    )
    w.evaluation = services.open_evaluation(office, w.approved)
    services.record_actuals(office, w.evaluation, {i.pk: i.target for i in w.approved.indicators.all()}, "ok")
    w.other_evaluation = services.open_evaluation(office, w.other_approved)
    services.record_actuals(
        office, w.other_evaluation, {i.pk: i.target for i in w.other_approved.indicators.all()}, "ok"
    )
    services.move_evaluation(office, w.other_evaluation, "submit")
    w.run = AllocationRun.objects.create(
        year=YEAR, title_zh="分配", title_en="Allocation", total=Decimal("1000.00")
    )
    w.issued_run = AllocationRun.objects.create(
        year=YEAR,
        title_zh="已发",
        title_en="Issued",
        total=Decimal("10.00"),
        status="issued",
        document=w.private_document,
    )
    return w
