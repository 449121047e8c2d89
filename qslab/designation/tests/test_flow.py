"""The designation workflow: deadlines, quota, roles and states, conflicts, assignment, committee,
public notice and the hand-over to the registry."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from qslab.core.testing import make_organisation, make_user
from qslab.core.workflow import TransitionRefused
from qslab.designation import services
from qslab.designation.models import Application, ConflictDeclaration
from qslab.designation.tests.factories import (
    add_acceptance_criteria,
    make_application,
    make_call,
    make_expert,
    on_agenda,
    seat,
)

pytestmark = pytest.mark.django_db

ALL_CHECKS = {code: True for code, _label in services.CHECKLIST}


@pytest.fixture
def applicant(users):
    user = users["lab_manager"]
    user.organisation = make_organisation(region_code="320000", name_en="Example University")
    user.save(update_fields=["organisation"])
    return user


def test_a_submission_after_the_hard_deadline_is_refused_and_names_the_deadline(users, applicant):
    call = make_call("late", hard_in_days=-1)
    app = make_application(call, applicant.organisation, owner=applicant)
    with pytest.raises(TransitionRefused, match=r"hard deadline of this call .* has passed") as exc:
        services.move_application(applicant, app, "submit")
    assert exc.value.code == TransitionRefused.GUARD
    app.refresh_from_db()
    assert app.status == "draft"
    with pytest.raises(ValidationError, match="hard deadline"):
        services.start_application(applicant, call, {"name_zh": "国家甲质量标准实验室", "name_en": "A"})


def test_a_submission_after_the_soft_deadline_is_accepted_and_marked_late(users, applicant):
    call = make_call("soft")
    call.soft_deadline = timezone.now() - dt.timedelta(hours=1)
    call.save(update_fields=["soft_deadline"])
    app = make_application(call, applicant.organisation, owner=applicant)
    app = services.move_application(applicant, app, "submit")
    assert (app.status, app.late) == ("submitted", True)


def test_the_authority_cannot_recommend_beyond_its_quota_in_a_call(users):
    call = make_call("quota", recommendation_quota=1)
    first = make_application(call, make_organisation(region_code="320000"), status="submitted")
    second = make_application(call, make_organisation(region_code="320500"), status="submitted")
    services.move_application(users["authority"], first, "recommend")
    with pytest.raises(TransitionRefused, match="quota of 1 recommendations") as exc:
        services.move_application(users["authority"], second, "recommend")
    assert exc.value.code == TransitionRefused.GUARD
    second.refresh_from_db()
    assert second.status == "submitted"
    services.move_application(users["authority"], second, "decline", "配额已用完")
    second.refresh_from_db()
    assert second.status == "declined"


def test_an_authority_cannot_recommend_outside_its_province(users):
    call = make_call("province")
    app = make_application(call, make_organisation(region_code="330000"), status="submitted")
    with pytest.raises(TransitionRefused) as exc:
        services.move_application(users["authority"], app, "recommend")
    assert exc.value.code == TransitionRefused.FORBIDDEN
    assert not Application.objects.visible_to(users["authority"]).filter(pk=app.pk).exists()


def test_wrong_role_and_wrong_state_are_refused_with_their_codes(users, applicant):
    call = make_call("roles")
    app = make_application(call, applicant.organisation, owner=applicant)
    with pytest.raises(TransitionRefused) as exc:
        services.move_application(users["office"], app, "submit")
    assert exc.value.code == TransitionRefused.FORBIDDEN
    with pytest.raises(TransitionRefused) as exc:
        services.move_application(users["office"], app, "accept", checklist=ALL_CHECKS)
    assert exc.value.code == TransitionRefused.WRONG_STATE
    with pytest.raises(TransitionRefused) as exc:
        services.move_application(applicant, app, "submit_targeted")
    assert exc.value.code == TransitionRefused.GUARD
    with pytest.raises(TransitionRefused) as exc:
        services.move_application(users["office"], app, "approve")
    assert exc.value.code == TransitionRefused.FORBIDDEN


def test_the_formal_check_needs_every_checklist_item_and_a_rejection_issues_a_numbered_letter(users):
    call = make_call("formal")
    app = make_application(call, make_organisation(region_code="320000"), status="recommended")
    with pytest.raises(TransitionRefused, match="formal check is not passed"):
        services.move_application(users["office"], app, "accept", checklist={"eligible": True})
    app = services.move_application(users["office"], app, "reject", "不符合申报条件", checklist={})
    assert app.status == "rejected"
    assert app.last_document.kind.code == "designation_rejection"
    assert app.last_document.number.startswith("国质标实审〔")


def test_an_applicant_sees_only_their_own_institutions_applications(users, applicant):
    call = make_call("own")
    mine = make_application(call, applicant.organisation, owner=applicant)
    colleague = make_application(call, applicant.organisation)
    theirs = make_application(call, make_organisation(region_code="320000"), status="submitted")
    visible = set(Application.objects.visible_to(applicant).values_list("pk", flat=True))
    assert visible == {mine.pk, colleague.pk}
    assert theirs.pk not in visible
    assert not Application.objects.visible_to(users["client"]).exists()


def test_attachments_must_be_pdf_files(users, applicant):
    app = make_application(make_call("pdf"), applicant.organisation, owner=applicant)
    fake = SimpleUploadedFile("plan.pdf", b"GIF89a not a pdf", content_type="application/pdf")
    with pytest.raises(ValidationError, match="is not a PDF file"):
        services.attach_file(applicant, app, fake, "plan")
    good = services.attach_file(applicant, app, SimpleUploadedFile("plan.pdf", b"%PDF-1.4\n%x\n"), "plan")
    assert good.size == 12 and len(good.sha256) == 64


def test_a_renamed_non_pdf_attachment_is_refused_by_its_content(users, applicant):
    app = make_application(make_call("pdf-renamed"), applicant.organisation, owner=applicant)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    renamed = SimpleUploadedFile("budget.pdf", png, content_type="application/pdf")
    with pytest.raises(ValidationError, match=r"“budget\.pdf” is not a PDF file"):
        services.attach_file(applicant, app, renamed, "budget")
    empty = SimpleUploadedFile("empty.pdf", b"", content_type="application/pdf")
    with pytest.raises(ValidationError, match="empty"):
        services.attach_file(applicant, app, empty, "budget")
    big = SimpleUploadedFile("big.pdf", b"%PDF-1.4\n", content_type="application/pdf")
    big.size = services.MAX_ATTACHMENT_BYTES + 1
    with pytest.raises(ValidationError, match="too large"):
        services.attach_file(applicant, app, big, "budget")
    assert not app.files.exists()


def test_conflicts_are_detected_and_missing_profile_data_is_unknown(users):
    call = make_call("coi", conflict_same_region=True, conflict_years=3)
    institution = make_organisation(region_code="320000")
    partner = make_organisation(region_code="110000")
    app = make_application(call, institution, status="accepted")
    services.add_co_applicant(users["office"], app, partner, "industry")
    year = timezone.localdate().year

    def status(profile, declared=None):
        return services.check_conflict(profile, app, declared, year).status

    assert status(make_expert(institution, region="110000")) == services.CONFLICT
    assert status(make_expert(partner, region="110000")) == services.CONFLICT
    same_province = make_expert(region="320000")
    assert status(same_province) == services.CONFLICT
    former = make_expert(region="110000")
    former.former_affiliations = [{"organisation": institution.pk, "until": year - 2}]
    assert status(former) == services.CONFLICT
    former.former_affiliations = [{"organisation": institution.pk, "until": year - 10}]
    assert status(former) == services.CLEAR
    assert status(make_expert(region="110000"), declared=True) == services.CONFLICT
    no_org = make_expert(region="110000")
    no_org.organisation = None
    assert status(no_org) == services.UNKNOWN
    assert status(None) == services.UNKNOWN


def test_the_proposed_assignment_never_uses_conflicted_or_unknown_experts(users):
    call = make_call("assign", reviewers_per_application=2, max_load=2)
    apps = [
        make_application(call, make_organisation(region_code="320000"), status="accepted") for _i in (1, 2)
    ]
    conflicted = make_expert(apps[0].institution)
    declared = make_expert()
    ConflictDeclaration.objects.create(expert=declared.user, application=apps[1], conflicted=True)
    unknown = make_expert()
    unknown.organisation = None
    unknown.save(update_fields=["organisation"])
    clear = [make_expert(), make_expert(), make_expert(fields=("materials",))]
    created, _result = services.propose_assignment(users["office"], call)
    pairs = {(a.application_id, a.expert_id) for a in created}
    assert len(pairs) == 4
    assert (apps[0].pk, conflicted.user_id) not in pairs
    assert (apps[1].pk, declared.user_id) not in pairs
    assert all(expert != unknown.user_id for _app, expert in pairs)
    assert {e for _a, e in pairs} <= {conflicted.user_id, declared.user_id, *(c.user_id for c in clear)}
    table = services.conflict_table(call)
    assert {(a.pk, e.user_id) for a, e, _c in table.unknown()} == {(a.pk, unknown.user_id) for a in apps}
    with pytest.raises(ValidationError, match="cannot review this application"):
        services.add_assignment(users["office"], apps[0], conflicted.user)


def test_the_committee_decision_needs_a_quorum(users):
    call = make_call("quorum", quorum=2)
    app = make_application(call, make_organisation(region_code="320000"), status="reviewed")
    on_agenda(app)
    seat(users["committee"])
    services.cast_vote(users["committee"], app, "approve")
    with pytest.raises(ValidationError, match="No quorum: 1 members voted"):
        services.record_decision(users["office"], app, "纪要")
    recused = make_user("committee")
    seat(recused)
    services.cast_vote(recused, app, "recuse", "曾担任申报单位顾问")
    with pytest.raises(ValidationError, match="No quorum"):
        services.record_decision(users["office"], app, "纪要")
    third = make_user("committee")
    seat(third)
    services.cast_vote(third, app, "reject")
    decision = services.record_decision(users["office"], app, "纪要")
    app.refresh_from_db()
    assert (decision.outcome, decision.recused, app.status) == ("reject", 1, "not_approved")


def test_an_upheld_objection_blocks_the_designation(users):
    call = make_call("objection")
    app = make_application(call, make_organisation(region_code="320000"), status="approved")
    services.move_application(users["office"], app, "publish_notice")
    notice = Application.objects.get(pk=app.pk).public_notice
    objection = services.file_objection(users["client"], notice, "王五 138", "材料不实")
    services.handle_objection(users["office"], objection, True, "经核实，异议成立")
    with time_machine.travel(notice.ends_on + dt.timedelta(days=1)):
        with pytest.raises(TransitionRefused, match="objection was upheld"):
            services.move_application(users["office"], app, "designate")
        with pytest.raises(ValidationError, match="objections are closed"):
            services.file_objection(users["client"], notice, "王五", "再议")


def test_one_application_goes_from_call_to_a_named_laboratory(users, applicant):
    office, authority, committee = users["office"], users["authority"], users["committee"]
    call = make_call("full", reviewers_per_application=1, quorum=1, notice_working_days=5)
    add_acceptance_criteria(call)
    expert = make_expert(user=users["expert"])
    seat(committee)
    app = services.start_application(
        applicant,
        call,
        {
            "name_zh": "国家示例机器人质量标准实验室",
            "name_en": "National Example Robotics Quality Standards Laboratory",
            "fields": ["robots"],
            "directions": "机器人可靠性与安全",
            "team": "30 人",
            "construction_plan": "三年：第一年平台，第二年方法，第三年标准",
        },
    )
    services.move_application(applicant, app, "submit")
    services.move_application(authority, app, "recommend")
    services.move_application(office, app, "accept", checklist=ALL_CHECKS)
    services.propose_assignment(office, call)
    assert services.release_assignments(office, call) == 1
    assignment = app.assignments.get()
    assert assignment.expert_id == expert.user_id and assignment.due is not None
    with pytest.raises(ValidationError, match="between 0 and 5"):
        services.submit_review(expert.user, assignment, {"direction": 9, "team": 4}, "")
    review = services.submit_review(expert.user, assignment, {"direction": 4, "team": 5}, "方向清晰")
    assert review.total == pytest.approx(100 * (40 * 4 / 5 + 60 * 5 / 5) / 100)
    with pytest.raises(TransitionRefused, match="consensus report is not in"):
        services.move_application(office, app, "close_review")
    assert Application.objects.get(pk=app.pk).assignments.get().moderator, "the only panellist moderates"
    services.submit_consensus(
        expert.user,
        app,
        "designation",
        scores={"direction": 4, "team": 4},
        summary="方向明确，团队较强",
        recommendation="positive",
    )
    services.move_application(office, app, "close_review")
    assert services.ranking(call)[0].application == app
    assert services.ranking(call)[0].score == pytest.approx(80.0), "the consensus score ranks"
    summary = services.evaluation_summary(app)
    assert summary["reviews"][0]["reviewer"] == "Reviewer 1"
    assert summary["consensus"]["summary"] == "方向明确，团队较强"
    with pytest.raises(ValidationError, match="not on the agenda"):
        services.cast_vote(committee, app, "approve")
    services.schedule_meeting(
        office, title="2026年第一次会议", held_on=timezone.localdate(), applications=[app]
    )
    services.cast_vote(committee, app, "approve")
    services.record_decision(office, app, "一致同意")
    services.move_application(office, app, "publish_notice")
    notice = Application.objects.get(pk=app.pk).public_notice
    objection = services.file_objection(users["client"], notice, "王五 138", "请核实团队")
    with pytest.raises(TransitionRefused, match="public notice runs until"):
        services.move_application(office, app, "designate")
    services.handle_objection(office, objection, False, "经核实，团队信息属实")
    with time_machine.travel(notice.ends_on + dt.timedelta(days=1)):
        app = services.move_application(office, app, "designate")
    assert app.status == "designated"
    lab = app.laboratory
    assert lab.status == "under_construction"
    assert lab.last_document.kind.code == "lab_construction"
    assert app.last_document == lab.last_document
    from qslab.accounts.roles import forget_cached_roles, has_role

    forget_cached_roles(applicant)
    assert has_role(applicant, "lab_manager", scope=lab)

    # construction: progress report, acceptance review on the same panel machinery, naming
    construction = app.construction
    assert (construction.status, construction.ends_on.year) == ("building", construction.starts_on.year + 3)
    assert construction.milestones.count() == 3, "one milestone a year when the plan names no dates"
    with pytest.raises(TransitionRefused, match="at least one progress report"):
        services.request_acceptance(applicant, construction)
    services.submit_progress_report(
        applicant,
        construction,
        period="2027",
        text="平台建成",
        milestones_reached=list(construction.milestones.all()),
    )
    services.request_acceptance(
        applicant, construction, {"director_name": "张主任", "contact_email": "lab@example.invalid"}
    )
    lab.refresh_from_db()
    assert (construction.status, lab.status) == ("acceptance", "acceptance")
    services.propose_assignment(office, call, "acceptance")
    assert services.release_assignments(office, call, "acceptance") == 1
    acceptance = app.assignments.get(stage="acceptance")
    services.submit_review(expert.user, acceptance, {"milestones": 5, "capacity": 4}, "任务完成")
    services.submit_consensus(
        expert.user,
        app,
        "acceptance",
        scores={"milestones": 5, "capacity": 4},
        summary="通过验收",
        recommendation="positive",
    )
    construction = services.move_construction(office, construction, "pass_acceptance")
    lab.refresh_from_db()
    assert (construction.status, lab.status) == ("named", "named")
    assert lab.last_document.kind.code == "designation" and lab.last_document.is_public
    assert Application.objects.get(pk=app.pk).last_document == lab.last_document


def test_only_the_office_publishes_calls_and_a_call_needs_criteria(users):
    now = timezone.now()
    data = {
        "code": "c1",
        "title_zh": "指南",
        "title_en": "Call",
        "soft_deadline": now,
        "hard_deadline": now + dt.timedelta(days=1),
        "fields": ["robots"],
    }
    with pytest.raises(PermissionDenied):
        services.save_call(users["committee"], data)
    with pytest.raises(ValidationError, match="soft deadline must not be after"):
        services.save_call(users["office"], {**data, "hard_deadline": now - dt.timedelta(days=1)})
    call = services.save_call(users["office"], data)
    with pytest.raises(TransitionRefused, match="needs review criteria"):
        services.move_call(users["office"], call, "publish")
    rows, errors = services.parse_criteria("a | 甲 | A | x\nb | 乙 | B | 50 | 5 | 0=差; 5=优\nb | 乙 | B | 1")
    assert len(errors) == 2 and "Line 1" in errors[0] and "appears twice" in errors[1]
    services.set_criteria(users["office"], call, rows[:1])
    services.move_call(users["office"], call, "publish")
    assert call.status == "published"


def test_a_targeted_designation_is_completed_by_the_named_institution_and_skips_the_authority(
    users, applicant
):
    from qslab.core.models import Notification

    call = make_call("targeted")
    app = services.open_targeted(
        users["office"],
        call,
        applicant.organisation,
        {"name_zh": "国家示例定向质量标准实验室", "name_en": "National Targeted QSL", "fields": ["robots"]},
    )
    assert Notification.objects.filter(recipient=applicant, verb="targeted_designation").exists()
    with pytest.raises(PermissionDenied):
        services.start_application(users["authority"], call, {})
    sections = {"directions": "方向", "team": "团队", "construction_plan": "计划"}
    services.edit_application(applicant, app, sections)
    with pytest.raises(TransitionRefused, match="goes straight to the office"):
        services.move_application(applicant, app, "submit")
    app = services.move_application(applicant, app, "submit_targeted")
    assert app.status == "recommended" and app.recommended_by is None
