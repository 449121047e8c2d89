"""Who may open each page and API operation of the designation app. The role user ``lab_manager``
applies for ``w.org`` (its application is ``w.app``); the ``authority`` covers Jiangsu (320000); the
``expert`` is assigned to ``w.in_review``; the ``client`` filed ``w.objection``."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from qslab.core.testing import EVERYONE, SIGNED_IN, Case, check_access, matrix

OFFICE = {"office"}
STAFF = {"office", "committee"}
OWN = {"office", "committee", "lab_manager"}

CALL = lambda w: {"call_id": w.call.pk}  # noqa: E731
APP = lambda w: {"application_id": w.app.pk}  # noqa: E731


def _act(app: str, transition: str):
    return lambda w: {"application_id": getattr(w, app).pk, "transition": transition}


#: API operations that take a multipart upload: declared here like every other, walked by
#: ``test_designation_upload_access`` (the generic caller sends JSON bodies only)
UPLOAD_CASES = [
    Case("qslab_designation_api_add_call_template", OFFICE, method="post", api=True, kwargs=CALL),
    Case(
        "qslab_designation_api_replace_call_template",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"template_id": w.template.pk},
    ),
    Case(
        "qslab_designation_api_attach_file",
        {"office", "lab_manager"},
        method="post",
        api=True,
        kwargs=APP,
        data={"kind": "plan"},
    ),
]

CASES = [
    Case("designation:calls", EVERYONE),
    Case("designation:call", EVERYONE, kwargs=CALL),
    Case("designation:call", STAFF, note="draft", kwargs=lambda w: {"call_id": w.draft_call.pk}),
    Case("designation:call_create", OFFICE),
    Case("designation:call_edit", OFFICE, kwargs=CALL),
    Case("designation:call_criteria", OFFICE, kwargs=CALL),
    Case(
        "designation:call_transition",
        OFFICE,
        method="post",
        kwargs=lambda w: {"call_id": w.draft_call.pk, "transition": "publish"},
    ),
    Case("designation:apply", {"lab_manager"}, kwargs=CALL),
    Case("designation:targeted", OFFICE, kwargs=CALL),
    Case("designation:assignment", OFFICE, kwargs=CALL),
    Case("designation:ranking", STAFF, kwargs=CALL),
    Case("designation:applications", SIGNED_IN),
    Case("designation:application", OWN, kwargs=APP),
    Case(
        "designation:application",
        STAFF | {"authority"},
        note="submitted",
        kwargs=lambda w: {"application_id": w.submitted.pk},
    ),
    Case(
        "designation:application",
        STAFF | {"expert", "authority"},
        note="assigned",
        kwargs=lambda w: {"application_id": w.in_review.pk},
    ),
    Case("designation:application_edit", {"office", "lab_manager"}, kwargs=APP),
    Case(
        "designation:co_applicant",
        {"office", "lab_manager"},
        method="post",
        kwargs=APP,
        data=lambda w: {"organisation": w.other_org.pk, "role": "industry"},
    ),
    Case("designation:attach", {"office", "lab_manager"}, method="post", kwargs=APP),
    Case("designation:attachment", OWN, kwargs=lambda w: {"file_id": w.file.pk}),
    Case("designation:application_transition", {"lab_manager"}, method="post", kwargs=_act("app", "submit")),
    Case(
        "designation:application_transition",
        {"authority"},
        method="post",
        note="recommend",
        kwargs=_act("submitted", "recommend"),
    ),
    Case(
        "designation:application_transition",
        OFFICE,
        method="post",
        note="formal check",
        kwargs=_act("recommended", "return_for_correction"),
        data={"reason": "缺少预算"},
    ),
    Case(
        "designation:declare",
        {"expert"},
        method="post",
        kwargs=lambda w: {"application_id": w.in_review.pk},
        data={"note": "none"},
    ),
    Case(
        "designation:vote",
        {"committee"},
        method="post",
        kwargs=lambda w: {"application_id": w.reviewed.pk},
        data={"choice": "approve"},
    ),
    Case(
        "designation:decide",
        OFFICE,
        method="post",
        kwargs=lambda w: {"application_id": w.reviewed.pk},
        data={"minutes": "会议纪要"},
    ),
    Case("designation:experts", OFFICE),
    Case(
        "designation:expert_vet",
        OFFICE,
        method="post",
        kwargs=lambda w: {"profile_id": w.profile.pk},
        data={"vetted": "on"},
    ),
    Case("designation:expert_profile", {"expert"}),
    Case("designation:review", {"expert"}, kwargs=lambda w: {"assignment_id": w.assignment.pk}),
    Case("designation:notices", EVERYONE),
    Case("designation:notice", EVERYONE, kwargs=lambda w: {"notice_id": w.notice.pk}),
    Case(
        "designation:notice",
        SIGNED_IN,
        method="post",
        note="object",
        kwargs=lambda w: {"notice_id": w.notice.pk},
        data={"contact": "赵六 139", "text": "材料不实"},
    ),
    Case(
        "designation:objection_handle",
        OFFICE,
        method="post",
        kwargs=lambda w: {"objection_id": w.objection.pk},
        data={"response": "经核实，异议不成立"},
    ),
    # panels, committee, self-registration, construction
    Case(
        "designation:consensus",
        {"expert"},
        kwargs=lambda w: {"application_id": w.in_review.pk, "stage": "designation"},
    ),
    Case(
        "designation:site_visit",
        {"office", "expert"},
        kwargs=lambda w: {"application_id": w.in_review.pk, "stage": "designation"},
    ),
    Case("designation:review_meeting", OFFICE, kwargs=CALL),
    Case("designation:committee", STAFF),
    Case("designation:meeting_create", OFFICE),
    Case("designation:meeting", STAFF, kwargs=lambda w: {"meeting_id": w.meeting.pk}),
    Case("designation:expert_register", EVERYONE),
    Case("designation:constructions", SIGNED_IN),
    Case(
        "designation:construction",
        STAFF | {"lab_manager"},
        kwargs=lambda w: {"construction_id": w.construction.pk},
    ),
    Case(
        "designation:progress_report",
        {"office", "lab_manager"},
        method="post",
        kwargs=lambda w: {"construction_id": w.construction.pk},
        data={"period": "2027", "text": "进展"},
    ),
    Case(
        "designation:construction_transition",
        {"office", "lab_manager"},
        method="post",
        kwargs=lambda w: {"construction_id": w.construction.pk, "transition": "request_acceptance"},
        data={"director_name": "张三", "contact_email": "lab@example.invalid"},
    ),
    Case(
        "designation:progress_comment",
        OFFICE,
        method="post",
        kwargs=lambda w: {"report_id": w.progress.pk},
        data={"office_comment": "按期推进"},
    ),
    Case("designation:call_template", OFFICE, method="post", kwargs=CALL),
    Case("designation:template", EVERYONE, kwargs=lambda w: {"template_id": w.template.pk}),
    Case(
        "designation:template_replace",
        OFFICE,
        method="post",
        kwargs=lambda w: {"template_id": w.template.pk},
        note="no file: back to the call with the error",
    ),
    Case(
        "designation:template_remove", OFFICE, method="post", kwargs=lambda w: {"template_id": w.template.pk}
    ),
    # API
    Case("qslab_designation_api_list_calls", EVERYONE, api=True),
    Case("qslab_designation_api_get_call", EVERYONE, api=True, kwargs=CALL),
    Case(
        "qslab_designation_api_get_call",
        STAFF,
        api=True,
        note="draft",
        kwargs=lambda w: {"call_id": w.draft_call.pk},
    ),
    Case("qslab_designation_api_list_applications", SIGNED_IN, api=True),
    Case("qslab_designation_api_get_application", OWN, api=True, kwargs=APP),
    Case(
        "qslab_designation_api_create_application",
        {"lab_manager"},
        method="post",
        api=True,
        kwargs=CALL,
        data={
            "name_zh": "国家示例新材料质量标准实验室",
            "name_en": "National Example New Materials Quality Standards Laboratory",
            "fields": ["robots"],
        },
    ),
    Case(
        "qslab_designation_api_move_application",
        {"lab_manager"},
        method="post",
        api=True,
        kwargs=_act("app", "submit"),
        data={},
    ),
    Case(
        "qslab_designation_api_move_application",
        {"authority"},
        method="post",
        api=True,
        note="recommend",
        kwargs=_act("submitted", "recommend"),
        data={},
    ),
    Case("qslab_designation_api_propose_assignment", OFFICE, method="post", api=True, kwargs=CALL),
    Case(
        "qslab_designation_api_submit_review",
        {"expert"},
        method="put",
        api=True,
        kwargs=lambda w: {"assignment_id": w.assignment.pk},
        data={"scores": {"direction": 4, "team": 5}, "comments": "好"},
    ),
    Case("qslab_designation_api_list_notices", EVERYONE, api=True),
    Case("qslab_designation_api_list_constructions", SIGNED_IN, api=True),
    Case(
        "qslab_designation_api_cast_vote",
        {"committee"},
        method="post",
        api=True,
        kwargs=lambda w: {"application_id": w.reviewed.pk},
        data={"choice": "approve"},
    ),
    Case(
        "qslab_designation_api_move_construction",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"construction_id": w.construction.pk, "transition": "terminate"},
        data={"reason": "建设单位放弃"},
    ),
    Case(
        "qslab_designation_api_submit_progress_report",
        {"office", "lab_manager"},
        method="post",
        api=True,
        kwargs=lambda w: {"construction_id": w.construction.pk},
        data={"period": "2027", "text": "进展"},
    ),
    Case(
        "qslab_designation_api_submit_consensus",
        {"expert"},
        method="put",
        api=True,
        kwargs=lambda w: {"application_id": w.in_review.pk, "stage": "designation"},
        data={"scores": {"direction": 4, "team": 4}, "summary": "良好", "recommendation": "positive"},
    ),
    Case("qslab_designation_api_list_site_visits", SIGNED_IN, api=True),
    Case(
        "qslab_designation_api_record_site_visit",
        {"office", "expert"},
        method="post",
        api=True,
        kwargs=lambda w: {"application_id": w.in_review.pk},
        data={"visited_on": "2026-01-05", "findings": "场地与申报一致", "conclusion": "confirmed"},
    ),
    Case("qslab_designation_api_list_review_meetings", SIGNED_IN, api=True),
    Case(
        "qslab_designation_api_record_review_meeting",
        OFFICE,
        method="post",
        api=True,
        kwargs=CALL,
        data=lambda w: {
            "held_on": "2026-01-05",
            "application_ids": [w.in_review.pk],
            "attendee_ids": [w.users["expert"].pk],
            "minutes": "答辩",
        },
    ),
    Case("qslab_designation_api_list_committee_terms", SIGNED_IN, api=True),
    Case(
        "qslab_designation_api_appoint_committee_member",
        OFFICE,
        method="post",
        api=True,
        data=lambda w: {
            "user_id": w.users["committee"].pk,
            "term_start": "2040-01-01",
            "term_end": "2044-12-31",
        },
    ),
    Case("qslab_designation_api_list_committee_meetings", SIGNED_IN, api=True),
    Case(
        "qslab_designation_api_get_committee_meeting",
        STAFF,
        api=True,
        kwargs=lambda w: {"meeting_id": w.meeting.pk},
    ),
    Case(
        "qslab_designation_api_schedule_committee_meeting",
        OFFICE,
        method="post",
        api=True,
        data=lambda w: {"title": "第二次会议", "held_on": "2026-12-01", "application_ids": [w.reviewed.pk]},
    ),
    Case(
        "qslab_designation_api_close_committee_meeting",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"meeting_id": w.closable_meeting.pk},
        data={"minutes": "会议纪要"},
    ),
    Case("qslab_designation_api_list_experts", SIGNED_IN, api=True),
    Case(
        "qslab_designation_api_register_expert",
        EVERYONE - {"expert"},
        method="post",
        api=True,
        data={
            "name": "新专家",
            "fields": ["robots"],
            "username": "new-expert",
            "email": "new-expert@example.invalid",
            "password": "a-long-Passphrase-2026!",
        },
    ),
    Case(
        "qslab_designation_api_vet_expert",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"profile_id": w.profile.pk},
        data={"approve": True},
    ),
    Case(
        "qslab_designation_api_record_decision",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"application_id": w.voted.pk},
        data={"minutes": "经表决，同意"},
    ),
    Case(
        "qslab_designation_api_release_assignment",
        OFFICE,
        method="post",
        api=True,
        kwargs=CALL,
    ),
    Case(
        "qslab_designation_api_list_panel",
        STAFF,
        api=True,
        kwargs=lambda w: {"application_id": w.in_review.pk},
    ),
    Case(
        "qslab_designation_api_add_panel_member",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"application_id": w.accepted.pk},
        data=lambda w: {"expert_id": w.spare_expert.user_id},
    ),
    Case(
        "qslab_designation_api_remove_panel_member",
        OFFICE,
        method="delete",
        api=True,
        kwargs=lambda w: {"assignment_id": w.proposed.pk},
    ),
    Case(
        "qslab_designation_api_name_moderator",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"assignment_id": w.assignment.pk},
    ),
    Case(
        "qslab_designation_api_edit_expert",
        {"office", "expert"},
        method="put",
        api=True,
        kwargs=lambda w: {"profile_id": w.profile.pk},
        data={"name": "王专家", "title": "研究员", "fields": ["robots"]},
    ),
    Case("qslab_designation_api_list_call_templates", EVERYONE, api=True, kwargs=CALL),
    Case(
        "qslab_designation_api_list_call_templates",
        STAFF,
        api=True,
        note="draft",
        kwargs=lambda w: {"call_id": w.draft_call.pk},
    ),
    Case(
        "qslab_designation_api_remove_call_template",
        OFFICE,
        method="delete",
        api=True,
        kwargs=lambda w: {"template_id": w.template.pk},
    ),
    *UPLOAD_CASES,
    Case(
        "qslab_designation_api_comment_progress_report",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"report_id": w.progress.pk},
        data={"office_comment": "按期推进"},
    ),
    Case(
        "qslab_designation_api_edit_application",
        {"office", "lab_manager"},
        method="patch",
        api=True,
        kwargs=APP,
        data={"team": "25 人", "budget": 1200},
    ),
    Case(
        "qslab_designation_api_add_co_applicant",
        {"office", "lab_manager"},
        method="post",
        api=True,
        kwargs=APP,
        data=lambda w: {"organisation_id": w.other_org.pk, "role": "industry"},
    ),
    Case(
        "qslab_designation_api_create_call",
        OFFICE,
        method="post",
        api=True,
        data={
            "code": "api-2027",
            "title_zh": "2027年度申报指南",
            "title_en": "2027 call",
            "fields": ["robots"],
            "soft_deadline": "2027-03-01T17:00:00+08:00",
            "hard_deadline": "2027-03-08T17:00:00+08:00",
        },
    ),
    Case(
        "qslab_designation_api_set_call_criteria",
        OFFICE,
        method="put",
        api=True,
        kwargs=lambda w: {"call_id": w.draft_call.pk},
        data=lambda w: [{"code": "team", "name_zh": "团队", "name_en": "Team", "weight": 1}],
    ),
    Case(
        "qslab_designation_api_set_call_timetable",
        OFFICE,
        method="put",
        api=True,
        kwargs=CALL,
        data=lambda w: {
            "opens_on": w.call.opens_on.isoformat(),
            "soft_deadline": w.call.soft_deadline.isoformat(),
            "hard_deadline": w.call.hard_deadline.isoformat(),
            "review_due_on": (w.call.hard_deadline.date() + dt.timedelta(days=30)).isoformat(),
        },
    ),
    Case("designation:application_budget", {"office", "lab_manager"}, kwargs=APP),
    Case("designation:application_pdf", OWN, kwargs=APP),
    Case(
        "designation:application_pdf",
        STAFF | {"expert", "authority"},
        note="assigned",
        kwargs=lambda w: {"application_id": w.in_review.pk},
    ),
    Case("qslab_designation_api_application_pdf", OWN, api=True, kwargs=APP),
    Case(
        "qslab_designation_api_application_pdf",
        STAFF | {"expert", "authority"},
        api=True,
        note="assigned",
        kwargs=lambda w: {"application_id": w.in_review.pk},
    ),
    Case(
        "qslab_designation_api_application_budget",
        {"office", "committee", "lab_manager"},
        api=True,
        kwargs=APP,
    ),
    Case(
        "qslab_designation_api_set_application_budget",
        {"office", "lab_manager"},
        method="put",
        api=True,
        kwargs=APP,
        data=lambda w: [
            {
                "year": w.call.hard_deadline.year,
                "category": "equipment",
                "source": "central",
                "amount": "100.50",
            }
        ],
    ),
    Case("designation:industries", {"office", "committee", "authority"}),
    Case("designation:industry_create", OFFICE),
    Case("designation:industry_edit", OFFICE, kwargs=lambda w: {"scope_id": w.industry.pk}),
    Case("qslab_designation_api_list_industries", {"office", "committee", "authority"}, api=True),
    Case(
        "qslab_designation_api_create_industry",
        OFFICE,
        method="post",
        api=True,
        data={"industry": "Textiles", "fields": ["consumer-goods"]},
    ),
    Case(
        "qslab_designation_api_update_industry",
        OFFICE,
        method="put",
        api=True,
        kwargs=lambda w: {"scope_id": w.industry.pk},
        data={"industry": "Equipment", "fields": ["manufacturing"]},
    ),
    Case(
        "qslab_designation_api_move_call",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"call_id": w.draft_call.pk, "transition": "publish"},
    ),
    Case(
        "qslab_designation_api_open_targeted",
        OFFICE,
        method="post",
        api=True,
        kwargs=CALL,
        data=lambda w: {
            "name_zh": "国家示例定向质量标准实验室",
            "name_en": "National Example Targeted Quality Standards Laboratory",
            "fields": ["robots"],
            "institution_id": w.other_org.pk,
        },
    ),
    Case(
        "qslab_designation_api_declare_conflict",
        {"expert"},
        method="post",
        api=True,
        kwargs=lambda w: {"application_id": w.in_review.pk},
        data={"conflicted": False, "note": "无利益冲突"},
    ),
    Case("qslab_designation_api_call_ranking", STAFF, api=True, kwargs=CALL),
    Case("qslab_designation_api_evaluation", OWN, api=True, kwargs=APP),
    Case(
        "qslab_designation_api_evaluation",
        STAFF,
        api=True,
        note="assigned expert and authority see the application, not the evaluation",
        kwargs=lambda w: {"application_id": w.in_review.pk},
    ),
    Case(
        "qslab_designation_api_list_objections",
        SIGNED_IN,
        api=True,
        kwargs=lambda w: {"notice_id": w.notice.pk},
    ),
    Case(
        "qslab_designation_api_handle_objection",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"objection_id": w.objection.pk},
        data={"upheld": False, "response": "经核查，异议不成立"},
    ),
    Case(
        "qslab_designation_api_file_objection",
        SIGNED_IN,
        method="post",
        api=True,
        kwargs=lambda w: {"notice_id": w.notice.pk},
        data={"contact": "赵六 139", "text": "材料不实"},
    ),
]


@pytest.mark.parametrize(("case", "role"), matrix(c for c in CASES if c not in UPLOAD_CASES))
def test_designation_access(case, role, clients, world):
    check_access(case, role, clients, world)


@pytest.mark.parametrize("case", UPLOAD_CASES, ids=lambda c: c.target)
def test_designation_upload_access(case, world):
    """Each role (and a visitor) posts a valid file as multipart; only the allowed roles get in."""
    from django.db import transaction
    from django.test import Client

    from qslab.core.testing import ANONYMOUS, ROLES, _api_path, assert_access, close_quietly
    from qslab.designation.tests.test_call_templates import docx

    url = _api_path(case.target, case.kwargs(world))
    failures = []
    for role in (ANONYMOUS, *ROLES):
        token = world.tokens.get(role)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if case.data:  # an application's attachment: a PDF
            data = {**case.data, "file": SimpleUploadedFile("plan.pdf", b"%PDF-1.4\n%plan\n")}
        else:  # a call's template: a Word document
            data = {"file": SimpleUploadedFile("form.docx", docx("模板")), "name": "申报书模板"}
        with transaction.atomic():
            try:
                response = Client().post(url, data=data, headers=headers)
                try:
                    assert_access(case, role, response)
                finally:
                    close_quietly(response)
            except AssertionError as exc:
                failures.append(str(exc))
            finally:
                transaction.set_rollback(True)
    assert not failures, "\n".join(failures)
