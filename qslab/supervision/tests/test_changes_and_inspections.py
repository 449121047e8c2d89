"""Major-change reports change the registry only when the office approves them; inspections for cause
carry their cause, findings reach the lab only when recorded, and an inspection closes only when every
corrective action is verified. Published grades reach the funding app."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from qslab.core.models import Attachment, Deadline
from qslab.core.testing import make_organisation, make_user
from qslab.core.workflow import TransitionRefused
from qslab.labs.tests.conftest import make_lab, scope_to
from qslab.supervision import services
from qslab.supervision.models import Finding, Inspection, Inspector


@pytest.fixture
def env(users: dict[str, Any]) -> Any:
    class Env:
        pass

    e = Env()
    e.users = users
    e.office = users["office"]
    e.manager = users["lab_manager"]
    e.lab = make_lab("clab", status="named", region="320000")
    scope_to(e.manager, e.lab)
    Inspector.objects.create(user=users["expert"], region_code="110000")
    return e


def test_an_approved_change_of_director_is_written_to_the_registry(env):
    change = services.report_major_change(
        env.manager, env.lab, kind="director", new_value="王五", new_title="教授", reason="换届"
    )
    env.lab.refresh_from_db()
    assert env.lab.director_name == "张三", "nothing changes before approval"
    assert change.current_value == "张三"
    services.move_major_change(env.office, change, "approve")
    env.lab.refresh_from_db()
    assert (env.lab.director_name, env.lab.director_title) == ("王五", "教授")


def test_an_approved_change_of_supporting_institution_moves_the_laboratory(env):
    new = make_organisation(name_zh="新依托单位", name_en="New host")
    change = services.report_major_change(
        env.manager, env.lab, kind="supporting_institution", new_institution=new, reason="划转"
    )
    services.move_major_change(env.office, change, "approve")
    env.lab.refresh_from_db()
    assert env.lab.supporting_institution == new


def test_a_rejected_or_returned_change_leaves_the_registry_alone_and_can_be_revised(env):
    change = services.report_major_change(
        env.manager, env.lab, kind="direction", new_value="新方向", reason="调整"
    )
    services.move_major_change(env.office, change, "return", reason="说明不充分")
    change = services.revise_major_change(env.manager, change, new_value="新方向二", reason="补充说明")
    assert change.status == "submitted"
    services.move_major_change(env.office, change, "reject", reason="不符合规划")
    env.lab.refresh_from_db()
    assert env.lab.direction == ""


def test_a_change_report_is_checked_and_only_the_labs_manager_or_office_files_it(env):
    with pytest.raises(ValidationError) as exc:
        services.report_major_change(env.manager, env.lab, kind="director", new_value="张三", reason="")
    assert {"new_value", "reason"} <= set(exc.value.message_dict)
    stranger = make_user("lab_manager", scope=make_lab("x2", status="named"))
    with pytest.raises(PermissionDenied):
        services.report_major_change(stranger, env.lab, kind="direction", new_value="a", reason="b")
    services.report_major_change(env.manager, env.lab, kind="direction", new_value="a", reason="b")
    with pytest.raises(ValidationError):
        services.report_major_change(env.manager, env.lab, kind="direction", new_value="c", reason="d")


def test_a_change_report_gives_the_office_a_deadline(env):
    change = services.report_major_change(env.manager, env.lab, kind="direction", new_value="a", reason="b")
    deadline = Deadline.objects.get(object_id=str(change.pk), label_en__startswith="Decide")
    assert deadline.assignee_role == "office" and deadline.done_at is None
    services.move_major_change(env.office, change, "approve")
    deadline.refresh_from_db()
    assert deadline.done_at is not None


def test_an_inspection_for_cause_states_its_cause_and_uses_directory_inspectors(env):
    today = timezone.localdate()
    with pytest.raises(ValidationError) as exc:
        services.plan_inspection(env.office, env.lab, kind="for_cause", planned_on=today, inspectors=[])
    assert {"cause", "inspectors"} <= set(exc.value.message_dict)
    outsider = make_user("expert")
    with pytest.raises(ValidationError):
        services.plan_inspection(
            env.office, env.lab, kind="scheduled", planned_on=today, inspectors=[outsider]
        )
    colleague = make_user("expert")
    Inspector.objects.create(user=colleague, organisation=env.lab.supporting_institution)
    with pytest.raises(ValidationError) as exc:
        services.plan_inspection(
            env.office, env.lab, kind="scheduled", planned_on=today, inspectors=[colleague]
        )
    assert "Conflict" in str(exc.value)
    with pytest.raises(PermissionDenied):
        services.plan_inspection(
            env.manager,
            env.lab,
            kind="for_cause",
            cause="x",
            planned_on=today,
            inspectors=[env.users["expert"]],
        )


def test_findings_reach_the_lab_only_when_recorded_and_corrective_actions_gate_closure(env):
    today = timezone.localdate()
    expert = env.users["expert"]
    inspection = services.plan_inspection(
        env.office, env.lab, kind="for_cause", cause="投诉：数据造假", planned_on=today, inspectors=[expert]
    )
    finding = services.record_finding(
        expert,
        inspection,
        severity="major",
        description="原始记录缺失",
        evidence="现场照片",
        files=[SimpleUploadedFile("photo.txt", b"evidence")],
    )
    assert Attachment.objects.filter(object_id=str(finding.pk)).count() == 1
    assert not Inspection.objects.visible_to(env.manager).exists(), "unannounced until recorded"
    assert not Finding.objects.visible_to(env.manager).exists()
    with pytest.raises(PermissionDenied):
        services.record_finding(env.manager, inspection, severity="minor", description="x")

    services.record_inspection(expert, inspection, conducted_on=today, summary="发现重大问题")
    assert Finding.objects.visible_to(env.manager).get() == finding
    with pytest.raises(PermissionDenied):
        services.record_finding(expert, inspection, severity="minor", description="too late")

    action = services.request_correction(env.office, finding, text="补全原始记录", working_days=10)
    with pytest.raises(TransitionRefused) as exc:
        services.move_inspection(env.office, inspection, "close")
    assert exc.value.code == TransitionRefused.GUARD

    action = services.respond_to_correction(
        env.manager, action, "已补全", files=[SimpleUploadedFile("fix.txt", b"fixed")]
    )
    assert action.status == "responded"
    action = services.move_correction(env.office, action, "return", reason="证据不足")
    assert action.status == "requested"
    action = services.respond_to_correction(env.manager, action, "已补全，附记录")
    services.move_correction(env.office, action, "verify")
    inspection = services.move_inspection(env.office, inspection, "close")
    assert inspection.status == "closed"


def test_a_rectification_order_can_follow_an_inspection(env):
    today = timezone.localdate()
    inspection = services.plan_inspection(
        env.office, env.lab, kind="for_cause", cause="c", planned_on=today, inspectors=[env.users["expert"]]
    )
    services.record_inspection(env.office, inspection, conducted_on=today, summary="s")
    order = services.order_rectification(env.office, env.lab, grounds="重大问题", inspection=inspection)
    assert order.inspection == inspection and list(inspection.orders.all()) == [order]


def test_an_inspection_cannot_be_recorded_in_the_future(env):
    inspection = services.plan_inspection(
        env.office,
        env.lab,
        kind="scheduled",
        planned_on=timezone.localdate(),
        inspectors=[env.users["expert"]],
    )
    with pytest.raises(ValidationError):
        services.record_inspection(
            env.office, inspection, conducted_on=timezone.localdate() + dt.timedelta(days=1), summary="s"
        )


def test_published_grades_are_recorded_for_funding(env):
    from qslab.funding.models import LabGrade
    from qslab.supervision.tests.conftest import INDICATORS

    other = make_lab("c2", status="named")
    campaign = services.create_campaign(
        env.office, code="fy", name_zh="评估", name_en="Eval", year=2025, indicators=INDICATORS
    )
    expert = env.users["expert"]
    for lab in (env.lab, other):
        services.add_to_campaign(env.office, campaign, lab, [expert])
    services.move_campaign(env.office, campaign, "open_scoring")
    good, bad = campaign.entries.get(laboratory=env.lab), campaign.entries.get(laboratory=other)
    services.submit_score_sheet(expert, good, {"quality": 95, "openness": 95})
    services.submit_score_sheet(expert, bad, {"quality": 40, "openness": 40})
    services.move_campaign(env.office, campaign, "confirm")
    assert not LabGrade.objects.exists(), "grades go to funding when published, not before"
    services.move_campaign(env.office, campaign, "publish")
    grades = dict(LabGrade.objects.values_list("laboratory__code", "grade"))
    assert grades == {"clab": "excellent", "c2": "poor"}
    assert LabGrade.objects.get(laboratory=env.lab).source == "supervision:fy"


def test_custom_grades_map_to_funding_grades_by_key_or_position():
    grades = [
        {"code": "a", "label_zh": "甲", "label_en": "A", "min": 80},
        {"code": "b", "label_zh": "乙", "label_en": "B", "min": 50, "funding": "good"},
        {"code": "c", "label_zh": "丙", "label_en": "C", "min": 0},
    ]
    assert services.funding_grade("a", grades) == "excellent"
    assert services.funding_grade("b", grades) == "good"
    assert services.funding_grade("c", grades) == "poor"


def test_through_the_api_a_lab_sees_its_inspections_only_once_recorded_and_its_changes_only(env):
    from django.test import Client

    from qslab.accounts.models import ApiToken

    other = make_lab("c3", status="named")
    services.report_major_change(env.office, other, kind="direction", new_value="x", reason="y")
    own_change = services.report_major_change(
        env.manager, env.lab, kind="direction", new_value="a", reason="b"
    )
    inspection = services.plan_inspection(
        env.office,
        env.lab,
        kind="for_cause",
        cause="c",
        planned_on=timezone.localdate(),
        inspectors=[env.users["expert"]],
    )
    services.record_finding(env.office, inspection, severity="minor", description="d")
    _token, raw = ApiToken.issue(env.manager, "test")
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    assert client.get("/api/supervision/inspections").json()["items"] == []
    assert [c["id"] for c in client.get("/api/supervision/changes").json()["items"]] == [own_change.pk]
    services.record_inspection(env.office, inspection, conducted_on=timezone.localdate(), summary="s")
    (item,) = client.get("/api/supervision/inspections").json()["items"]
    assert item["id"] == inspection.pk and [f["severity"] for f in item["findings"]] == ["minor"]
