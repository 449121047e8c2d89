"""API of the designation app (mounted at /api/designation/ in qslab/api.py): calls, applications and
their workflow, the assignment solver, reviews, consensus, votes, on-site inspections, meeting reviews, the
Review Committee's terms and meetings, the expert directory (registration, vetting), constructions, public
notices and objections."""

import datetime as dt
from decimal import Decimal

from django.db.models import Prefetch
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema, Status, UploadedFile
from ninja.pagination import paginate
from pydantic import StrictBool

from qslab.core.apitools import PUBLIC, ErrorOut, IsoDate, LimitOffsetPagination, PageOf, Year, require_office
from qslab.core.permissions import get_visible_or_404
from qslab.core.ratelimit import check_public_form
from qslab.designation import services
from qslab.designation.models import (
    AgendaItem,
    Application,
    Assignment,
    Call,
    CommitteeMeeting,
    CommitteeMembership,
    Construction,
    ExpertProfile,
    PublicNotice,
    ReviewMeeting,
    SiteVisit,
)

router = Router(tags=["designation"])

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


class CriterionOut(Schema):
    stage: str = "designation"
    code: str
    name_zh: str
    name_en: str
    weight: float
    max_score: int
    anchors: dict


class CallOut(Schema):
    id: int
    code: str
    title_zh: str
    title_en: str
    status: str
    fields: list[str]
    soft_deadline: dt.datetime
    hard_deadline: dt.datetime
    opens_on: dt.date | None = None
    recommendation_deadline: dt.date | None = None
    review_due_on: dt.date | None = Field(
        None, description="review deadline of the designation review's experts (else 15 working days)"
    )
    committee_meeting_on: dt.date | None = None
    notice_starts_on: dt.date | None = None
    recommendation_quota: int
    reviewers_per_application: int
    notice_working_days: int
    progress_report_months: int
    description_zh: str = ""
    description_en: str = ""
    eligibility_zh: str = ""
    eligibility_en: str = ""
    criteria: list[CriterionOut]


def _call(c: Call) -> CallOut:
    return CallOut(
        id=c.pk,
        code=c.code,
        title_zh=c.title_zh,
        title_en=c.title_en,
        status=c.status,
        fields=[f.code for f in c.fields.all()],
        soft_deadline=c.soft_deadline,
        hard_deadline=c.hard_deadline,
        opens_on=c.opens_on,
        recommendation_deadline=c.recommendation_deadline,
        review_due_on=c.review_due_on,
        committee_meeting_on=c.committee_meeting_on,
        notice_starts_on=c.notice_starts_on,
        recommendation_quota=c.recommendation_quota,
        reviewers_per_application=c.reviewers_per_application,
        notice_working_days=c.notice_working_days,
        progress_report_months=c.progress_report_months,
        description_zh=c.description_zh,
        description_en=c.description_en,
        eligibility_zh=c.eligibility_zh,
        eligibility_en=c.eligibility_en,
        criteria=[
            CriterionOut(
                stage=k.stage,
                code=k.code,
                name_zh=k.name_zh,
                name_en=k.name_en,
                weight=float(k.weight),
                max_score=k.max_score,
                anchors=k.anchors,
            )
            for k in c.criteria.all()
        ],
    )


class ApplicationOut(Schema):
    id: int
    call_id: int
    route: str
    institution: str
    name_zh: str
    name_en: str
    region_code: str
    fields: list[str]
    status: str
    late: bool
    submitted_at: dt.datetime | None
    laboratory_id: int | None
    actions: list[str]


def _application_data(data: dict) -> dict:
    from decimal import Decimal

    if data.get("budget") is not None:
        data["budget"] = Decimal(str(data["budget"]))
    return data


def _app(a: Application, user) -> ApplicationOut:  # type: ignore[no-untyped-def]
    return ApplicationOut(
        id=a.pk,
        call_id=a.call_id,
        route=a.route,
        institution=str(a.institution),
        name_zh=a.name_zh,
        name_en=a.name_en,
        region_code=a.region_code,
        fields=[f.code for f in a.fields.all()],
        status=a.status,
        late=a.late,
        submitted_at=a.submitted_at,
        laboratory_id=a.laboratory_id,
        actions=[t.name for t in services.available_actions(a, user)],
    )


class ApplicationIn(Schema):
    name_zh: str = Field(..., min_length=1, max_length=200)
    name_en: str = Field(..., min_length=1, max_length=200)
    region_code: str = ""
    fields: list[str] = []
    directions: str = ""
    team: str = ""
    resources: str = ""
    construction_plan: str = Field("", description="lines “YYYY-MM[-DD] | milestone” become milestones")
    budget: float | None = Field(None, ge=0, description="10k CNY")


class DesignationTransitionIn(Schema):
    reason: str = ""
    checklist: dict[str, StrictBool] = {}


class ReviewIn(Schema):
    scores: dict[str, int]
    comments: str = ""


class ReviewOut(Schema):
    assignment_id: int
    total: float | None
    submitted_at: dt.datetime | None


class AssignmentOut(Schema):
    assignments: int
    objective: float
    bound: float
    summary: str


class DesignationNoticeOut(Schema):
    id: int
    application_id: int
    name_zh: str
    name_en: str
    institution: str
    starts_on: dt.date
    ends_on: dt.date
    document_number: str = Field("", description="the notice as a numbered public document")
    document_url: str = ""


class ObjectionIn(Schema):
    contact: str = Field(..., min_length=1, max_length=200)
    text: str = Field(..., min_length=1)


class ObjectionOut(Schema):
    id: int
    status: str


@router.get("/calls", response=list[CallOut], auth=PUBLIC, summary="Calls (public: published and closed)")
@paginate(LimitOffsetPagination)
def list_calls(request: HttpRequest):
    qs = Call.objects.visible_to(request.user).prefetch_related("fields", "criteria")
    return PageOf(qs.order_by("-opens_on", "code", "pk"), _call)


@router.get("/calls/{call_id}", response={200: CallOut, **ERRORS}, auth=PUBLIC)
def get_call(request: HttpRequest, call_id: int):
    return _call(get_visible_or_404(Call, request.user, pk=call_id))


@router.get("/applications", response=list[ApplicationOut], summary="Applications I may see")
@paginate(LimitOffsetPagination)
def list_applications(request: HttpRequest, call_id: int | None = None, status: str | None = None):
    qs = Application.objects.visible_to(request.user).select_related("institution").prefetch_related("fields")
    if call_id:
        qs = qs.filter(call_id=call_id)
    if status:
        qs = qs.filter(status=status)
    return PageOf(qs.order_by("call", "-created", "-pk"), lambda a: _app(a, request.user))


@router.get("/applications/{application_id}", response={200: ApplicationOut, **ERRORS})
def get_application(request: HttpRequest, application_id: int):
    return _app(get_visible_or_404(Application, request.user, pk=application_id), request.user)


@router.post(
    "/calls/{call_id}/applications",
    response={201: ApplicationOut, 422: ErrorOut, **ERRORS},
    summary="Start an application in an open call (supporting institution)",
)
def create_application(request: HttpRequest, call_id: int, payload: ApplicationIn):
    call = get_visible_or_404(Call, request.user, pk=call_id)
    app = services.start_application(request.user, call, _application_data(payload.dict()))
    return Status(201, _app(app, request.user))


@router.post(
    "/applications/{application_id}/transitions/{transition}",
    response={200: ApplicationOut, 409: ErrorOut, 422: ErrorOut, **ERRORS},
    summary="Take a workflow action: submit, recommend, decline, accept, return_for_correction, reject, ...",
)
def move_application(
    request: HttpRequest, application_id: int, transition: str, payload: DesignationTransitionIn
):
    app = get_visible_or_404(Application, request.user, pk=application_id)
    app = services.move_application(request.user, app, transition, payload.reason, payload.checklist)
    return _app(app, request.user)


@router.post(
    "/calls/{call_id}/assignment",
    response={200: AssignmentOut, 422: ErrorOut, **ERRORS},
    summary="Propose the optimal expert assignment for the applications waiting at a stage (office)",
)
def propose_assignment(request: HttpRequest, call_id: int, stage: str = "designation"):
    call = get_visible_or_404(Call, request.user, pk=call_id)
    created, result = services.propose_assignment(request.user, call, stage)
    return AssignmentOut(
        assignments=len(created), objective=result.objective, bound=result.bound, summary=result.summary()
    )


@router.put(
    "/assignments/{assignment_id}/review",
    response={200: ReviewOut, 422: ErrorOut, **ERRORS},
    summary="Submit the assigned expert's scores per criterion",
)
def submit_review(request: HttpRequest, assignment_id: int, payload: ReviewIn):
    a = get_visible_or_404(Assignment, request.user, pk=assignment_id)
    review = services.submit_review(request.user, a, payload.scores, payload.comments)
    return ReviewOut(assignment_id=a.pk, total=review.total, submitted_at=review.submitted_at)


@router.get(
    "/notices", response=list[DesignationNoticeOut], auth=PUBLIC, summary="Designation notices (public)"
)
@paginate(LimitOffsetPagination)
def list_notices(request: HttpRequest):
    qs = PublicNotice.objects.visible_to(request.user).select_related("application__institution", "document")
    return PageOf(
        qs.order_by("-starts_on", "-pk"),
        lambda n: DesignationNoticeOut(
            id=n.pk,
            application_id=n.application_id,
            name_zh=n.application.name_zh,
            name_en=n.application.name_en,
            institution=str(n.application.institution),
            starts_on=n.starts_on,
            ends_on=n.ends_on,
            document_number=n.document.number if n.document else "",
            document_url=n.document.get_absolute_url() if n.document else "",
        ),
    )


@router.post(
    "/notices/{notice_id}/objections",
    response={201: ObjectionOut, 422: ErrorOut, 429: ErrorOut, **ERRORS},
    summary="Object to a designation during its notice period (signed in: identity required; 429: too "
    "many from this account in the window, nothing saved)",
)
def file_objection(request: HttpRequest, notice_id: int, payload: ObjectionIn):
    notice = get_visible_or_404(PublicNotice, request.user, pk=notice_id)
    check_public_form(request, "objection")
    o = services.file_objection(request.user, notice, payload.contact, payload.text)
    return Status(201, ObjectionOut(id=o.pk, status=o.status))


class ConstructionOut(Schema):
    id: int
    application_id: int
    laboratory_id: int
    laboratory: str
    status: str
    starts_on: dt.date
    ends_on: dt.date
    extended: bool
    next_report_due: dt.date | None = Field(None, description="the next periodic progress report")
    report_overdue: bool = False
    milestones_total: int
    milestones_reached: int
    actions: list[str]


def _construction(c: Construction, user) -> ConstructionOut:  # type: ignore[no-untyped-def]
    return ConstructionOut(
        id=c.pk,
        application_id=c.application_id,
        laboratory_id=c.laboratory_id,
        laboratory=str(c.laboratory),
        status=c.status,
        starts_on=c.starts_on,
        ends_on=c.ends_on,
        extended=c.extended,
        next_report_due=c.next_report_due,
        report_overdue=c.report_overdue,
        milestones_total=c.n_milestones if hasattr(c, "n_milestones") else c.milestones.count(),
        milestones_reached=(
            c.n_reached if hasattr(c, "n_reached") else c.milestones.filter(done_on__isnull=False).count()
        ),
        actions=[t.name for t in Construction.workflow.available(c, user)],
    )


class ConstructionTransitionIn(Schema):
    reason: str = ""
    director_name: str = ""
    contact_email: str = ""


class ProgressReportIn(Schema):
    period: str = Field(..., min_length=1, max_length=20)
    text: str = Field(..., min_length=1)
    milestones_reached: list[int] = []


class ProgressReportOut(Schema):
    id: int
    period: str


class ConsensusIn(Schema):
    scores: dict[str, int]
    summary: str
    recommendation: str = Field(..., description="positive | negative")
    strengths: str = ""
    weaknesses: str = ""


class ConsensusOut(Schema):
    application_id: int
    stage: str
    total: float | None
    recommendation: str


@router.get(
    "/constructions", response=list[ConstructionOut], summary="Laboratories under construction I may see"
)
@paginate(LimitOffsetPagination)
def list_constructions(request: HttpRequest):
    from django.db.models import Count, Q

    qs = (
        Construction.objects.visible_to(request.user)
        .select_related("laboratory", "application")
        .prefetch_related("progress_reports", "laboratory__fields")  # what the actions' guards ask
        .annotate(
            n_milestones=Count("milestones", distinct=True),
            n_reached=Count("milestones", filter=Q(milestones__done_on__isnull=False), distinct=True),
        )
    )
    return PageOf(qs.order_by("ends_on", "pk"), convert_page=lambda rows: _constructions(rows, request.user))


def _constructions(rows: list[Construction], user) -> list[ConstructionOut]:  # type: ignore[no-untyped-def]
    """A page of constructions converted together: the acceptance panels' consensus reports, which
    the actions' guards read, come in one query (one per construction otherwise)."""
    from qslab.designation.models import ConsensusReport, Stage

    reports: dict[int, ConsensusReport] = {}
    for report in ConsensusReport.objects.filter(
        application__in=[c.application_id for c in rows], stage=Stage.ACCEPTANCE, submitted_at__isnull=False
    ).order_by(*_reversed_order(ConsensusReport)):
        reports[report.application_id] = report  # the first in the model's order comes last and wins
    for c in rows:
        c.listed_acceptance_consensus = reports.get(c.application_id)
    return [_construction(c, user) for c in rows]


def _reversed_order(model) -> list[str]:  # type: ignore[no-untyped-def]
    """The model's default order reversed, with the primary key as the last tie-break."""
    fields = [*(model._meta.ordering or ()), "pk"]
    return [f[1:] if f.startswith("-") else f"-{f}" for f in fields]


@router.post(
    "/constructions/{construction_id}/transitions/{transition}",
    response={200: ConstructionOut, 409: ErrorOut, 422: ErrorOut, **ERRORS},
    summary="request_acceptance (manager), pass_acceptance (naming), extend (once) or terminate (office)",
)
def move_construction(
    request: HttpRequest, construction_id: int, transition: str, payload: ConstructionTransitionIn
):
    c = get_visible_or_404(Construction, request.user, pk=construction_id)
    if transition == "request_acceptance":
        c = services.request_acceptance(request.user, c, payload.dict())
    else:
        c = services.move_construction(request.user, c, transition, payload.reason)
    return _construction(c, request.user)


@router.post(
    "/constructions/{construction_id}/progress",
    response={201: ProgressReportOut, 422: ErrorOut, **ERRORS},
    summary="Submit a progress report during construction (the laboratory's manager)",
)
def submit_progress_report(request: HttpRequest, construction_id: int, payload: ProgressReportIn):
    c = get_visible_or_404(Construction, request.user, pk=construction_id)
    report = services.submit_progress_report(
        request.user,
        c,
        period=payload.period,
        text=payload.text,
        milestones_reached=list(c.milestones.filter(pk__in=payload.milestones_reached)),
    )
    return Status(201, ProgressReportOut(id=report.pk, period=report.period))


@router.put(
    "/applications/{application_id}/consensus/{stage}",
    response={200: ConsensusOut, 422: ErrorOut, **ERRORS},
    summary="The panel moderator's consensus report (stage: designation | acceptance)",
)
def submit_consensus(request: HttpRequest, application_id: int, stage: str, payload: ConsensusIn):
    app = get_visible_or_404(Application, request.user, pk=application_id)
    report = services.submit_consensus(request.user, app, stage, **payload.dict())
    return ConsensusOut(
        application_id=app.pk, stage=report.stage, total=report.total, recommendation=report.recommendation
    )


class DesignationVoteIn(Schema):
    choice: str = Field(..., description="approve | reject | abstain | recuse")
    reason: str = ""


class DesignationVoteOut(Schema):
    application_id: int
    meeting_id: int | None
    choice: str
    reason: str


@router.post(
    "/applications/{application_id}/votes",
    response={201: DesignationVoteOut, 422: ErrorOut, **ERRORS},
    summary="A committee member in term votes on an application on a meeting's agenda (recusal with reason)",
)
def cast_vote(request: HttpRequest, application_id: int, payload: DesignationVoteIn):
    app = get_visible_or_404(Application, request.user, pk=application_id)
    vote = services.cast_vote(request.user, app, payload.choice, payload.reason)
    return Status(
        201,
        DesignationVoteOut(
            application_id=app.pk, meeting_id=vote.meeting_id, choice=vote.choice, reason=vote.reason
        ),
    )


# -- panel records, the Review Committee, the expert directory ------------------------------------------


def _users(ids: list[int]) -> list:
    from qslab.accounts.models import User

    found = list(User.objects.filter(pk__in=ids, is_active=True))
    if len(found) != len(set(ids)):
        from django.core.exceptions import ValidationError

        raise ValidationError(
            _("Unknown user ids: %(ids)s.") % {"ids": sorted(set(ids) - {u.pk for u in found})}
        )
    return found


class DesignationSiteVisitIn(Schema):
    stage: str = Field("designation", description="designation | acceptance")
    visited_on: dt.date
    inspector_ids: list[int] = []
    findings: str = Field(..., min_length=1)
    conclusion: str = Field(..., description="confirmed | minor | major")


class DesignationSiteVisitOut(Schema):
    id: int
    application_id: int
    stage: str
    visited_on: dt.date
    inspectors: list[str]
    findings: str
    conclusion: str


def _visit(v: SiteVisit) -> DesignationSiteVisitOut:
    return DesignationSiteVisitOut(
        id=v.pk,
        application_id=v.application_id,
        stage=v.stage,
        visited_on=v.visited_on,
        inspectors=[str(u) for u in v.inspectors.all()],
        findings=v.findings,
        conclusion=v.conclusion,
    )


@router.get(
    "/site-visits",
    response=list[DesignationSiteVisitOut],
    summary="On-site inspections I may see (office and committee: all; others: those they recorded)",
)
@paginate(LimitOffsetPagination)
def list_site_visits(request: HttpRequest, application_id: int | None = None, stage: str | None = None):
    qs = SiteVisit.objects.visible_to(request.user).prefetch_related("inspectors")
    if application_id:
        qs = qs.filter(application_id=application_id)
    if stage:
        qs = qs.filter(stage=stage)
    return PageOf(qs.order_by("-visited_on", "-pk"), _visit)


@router.post(
    "/applications/{application_id}/site-visits",
    response={201: DesignationSiteVisitOut, 422: ErrorOut, **ERRORS},
    summary="Record an on-site inspection (the office or an expert on the application's panel)",
)
def record_site_visit(request: HttpRequest, application_id: int, payload: DesignationSiteVisitIn):
    app = get_visible_or_404(Application, request.user, pk=application_id)
    visit = services.record_site_visit(
        request.user,
        app,
        stage=payload.stage,
        visited_on=payload.visited_on,
        inspectors=_users(payload.inspector_ids),
        findings=payload.findings,
        conclusion=payload.conclusion,
    )
    return Status(201, _visit(visit))


class DesignationReviewMeetingIn(Schema):
    stage: str = Field("designation", description="designation | acceptance")
    held_on: dt.date
    location: str = Field("", max_length=200)
    application_ids: list[int]
    attendee_ids: list[int] = []
    minutes: str = Field(..., min_length=1)


class DesignationReviewMeetingOut(Schema):
    id: int
    call_id: int
    stage: str
    held_on: dt.date
    location: str
    application_ids: list[int]
    attendees: list[str]
    minutes: str


def _review_meeting(m: ReviewMeeting) -> DesignationReviewMeetingOut:
    return DesignationReviewMeetingOut(
        id=m.pk,
        call_id=m.call_id,
        stage=m.stage,
        held_on=m.held_on,
        location=m.location,
        application_ids=[a.pk for a in m.applications.all()],
        attendees=[str(u) for u in m.attendees.all()],
        minutes=m.minutes,
    )


@router.get(
    "/review-meetings",
    response=list[DesignationReviewMeetingOut],
    summary="Minutes of meeting reviews (office and committee)",
)
@paginate(LimitOffsetPagination)
def list_review_meetings(request: HttpRequest, call_id: int | None = None):
    qs = ReviewMeeting.objects.visible_to(request.user).prefetch_related("applications", "attendees")
    if call_id:
        qs = qs.filter(call_id=call_id)
    return PageOf(qs.order_by("-held_on", "-pk"), _review_meeting)


@router.post(
    "/calls/{call_id}/review-meetings",
    response={201: DesignationReviewMeetingOut, 422: ErrorOut, **ERRORS},
    summary="Record the minutes of a meeting review of applications of the call (office)",
)
def record_review_meeting(request: HttpRequest, call_id: int, payload: DesignationReviewMeetingIn):
    call = get_visible_or_404(Call, request.user, pk=call_id)
    require_office(request, _("Only the committee office keeps the minutes of a meeting review."))
    apps = list(Application.objects.visible_to(request.user).filter(pk__in=payload.application_ids))
    if len(apps) != len(set(payload.application_ids)):
        from django.core.exceptions import ValidationError

        raise ValidationError({"application_ids": _("Unknown applications.")})
    meeting = services.record_review_meeting(
        request.user,
        call,
        stage=payload.stage,
        held_on=payload.held_on,
        applications=apps,
        attendees=_users(payload.attendee_ids),
        minutes=payload.minutes,
        location=payload.location,
    )
    return Status(201, _review_meeting(meeting))


class CommitteeTermIn(Schema):
    user_id: int
    position: str = Field("member", description="chair | vice_chair | member")
    organisation_id: int | None = None
    term_start: dt.date
    term_end: dt.date


class CommitteeTermOut(Schema):
    id: int
    user_id: int
    member: str
    position: str
    organisation: str | None
    term_start: dt.date
    term_end: dt.date
    current: bool


def _term(t: CommitteeMembership) -> CommitteeTermOut:
    return CommitteeTermOut(
        id=t.pk,
        user_id=t.user_id,
        member=str(t.user),
        position=t.position,
        organisation=str(t.organisation) if t.organisation_id else None,
        term_start=t.term_start,
        term_end=t.term_end,
        current=t.current,
    )


@router.get(
    "/committee/terms",
    response=list[CommitteeTermOut],
    summary="Review Committee seats and terms (office and committee)",
)
@paginate(LimitOffsetPagination)
def list_committee_terms(request: HttpRequest, current: bool | None = None):
    from django.db.models import Q
    from django.utils import timezone

    qs = CommitteeMembership.objects.visible_to(request.user).select_related("user", "organisation")
    today = timezone.localdate()
    in_term = Q(term_start__lte=today, term_end__gte=today)  # CommitteeMembership.current, in SQL
    if current is not None:
        qs = qs.filter(in_term) if current else qs.exclude(in_term)
    return PageOf(qs.order_by("-term_end", "position", "pk"), _term)


@router.post(
    "/committee/terms",
    response={201: CommitteeTermOut, 422: ErrorOut, **ERRORS},
    summary="Record a seat on the Review Committee for a term (office; the member holds the committee role)",
)
def appoint_committee_member(request: HttpRequest, payload: CommitteeTermIn):
    from qslab.accounts.models import Organisation

    require_office(request, _("Only the committee office keeps the committee's membership."))
    member = _users([payload.user_id])[0]
    organisation = None
    if payload.organisation_id is not None:
        organisation = Organisation.objects.filter(pk=payload.organisation_id).first()
        if organisation is None:
            from django.core.exceptions import ValidationError

            raise ValidationError({"organisation_id": _("Unknown organisation.")})
    term = services.appoint_member(
        request.user,
        member,
        term_start=payload.term_start,
        term_end=payload.term_end,
        position=payload.position,
        organisation=organisation,
    )
    return Status(201, _term(term))


class CommitteeAgendaItemOut(Schema):
    application_id: int
    name_zh: str
    name_en: str
    status: str
    decision: str | None


class CommitteeMeetingOut(Schema):
    id: int
    title: str
    held_on: dt.date
    location: str
    status: str
    minutes: str
    agenda: list[CommitteeAgendaItemOut]
    document_number: str | None
    document_url: str | None


def _meeting(m: CommitteeMeeting, user, page: dict | None = None) -> CommitteeMeetingOut:  # type: ignore[no-untyped-def]
    """One meeting; ``page`` holds what :func:`_meetings` read for a whole page (documents, decisions)."""
    from qslab.core.models import OfficialDocument

    if page is not None:
        doc = page["documents"].get(m.document_id)
    else:
        doc = (
            OfficialDocument.objects.visible_to(user).filter(pk=m.document_id).first()
            if m.document_id
            else None
        )
    agenda = []
    items = m.agenda.all() if page is not None else m.agenda.select_related("application")
    for item in items:
        if page is not None:
            decision = page["decisions"].get((m.pk, item.application_id))
        else:
            decision = item.application.decisions.filter(meeting=m).order_by("-pk").first()
        agenda.append(
            CommitteeAgendaItemOut(
                application_id=item.application_id,
                name_zh=item.application.name_zh,
                name_en=item.application.name_en,
                status=item.application.status,
                decision=decision.outcome if decision else None,
            )
        )
    return CommitteeMeetingOut(
        id=m.pk,
        title=m.title,
        held_on=m.held_on,
        location=m.location,
        status=m.status,
        minutes=m.minutes,
        agenda=agenda,
        document_number=doc.number if doc else None,
        document_url=doc.get_absolute_url() if doc else None,
    )


class CommitteeMeetingIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    held_on: dt.date
    location: str = Field("", max_length=200)
    application_ids: list[int]


class CommitteeMeetingCloseIn(Schema):
    minutes: str = Field(..., min_length=1)


@router.get(
    "/committee/meetings",
    response=list[CommitteeMeetingOut],
    summary="Review Committee meetings with agenda, decisions and minutes (office and committee)",
)
@paginate(LimitOffsetPagination)
def list_committee_meetings(request: HttpRequest, status: str | None = None):
    qs = CommitteeMeeting.objects.visible_to(request.user)
    if status:
        qs = qs.filter(status=status)
    qs = qs.prefetch_related(Prefetch("agenda", AgendaItem.objects.select_related("application")))
    return PageOf(qs.order_by("-held_on", "-pk"), convert_page=lambda rows: _meetings(rows, request.user))


def _meetings(rows: list[CommitteeMeeting], user) -> list[CommitteeMeetingOut]:  # type: ignore[no-untyped-def]
    """A page of meetings converted together: the documents the user may see and each agenda item's
    latest decision at its meeting come in one query each (one per meeting and per item otherwise)."""
    from qslab.core.models import OfficialDocument
    from qslab.designation.models import Decision

    documents = OfficialDocument.objects.visible_to(user).filter(
        pk__in=[m.document_id for m in rows if m.document_id]
    )
    decisions: dict[tuple[int, int], Decision] = {}
    for decision in Decision.objects.filter(meeting__in=rows).order_by("pk"):
        decisions[(decision.meeting_id, decision.application_id)] = decision  # the latest comes last and wins
    page = {"documents": {d.pk: d for d in documents}, "decisions": decisions}
    return [_meeting(m, user, page) for m in rows]


@router.get("/committee/meetings/{meeting_id}", response={200: CommitteeMeetingOut, **ERRORS})
def get_committee_meeting(request: HttpRequest, meeting_id: int):
    return _meeting(get_visible_or_404(CommitteeMeeting, request.user, pk=meeting_id), request.user)


@router.post(
    "/committee/meetings",
    response={201: CommitteeMeetingOut, 422: ErrorOut, **ERRORS},
    summary="Convene the Review Committee with an agenda of reviewed or deferred applications (office)",
)
def schedule_committee_meeting(request: HttpRequest, payload: CommitteeMeetingIn):
    require_office(request, _("Only the committee office convenes the committee."))
    apps = list(Application.objects.visible_to(request.user).filter(pk__in=payload.application_ids))
    if len(apps) != len(set(payload.application_ids)):
        from django.core.exceptions import ValidationError

        raise ValidationError({"application_ids": _("Unknown applications.")})
    order = {pk: i for i, pk in enumerate(payload.application_ids)}
    apps.sort(key=lambda a: order[a.pk])
    meeting = services.schedule_meeting(
        request.user,
        title=payload.title,
        held_on=payload.held_on,
        applications=apps,
        location=payload.location,
    )
    return Status(201, _meeting(meeting, request.user))


@router.post(
    "/committee/meetings/{meeting_id}/close",
    response={200: CommitteeMeetingOut, 422: ErrorOut, **ERRORS},
    summary="Close a meeting with its minutes once every agenda item is decided; issues the numbered minutes",
)
def close_committee_meeting(request: HttpRequest, meeting_id: int, payload: CommitteeMeetingCloseIn):
    meeting = get_visible_or_404(CommitteeMeeting, request.user, pk=meeting_id)
    meeting = services.close_meeting(request.user, meeting, payload.minutes)
    return _meeting(meeting, request.user)


class ExpertRegistrationIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    title: str = Field("", max_length=100)
    region_code: str = ""
    fields: list[str] = Field(..., description="key-field codes")
    username: str = Field("", description="visitors only: the new account's user name")
    email: str = Field("", description="visitors only")
    password: str = Field("", description="visitors only")


class ExpertProfileOut(Schema):
    id: int
    user_id: int
    name: str
    title: str
    organisation: str | None
    region_code: str
    fields: list[str]
    vetted: bool


class ExpertVettingIn(Schema):
    approve: StrictBool
    reason: str = ""


def _expert(p: ExpertProfile) -> ExpertProfileOut:
    return ExpertProfileOut(
        id=p.pk,
        user_id=p.user_id,
        name=p.name,
        title=p.title,
        organisation=str(p.organisation) if p.organisation_id else None,
        region_code=p.region_code,
        fields=[f.code for f in p.fields.all()],
        vetted=p.vetted,
    )


@router.get(
    "/experts",
    response=list[ExpertProfileOut],
    summary="The expert directory (office and committee: everyone; an expert: their own entry)",
)
@paginate(LimitOffsetPagination)
def list_experts(request: HttpRequest, vetted: bool | None = None):
    qs = (
        ExpertProfile.objects.visible_to(request.user)
        .select_related("organisation")
        .prefetch_related("fields")
    )
    if vetted is not None:
        qs = qs.filter(vetted=vetted)
    return PageOf(qs.order_by("name", "pk"), _expert)


@router.post(
    "/experts/register",
    response={201: ExpertProfileOut, 422: ErrorOut, **ERRORS},
    auth=PUBLIC,
    summary="Register in the expert directory (a visitor also creates an account); the office then vets",
)
def register_expert(request: HttpRequest, payload: ExpertRegistrationIn):
    from ninja.errors import HttpError

    user = request.user if getattr(request.user, "is_authenticated", False) else None
    if user is not None and ExpertProfile.objects.filter(user=user).exists():
        raise HttpError(403, str(_("You are already in the expert directory.")))
    profile = services.register_expert(user, payload.dict())
    return Status(201, _expert(profile))


@router.post(
    "/experts/{profile_id}/vetting",
    response={200: ExpertProfileOut, 422: ErrorOut, **ERRORS},
    summary="Admit (grants the expert role) or refuse with a reason a registered expert (office)",
)
def vet_expert(request: HttpRequest, profile_id: int, payload: ExpertVettingIn):
    profile = get_visible_or_404(ExpertProfile, request.user, pk=profile_id)
    profile = services.vet_expert(request.user, profile, payload.approve, payload.reason)
    return _expert(profile)


# -- the office's desk: committee decisions, panels; experts' own profiles ------------------------------


class DesignationDecisionIn(Schema):
    minutes: str = Field(
        ..., min_length=1, description="the minutes of the item (the reason of the decision)"
    )
    defer: StrictBool = Field(False, description="defer instead of deciding from the votes")


class DesignationDecisionOut(Schema):
    id: int
    application_id: int
    meeting_id: int | None
    outcome: str = Field(..., description="approve | reject | defer")
    approve: int
    reject: int
    abstain: int
    recused: int
    status: str = Field(..., description="the application's state after the decision")


@router.post(
    "/applications/{application_id}/decision",
    response={201: DesignationDecisionOut, 409: ErrorOut, 422: ErrorOut, **ERRORS},
    summary="Record the committee's decision on a meeting item from the votes (office; quorum, majority)",
)
def record_decision(request: HttpRequest, application_id: int, payload: DesignationDecisionIn):
    app = get_visible_or_404(Application, request.user, pk=application_id)
    decision = services.record_decision(request.user, app, payload.minutes, payload.defer)
    app.refresh_from_db()
    return Status(
        201,
        DesignationDecisionOut(
            id=decision.pk,
            application_id=app.pk,
            meeting_id=decision.meeting_id,
            outcome=decision.outcome,
            approve=decision.approve,
            reject=decision.reject,
            abstain=decision.abstain,
            recused=decision.recused,
            status=app.status,
        ),
    )


class PanelMemberOut(Schema):
    id: int
    application_id: int
    stage: str
    expert_id: int
    expert: str
    affinity: float
    released: bool
    moderator: bool
    due: dt.date | None


def _panel_member(a: Assignment) -> PanelMemberOut:
    profile = ExpertProfile.objects.filter(user_id=a.expert_id).first()
    return PanelMemberOut(
        id=a.pk,
        application_id=a.application_id,
        stage=a.stage,
        expert_id=a.expert_id,
        expert=profile.name if profile else str(a.expert),
        affinity=a.affinity,
        released=a.released,
        moderator=a.moderator,
        due=a.due,
    )


class PanelMemberIn(Schema):
    expert_id: int = Field(..., description="the expert's user id (a vetted expert with no conflict)")
    stage: str = Field("designation", description="designation | acceptance")


class ReleaseOut(Schema):
    call_id: int
    stage: str
    applications: int = Field(..., description="applications whose panels were released")


@router.post(
    "/calls/{call_id}/assignment/release",
    response={200: ReleaseOut, 409: ErrorOut, 422: ErrorOut, **ERRORS},
    summary="Release the proposed panels of a stage to the experts, each with a review deadline (office)",
)
def release_assignment(request: HttpRequest, call_id: int, stage: str = "designation"):
    call = get_visible_or_404(Call, request.user, pk=call_id)
    n = services.release_assignments(request.user, call, stage)
    return ReleaseOut(call_id=call.pk, stage=stage, applications=n)


@router.get(
    "/applications/{application_id}/panel",
    response={200: list[PanelMemberOut], **ERRORS},
    summary="The experts on an application's panels, proposed and released (office and committee)",
)
def list_panel(request: HttpRequest, application_id: int, stage: str | None = None):
    _staff_only(request, _("Panels are for the office and the committee."))
    app = get_visible_or_404(Application, request.user, pk=application_id)
    qs = app.assignments.select_related("expert")
    if stage:
        qs = qs.filter(stage=stage)
    return [_panel_member(a) for a in qs]


@router.post(
    "/applications/{application_id}/panel",
    response={201: PanelMemberOut, 422: ErrorOut, **ERRORS},
    summary="Add one expert to an application's panel (office; conflicted or unknown pairs are refused)",
)
def add_panel_member(request: HttpRequest, application_id: int, payload: PanelMemberIn):
    app = get_visible_or_404(Application, request.user, pk=application_id)
    require_office(request, _("Only the committee office assigns experts."))
    expert = _users([payload.expert_id])[0]
    a = services.add_assignment(request.user, app, expert, payload.stage)
    return Status(201, _panel_member(a))


@router.delete(
    "/assignments/{assignment_id}",
    response={204: None, 422: ErrorOut, **ERRORS},
    summary="Remove one expert from a panel (office; not once their review is submitted)",
)
def remove_panel_member(request: HttpRequest, assignment_id: int):
    a = get_visible_or_404(Assignment, request.user, pk=assignment_id)
    services.remove_assignment(request.user, a)
    return Status(204, None)


@router.post(
    "/assignments/{assignment_id}/moderator",
    response={200: PanelMemberOut, 422: ErrorOut, **ERRORS},
    summary="Name this panel member the moderator who writes the consensus report (office)",
)
def name_moderator(request: HttpRequest, assignment_id: int):
    a = get_visible_or_404(Assignment, request.user, pk=assignment_id)
    a = services.set_moderator(request.user, a)
    return _panel_member(a)


class Affiliation(Schema):
    organisation: int = Field(..., description="organisation id")
    until: int = Field(..., ge=1949, le=2100, description="year the affiliation or collaboration ended")


class ExpertProfileIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    title: str = Field("", max_length=100)
    organisation_id: int | None = None
    region_code: str = ""
    fields: list[str] = Field(..., description="key-field codes")
    former_affiliations: list[Affiliation] = []
    collaborations: list[Affiliation] = []


@router.put(
    "/experts/{profile_id}",
    response={200: ExpertProfileOut, 422: ErrorOut, **ERRORS},
    summary="Edit an expert profile (the expert their own, which then needs vetting again; the office any)",
)
def edit_expert(request: HttpRequest, profile_id: int, payload: ExpertProfileIn):
    from django.core.exceptions import ValidationError

    from qslab.accounts.models import Organisation

    profile = get_visible_or_404(ExpertProfile, request.user, pk=profile_id)
    data = payload.dict()
    organisation_id = data.pop("organisation_id")
    data["organisation"] = None
    if organisation_id is not None:
        data["organisation"] = Organisation.objects.filter(pk=organisation_id).first()
        if data["organisation"] is None:
            raise ValidationError({"organisation_id": _("Unknown organisation.")})
    known = set(
        Organisation.objects.filter(
            pk__in=[r["organisation"] for f in ("former_affiliations", "collaborations") for r in data[f]]
        ).values_list("pk", flat=True)
    )
    for f in ("former_affiliations", "collaborations"):
        unknown = sorted({r["organisation"] for r in data[f]} - known)
        if unknown:
            raise ValidationError({f: _("Unknown organisations: %(ids)s.") % {"ids": unknown}})
    profile = services.save_expert_profile(request.user, data, profile)
    return _expert(profile)


def _staff_only(request: HttpRequest, message: str) -> None:
    from django.core.exceptions import PermissionDenied

    from qslab.accounts.roles import Role, has_role

    if not (has_role(request.user, Role.OFFICE) or has_role(request.user, Role.COMMITTEE)):
        raise PermissionDenied(message)


# -- the call's templates ------------------------------------------------------------------------------


class CallTemplateOut(Schema):
    id: int
    call_id: int
    name: str
    sha256: str
    url: str = Field(..., description="the public download")


def _template(t) -> CallTemplateOut:  # type: ignore[no-untyped-def]
    from django.urls import reverse

    return CallTemplateOut(
        id=t.pk,
        call_id=t.call_id,
        name=t.name,
        sha256=t.sha256,
        url=reverse("designation:template", args=[t.pk]),
    )


@router.get(
    "/calls/{call_id}/templates",
    response={200: list[CallTemplateOut], **ERRORS},
    auth=PUBLIC,
    summary="The templates published with a call (public once the call is published)",
)
def list_call_templates(request: HttpRequest, call_id: int):
    call = get_visible_or_404(Call, request.user, pk=call_id)
    return [_template(t) for t in call.templates.all()]


@router.post(
    "/calls/{call_id}/templates",
    response={201: CallTemplateOut, 422: ErrorOut, **ERRORS},
    summary="Publish a template with the call (office; multipart: file — PDF, Word or Excel, "
    "checked by content, at most 20 MB — and an optional name)",
)
def add_call_template(request: HttpRequest, call_id: int, file: File[UploadedFile], name: Form[str] = ""):
    call = get_visible_or_404(Call, request.user, pk=call_id)
    return Status(201, _template(services.add_call_template(request.user, call, file, name)))


def _call_template(request: HttpRequest, template_id: int):  # type: ignore[no-untyped-def]
    from qslab.designation.models import CallTemplate

    return get_visible_or_404(CallTemplate.objects.select_related("call"), request.user, pk=template_id)


@router.post(
    "/templates/{template_id}/replace",
    response={200: CallTemplateOut, 422: ErrorOut, **ERRORS},
    summary="Replace a template's file and optionally its name (office; multipart as for adding); "
    "the old file leaves storage, both checksums stay in the change log",
)
def replace_call_template(
    request: HttpRequest, template_id: int, file: File[UploadedFile], name: Form[str] = ""
):
    template = _call_template(request, template_id)
    return _template(services.replace_call_template(request.user, template, file, name))


@router.delete(
    "/templates/{template_id}",
    response={204: None, **ERRORS},
    summary="Withdraw a template from the call (office)",
)
def remove_call_template(request: HttpRequest, template_id: int):
    services.remove_call_template(request.user, _call_template(request, template_id))
    return Status(204, None)


# -- targeted designation, declarations, ranking, evaluation summary, objections ---------------------


class TargetedIn(ApplicationIn):
    institution_id: int = Field(..., description="the named institution (organisation id)")


@router.post(
    "/calls/{call_id}/targeted",
    response={201: ApplicationOut, 422: ErrorOut, **ERRORS},
    summary="Open a targeted designation for a named institution, which then completes it (office)",
)
def open_targeted(request: HttpRequest, call_id: int, payload: TargetedIn):
    from django.core.exceptions import ValidationError

    from qslab.accounts.models import Organisation

    call = get_visible_or_404(Call, request.user, pk=call_id)
    data = payload.dict()
    institution = Organisation.objects.filter(pk=data.pop("institution_id")).first()
    require_office(request, _("Only the committee office opens a targeted designation."))
    if institution is None:
        raise ValidationError({"institution_id": _("Unknown organisation.")})
    return Status(201, _app(services.open_targeted(request.user, call, institution, data), request.user))


class DeclarationIn(Schema):
    conflicted: StrictBool
    note: str = Field("", max_length=2000)


class DeclarationOut(Schema):
    application_id: int
    conflicted: bool
    note: str


@router.post(
    "/applications/{application_id}/declaration",
    response={200: DeclarationOut, 422: ErrorOut, **ERRORS},
    summary="Declare a conflict of interest (or none) with an application (expert); a declared conflict "
    "takes the expert off its panel",
)
def declare_conflict(request: HttpRequest, application_id: int, payload: DeclarationIn):
    app = get_visible_or_404(Application, request.user, pk=application_id)
    d = services.declare_conflict(request.user, app, payload.conflicted, payload.note)
    return DeclarationOut(application_id=app.pk, conflicted=d.conflicted, note=d.note)


class RankOut(Schema):
    rank: int
    application_id: int
    name_zh: str
    name_en: str
    institution: str
    score: float | None = Field(None, description="consensus score 0-100, else the mean individual score")
    consensus: float | None
    mean: float | None
    lowest: float | None
    reviews: int


class RankingOut(Schema):
    call_id: int
    tie_breaks: list[str] = Field(..., description="the declared rules, in order")
    rows: list[RankOut]


@router.get(
    "/calls/{call_id}/ranking",
    response={200: RankingOut, **ERRORS},
    summary="The call's reviewed applications ranked with the declared tie-break rules (office, committee)",
)
def call_ranking(request: HttpRequest, call_id: int):
    call = get_visible_or_404(Call, request.user, pk=call_id)
    _staff_only(request, _("The ranking is for the office and the committee."))
    rows = [
        RankOut(
            rank=r.rank,
            application_id=r.application.pk,
            name_zh=r.application.name_zh,
            name_en=r.application.name_en,
            institution=str(r.application.institution),
            score=r.score,
            consensus=r.consensus,
            mean=r.mean,
            lowest=r.lowest,
            reviews=r.reviews,
        )
        for r in services.ranking(call)
    ]
    return RankingOut(call_id=call.pk, tie_breaks=[_(t) for t in services.TIE_BREAKS], rows=rows)


class AnonymousReviewOut(Schema):
    reviewer: str = Field(..., description="“Reviewer n”: never a name")
    total: float | None
    scores: dict[str, int]
    comments: str


class EvaluationConsensusOut(Schema):
    total: float | None
    summary: str
    strengths: str
    weaknesses: str
    recommendation: str


class EvaluationOut(Schema):
    application_id: int
    stage: str
    closed: bool = Field(
        ..., description="the review is closed; before that the applicant receives no review or score"
    )
    consensus: EvaluationConsensusOut | None
    reviews: list[AnonymousReviewOut]


@router.get(
    "/applications/{application_id}/evaluation",
    response={200: EvaluationOut, **ERRORS},
    summary="The anonymous evaluation summary (the office and the committee; the applicant's institution "
    "once the review is closed)",
)
def evaluation(request: HttpRequest, application_id: int, stage: str = "designation"):

    from qslab.designation.models import Stage

    if stage not in Stage.values:
        raise Http404
    app = Application.objects.visible_to(request.user).filter(pk=application_id).first()
    if app is None and stage == Stage.ACCEPTANCE:  # the laboratory's managers reach it by its construction
        app = Application.objects.filter(
            pk=application_id, construction__in=Construction.objects.visible_to(request.user)
        ).first()
    if app is None:
        raise Http404
    services.require_evaluation_reader(request.user, app, stage)
    summary = services.evaluation_for(request.user, app, stage)
    return EvaluationOut(application_id=app.pk, stage=stage, **summary)


class ObjectionDetailOut(Schema):
    id: int
    notice_id: int
    contact: str
    text: str
    status: str
    response: str


class ObjectionHandlingIn(Schema):
    upheld: StrictBool
    response: str = Field(..., min_length=1, description="the office's reasoned response")


def _objection(o) -> ObjectionDetailOut:  # type: ignore[no-untyped-def]
    return ObjectionDetailOut(
        id=o.pk, notice_id=o.notice_id, contact=o.contact, text=o.text, status=o.status, response=o.response
    )


@router.get(
    "/notices/{notice_id}/objections",
    response={200: list[ObjectionDetailOut], **ERRORS},
    summary="Objections to a notice (the office all, an objector their own)",
)
def list_objections(request: HttpRequest, notice_id: int):
    from qslab.designation.models import Objection

    notice = get_visible_or_404(PublicNotice, request.user, pk=notice_id)
    return [_objection(o) for o in Objection.objects.visible_to(request.user).filter(notice=notice)]


@router.post(
    "/objections/{objection_id}/handling",
    response={200: ObjectionDetailOut, 422: ErrorOut, **ERRORS},
    summary="Uphold or dismiss an objection with a reasoned response (office); an upheld objection blocks "
    "the designation",
)
def handle_objection(request: HttpRequest, objection_id: int, payload: ObjectionHandlingIn):
    from qslab.designation.models import Objection

    o = get_visible_or_404(Objection, request.user, pk=objection_id)
    return _objection(services.handle_objection(request.user, o, payload.upheld, payload.response))


# -- the office drafts, equips and publishes a call -----------------------------------------------


class CallIn(Schema):
    code: str = Field(..., min_length=1, max_length=40)
    title_zh: str = Field(..., min_length=1, max_length=200)
    title_en: str = Field(..., min_length=1, max_length=200)
    description_zh: str = ""
    description_en: str = ""
    eligibility_zh: str = ""
    eligibility_en: str = ""
    fields: list[str] = Field([], description="priority key-field codes")
    opens_on: dt.date | None = None
    soft_deadline: dt.datetime = Field(..., description="later submissions are accepted and marked late")
    hard_deadline: dt.datetime = Field(..., description="later submissions are refused")
    recommendation_deadline: IsoDate | None = None
    review_due_on: IsoDate | None = Field(None, description="expert reviews due (designation review)")
    committee_meeting_on: IsoDate | None = None
    notice_starts_on: IsoDate | None = None
    recommendation_quota: int | None = Field(None, ge=1)
    reviewers_per_application: int | None = Field(None, ge=1)
    min_load: int | None = Field(None, ge=0)
    max_load: int | None = Field(None, ge=1)
    conflict_same_region: bool | None = None
    conflict_years: int | None = Field(None, ge=0, le=50)
    quorum: int | None = Field(None, ge=1)
    majority: float | None = Field(None, ge=0, le=1)
    notice_working_days: int | None = Field(None, ge=1)
    construction_years: int | None = Field(None, ge=1)
    progress_report_months: int | None = Field(None, ge=1, le=36)
    extension_years: int | None = Field(None, ge=1)


class CallTimetableIn(Schema):
    opens_on: IsoDate
    soft_deadline: dt.datetime = Field(..., description="later submissions are accepted and marked late")
    hard_deadline: dt.datetime = Field(..., description="later submissions are refused")
    recommendation_deadline: IsoDate | None = None
    review_due_on: IsoDate | None = Field(
        None, description="the experts' review deadline; none: 15 working days from the release"
    )
    committee_meeting_on: IsoDate | None = None
    notice_starts_on: IsoDate | None = None


class CriterionIn(Schema):
    code: str = Field(..., min_length=1, max_length=40)
    name_zh: str = Field(..., min_length=1, max_length=120)
    name_en: str = Field(..., min_length=1, max_length=120)
    weight: float = Field(..., ge=0)
    max_score: int = Field(5, ge=1)
    anchors: dict[str, str] = Field({}, description="score level -> anchor text")


class CallTransitionIn(Schema):
    reason: str = ""


@router.post(
    "/calls",
    response={201: CallOut, 422: ErrorOut, **ERRORS},
    summary="Draft a call: titles, description and eligibility in zh and en, priority fields, soft and hard "
    "deadlines and the rules (office); unset rules keep their defaults",
)
def create_call(request: HttpRequest, payload: CallIn):
    from decimal import Decimal

    data = {k: v for k, v in payload.dict().items() if v is not None}
    if "majority" in data:
        data["majority"] = Decimal(str(data["majority"]))
    return Status(201, _call(services.save_call(request.user, data)))


@router.put(
    "/calls/{call_id}/timetable",
    response={200: CallOut, 422: ErrorOut, **ERRORS},
    summary="Set the call's timetable (office): opening, soft and hard deadline, recommendations due, "
    "expert reviews due, committee meeting, start of the public notice, in this order; unset later "
    "milestones are cleared",
)
def set_call_timetable(request: HttpRequest, call_id: int, payload: CallTimetableIn):
    call = get_visible_or_404(Call, request.user, pk=call_id)
    require_office(request, _("Only the committee office sets the call's timetable."))
    services.save_call(request.user, payload.dict(), Call.objects.get(pk=call.pk))
    return _call(Call.objects.prefetch_related("fields", "criteria").get(pk=call.pk))


@router.put(
    "/calls/{call_id}/criteria",
    response={200: CallOut, 422: ErrorOut, **ERRORS},
    summary="Set the criteria of one review stage (designation or acceptance) with weights and an anchor "
    "text per score level (office; not once reviews of that stage are in)",
)
def set_call_criteria(
    request: HttpRequest, call_id: int, payload: list[CriterionIn], stage: str = "designation"
):
    call = get_visible_or_404(Call, request.user, pk=call_id)
    codes = [c.code for c in payload]
    twice = sorted({c for c in codes if codes.count(c) > 1})
    require_office(request, _("Only the committee office sets the criteria."))
    if twice:
        from django.core.exceptions import ValidationError

        raise ValidationError(
            {"criteria": _("Criterion code “%(code)s” appears twice.") % {"code": twice[0]}}
        )
    rows = [services.CriterionRow(**c.dict()) for c in payload]
    services.set_criteria(request.user, call, rows, stage)
    return _call(Call.objects.prefetch_related("fields", "criteria").get(pk=call.pk))


@router.post(
    "/calls/{call_id}/transitions/{transition}",
    response={200: CallOut, 409: ErrorOut, 422: ErrorOut, **ERRORS},
    summary="publish (needs designation criteria) or close a call (office)",
)
def move_call(request: HttpRequest, call_id: int, transition: str, payload: CallTransitionIn):
    call = get_visible_or_404(Call, request.user, pk=call_id)
    services.move_call(request.user, call, transition, payload.reason)
    return _call(Call.objects.prefetch_related("fields", "criteria").get(pk=call.pk))


# -- the applicant completes the application: text, co-applicants, PDF attachments -------------------


class ApplicationEditIn(Schema):
    name_zh: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, min_length=1, max_length=200)
    region_code: str | None = None
    fields: list[str] | None = None
    directions: str | None = None
    team: str | None = None
    resources: str | None = None
    construction_plan: str | None = None
    budget: float | None = Field(None, ge=0)


@router.patch(
    "/applications/{application_id}",
    response={200: ApplicationOut, 422: ErrorOut, **ERRORS},
    summary="Complete or correct a draft or returned application (its institution, or the office); only "
    "the fields sent change",
)
def edit_application(request: HttpRequest, application_id: int, payload: ApplicationEditIn):
    app = get_visible_or_404(Application, request.user, pk=application_id)
    data = _application_data({k: v for k, v in payload.dict().items() if v is not None})
    return _app(services.edit_application(request.user, app, data), request.user)


class CoApplicantIn(Schema):
    organisation_id: int
    role: str = Field(..., description="industry | university | research | user")


class CoApplicantOut(Schema):
    id: int
    organisation_id: int
    organisation: str
    role: str


@router.post(
    "/applications/{application_id}/co-applicants",
    response={201: CoApplicantOut, 422: ErrorOut, **ERRORS},
    summary="Add a co-applicant with its role (the applicant, or the office)",
)
def add_co_applicant(request: HttpRequest, application_id: int, payload: CoApplicantIn):
    from django.core.exceptions import ValidationError

    from qslab.accounts.models import Organisation

    app = get_visible_or_404(Application, request.user, pk=application_id)
    organisation = Organisation.objects.filter(pk=payload.organisation_id).first()
    if organisation is None:
        services.require_editable(request.user, app)  # the wrong role is refused before the input
        raise ValidationError({"organisation_id": _("Unknown organisation.")})
    c = services.add_co_applicant(request.user, app, organisation, payload.role)
    return Status(
        201,
        CoApplicantOut(id=c.pk, organisation_id=organisation.pk, organisation=str(organisation), role=c.role),
    )


class AttachmentOut(Schema):
    id: int
    kind: str
    name: str
    size: int
    sha256: str
    url: str


@router.post(
    "/applications/{application_id}/files",
    response={201: AttachmentOut, 422: ErrorOut, **ERRORS},
    summary="Attach a PDF (multipart: file, at most 20 MB, and kind — plan, budget, letter, other) to a "
    "draft or returned application (the applicant, or the office)",
)
def attach_file(request: HttpRequest, application_id: int, file: File[UploadedFile], kind: Form[str]):
    from django.urls import reverse

    app = get_visible_or_404(Application, request.user, pk=application_id)
    f = services.attach_file(request.user, app, file, kind)
    return Status(
        201,
        AttachmentOut(
            id=f.pk,
            kind=f.kind,
            name=f.name,
            size=f.size,
            sha256=f.sha256,
            url=reverse("designation:attachment", args=[f.pk]),
        ),
    )


# -- the office's comment on a progress report ---------------------------------------------------------


class ProgressCommentIn(Schema):
    office_comment: str = Field(..., min_length=1)


class ProgressReportDetailOut(Schema):
    id: int
    construction_id: int
    period: str
    text: str
    office_comment: str


@router.post(
    "/progress-reports/{report_id}/comment",
    response={200: ProgressReportDetailOut, 422: ErrorOut, **ERRORS},
    summary="Comment on a progress report (office); the laboratory's managers read it on the construction",
)
def comment_progress_report(request: HttpRequest, report_id: int, payload: ProgressCommentIn):
    from qslab.designation.models import ProgressReport

    report = get_visible_or_404(ProgressReport, request.user, pk=report_id)
    report = services.comment_progress_report(request.user, report, payload.office_comment)
    return ProgressReportDetailOut(
        id=report.pk,
        construction_id=report.construction_id,
        period=report.period,
        text=report.text,
        office_comment=report.office_comment,
    )


# -- industries: which key fields an industry-scoped competent authority covers ---------------------


class IndustryScopeOut(Schema):
    id: int
    industry: str
    name_zh: str
    name_en: str
    fields: list[str] = Field(..., description="key-field codes; each covers its sub-fields")


class IndustryScopeIn(Schema):
    industry: str = Field(..., min_length=1, max_length=100, description="as in the authorities' roles")
    name_zh: str = Field("", max_length=120)
    name_en: str = Field("", max_length=120)
    fields: list[str] = Field([], description="key-field codes")


def _industry(s) -> IndustryScopeOut:
    return IndustryScopeOut(
        id=s.pk,
        industry=s.industry,
        name_zh=s.name_zh,
        name_en=s.name_en,
        fields=[f.code for f in s.fields.all()],
    )


@router.get(
    "/industries",
    response={200: list[IndustryScopeOut], **ERRORS},
    summary="Industries and their key fields (office, committee, competent authorities)",
)
def list_industries(request: HttpRequest):
    from django.core.exceptions import PermissionDenied

    from qslab.accounts.roles import Role, has_role
    from qslab.designation.models import IndustryScope

    if not any(has_role(request.user, r) for r in (Role.OFFICE, Role.COMMITTEE, Role.AUTHORITY)):
        raise PermissionDenied(_("The industries are kept by the office for the competent authorities."))
    return [_industry(s) for s in IndustryScope.objects.visible_to(request.user).prefetch_related("fields")]


@router.post(
    "/industries",
    response={201: IndustryScopeOut, 422: ErrorOut, **ERRORS},
    summary="Map an industry (as written in authorities' industry scopes) to key fields (office)",
)
def create_industry(request: HttpRequest, payload: IndustryScopeIn):
    scope = services.save_industry_scope(request.user, payload.dict())
    return Status(201, _industry(scope))


@router.put(
    "/industries/{scope_id}",
    response={200: IndustryScopeOut, 422: ErrorOut, **ERRORS},
    summary="Change an industry's name or key fields (office)",
)
def update_industry(request: HttpRequest, scope_id: int, payload: IndustryScopeIn):
    from qslab.designation.models import IndustryScope

    scope = get_visible_or_404(IndustryScope, request.user, pk=scope_id)
    require_office(request, _("Only the committee office maps industries to key fields."))
    return _industry(services.save_industry_scope(request.user, payload.dict(), scope))


# -- the construction plan's budget: lines per year, budget line and source -------------------------


class ApplicationBudgetLineIn(Schema):
    year: Year
    category: str = Field(..., description="equipment, facilities, research, personnel, operations, other")
    source: str = Field(..., description="central, local, own, enterprise, other")
    amount: Decimal = Field(..., description="10k CNY, at most 2 decimals; not negative")
    note: str = Field("", max_length=200)


class ApplicationBudgetLineOut(Schema):
    year: int
    category: str
    source: str
    amount: Decimal
    note: str


class ApplicationBudgetTotalOut(Schema):
    key: str
    label: str
    amount: Decimal


class ApplicationBudgetOut(Schema):
    application_id: int
    first_year: int = Field(..., description="the construction period's first calendar year")
    last_year: int
    lines: list[ApplicationBudgetLineOut]
    by_year: list[ApplicationBudgetTotalOut]
    by_source: list[ApplicationBudgetTotalOut]
    by_category: list[ApplicationBudgetTotalOut]
    total: Decimal


def _budget(app: Application) -> ApplicationBudgetOut:
    totals = services.budget_totals(app)
    first, last = services.budget_years(app.call)
    return ApplicationBudgetOut(
        application_id=app.pk,
        first_year=first,
        last_year=last,
        lines=[
            ApplicationBudgetLineOut(
                year=b.year, category=b.category, source=b.source, amount=b.amount, note=b.note
            )
            for b in app.budget_lines.all()
        ],
        by_year=[ApplicationBudgetTotalOut(key=str(y), label=str(y), amount=a) for y, a in totals.by_year],
        by_source=[ApplicationBudgetTotalOut(key=c, label=lb, amount=a) for c, lb, a in totals.by_source],
        by_category=[ApplicationBudgetTotalOut(key=c, label=lb, amount=a) for c, lb, a in totals.by_category],
        total=totals.total,
    )


@router.get(
    "/applications/{application_id}/budget",
    response={200: ApplicationBudgetOut, **ERRORS},
    summary="The construction plan's budget: lines per year, budget line and source, with the totals",
)
def application_budget(request: HttpRequest, application_id: int):
    return _budget(get_visible_or_404(Application, request.user, pk=application_id))


@router.get(
    "/applications/{application_id}/pdf",
    response={200: None, **ERRORS},
    summary="The whole application as a PDF with Chinese and English labels (not for a conflicted expert)",
    openapi_extra={"responses": {200: {"description": "PDF", "content": {"application/pdf": {}}}}},
)
def application_pdf(request: HttpRequest, application_id: int):
    from qslab.designation.views import application_pdf_response

    return application_pdf_response(request.user, application_id)


@router.put(
    "/applications/{application_id}/budget",
    response={200: ApplicationBudgetOut, 422: ErrorOut, **ERRORS},
    summary="Replace the budget lines (the applicant while a draft or returned, or the office); years within "
    "the construction period, no negative amount; the application's budget becomes their total",
)
def set_application_budget(request: HttpRequest, application_id: int, payload: list[ApplicationBudgetLineIn]):
    app = get_visible_or_404(Application, request.user, pk=application_id)
    services.require_editable(request.user, app)
    rows = [services.BudgetRow(**line.dict()) for line in payload]
    services.set_budget_lines(request.user, app, rows)
    return _budget(Application.objects.get(pk=app.pk))
