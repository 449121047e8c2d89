"""The labs app's world: laboratories in two provinces, the role user ``lab_manager`` scoped to one of
them, partners, a committee member, key figures and a layout plan with targets."""

from __future__ import annotations

from typing import Any

import pytest

from qslab.core.testing import make_organisation, make_user


def make_lab(
    code: str,
    *,
    status: str = "named",
    region: str = "320000",
    fields: tuple[str, ...] = ("robots",),
    **extra: Any,
) -> Any:
    from qslab.labs.models import KeyField, Laboratory

    defaults = {
        "name_zh": f"国家{code}质量标准实验室",
        "name_en": f"National {code} Quality Standards Laboratory",
        "supporting_institution": extra.pop("supporting_institution", None)
        or make_organisation(region_code=region),
        "region_code": region,
        "director_name": "张三",
        "contact_email": f"{code}@example.invalid",
    }
    lab = Laboratory.objects.create(code=code, status=status, **{**defaults, **extra})
    lab.fields.set(KeyField.objects.filter(code__in=fields))
    return lab


def scope_to(user: Any, lab: Any, role: str = "lab_manager") -> None:
    """Make ``user``'s memberships of ``role`` cover only ``lab``."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.accounts.models import RoleMembership
    from qslab.accounts.roles import forget_cached_roles

    ct = ContentType.objects.get_for_model(lab)
    RoleMembership.objects.filter(user=user, role=role).update(scope_type=ct, scope_id=str(lab.pk))
    forget_cached_roles(user)


@pytest.fixture
def manager_of(db: Any) -> Any:
    """A new lab-manager user scoped to the given laboratory."""

    def make(lab: Any) -> Any:
        return make_user("lab_manager", scope=lab)

    return make


@pytest.fixture
def world(world: Any) -> Any:
    from qslab.labs.models import CommitteeMember, KeyFigures, LayoutPlan, Partner
    from qslab.labs.services import TargetRow, set_plan_targets

    w = world
    w.lab = make_lab("own", status="under_construction", region="320000")
    w.other_lab = make_lab("other", status="under_construction", region="330000")
    scope_to(w.users["lab_manager"], w.lab)
    w.partner_org = make_organisation(name_zh="伙伴", name_en="Partner Co", kind="enterprise")
    w.partner = Partner.objects.create(laboratory=w.lab, organisation=make_organisation(), role="industry")
    w.other_partner = Partner.objects.create(
        laboratory=w.other_lab, organisation=make_organisation(), role="research"
    )
    w.member = CommitteeMember.objects.create(laboratory=w.lab, name="李四", position="chair")
    w.other_member = CommitteeMember.objects.create(laboratory=w.other_lab, name="王五")
    KeyFigures.objects.create(laboratory=w.lab, year=2025, staff=10)
    w.plan = LayoutPlan.objects.create(
        code="p2035", name_zh="规划", name_en="Plan", start_year=2022, end_year=2035
    )
    set_plan_targets(w.users["office"], w.plan, [TargetRow("robots", "320000", 2, 1)], "first")
    from qslab.labs.models import KeyField

    w.field = KeyField.objects.get(code="robots")
    return w
