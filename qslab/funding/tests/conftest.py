"""The funding app's world: two laboratories (the role user ``lab_manager`` manages ``w.lab`` only; the
``institution`` user belongs to ``w.lab``'s supporting institution; the ``authority`` covers Jiangsu,
where ``w.lab`` is), a draft, a submitted and an approved budget with
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


def scope_institution_to(user: Any, organisation: Any) -> None:
    """Scope ``user``'s supporting-institution membership to ``organisation``."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.accounts.models import RoleMembership
    from qslab.accounts.roles import forget_cached_roles

    ct = ContentType.objects.get_for_model(organisation)
    RoleMembership.objects.filter(user=user, role="institution").update(
        scope_type=ct, scope_id=str(organisation.pk)
    )
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


def quick_budget(lab: Any, year: int, status: str, actuals: bool = False) -> Any:
    """A budget written straight to the tables (the access matrix needs many; services are tested
    elsewhere): one version with lines, approved if ``status`` says so, and the standard targets."""
    from qslab.funding import services
    from qslab.funding.models import Budget, BudgetLine, BudgetVersion, Indicator

    budget = Budget.objects.create(laboratory=lab, year=year, status=status)
    version = BudgetVersion.objects.create(budget=budget, number=1)
    BudgetLine.objects.bulk_create(
        [
            BudgetLine(version=version, line="equipment", source="central", amount=Decimal("600000.00")),
            BudgetLine(version=version, line="materials", source="supporting", amount=Decimal("400000.00")),
        ]
    )
    if status == "approved":
        Budget.objects.filter(pk=budget.pk).update(approved_version=version)
        budget.approved_version = version
    Indicator.objects.bulk_create(
        [
            Indicator(budget=budget, **{**row, "actual": row["target"] if actuals else None})
            for row in services.parse_indicators(INDICATORS)
        ]
    )
    return budget


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def evidence_file(evaluation: Any, name: str, content: bytes = PDF) -> Any:
    from django.core.files.base import ContentFile

    from qslab.funding.models import EvidenceFile

    item = EvidenceFile(evaluation=evaluation, name=name, size=len(content), sha256="0" * 64)
    item.file.save(name, ContentFile(content), save=False)
    item.save()
    return item


@pytest.fixture
def world(world: Any) -> Any:
    from qslab.funding.models import AllocationRun, Expenditure, MonitoringFlag, SelfEvaluation

    w = world
    w.lab = make_lab("own", region="320000")
    w.other_lab = make_lab("other", region="330000")
    scope_to(w.users["lab_manager"], w.lab)
    scope_institution_to(w.users["institution"], w.lab.supporting_institution)
    w.draft = quick_budget(w.lab, YEAR + 1, "draft")
    w.submitted = quick_budget(w.other_lab, YEAR + 1, "submitted")
    w.approved = quick_budget(w.lab, YEAR, "approved", actuals=True)
    w.other_approved = quick_budget(w.other_lab, YEAR, "approved", actuals=True)
    Expenditure.objects.create(
        budget=w.approved, date=dt.date(YEAR, 3, 1), line="equipment", source="central", amount=Decimal(1000)
    )
    w.flag = MonitoringFlag.objects.create(
        budget=w.approved, month=7, kind="execution", subject="whole budget", expected=58, actual=1
    )
    w.other_flag = MonitoringFlag.objects.create(
        budget=w.other_approved, month=7, kind="execution", subject="whole budget", expected=58, actual=0
    )
    w.evaluation = SelfEvaluation.objects.create(budget=w.approved)
    w.other_evaluation = SelfEvaluation.objects.create(
        budget=w.other_approved, status="submitted", total=Decimal(90), grade="excellent"
    )
    w.evaluation.experts.add(w.users["expert"])  # assigned to review the own lab's self-evaluation
    w.evidence = evidence_file(w.evaluation, "report.pdf")
    w.other_evidence = evidence_file(w.other_evaluation, "other.pdf")
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
    # a year with no allocation issued yet, a reviewed self-evaluation and an evaluation grade, so a
    # draft of that year can be issued
    from qslab.funding.models import LabGrade

    SelfEvaluation.objects.create(budget=w.draft, status="reviewed", total=Decimal(91), grade="excellent")
    LabGrade.objects.create(laboratory=w.lab, year=YEAR + 1, grade="good")
    w.draft_run_next_year = AllocationRun.objects.create(
        year=YEAR + 1, title_zh="下年分配", title_en="Next year's allocation", total=Decimal("100.00")
    )
    return w
