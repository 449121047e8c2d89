"""API of the supervision app (mounted at /api/supervision/ in qslab/api.py)."""

import datetime as dt

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.pagination import paginate

from qslab.core.apitools import PUBLIC, ErrorOut, LimitOffsetPagination
from qslab.core.permissions import get_visible_or_404
from qslab.supervision import services
from qslab.supervision.models import AnnualReport, EvaluationEntry, RectificationOrder, SpotCheckPlan

router = Router(tags=["supervision"])


class AnnualReportOut(Schema):
    id: int
    laboratory_id: int
    year: int
    status: str
    due_on: dt.date
    values: dict


class OrderOut(Schema):
    id: int
    laboratory_id: int
    status: str
    due_on: dt.date
    extended: bool
    document_number: str | None


class DrawOut(Schema):
    number: int
    seed_source: str
    seed: str
    algorithm: str
    superseded: bool
    reason: str
    inputs: dict
    result: dict
    rerun_matches: bool


class SanctionOut(Schema):
    laboratory_id: int
    code: str
    name_zh: str
    name_en: str
    status: str
    document_number: str | None


class SupervisionTransitionIn(Schema):
    reason: str = ""


class ScoresIn(Schema):
    scores: dict
    comment: str = ""


def _report(r: AnnualReport) -> AnnualReportOut:
    return AnnualReportOut(
        id=r.pk,
        laboratory_id=r.laboratory_id,
        year=r.template.year,
        status=r.status,
        due_on=r.due_on,
        values=r.values,
    )


def _order(o: RectificationOrder) -> OrderOut:
    return OrderOut(
        id=o.pk,
        laboratory_id=o.laboratory_id,
        status=o.status,
        due_on=o.due_on,
        extended=o.extended,
        document_number=o.document.number if o.document_id else None,
    )


@router.get(
    "/reports", response=list[AnnualReportOut], summary="Annual reports I may see (a lab manager: own lab)"
)
@paginate(LimitOffsetPagination)
def reports(request: HttpRequest):
    return [_report(r) for r in AnnualReport.objects.visible_to(request.user).select_related("template")]


@router.post(
    "/reports/{report_id}/transitions/{transition}",
    response={
        200: AnnualReportOut,
        401: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
    },
    summary="Submit, accept or return an annual report",
)
def move_report(request: HttpRequest, report_id: int, transition: str, payload: SupervisionTransitionIn):
    item = get_visible_or_404(AnnualReport.objects.select_related("template"), request.user, pk=report_id)
    return _report(services.move_report(request.user, item, transition, payload.reason))


@router.get(
    "/plans/{plan_id}/draws",
    response={200: list[DrawOut], 401: ErrorOut, 404: ErrorOut},
    auth=PUBLIC,
    summary="The recorded draws of a spot-check plan, each re-run from its seed and inputs",
)
def draws(request: HttpRequest, plan_id: int):
    plan = get_visible_or_404(SpotCheckPlan, request.user, pk=plan_id)
    out = []
    for d in plan.draws.all():
        check = services.verify_draw(d)
        out.append(
            DrawOut(
                number=d.number,
                seed_source=d.seed_source,
                seed=d.seed,
                algorithm=d.algorithm,
                superseded=d.superseded,
                reason=d.reason,
                inputs=d.inputs,
                result=d.result,
                rerun_matches=check.matches,
            )
        )
    return out


@router.post(
    "/entries/{entry_id}/scores",
    response={200: dict, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Submit my score sheet (assigned expert)",
)
def score(request: HttpRequest, entry_id: int, payload: ScoresIn):
    entry = get_visible_or_404(EvaluationEntry, request.user, pk=entry_id)
    sheet = services.submit_score_sheet(request.user, entry, payload.scores, payload.comment)
    return sheet.scores


@router.get("/orders", response=list[OrderOut], summary="Rectification orders I may see")
@paginate(LimitOffsetPagination)
def orders(request: HttpRequest):
    return [_order(o) for o in RectificationOrder.objects.visible_to(request.user).select_related("document")]


@router.post(
    "/orders/{order_id}/transitions/{transition}",
    response={200: OrderOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Take a rectification action: verify, reject, lapse, propose_revocation, decide_*, revoke",
)
def move_order(request: HttpRequest, order_id: int, transition: str, payload: SupervisionTransitionIn):
    item = get_visible_or_404(RectificationOrder, request.user, pk=order_id)
    return _order(services.move_order(request.user, item, transition, payload.reason))


@router.get("/sanctions", response=list[SanctionOut], auth=PUBLIC, summary="The public sanctions list")
def sanctions(request: HttpRequest):
    return [
        SanctionOut(
            laboratory_id=lab.pk,
            code=lab.code,
            name_zh=lab.name_zh,
            name_en=lab.name_en,
            status=lab.status,
            document_number=lab.last_document.number
            if lab.last_document_id and lab.last_document.is_public
            else None,
        )
        for lab in services.sanctions()
    ]
