"""Panel records (consensus, on-site inspection, meeting review), the Review Committee's terms, agenda
and recusal, expert self-registration with vetting, reminders to reviewers, and construction with its
acceptance: naming, one extension, termination."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from qslab.accounts.roles import forget_cached_roles, has_role
from qslab.core.models import Deadline, Notification
from qslab.core.reminders import send_reminders
from qslab.core.testing import make_organisation, make_user
from qslab.core.workflow import TransitionRefused
from qslab.designation import services
from qslab.designation.models import Assignment, ExpertProfile
from qslab.designation.tests.factories import (
    add_acceptance_criteria,
    make_application,
    make_call,
    make_expert,
    seat,
)

pytestmark = pytest.mark.django_db


def _in_review(users, code="panel", k=2):
    call = make_call(code, reviewers_per_application=k, max_load=3)
    app = make_application(call, make_organisation(region_code="320000"), status="accepted")
    experts = [make_expert() for _i in range(k)]
    services.propose_assignment(users["office"], call)
    services.release_assignments(users["office"], call)
    return call, app, experts


def test_only_the_moderator_writes_the_consensus_and_only_after_every_review(users):
    _call, app, _experts = _in_review(users)
    panel = list(app.assignments.all())
    moderator = next(a for a in panel if a.moderator)
    other = next(a for a in panel if not a.moderator)
    report = {"scores": {"direction": 3, "team": 3}, "summary": "一般", "recommendation": "negative"}
    with pytest.raises(PermissionDenied, match="moderator"):
        services.submit_consensus(other.expert, app, "designation", **report)
    services.submit_review(moderator.expert, moderator, {"direction": 3, "team": 3}, "")
    with pytest.raises(ValidationError, match="1 of 2 individual reviews are in"):
        services.submit_consensus(moderator.expert, app, "designation", **report)
    services.submit_review(other.expert, other, {"direction": 4, "team": 2}, "")
    with pytest.raises(ValidationError) as exc:
        services.submit_consensus(
            moderator.expert, app, "designation", scores={"direction": 9}, summary="", recommendation="x"
        )
    assert {"direction", "team"} <= set(exc.value.message_dict), "all score errors at once"
    done = services.submit_consensus(moderator.expert, app, "designation", **report)
    assert done.total == pytest.approx(60.0)
    services.set_moderator(users["office"], other)
    assert list(app.assignments.filter(moderator=True)) == [other], "one moderator per panel"


def test_an_on_site_inspection_is_recorded_by_the_office_or_a_panel_expert_only(users):
    _call, app, experts = _in_review(users, "visit")
    outsider = make_expert()
    data = {
        "stage": "designation",
        "visited_on": timezone.localdate(),
        "inspectors": [],
        "findings": "仪器设备与申报一致",
        "conclusion": "confirmed",
    }
    with pytest.raises(PermissionDenied):
        services.record_site_visit(outsider.user, app, **data)
    visit = services.record_site_visit(experts[0].user, app, **data)
    assert list(visit.inspectors.all()) == [experts[0].user]
    with pytest.raises(ValidationError, match="after it took place"):
        services.record_site_visit(
            users["office"], app, **{**data, "visited_on": timezone.localdate() + dt.timedelta(days=2)}
        )


def test_meeting_review_minutes_name_the_applications_of_the_call(users):
    call, app, experts = _in_review(users, "meet")
    other_call_app = make_application(make_call("elsewhere"), make_organisation(region_code="320000"))
    kwargs = {"stage": "designation", "held_on": timezone.localdate(), "attendees": [e.user for e in experts]}
    with pytest.raises(ValidationError, match="belong to this call"):
        services.record_review_meeting(
            users["office"], call, applications=[app, other_call_app], minutes="答辩", **kwargs
        )
    with pytest.raises(PermissionDenied):
        services.record_review_meeting(users["committee"], call, applications=[app], minutes="答辩", **kwargs)
    meeting = services.record_review_meeting(
        users["office"], call, applications=[app], minutes="申请单位答辩，专家质询", **kwargs
    )
    assert list(meeting.applications.all()) == [app]


def test_a_member_votes_only_in_term_on_the_agenda_and_recuses_when_their_organisation_applies(users):
    call = make_call("committee", quorum=1)
    institution = make_organisation(region_code="320000")
    app = make_application(call, institution, status="reviewed")
    member = users["committee"]
    with pytest.raises(PermissionDenied, match="no current term"):
        services.cast_vote(member, app, "approve")
    expired = services.appoint_member(
        users["office"],
        member,
        term_start=timezone.localdate() - dt.timedelta(days=800),
        term_end=timezone.localdate() - dt.timedelta(days=1),
    )
    assert not expired.current
    with pytest.raises(PermissionDenied, match="no current term"):
        services.cast_vote(member, app, "approve")
    services.appoint_member(
        users["office"],
        member,
        term_start=timezone.localdate(),
        term_end=timezone.localdate() + dt.timedelta(days=365 * 5),
        organisation=institution,
    )
    with pytest.raises(ValidationError, match="already has a term"):
        services.appoint_member(
            users["office"], member, term_start=timezone.localdate(), term_end=timezone.localdate()
        )
    with pytest.raises(ValidationError, match="not on the agenda"):
        services.cast_vote(member, app, "approve")
    meeting = services.schedule_meeting(
        users["office"], title="第三次会议", held_on=timezone.localdate(), applications=[app]
    )
    assert Notification.objects.filter(recipient=member, verb="committee_meeting").exists()
    with pytest.raises(ValidationError, match="must recuse yourself"):
        services.cast_vote(member, app, "approve")
    vote = services.cast_vote(member, app, "recuse")
    assert vote.reason and vote.meeting == meeting, "the conflict is the recusal's reason"
    other = make_user("committee")
    seat(other)
    with pytest.raises(ValidationError, match="reason for your recusal"):
        services.cast_vote(other, app, "recuse")
    services.cast_vote(other, app, "approve")
    with pytest.raises(ValidationError, match="Still without a decision"):
        services.close_meeting(users["office"], meeting, "会议纪要")
    decision = services.record_decision(users["office"], app, "同意")
    assert (decision.meeting, decision.recused, decision.outcome) == (meeting, 1, "approve")
    services.close_meeting(users["office"], meeting, "会议纪要")


def test_a_committee_role_without_a_term_is_refused_on_a_meeting_not_yet_convened(users):
    app = make_application(make_call("noagenda"), make_organisation(region_code="320000"), status="in_review")
    with pytest.raises(ValidationError, match="Not reviewed yet"):
        services.schedule_meeting(
            users["office"], title="会议", held_on=timezone.localdate(), applications=[app]
        )


def test_a_visitor_registers_as_an_expert_and_the_office_admits_or_refuses_with_a_reason(users):
    data = {
        "username": "li.expert",
        "email": "li@example.invalid",
        "password": "a-long-enough passphrase 42",
        "name": "李专家",
        "fields": ["robots"],
        "organisation": make_organisation(region_code="110000"),
        "region_code": "110000",
    }
    with pytest.raises(ValidationError) as exc:
        services.register_expert(None, {**data, "username": "", "password": "1", "fields": []})
    assert {"username", "password", "fields"} <= set(exc.value.message_dict)
    profile = services.register_expert(None, data)
    assert not profile.vetted and not has_role(profile.user, "expert")
    assert Notification.objects.filter(recipient=users["office"], verb="expert_registered").exists()
    assert profile not in services.panel_experts(make_call("vet")), "never assigned before vetting"
    with pytest.raises(ValidationError, match="already in the expert directory"):
        services.register_expert(profile.user, data)
    with pytest.raises(PermissionDenied):
        services.vet_expert(profile.user, profile, True)
    with pytest.raises(ValidationError):
        services.vet_expert(users["office"], profile, False, "")
    services.vet_expert(users["office"], profile, True)
    forget_cached_roles(profile.user)
    assert has_role(profile.user, "expert") and ExpertProfile.objects.get(pk=profile.pk).vetted
    assert profile.user.check_password("a-long-enough passphrase 42")


def test_released_reviews_are_reminded_by_email_then_marked_overdue_and_closed_on_submission(
    users, django_capture_on_commit_callbacks
):
    _call, app, _experts = _in_review(users, "remind", k=1)
    a = Assignment.objects.get(application=app)
    deadline = Deadline.objects.get(object_id=str(a.pk), assignee=a.expert)
    assert deadline.due == a.due
    mail.outbox.clear()
    with time_machine.travel(a.due - dt.timedelta(days=1)), django_capture_on_commit_callbacks(execute=True):
        assert send_reminders()["reminded"] >= 1
    assert any(a.expert.email in m.to for m in mail.outbox), "the reminder is emailed"
    with time_machine.travel(a.due + dt.timedelta(days=1)):
        assert send_reminders()["overdue"] >= 1
        assert Assignment.objects.get(pk=a.pk).overdue
        services.submit_review(a.expert, a, {"direction": 3, "team": 3}, "")
    assert Deadline.objects.get(pk=deadline.pk).done_at is not None


def _under_construction(users, code="build"):
    applicant = users["lab_manager"]
    applicant.organisation = make_organisation(region_code="320000")
    applicant.save(update_fields=["organisation"])
    call = make_call(code, reviewers_per_application=1)
    add_acceptance_criteria(call)
    app = make_application(
        call,
        applicant.organisation,
        owner=applicant,
        status="designated",
        construction_plan="2027-06 | 平台建成\n2028-12-31 | 方法体系形成",
    )
    services.hand_over_to_registry(app, users["office"])
    forget_cached_roles(applicant)
    construction = app.construction
    services.submit_progress_report(applicant, construction, period="2027", text="平台建成")
    services.request_acceptance(
        applicant, construction, {"director_name": "王主任", "contact_email": "lab@example.invalid"}
    )
    expert = make_expert()
    services.propose_assignment(users["office"], call, "acceptance")
    services.release_assignments(users["office"], call, "acceptance")
    return applicant, app, construction, expert


def _fail(expert, app):
    a = app.assignments.get(stage="acceptance", expert=expert.user)
    services.submit_review(expert.user, a, {"milestones": 1, "capacity": 2}, "未完成")
    services.submit_consensus(
        expert.user,
        app,
        "acceptance",
        scores={"milestones": 1, "capacity": 2},
        summary="未达到验收要求",
        recommendation="negative",
    )


def test_the_plan_s_dated_lines_become_milestones_and_only_the_manager_reports_progress(users):
    applicant, _app, construction, _expert = _under_construction(users, "plan")
    assert [(m.due.isoformat(), m.title) for m in construction.milestones.all()] == [
        ("2027-06-28", "平台建成"),
        ("2028-12-31", "方法体系形成"),
    ]
    assert Deadline.objects.filter(object_id=str(construction.pk), assignee=applicant).exists()
    with pytest.raises(PermissionDenied):
        services.submit_progress_report(users["lab_manager"], construction, period="2028", text="x")


def test_a_failed_acceptance_gives_one_extension_then_only_termination(users):
    applicant, app, construction, expert = _under_construction(users, "fail")
    lab = construction.laboratory
    end = construction.ends_on
    _fail(expert, app)
    with pytest.raises(TransitionRefused, match="did not recommend passing"):
        services.move_construction(users["office"], construction, "pass_acceptance")
    construction = services.move_construction(users["office"], construction, "extend", "方法体系未建成")
    lab.refresh_from_db()
    assert (construction.status, construction.extended, lab.status) == (
        "building",
        True,
        "under_construction",
    )
    assert construction.ends_on.year == end.year + 1
    assert not app.assignments.filter(stage="acceptance").exists(), "the next acceptance starts afresh"
    services.submit_progress_report(applicant, construction, period="2028", text="补建完成")
    services.request_acceptance(applicant, construction)
    services.propose_assignment(users["office"], app.call, "acceptance")
    services.release_assignments(users["office"], app.call, "acceptance")
    _fail(expert, app)
    with pytest.raises(TransitionRefused, match="one extension has been used"):
        services.move_construction(users["office"], construction, "extend", "再次延期")
    with pytest.raises(TransitionRefused):
        services.move_construction(applicant, construction, "terminate", "x")
    construction = services.move_construction(users["office"], construction, "terminate", "两次验收未通过")
    lab.refresh_from_db()
    assert (construction.status, lab.status) == ("terminated", "withdrawn")
    assert lab.last_document.kind.code == "lab_withdrawal"


def test_recent_collaborations_and_past_co_applications_are_conflicts(users):
    call = make_call("collab", conflict_years=3)
    institution = make_organisation(region_code="320000")
    app = make_application(call, institution, status="accepted")
    year = timezone.localdate().year
    partner = make_expert(region="110000")
    partner.collaborations = [{"organisation": institution.pk, "until": year - 1}]
    assert services.check_conflict(partner, app, None, year).status == services.CONFLICT
    partner.collaborations = [{"organisation": institution.pk, "until": year - 9}]
    assert services.check_conflict(partner, app, None, year).status == services.CLEAR
    co_applicant = make_expert(region="110000")
    earlier = make_application(make_call("earlier"), institution, status="declined")
    services.add_co_applicant(users["office"], earlier, co_applicant.organisation, "research")
    check = services.check_conflict(co_applicant, app, None, year)
    assert check.status == services.CONFLICT and "co-applied" in check.reasons[0]
    table = services.conflict_table(call)
    assert table.checks[(app.pk, co_applicant.user_id)].status == services.CONFLICT, "same rule in bulk"


def test_the_office_publishes_templates_with_the_call_and_the_public_downloads_them(users, client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from qslab.designation.tests.test_call_templates import docx

    call = make_call("tmpl")
    with pytest.raises(ValidationError, match="not an accepted type"):
        services.add_call_template(users["office"], call, SimpleUploadedFile("x.exe", b"MZ"), "x")
    with pytest.raises(PermissionDenied):
        services.add_call_template(users["lab_manager"], call, SimpleUploadedFile("a.pdf", b"%PDF-1.4"), "a")
    content = docx("申报书")
    template = services.add_call_template(
        users["office"], call, SimpleUploadedFile("申报书.docx", content), "申报书模板"
    )
    response = client.get(f"/designation/templates/{template.pk}/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == content


def test_on_the_targeted_route_the_institution_s_managers_run_the_construction(users):
    manager = users["lab_manager"]
    manager.organisation = make_organisation(region_code="320000")
    manager.save(update_fields=["organisation"])
    app = make_application(
        make_call("targeted-build"), manager.organisation, status="designated", route="targeted"
    )
    assert app.created_by_id is None
    services.hand_over_to_registry(app, users["office"])
    forget_cached_roles(manager)
    construction = app.construction
    assert has_role(manager, "lab_manager", scope=construction.laboratory)
    open_deadlines = Deadline.objects.filter(
        object_id=str(construction.pk), content_type__model="construction", done_at__isnull=True
    )
    assert {d.assignee for d in open_deadlines} == {manager}, "acceptance request and progress reports"
    services.submit_progress_report(manager, construction, period="2027", text="启动建设")


def test_an_expert_states_former_affiliations_and_collaborations_on_the_profile_page(users, clients):
    from qslab.labs.models import KeyField

    institution = make_organisation(region_code="320000", name_zh="甲研究院")
    profile = make_expert(user=users["expert"])
    page = clients["expert"].post(
        "/designation/experts/me/",
        {
            "name": profile.name,
            "organisation": profile.organisation_id,
            "region_code": "110000",
            "fields": [KeyField.objects.get(code="robots").pk],
            "former_affiliations_text": "甲研究院 | 2024\n不存在的单位 | 2020\n乙 | 年份",
            "collaborations_text": "",
        },
    )
    assert page.status_code == 200, "errors are shown, nothing saved"
    body = page.content.decode()
    assert "no organisation “不存在的单位”" in body and "line 3" in body
    page = clients["expert"].post(
        "/designation/experts/me/",
        {
            "name": profile.name,
            "organisation": profile.organisation_id,
            "region_code": "110000",
            "fields": [KeyField.objects.get(code="robots").pk],
            "former_affiliations_text": "",
            "collaborations_text": "甲研究院 | 2025",
        },
    )
    assert page.status_code == 302
    profile.refresh_from_db()
    assert profile.collaborations == [{"organisation": institution.pk, "until": 2025}]
    assert not profile.vetted, "a change by the expert is vetted again"
