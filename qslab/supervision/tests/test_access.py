"""Who may open each supervision page and API operation. ``lab_manager`` manages ``w.lab`` only;
``expert`` is an inspector in the directory and the assigned expert of ``w.entry``."""

import datetime as dt

import pytest

from qslab.core.testing import EVERYONE, SIGNED_IN, Case, check_access, matrix

OFFICE = {"office"}
OVERSIGHT = {"office", "committee"}

CASES = [
    Case("supervision:home", EVERYONE),
    Case("supervision:overview", OVERSIGHT),
    Case("supervision:overview", OVERSIGHT, note="csv", query="format=csv"),
    Case("supervision:template", SIGNED_IN, kwargs=lambda w: {"template_id": w.template.pk}),
    Case("supervision:report", {*OVERSIGHT, "lab_manager"}, kwargs=lambda w: {"report_id": w.report.pk}),
    Case(
        "supervision:report", OVERSIGHT, note="another lab", kwargs=lambda w: {"report_id": w.other_report.pk}
    ),
    Case(
        "supervision:report_transition",
        {"lab_manager"},
        method="post",
        note="submit own report",
        kwargs=lambda w: {"report_id": w.report.pk, "transition": "submit"},
    ),
    Case("supervision:items", EVERYONE),
    Case("supervision:plan", EVERYONE, note="published", kwargs=lambda w: {"plan_id": w.published_plan.pk}),
    Case("supervision:plan", {*OVERSIGHT, "expert"}, note="drawn", kwargs=lambda w: {"plan_id": w.plan.pk}),
    Case("supervision:plan_draw", OFFICE, method="post", kwargs=lambda w: {"plan_id": w.plan.pk}),
    Case("supervision:plan_publish", OFFICE, method="post", kwargs=lambda w: {"plan_id": w.plan.pk}),
    Case("supervision:plan_verify", EVERYONE, kwargs=lambda w: {"plan_id": w.published_plan.pk}),
    Case(
        "supervision:check_result",
        {"office", "expert"},
        method="post",
        kwargs=lambda w: {"check_id": w.check.pk},
        data=lambda w: {"outcome": "no_issues", "inspected_on": dt.date.today().isoformat()},
    ),
    Case(
        "supervision:campaign",
        {*OVERSIGHT, "expert", "lab_manager"},
        kwargs=lambda w: {"campaign_id": w.campaign.pk},
    ),
    Case(
        "supervision:campaign_transition",
        OVERSIGHT,
        method="post",
        kwargs=lambda w: {"campaign_id": w.campaign.pk, "transition": "confirm"},
    ),
    Case(
        "supervision:entry", {*OVERSIGHT, "expert", "lab_manager"}, kwargs=lambda w: {"entry_id": w.entry.pk}
    ),
    Case("supervision:entry_report", OFFICE, method="post", kwargs=lambda w: {"entry_id": w.entry.pk}),
    Case(
        "supervision:entry_self_report",
        {"office", "lab_manager"},
        method="post",
        kwargs=lambda w: {"entry_id": w.entry.pk},
        data={"self_report": "自评估：运行良好。"},
    ),
    Case("supervision:order_create", OFFICE, kwargs=lambda w: {"lab_id": w.lab.pk}),
    Case("supervision:order", {*OVERSIGHT, "lab_manager"}, kwargs=lambda w: {"order_id": w.own_order.pk}),
    Case("supervision:order", OVERSIGHT, note="another lab", kwargs=lambda w: {"order_id": w.order.pk}),
    Case(
        "supervision:order_transition",
        OFFICE,
        method="post",
        kwargs=lambda w: {"order_id": w.order.pk, "transition": "lapse"},
    ),
    Case("supervision:sanctions", EVERYONE),
    Case("supervision:change_create", {"office", "lab_manager"}, kwargs=lambda w: {"lab_id": w.lab.pk}),
    Case(
        "supervision:change_create", OFFICE, note="another lab", kwargs=lambda w: {"lab_id": w.other_lab.pk}
    ),
    Case("supervision:change", {*OVERSIGHT, "lab_manager"}, kwargs=lambda w: {"change_id": w.change.pk}),
    Case(
        "supervision:change", OVERSIGHT, note="another lab", kwargs=lambda w: {"change_id": w.other_change.pk}
    ),
    Case(
        "supervision:change_transition",
        OFFICE,
        method="post",
        kwargs=lambda w: {"change_id": w.change.pk, "transition": "approve"},
    ),
    Case("supervision:inspection_create", OFFICE, kwargs=lambda w: {"lab_id": w.lab.pk}),
    Case(
        "supervision:inspection",
        {*OVERSIGHT, "expert"},
        note="planned: not yet shown to the lab",
        kwargs=lambda w: {"inspection_id": w.inspection.pk},
    ),
    Case(
        "supervision:inspection",
        {*OVERSIGHT, "expert", "lab_manager"},
        note="reported",
        kwargs=lambda w: {"inspection_id": w.reported_inspection.pk},
    ),
    Case(
        "supervision:inspection_finding",
        {"office", "expert"},
        method="post",
        kwargs=lambda w: {"inspection_id": w.inspection.pk},
        data={"severity": "minor", "description": "记录不全"},
    ),
    Case(
        "supervision:inspection_record",
        {"office", "expert"},
        method="post",
        kwargs=lambda w: {"inspection_id": w.inspection.pk},
        data=lambda w: {"conducted_on": dt.date.today().isoformat(), "summary": "无问题"},
    ),
    Case(
        "supervision:inspection_transition",
        OFFICE,
        method="post",
        kwargs=lambda w: {"inspection_id": w.reported_inspection.pk, "transition": "close"},
    ),
    Case(
        "supervision:finding_request",
        OFFICE,
        method="post",
        kwargs=lambda w: {"finding_id": w.finding.pk},
        data={"request": "整改", "working_days": "10"},
    ),
    Case(
        "supervision:action_respond",
        {"lab_manager"},
        method="post",
        kwargs=lambda w: {"action_id": w.action.pk},
        data={"response": "已整改"},
    ),
    Case(
        "supervision:action_transition",
        OFFICE,
        method="post",
        kwargs=lambda w: {"action_id": w.action.pk, "transition": "verify"},
    ),
    Case("supervision:plan_inspections", OFFICE, method="post", kwargs=lambda w: {"plan_id": w.plan.pk}),
    Case("supervision:overview", OVERSIGHT, note="xlsx", query="format=xlsx&risk=high"),
    Case("supervision:template_create", OFFICE),
    Case("supervision:plan_create", OFFICE),
    Case(
        "supervision:plan_seed",
        OFFICE,
        method="post",
        kwargs=lambda w: {"plan_id": w.draft_plan.pk},
        data={"seed_source": "lottery 2026-01-05"},
    ),
    Case("supervision:campaign_create", OFFICE),
    Case(
        "supervision:campaign_add",
        OFFICE,
        method="post",
        kwargs=lambda w: {"campaign_id": w.campaign.pk},
        data=lambda w: {"laboratory": w.other_lab.pk, "experts": [w.users["expert"].pk]},
    ),
    Case(
        "supervision:entry_figures",
        OFFICE,
        method="post",
        kwargs=lambda w: {"entry_id": w.entry.pk},
    ),
    Case(
        "supervision:campaign_figures",
        OFFICE,
        method="post",
        kwargs=lambda w: {"campaign_id": w.campaign.pk},
    ),
    Case(
        "supervision:attachment",
        {*OVERSIGHT, "expert", "lab_manager"},
        note="evidence of a recorded finding",
        kwargs=lambda w: {"attachment_id": w.evidence.pk},
    ),
    Case("supervision:notifications", EVERYONE),
    Case("supervision:notification_create", OFFICE),
    Case(
        "supervision:notification_create",
        OFFICE,
        method="post",
        data=lambda w: {
            "labs": [w.lab.pk],
            "title_zh": "关于实验室评估不合格的通报",
            "title_en": "Notification of a failed evaluation",
            "body_zh": "评估不合格。",
        },
    ),
    Case("supervision:suspension", OFFICE, kwargs=lambda w: {"lab_id": w.lab.pk}),
    Case(
        "supervision:suspension",
        OFFICE,
        method="post",
        note="suspend",
        kwargs=lambda w: {"lab_id": w.lab.pk},
        data={"action": "suspend", "reason": "严重问题"},
    ),
    Case(
        "supervision:suspension",
        OFFICE,
        method="post",
        note="restore",
        kwargs=lambda w: {"lab_id": w.suspended_lab.pk},
        data={"action": "restore", "reason": "整改完成"},
    ),
    # API
    Case(
        "qslab_supervision_api_suspend_lab",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"lab_id": w.lab.pk},
        data={"reason": "严重问题"},
    ),
    Case(
        "qslab_supervision_api_restore_lab",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"lab_id": w.suspended_lab.pk},
        data={"reason": "整改完成"},
    ),
    Case("qslab_supervision_api_changes", SIGNED_IN, api=True),
    Case(
        "qslab_supervision_api_move_change",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"change_id": w.change.pk, "transition": "approve"},
        data={"reason": ""},
    ),
    Case("qslab_supervision_api_inspections", SIGNED_IN, api=True),
    Case(
        "qslab_supervision_api_move_action",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"action_id": w.responded_action.pk, "transition": "verify"},
        data={"reason": ""},
    ),
    Case(
        "qslab_supervision_api_campaign_results",
        {*OVERSIGHT, "expert", "lab_manager"},
        api=True,
        kwargs=lambda w: {"campaign_id": w.campaign.pk},
    ),
    Case(
        "qslab_supervision_api_entry_figures",
        OVERSIGHT,
        api=True,
        note="campaign still scoring",
        kwargs=lambda w: {"entry_id": w.entry.pk},
    ),
    Case("qslab_supervision_api_overview", OVERSIGHT, api=True),
    Case("qslab_supervision_api_reports", SIGNED_IN, api=True),
    Case(
        "qslab_supervision_api_move_report",
        {"lab_manager"},
        method="post",
        api=True,
        kwargs=lambda w: {"report_id": w.report.pk, "transition": "submit"},
        data={"reason": ""},
    ),
    Case(
        "qslab_supervision_api_draws", EVERYONE, api=True, kwargs=lambda w: {"plan_id": w.published_plan.pk}
    ),
    Case(
        "qslab_supervision_api_score",
        {"expert"},
        method="post",
        api=True,
        kwargs=lambda w: {"entry_id": w.entry.pk},
        data={"scores": {"quality": 80, "openness": 70}},
    ),
    Case("qslab_supervision_api_orders", SIGNED_IN, api=True),
    Case(
        "qslab_supervision_api_move_order",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"order_id": w.order.pk, "transition": "lapse"},
        data={"reason": ""},
    ),
    Case("qslab_supervision_api_sanctions", EVERYONE, api=True),
    Case("qslab_supervision_api_notifications", EVERYONE, api=True),
    Case(
        "qslab_supervision_api_self_report",
        {"office", "lab_manager"},
        method="post",
        api=True,
        kwargs=lambda w: {"entry_id": w.entry.pk},
        data={"self_report": "自评估：运行良好。"},
    ),
    Case(
        "qslab_supervision_api_create_notification",
        OFFICE,
        method="post",
        api=True,
        data=lambda w: {
            "laboratory_ids": [w.lab.pk],
            "title_zh": "关于实验室评估不合格的通报",
            "title_en": "Notification of a failed evaluation",
            "body_zh": "评估不合格。",
        },
    ),
]


@pytest.mark.parametrize(("case", "role"), matrix(CASES))
def test_supervision_access(case, role, clients, world):
    check_access(case, role, clients, world)
