"""The designation app's world: an open call with criteria, a closed and a draft call, applications in
the states the access matrix needs, an expert with a profile and a released assignment, and a public
notice that is open. The role user ``lab_manager`` belongs to ``w.org`` (Jiangsu, 320000); the
``authority`` covers Jiangsu."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from qslab.core.testing import make_organisation
from qslab.designation.tests.factories import make_application, make_call, make_expert


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

    # panels, committee, construction
    from django.contrib.contenttypes.models import ContentType

    from qslab.accounts.models import RoleMembership
    from qslab.designation.models import Construction, Milestone, ProgressReport, Review
    from qslab.designation.tests.factories import on_agenda, seat
    from qslab.labs.tests.conftest import make_lab

    w.assignment.moderator = True
    w.assignment.save(update_fields=["moderator"])
    Review.objects.create(
        assignment=w.assignment, scores={"direction": 4, "team": 4}, total=80, submitted_at=timezone.now()
    )
    seat(w.users["committee"])
    w.meeting = on_agenda(w.reviewed)
    w.designated = make_application(w.call, w.org, owner=manager, status="designated")
    w.lab = make_lab("designated-lab", status="under_construction")
    RoleMembership.objects.create(
        user=manager,
        role="lab_manager",
        scope_type=ContentType.objects.get_for_model(w.lab),
        scope_id=str(w.lab.pk),
    )
    today = timezone.localdate()
    w.construction = Construction.objects.create(
        application=w.designated, laboratory=w.lab, starts_on=today, ends_on=today + dt.timedelta(days=1095)
    )
    Milestone.objects.create(
        construction=w.construction, title="平台建成", due=today + dt.timedelta(days=365)
    )
    from qslab.designation.models import CallTemplate

    w.template = CallTemplate(call=w.call, name="申报书模板", sha256="0" * 64)
    w.template.file.save("form.docx", ContentFile(b"PK\x03\x04 template"), save=False)
    w.template.save()
    w.decided = make_application(w.call, make_organisation(region_code="320000"), status="approved")
    w.closable_meeting = on_agenda(w.decided, title="已决会议")
    w.progress = ProgressReport.objects.create(
        construction=w.construction, period="2026", text="进展", submitted_by=manager
    )
    # the office's API desk: a proposed (unreleased) panel, a spare vetted expert, an item with a vote
    from qslab.designation.models import Vote

    w.proposed = Assignment.objects.create(application=w.accepted, expert=make_expert().user)
    w.spare_expert = make_expert()
    w.voted = make_application(w.call, make_organisation(region_code="320000"), status="reviewed")
    w.vote_meeting = on_agenda(w.voted, title="表决会议")
    Vote.objects.create(
        application=w.voted, member=w.users["committee"], choice="approve", meeting=w.vote_meeting
    )
    from qslab.designation.models import IndustryScope

    w.industry = IndustryScope.objects.create(industry="Equipment", name_zh="装备工业", name_en="Equipment")
    return w
