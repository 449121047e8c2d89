"""API of the studies app (mounted at /api/studies/): PT rounds and submissions, precision experiments,
uncertainty budgets, reference-material studies, SPC monitors (machine ingest) and their alarms."""

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from qslab.core.apitools import LimitOffsetPagination, PageOf
from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.studies import services
from qslab.studies.models import (
    Alarm,
    Monitor,
    PrecisionExperiment,
    PTParticipant,
    PTResult,
    PTRound,
    ReferenceMaterialStudy,
    UncertaintyBudget,
)
from qslab.studies.services import Refused

router = Router(tags=["studies"])

CONFLICT_CODES = {"late", "closed", "wrong_state", "already_registered", "inactive", "organiser"}


def _refused(exc: Refused) -> Status:
    status = 409 if exc.code in CONFLICT_CODES else 422
    return Status(status, {"detail": exc.message, "code": exc.code, "errors": exc.errors})


class MeasurandOut(Schema):
    id: int
    name_zh: str
    name_en: str
    unit: str
    assigned_method: str


class RoundOut(Schema):
    id: int
    code: str
    title_zh: str
    title_en: str
    laboratory: str
    deadline: dt.date
    status: str
    measurands: list[MeasurandOut]


class StudyTransitionIn(Schema):
    reason: str = ""


def _round(r: PTRound) -> dict[str, Any]:
    return {
        "id": r.pk,
        "code": r.code,
        "title_zh": r.title_zh,
        "title_en": r.title_en,
        "laboratory": r.laboratory.code,
        "deadline": r.deadline,
        "status": r.status,
        "measurands": list(r.measurands.all()),
    }


@router.get("/pt/rounds", response=list[RoundOut], summary="PT rounds I may see")
@paginate(LimitOffsetPagination)
def rounds(request: HttpRequest, status: PTRound.Status | None = None):
    qs = PTRound.objects.visible_to(request.user).select_related("laboratory").prefetch_related("measurands")
    if status:
        qs = qs.filter(status=status)
    return PageOf(qs.order_by("-created", "-pk"), _round)


@router.get("/pt/rounds/{round_id}", response=RoundOut)
def pt_round(request: HttpRequest, round_id: int):
    return _round(get_visible_or_404(PTRound.objects.select_related("laboratory"), request.user, pk=round_id))


@router.post(
    "/pt/rounds/{round_id}/transitions/{transition}",
    response=RoundOut,
    summary="Open, close, score, publish or cancel a round (organiser)",
)
def move_round(request: HttpRequest, round_id: int, transition: str, payload: StudyTransitionIn):
    rnd = get_visible_or_404(PTRound, request.user, pk=round_id)
    return _round(services.move(request.user, rnd, transition, payload.reason))


class RegisterIn(Schema):
    laboratory_id: int | None = Field(
        None, description="a laboratory you manage; omit to register your organisation"
    )


class ParticipantOut(Schema):
    id: int
    round_id: int
    code: str


@router.post(
    "/pt/rounds/{round_id}/participants", response={201: ParticipantOut}, summary="Register as a participant"
)
def register(request: HttpRequest, round_id: int, payload: RegisterIn):
    from qslab.labs.models import Laboratory

    rnd = get_visible_or_404(PTRound, request.user, pk=round_id)
    try:
        if payload.laboratory_id is not None:
            lab = get_visible_or_404(Laboratory, request.user, pk=payload.laboratory_id)
            p = services.register_participant(request.user, rnd, laboratory=lab)
        else:
            p = services.register_participant(request.user, rnd, organisation=request.user.organisation)
    except Refused as exc:
        return _refused(exc)
    return Status(201, {"id": p.pk, "round_id": rnd.pk, "code": p.code})


class ResultIn(Schema):
    measurand: str = Field(..., description="measurand id, or its English or Chinese name")
    value: float
    u: float = Field(..., description="standard uncertainty")
    k: float = Field(2.0, description="coverage factor of the expanded uncertainty")
    method: str = ""


class ResultOut(Schema):
    measurand_id: int
    value: float
    standard_uncertainty: float | None
    expanded_uncertainty: float | None
    submitted_at: dt.datetime
    channel: str
    scores: dict | None


def _results_of(request: HttpRequest, p: PTParticipant) -> list[dict[str, Any]]:
    """Scores are shown to the participant once the reports are published."""
    show = p.round.status == PTRound.Status.REPORTED or not p.spoken_for_by(request.user)
    return [
        {
            "measurand_id": r.measurand_id,
            "value": r.value,
            "standard_uncertainty": r.standard_uncertainty,
            "expanded_uncertainty": r.expanded_uncertainty,
            "submitted_at": r.submitted_at,
            "channel": r.channel,
            "scores": r.scores if show else None,
        }
        for r in PTResult.objects.visible_to(request.user).filter(participant=p)
    ]


@router.get(
    "/pt/rounds/{round_id}/participants/{participant_id}/results",
    response=list[ResultOut],
    summary="A participant's results (and scores once reported)",
)
def results(request: HttpRequest, round_id: int, participant_id: int):
    p = get_visible_or_404(
        PTParticipant.objects.select_related("round"), request.user, pk=participant_id, round_id=round_id
    )
    return _results_of(request, p)


@router.post(
    "/pt/rounds/{round_id}/participants/{participant_id}/results",
    response={201: list[ResultOut]},
    summary="Submit results (all or none; refused after the deadline)",
)
def submit(request: HttpRequest, round_id: int, participant_id: int, payload: list[ResultIn]):
    p = get_visible_or_404(
        PTParticipant.objects.select_related("round"), request.user, pk=participant_id, round_id=round_id
    )
    try:
        saved = services.submit_results(request.user, p, [r.dict() for r in payload], "api")
    except Refused as exc:
        return _refused(exc)
    return Status(201, saved)


class ExperimentOut(Schema):
    id: int
    code: str
    title_en: str
    status: str
    levels: list
    analysis: dict | None
    estimates: dict | None


@router.get("/precision/{study_id}", response=ExperimentOut)
def experiment(request: HttpRequest, study_id: int):
    return get_visible_or_404(PrecisionExperiment, request.user, pk=study_id)


class UncertaintyBudgetOut(Schema):
    id: int
    name_en: str
    version: int
    is_current: bool
    method: str
    spec: str
    result: dict | None


class EvaluateIn(Schema):
    method: str | None = Field(None, pattern="^(GUF|MCM)$")


@router.get("/budgets/{budget_id}", response=UncertaintyBudgetOut)
def budget(request: HttpRequest, budget_id: int):
    return get_visible_or_404(UncertaintyBudget, request.user, pk=budget_id)


@router.post(
    "/budgets/{budget_id}/evaluate",
    response=UncertaintyBudgetOut,
    summary="Evaluate by GUF or MCM and store the result",
)
def evaluate(request: HttpRequest, budget_id: int, payload: EvaluateIn):
    b = get_editable_or_403(UncertaintyBudget, request.user, pk=budget_id)
    try:
        return services.evaluate_budget(request.user, b, payload.method)
    except Refused as exc:
        return _refused(exc)


class MaterialOut(Schema):
    id: int
    code: str
    name_en: str
    status: str
    result: dict | None
    certificate_number: str | None


@router.get("/materials/{study_id}", response=MaterialOut)
def material(request: HttpRequest, study_id: int):
    s = get_visible_or_404(
        ReferenceMaterialStudy.objects.select_related("certificate"), request.user, pk=study_id
    )
    return {
        **{f: getattr(s, f) for f in ("id", "code", "name_en", "status", "result")},
        "certificate_number": s.certificate.number if s.certificate_id else None,
    }


class MonitorOut(Schema):
    id: int
    name_en: str
    laboratory_id: int
    chart: str
    subgroup_size: int
    center: float | None
    sigma: float | None
    active: bool


class PointsIn(Schema):
    points: list[float | list[float]] = Field(..., description="values (I chart) or subgroups (X-bar)")


class PointOut(Schema):
    seq: int
    time: dt.datetime
    values: list[float]
    statistic: float
    signals: list[str]


@router.get("/monitors", response=list[MonitorOut])
@paginate(LimitOffsetPagination)
def monitors(request: HttpRequest):
    return PageOf(
        Monitor.objects.visible_to(request.user).order_by("laboratory", "name_en", "pk"), lambda m: m
    )


@router.get("/monitors/{monitor_id}/points", response=list[PointOut])
@paginate(LimitOffsetPagination)
def points(request: HttpRequest, monitor_id: int, since: int = 0):
    m = get_visible_or_404(Monitor, request.user, pk=monitor_id)
    return PageOf(m.points.filter(seq__gt=since).order_by("seq", "pk"), lambda point: point)


@router.post(
    "/monitors/{monitor_id}/points",
    response={201: list[PointOut]},
    summary="Post measurements; each is evaluated at once",
)
def post_points(request: HttpRequest, monitor_id: int, payload: PointsIn):
    # the visibility query only: editing a monitor means managing its laboratory (Monitor.editable_q),
    # which the user's cached memberships answer without a second query
    m = get_visible_or_404(Monitor.objects.select_related("laboratory"), request.user, pk=monitor_id)
    if not m.managed_by(request.user):
        raise PermissionDenied(_("You may view this record but not change it."))
    try:
        return Status(201, services.record_points(request.user, m, payload.points, "api"))
    except Refused as exc:
        return _refused(exc)


class AlarmOut(Schema):
    id: int
    monitor_id: int
    seq: int
    signals: list[str]
    status: str
    cause: str
    corrective_action: str
    created: dt.datetime


def _alarm(a: Alarm) -> dict[str, Any]:
    return {
        "id": a.pk,
        "monitor_id": a.monitor_id,
        "seq": a.point.seq,
        "signals": a.signals,
        "status": a.status,
        "cause": a.cause,
        "corrective_action": a.corrective_action,
        "created": a.created,
    }


@router.get("/alarms", response=list[AlarmOut], summary="The triage queue: alarms I may see")
@paginate(LimitOffsetPagination)
def alarms(request: HttpRequest, status: str | None = None):
    qs = Alarm.objects.visible_to(request.user).select_related("point")
    if status:
        qs = qs.filter(status=status)
    return PageOf(qs.order_by("-created", "-pk"), _alarm)


class AlarmMoveIn(Schema):
    reason: str = ""
    cause: str | None = None
    corrective_action: str | None = None


@router.post(
    "/alarms/{alarm_id}/transitions/{transition}",
    response=AlarmOut,
    summary="Acknowledge, action, close or dismiss",
)
def move_alarm(request: HttpRequest, alarm_id: int, transition: str, payload: AlarmMoveIn):
    a = get_visible_or_404(Alarm.objects.select_related("monitor", "point"), request.user, pk=alarm_id)
    if payload.cause is not None or payload.corrective_action is not None:
        a = services.explain_alarm(
            request.user, a, payload.cause or a.cause, payload.corrective_action or a.corrective_action
        )
    services.move(request.user, a, transition, payload.reason)
    return _alarm(a)
