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
    return w
