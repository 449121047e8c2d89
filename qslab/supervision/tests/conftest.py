"""The supervision world: two named labs (the role user ``lab_manager`` manages ``w.lab``), a report
template sent to both, a drawn and a published spot-check plan, a campaign in scoring, and a lapsed order."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from qslab.core.models import Attachment
from qslab.core.testing import make_user
from qslab.labs.tests.conftest import make_lab, scope_to

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

SECTIONS = [
    {
        "key": "work",
        "title_zh": "工作进展",
        "title_en": "Progress",
        "fields": [
            {"key": "summary", "label_zh": "总结", "label_en": "Summary", "type": "text"},
            {
                "key": "staff",
                "label_zh": "人员",
                "label_en": "Staff",
                "type": "number",
                "source": "key_figures.staff",
            },
        ],
    }
]

INDICATORS = [
    {
        "code": "research",
        "name_zh": "研究",
        "name_en": "Research",
        "weight": 60,
        "children": [
            {"code": "quality", "name_zh": "质量", "name_en": "Quality", "kind": "qualitative", "weight": 1},
            {
                "code": "standards",
                "name_zh": "标准",
                "name_en": "Standards",
                "kind": "quantitative",
                "target": 0,
                "source": "supervision.open_rectifications",
                "rule": "at_most",
                "weight": 1,
            },
        ],
    },
    {"code": "openness", "name_zh": "开放", "name_en": "Openness", "kind": "qualitative", "weight": 40},
]


@pytest.fixture
def world(world: Any) -> Any:
    from qslab.supervision import services
    from qslab.supervision.models import Inspector, RectificationOrder, SpotCheckItem, SpotCheckPlan

    w = world
    office = w.users["office"]
    w.lab = make_lab("own", status="named", region="320000")
    w.other_lab = make_lab("other", status="named", region="330000")
    scope_to(w.users["lab_manager"], w.lab)
    today = timezone.localdate()
    w.template = services.create_template(
        office, year=today.year - 1, sections=SECTIONS, opens_on=today, due_on=today + dt.timedelta(days=30)
    )
    services.open_reporting(office, w.template)
    w.report = w.lab.annual_reports.get()
    w.report.values = {"summary": "done", "staff": 5}
    w.report.save(update_fields=["values"])
    w.other_report = w.other_lab.annual_reports.get()

    w.item = SpotCheckItem.objects.create(
        code="ops",
        name_zh="运行",
        name_en="Operation",
        legal_basis="管理办法",
        content="运行情况",
        method="现场",
    )
    Inspector.objects.create(user=w.users["expert"], region_code="110000")
    w.second_inspector = make_user("expert")
    Inspector.objects.create(user=w.second_inspector, region_code="440000")
    w.plan = SpotCheckPlan.objects.create(
        year=today.year,
        name_zh="抽查",
        name_en="Spot check",
        proportions={"normal": 1, "high": 1, "low": 1},
        seed_source="lottery 123",
    )
    w.plan.items.set([w.item])
    services.draw_spot_check(office, w.plan)
    w.check = w.plan.checks.get(laboratory=w.lab)
    w.published_plan = SpotCheckPlan.objects.create(
        year=today.year - 1,
        name_zh="往年抽查",
        name_en="Last year",
        proportions={"normal": 1},
        seed_source="x",
    )
    draw = services.draw_spot_check(office, w.plan.__class__.objects.get(pk=w.published_plan.pk))
    w.published_plan.checks.update(outcome="no_issues", findings="", inspected_on=today)
    SpotCheckPlan.objects.filter(pk=w.published_plan.pk).update(status="published")  # state set up, no PDF
    assert draw.number == 1

    w.campaign = services.create_campaign(
        office,
        code="c5",
        name_zh="五年评估",
        name_en="Five-year evaluation",
        year=today.year,
        indicators=INDICATORS,
    )
    w.entry = services.add_to_campaign(office, w.campaign, w.lab, [w.users["expert"]])
    services.move_campaign(office, w.campaign, "open_scoring")

    w.suspended_lab = make_lab("susp", status="suspended", region="110000")
    w.order = RectificationOrder.objects.create(
        laboratory=w.other_lab, grounds="问题", due_on=today - dt.timedelta(days=1)
    )
    w.own_order = RectificationOrder.objects.create(
        laboratory=w.lab, grounds="问题", due_on=today + dt.timedelta(days=10)
    )
    from qslab.supervision.models import MajorChange

    w.change = services.report_major_change(
        w.users["lab_manager"], w.lab, kind="direction", new_value="新方向", reason="调整方向"
    )
    w.other_change = services.report_major_change(
        office, w.other_lab, kind="director", new_value="李四", reason="换届"
    )
    assert MajorChange.objects.count() == 2
    w.inspection = services.plan_inspection(
        office, w.lab, kind="for_cause", cause="投诉", planned_on=today, inspectors=[w.users["expert"]]
    )
    w.reported_inspection = services.plan_inspection(
        office, w.lab, kind="scheduled", planned_on=today, inspectors=[w.users["expert"]]
    )
    w.finding = services.record_finding(
        w.users["expert"],
        w.reported_inspection,
        severity="major",
        description="记录缺失",
        evidence="现场照片",
        files=[SimpleUploadedFile("photo.png", PNG)],
    )
    w.evidence = Attachment.objects.get(object_id=str(w.finding.pk), content_type__model="finding")
    services.record_inspection(office, w.reported_inspection, conducted_on=today, summary="发现问题")
    w.action = services.request_correction(office, w.finding, text="补全记录", working_days=10)
    w.responded_action = services.request_correction(office, w.finding, text="培训", working_days=10)
    services.respond_to_correction(w.users["lab_manager"], w.responded_action, "已培训")
    w.draft_plan = services.create_plan(
        office,
        year=today.year,
        name_zh="草稿计划",
        name_en="Draft plan",
        items=[w.item],
        proportions={"high": 1},
    )
    _files_complaints_and_visits(w, office, today)
    return w


def _files_complaints_and_visits(w: Any, office: Any, today: dt.date) -> None:
    """An answered order with a file, visit records (scoring and published campaigns) with files, a
    complaint filed by the ``client`` user, a template not yet sent, a returned major change, and a
    drawn plan whose every result is entered."""
    from qslab.core.testing import make_organisation
    from qslab.supervision import services
    from qslab.supervision.models import Complaint, EvaluationCampaign, RectificationOrder

    manager, expert = w.users["lab_manager"], w.users["expert"]
    w.answered_order = RectificationOrder.objects.create(
        laboratory=w.lab, grounds="整改", due_on=today + dt.timedelta(days=20)
    )
    services.respond_to_order(
        manager, w.answered_order, "整改方案", [SimpleUploadedFile("plan.pdf", b"%PDF-1.4\n%x\n")]
    )
    w.order_file = Attachment.objects.get(
        object_id=str(w.answered_order.pk), content_type__model="rectificationorder"
    )

    w.visit = services.record_visit(
        expert,
        w.entry,
        visited_on=today,
        place="实验室一楼",
        experts=[expert],
        agenda="查看设备与记录",
        summary="运行正常",
        files=[SimpleUploadedFile("minutes.png", PNG)],
    )
    w.visit_file = Attachment.objects.get(object_id=str(w.visit.pk), content_type__model="evaluationvisit")
    w.published_campaign = services.create_campaign(
        office,
        code="c-pub",
        name_zh="往期评估",
        name_en="Past evaluation",
        year=today.year - 1,
        indicators=INDICATORS,
    )
    w.published_entry = services.add_to_campaign(office, w.published_campaign, w.lab, [expert])
    w.published_visit = services.record_visit(
        office,
        w.published_entry,
        visited_on=today,
        place="实验室",
        experts=[expert],
        agenda="全面检查",
        summary="良好",
        files=[SimpleUploadedFile("report.png", PNG)],
    )
    w.published_visit_file = Attachment.objects.get(
        object_id=str(w.published_visit.pk), content_type__model="evaluationvisit"
    )
    EvaluationCampaign.objects.filter(pk=w.published_campaign.pk).update(status="published")
    w.preparing_campaign = services.create_campaign(
        office,
        code="c-prep",
        name_zh="新评估",
        name_en="New evaluation",
        year=today.year,
        indicators=INDICATORS,
    )

    w.complaint = services.file_complaint(
        w.users["client"],
        w.other_lab,
        name="张三",
        contact="13800000000",
        subject="检测报告造假",
        description="报告数据与样品不符。",
        files=[SimpleUploadedFile("receipt.png", PNG)],
    )
    w.complaint_file = Attachment.objects.get(object_id=str(w.complaint.pk), content_type__model="complaint")
    assert (
        w.complaint.filed_by == w.users["client"] and w.complaint.status == Complaint.workflow.states[0].value
    )

    w.new_template = services.create_template(
        office,
        year=today.year - 2,
        sections=SECTIONS,
        opens_on=today,
        due_on=today + dt.timedelta(days=30),
    )
    w.new_org = make_organisation()
    w.returned_change = services.report_major_change(
        manager, w.lab, kind="director", new_value="王五", reason="换届"
    )
    services.move_major_change(office, w.returned_change, "return", "请补充任免文件")

    from qslab.supervision.models import SpotCheckPlan

    w.results_plan = SpotCheckPlan.objects.create(
        year=today.year,
        name_zh="已录入",
        name_en="Entered",
        proportions={"high": 1, "normal": 1, "low": 1},
        seed_source="y",
    )
    w.results_plan.items.set([w.item])
    services.draw_spot_check(office, w.results_plan)
    w.results_plan.checks.update(outcome="no_issues", inspected_on=today)
