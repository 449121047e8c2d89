"""The outputs app's world: two laboratories, the role user ``lab_manager`` scoped to ``w.lab``, and
standards and outputs in each state."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from qslab.core.testing import make_organisation, make_user


def make_lab(code: str, region: str = "320000") -> Any:
    from qslab.labs.models import Laboratory

    return Laboratory.objects.create(
        code=code,
        name_zh=f"国家{code}质量标准实验室",
        name_en=f"National {code} Quality Standards Laboratory",
        supporting_institution=make_organisation(region_code=region),
        region_code=region,
        status="named",
    )


def scope_to(user: Any, lab: Any) -> None:
    from django.contrib.contenttypes.models import ContentType

    from qslab.accounts.models import RoleMembership
    from qslab.accounts.roles import forget_cached_roles

    ct = ContentType.objects.get_for_model(lab)
    RoleMembership.objects.filter(user=user, role="lab_manager").update(scope_type=ct, scope_id=str(lab.pk))
    forget_cached_roles(user)


def walk(std: Any, user: Any, *steps: str) -> Any:
    from qslab.outputs import services

    for step in steps:
        std = services.move_standard(
            user, std, step, reason="test" if step in ("send_back", "revise", "withdraw") else ""
        )
    return std


TO_PUBLISHED = ("approve_project", "start_drafting", "circulate", "submit_review", "approve", "publish")


@pytest.fixture
def manager_of(db: Any) -> Any:
    return lambda lab: make_user("lab_manager", scope=lab)


@pytest.fixture
def world(world: Any) -> Any:
    from qslab.outputs.models import Output, Standard

    w = world
    w.lab = make_lab("own", "320000")
    w.other_lab = make_lab("other", "330000")
    scope_to(w.users["lab_manager"], w.lab)
    # Built directly (the services are tested on their own); the matrix needs them fast.
    std = Standard.objects.create
    w.proposal = std(laboratory=w.lab, title_zh="提案标准", role="lead", level="group")
    w.published = std(
        laboratory=w.lab,
        number="T/CAQI 1-2026",
        title_zh="已发布标准",
        role="lead",
        level="group",
        nature="recommended",
        issuer="CAQI",
        stage="published",
        published_on=dt.date(2026, 3, 1),
        verification="verified",
    )
    w.unverified = std(
        laboratory=w.lab,
        number="T/CAQI 2-2025",
        title_zh="待核实标准",
        role="lead",
        level="group",
        nature="recommended",
        issuer="CAQI",
        stage="published",
        published_on=dt.date(2025, 4, 1),
    )
    w.other_proposal = std(laboratory=w.other_lab, title_zh="他人提案", role="participant", level="national")
    out = Output.objects.create
    w.claimed = out(laboratory=w.lab, kind="equipment", title_zh="检测装置", year=2026)
    w.verified = out(
        laboratory=w.lab, kind="paper", title_zh="论文", year=2026, doi="10.1000/own.1", status="verified"
    )
    w.rejected = out(
        laboratory=w.lab,
        kind="software",
        title_zh="软件",
        year=2026,
        status="rejected",
        rejection_reason="no registration certificate",
    )
    w.other_claimed = out(laboratory=w.other_lab, kind="equipment", title_zh="他人装置", year=2026)
    from qslab.outputs.models import StaffMember

    w.member = StaffMember.objects.create(
        laboratory=w.lab, name_zh="张三", role="researcher", title="研究员", starts_on=dt.date(2020, 1, 6)
    )
    # One evidence file on each of a public and a private record (the download matrix needs them).
    from django.core.files.uploadedfile import SimpleUploadedFile

    from qslab.core.services import add_attachment

    def pdf(name: str) -> Any:
        return SimpleUploadedFile(name, b"%PDF-1.4\n%" + name.encode() + b"\n", "application/pdf")

    w.published_evidence = add_attachment(w.published, pdf("published.pdf"), None)
    w.proposal_evidence = add_attachment(w.proposal, pdf("proposal.pdf"), None)
    w.verified_evidence = add_attachment(w.verified, pdf("paper.pdf"), None)
    w.claimed_evidence = add_attachment(w.claimed, pdf("certificate.pdf"), None)
    w.today = dt.date.today()
    return w
