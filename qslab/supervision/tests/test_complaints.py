"""Complaints about laboratories: anyone files one under a real name (signed in or on the public form),
the office accepts, dismisses with a reason or substantiates it, and a substantiated complaint received
within the plan's window makes the laboratory high risk, so the draw takes it at the high proportion."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from qslab.core.testing import verified_client
from qslab.core.workflow import TransitionRefused
from qslab.labs.tests.conftest import make_lab, scope_to
from qslab.supervision import services
from qslab.supervision.models import Complaint, Inspector, SpotCheckItem, SpotCheckPlan

FORM = {
    "name": "王敏",
    "contact": "13900000000",
    "subject": "报告数据不实",
    "description": "检测报告与样品不符。",
}


@pytest.fixture
def env(users: dict[str, Any]) -> Any:
    class Env:
        pass

    e = Env()
    e.users, e.office, e.manager = users, users["office"], users["lab_manager"]
    e.lab = make_lab("cp1", status="named", region="320000")
    e.quiet = make_lab("cp2", status="named", region="330000")
    scope_to(e.manager, e.lab)
    Inspector.objects.create(user=users["expert"], region_code="110000")
    Inspector.objects.create(user=users["analyst"], region_code="440000")
    e.item = SpotCheckItem.objects.create(
        code="ops", name_zh="运行", name_en="Operation", legal_basis="办法", content="运行", method="现场"
    )
    return e


def _plan(env: Any, **extra: Any) -> SpotCheckPlan:
    plan = services.create_plan(
        env.office,
        year=timezone.localdate().year,
        name_zh="抽查",
        name_en="Spot check",
        items=[env.item],
        proportions={"high": 1, "normal": 0},
        conflict_rules=[],
        seed_source="lottery 7",
        **extra,
    )
    return plan


def _substantiate(env: Any, complaint: Complaint) -> Complaint:
    services.move_complaint(env.office, complaint, "accept")
    return services.move_complaint(env.office, complaint, "substantiate", "现场核查属实")


def test_a_substantiated_complaint_makes_the_lab_high_risk_and_so_drawn_at_the_high_proportion(env):
    before = services.draw_spot_check(env.office, _plan(env))
    assert {c["code"]: c["risk"] for c in before.inputs["labs"]} == {"cp1": "normal", "cp2": "normal"}
    assert before.result["checks"] == []  # normal labs are drawn at proportion 0

    complaint = services.file_complaint(env.users["client"], env.lab, **FORM)
    services.move_complaint(env.office, complaint, "accept")
    assert services.risk_class(env.lab) == "normal"  # accepted for handling is not yet a finding
    services.move_complaint(env.office, complaint, "substantiate", "现场核查属实")
    assert services.risk_class(env.lab) == "high" and services.risk_class(env.quiet) == "normal"

    after = services.draw_spot_check(env.office, _plan(env))
    assert after.inputs["complaint_months"] == 12
    assert [c["code"] for c in after.result["checks"]] == ["cp1"]
    assert services.verify_draw(after).matches
    assert next(r for r in services.overview() if r.lab == env.lab).risk == "high"


def test_only_complaints_received_within_the_plans_window_count(env):
    today = timezone.localdate()
    old = services.file_complaint(
        env.office, env.lab, **FORM, channel="letter", received_on=today - dt.timedelta(days=400)
    )
    _substantiate(env, old)
    assert services.risk_class(env.lab, today, complaint_months=12) == "normal"
    assert services.risk_class(env.lab, today, complaint_months=24) == "high"
    recent = services.file_complaint(env.office, env.lab, **FORM, channel="phone")
    _substantiate(env, recent)
    assert services.risk_class(env.lab, today, complaint_months=12) == "high"
    draw = services.draw_spot_check(env.office, _plan(env, complaint_months=0))  # the plan turns them off
    assert draw.result["checks"] == []
    with pytest.raises(ValidationError):
        _plan(env, complaint_months=-1)


def test_a_dismissed_complaint_does_not_count_and_needs_a_reason_the_complainant_reads(env):
    complaint = services.file_complaint(env.users["client"], env.lab, **FORM)
    with pytest.raises(TransitionRefused):
        services.move_complaint(env.office, complaint, "dismiss", "")
    with pytest.raises(TransitionRefused):
        services.move_complaint(env.users["lab_manager"], complaint, "accept")
    services.move_complaint(env.office, complaint, "dismiss", "不属于本系统受理范围")
    assert services.risk_class(env.lab) == "normal"
    page = verified_client(env.users["client"]).get(complaint.get_absolute_url()).content.decode()
    assert "不属于本系统受理范围" in page and FORM["contact"] in page


def test_the_public_files_a_complaint_without_an_account_but_not_without_a_name(env):
    public = verified_client(None)
    assert public.get(f"/supervision/complaints/new/?lab={env.lab.pk}").status_code == 200
    page = public.post("/supervision/complaints/new/", {**FORM, "name": "", "laboratory": env.lab.pk})
    assert page.status_code == 200 and not Complaint.objects.exists()
    assert any("real name" in str(m) for m in page.context["messages"])
    page = public.post(
        "/supervision/complaints/new/",
        {**FORM, "laboratory": env.lab.pk, "channel": "referral", "received_on": "2020-01-01"},
    )
    assert page.status_code == 200
    assert "supervision/complaint_filed.html" in [t.name for t in page.templates]
    complaint = Complaint.objects.get()
    assert complaint.filed_by is None and complaint.channel == "online"
    assert complaint.received_on == timezone.localdate()  # the public cannot back-date a complaint
    assert complaint.complainant_name == FORM["name"]


def test_the_office_gets_a_form_error_for_a_received_date_that_is_not_a_date(env):
    """A mistyped date of receipt used to become today silently; the office sees an error and nothing
    is filed, so the complaint cannot end up in the wrong risk window."""
    office = verified_client(env.office)
    page = office.post(
        "/supervision/complaints/new/",
        {**FORM, "laboratory": env.lab.pk, "channel": "letter", "received_on": "2026-02-31"},
    )
    assert page.status_code == 200 and not Complaint.objects.exists()
    assert any("2026-02-31" in str(m) and "YYYY-MM-DD" in str(m) for m in page.context["messages"])
    with translation.override("zh-hans"):
        assert _("Not a date (YYYY-MM-DD): %(f)s.") != "Not a date (YYYY-MM-DD): %(f)s."
    page = office.post(
        "/supervision/complaints/new/",
        {**FORM, "laboratory": env.lab.pk, "channel": "letter", "received_on": "2026-02-20"},
    )
    assert Complaint.objects.get().received_on == dt.date(2026, 2, 20)


def test_the_lab_never_sees_complaints_or_who_filed_them(env):
    complaint = services.file_complaint(env.users["client"], env.lab, **FORM)
    manager = verified_client(env.manager)
    assert manager.get(complaint.get_absolute_url()).status_code == 404
    assert FORM["subject"] not in manager.get("/supervision/complaints/").content.decode()
    from qslab.accounts.models import ApiToken

    _t, token = ApiToken.issue(env.manager, "t")
    listing = verified_client(None).get(
        "/api/supervision/complaints", headers={"Authorization": f"Bearer {token}"}
    )
    assert listing.status_code == 200 and listing.json()["items"] == []
    committee = verified_client(env.users["committee"]).get("/api/supervision/complaints").json()["items"]
    assert committee[0]["complainant_name"] is None  # only the office and the complainant see who it is


def test_the_office_handles_a_complaint_through_the_api_and_it_moves_the_risk_class(env):
    from qslab.accounts.models import ApiToken

    _t, token = ApiToken.issue(env.office, "t")
    auth = {"Authorization": f"Bearer {token}"}
    api = verified_client(None)
    r = api.post(
        "/api/supervision/complaints",
        {"laboratory_id": env.lab.pk, **FORM},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    cid = r.json()["id"]
    r = api.post(
        "/api/supervision/complaints",
        {"laboratory_id": env.lab.pk, **FORM, "contact": " "},
        content_type="application/json",
    )
    assert r.status_code == 422
    for step, reason in (("accept", ""), ("substantiate", "属实")):
        r = api.post(
            f"/api/supervision/complaints/{cid}/transitions/{step}",
            {"reason": reason},
            content_type="application/json",
            headers=auth,
        )
        assert r.status_code == 200, r.content
    assert r.json()["status"] == "substantiated" and r.json()["reason"] == "属实"
    assert services.risk_class(env.lab) == "high"


def test_the_committee_reading_a_complaint_does_not_learn_who_filed_it_from_its_history(env):
    filer = env.users["client"]
    complaint = services.file_complaint(filer, env.lab, **FORM)
    services.move_complaint(env.office, complaint, "accept")
    page = verified_client(env.users["committee"]).get(complaint.get_absolute_url())
    assert page.status_code == 200
    shown = page.content.decode()
    assert FORM["subject"] in shown
    assert FORM["name"] not in shown and filer.get_username() not in shown
    office = verified_client(env.office).get(complaint.get_absolute_url()).content.decode()
    assert filer.get_username() in office, "the office reads the history, the filer included"


def test_the_handling_deadline_stays_open_while_the_complaint_is_accepted_and_closes_with_the_answer(env):
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline

    def open_deadlines(complaint: Complaint) -> int:
        return Deadline.objects.filter(
            content_type=ContentType.objects.get_for_model(Complaint),
            object_id=str(complaint.pk),
            done_at__isnull=True,
        ).count()

    complaint = services.file_complaint(env.users["client"], env.lab, **FORM)
    assert open_deadlines(complaint) == 1
    services.move_complaint(env.office, complaint, "accept")
    assert open_deadlines(complaint) == 1, "accepted for handling is not handled"
    services.move_complaint(env.office, complaint, "substantiate", "报告数据与原始记录不符。")
    assert open_deadlines(complaint) == 0
