"""API of the designation app (mounted at /api/designation/ in qslab/api.py): calls, applications and
their workflow, the assignment solver, reviews, public notices and objections."""

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import StrictBool

from qslab.core.apitools import PUBLIC, ErrorOut, LimitOffsetPagination
from qslab.core.permissions import get_visible_or_404
from qslab.designation import services
from qslab.designation.models import Application, Assignment, Call, Construction, PublicNotice

router = Router(tags=["designation"])

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


class CriterionOut(Schema):
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
    recommendation_quota: int
    reviewers_per_application: int
    notice_working_days: int
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
        recommendation_quota=c.recommendation_quota,
        reviewers_per_application=c.reviewers_per_application,
        notice_working_days=c.notice_working_days,
        criteria=[
            CriterionOut(
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
    construction_plan: str = ""


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


class ObjectionIn(Schema):
    contact: str = Field(..., min_length=1, max_length=200)
    text: str = Field(..., min_length=1)


class ObjectionOut(Schema):
    id: int
    status: str


@router.get("/calls", response=list[CallOut], auth=PUBLIC, summary="Calls (public: published and closed)")
@paginate(LimitOffsetPagination)
def list_calls(request: HttpRequest):
    return [_call(c) for c in Call.objects.visible_to(request.user).prefetch_related("fields", "criteria")]


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
    return [_app(a, request.user) for a in qs]


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
    app = services.start_application(request.user, call, payload.dict())
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
    return [
        DesignationNoticeOut(
            id=n.pk,
            application_id=n.application_id,
            name_zh=n.application.name_zh,
            name_en=n.application.name_en,
            institution=str(n.application.institution),
            starts_on=n.starts_on,
            ends_on=n.ends_on,
        )
        for n in PublicNotice.objects.visible_to(request.user).select_related("application__institution")
    ]


@router.post(
    "/notices/{notice_id}/objections",
    response={201: ObjectionOut, 422: ErrorOut, **ERRORS},
    summary="Object to a designation during its notice period (signed in: identity required)",
)
def file_objection(request: HttpRequest, notice_id: int, payload: ObjectionIn):
    notice = get_visible_or_404(PublicNotice, request.user, pk=notice_id)
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
        milestones_total=c.milestones.count(),
        milestones_reached=c.milestones.filter(done_on__isnull=False).count(),
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
    qs = Construction.objects.visible_to(request.user).select_related("laboratory")
    return [_construction(c, request.user) for c in qs]


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
