"""API of the supervision app (mounted at /api/supervision/ in qslab/api.py)."""

import datetime as dt

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from ninja.pagination import paginate

from qslab.core.apitools import PUBLIC, ErrorOut, LimitOffsetPagination
from qslab.core.permissions import get_visible_or_404
from qslab.supervision import services
from qslab.supervision.models import (
    AnnualReport,
    CorrectiveAction,
    EvaluationCampaign,
    EvaluationEntry,
    Inspection,
    MajorChange,
    PublicNotification,
    RectificationOrder,
    SpotCheckPlan,
)

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


class SelfReportIn(Schema):
    self_report: str


class SelfReportOut(Schema):
    entry_id: int
    self_report: str


@router.post(
    "/entries/{entry_id}/self-report",
    response={200: SelfReportOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Write the laboratory's self-evaluation report (its manager or the office, before confirmation)",
)
def self_report(request: HttpRequest, entry_id: int, payload: SelfReportIn):
    entry = get_visible_or_404(EvaluationEntry, request.user, pk=entry_id)
    entry = services.submit_self_report(request.user, entry, payload.self_report)
    return SelfReportOut(entry_id=entry.pk, self_report=entry.self_report)


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


class LabStatusOut(Schema):
    laboratory_id: int
    status: str
    document_number: str | None


def _lab_status(lab) -> LabStatusOut:  # type: ignore[no-untyped-def]
    return LabStatusOut(
        laboratory_id=lab.pk,
        status=lab.status,
        document_number=lab.last_document.number if lab.last_document_id else None,
    )


@router.post(
    "/laboratories/{lab_id}/suspend",
    response={200: LabStatusOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Suspend a laboratory with a reason (office; issues the numbered public decision)",
)
def suspend_lab(request: HttpRequest, lab_id: int, payload: SupervisionTransitionIn):
    from qslab.labs.models import Laboratory

    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    return _lab_status(services.suspend_laboratory(request.user, lab, payload.reason))


@router.post(
    "/laboratories/{lab_id}/restore",
    response={200: LabStatusOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Restore a suspended laboratory with a reason (office; issues the numbered public decision)",
)
def restore_lab(request: HttpRequest, lab_id: int, payload: SupervisionTransitionIn):
    from qslab.labs.models import Laboratory

    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    return _lab_status(services.restore_laboratory(request.user, lab, payload.reason))


class PublicNotificationOut(Schema):
    id: int
    created: dt.datetime
    title_zh: str
    title_en: str
    document_number: str | None
    laboratory_ids: list[int]


class NotificationIn(Schema):
    laboratory_ids: list[int]
    title_zh: str
    title_en: str
    body_zh: str
    body_en: str = ""


def _notification(n: PublicNotification) -> PublicNotificationOut:
    return PublicNotificationOut(
        id=n.pk,
        created=n.created,
        title_zh=n.title_zh,
        title_en=n.title_en,
        document_number=n.document.number if n.document.is_public else None,
        laboratory_ids=sorted(lab.pk for lab in n.laboratories.all()),
    )


@router.get(
    "/notifications",
    response=list[PublicNotificationOut],
    auth=PUBLIC,
    summary="The public notifications (通报) of failing laboratories",
)
def notifications(request: HttpRequest):
    return [_notification(n) for n in services.public_notifications()]


@router.post(
    "/notifications",
    response={201: PublicNotificationOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Issue a public notification naming laboratories (office; a numbered public document)",
)
def create_notification(request: HttpRequest, payload: NotificationIn):
    from qslab.labs.models import Laboratory

    labs = [get_visible_or_404(Laboratory, request.user, pk=pk) for pk in payload.laboratory_ids]
    item = services.notify_publicly(
        request.user,
        labs,
        title_zh=payload.title_zh,
        title_en=payload.title_en,
        body_zh=payload.body_zh,
        body_en=payload.body_en,
    )
    return Status(201, _notification(services.public_notifications().get(pk=item.pk)))


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


class MajorChangeOut(Schema):
    id: int
    laboratory_id: int
    kind: str
    current_value: str
    proposed: str
    reason: str
    status: str


class SupervisionCorrectiveActionOut(Schema):
    id: int
    request: str
    due_on: dt.date
    response: str
    status: str


class SupervisionFindingOut(Schema):
    id: int
    severity: str
    description: str
    evidence: str
    actions: list[SupervisionCorrectiveActionOut]


class SupervisionInspectionOut(Schema):
    id: int
    laboratory_id: int
    kind: str
    cause: str
    planned_on: dt.date
    conducted_on: dt.date | None
    status: str
    findings: list[SupervisionFindingOut]


class SupervisionGradeCountOut(Schema):
    label: str
    counts: dict[str, int]


class CampaignEntryOut(Schema):
    laboratory_id: int
    code: str
    total: float | None
    grade: str
    rank: int | None


class CampaignResultsOut(Schema):
    code: str
    status: str
    grades: list[dict]
    entries: list[CampaignEntryOut]
    by_field: list[SupervisionGradeCountOut]
    by_region: list[SupervisionGradeCountOut]


class SupervisionOverviewRowOut(Schema):
    laboratory_id: int
    code: str
    status: str
    risk: str
    report: str
    report_overdue: bool
    checks: int
    major_findings: int
    open_inspections: int
    open_actions: int
    overdue_actions: int
    pending_changes: int
    grade: str
    open_orders: int


def _change(c: MajorChange) -> MajorChangeOut:
    return MajorChangeOut(
        id=c.pk,
        laboratory_id=c.laboratory_id,
        kind=c.kind,
        current_value=c.current_value,
        proposed=c.proposed,
        reason=c.reason,
        status=c.status,
    )


def _action(a: CorrectiveAction) -> SupervisionCorrectiveActionOut:
    return SupervisionCorrectiveActionOut(
        id=a.pk, request=a.request, due_on=a.due_on, response=a.response, status=a.status
    )


@router.get("/changes", response=list[MajorChangeOut], summary="Major-change reports I may see")
@paginate(LimitOffsetPagination)
def changes(request: HttpRequest):
    qs = MajorChange.objects.visible_to(request.user).select_related("new_institution")
    return [_change(c) for c in qs]


@router.post(
    "/changes/{change_id}/transitions/{transition}",
    response={200: MajorChangeOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Approve, return or reject a major-change report (office)",
)
def move_change(request: HttpRequest, change_id: int, transition: str, payload: SupervisionTransitionIn):
    item = get_visible_or_404(MajorChange, request.user, pk=change_id)
    return _change(services.move_major_change(request.user, item, transition, payload.reason))


@router.get(
    "/inspections",
    response=list[SupervisionInspectionOut],
    summary="Inspections I may see, with findings and corrective actions (a lab: its own, once recorded)",
)
@paginate(LimitOffsetPagination)
def inspections(request: HttpRequest):
    qs = (
        Inspection.objects.visible_to(request.user)
        .distinct()
        .prefetch_related("findings__actions")
        .order_by("-planned_on", "-id")
    )
    return [
        SupervisionInspectionOut(
            id=i.pk,
            laboratory_id=i.laboratory_id,
            kind=i.kind,
            cause=i.cause,
            planned_on=i.planned_on,
            conducted_on=i.conducted_on,
            status=i.status,
            findings=[
                SupervisionFindingOut(
                    id=f.pk,
                    severity=f.severity,
                    description=f.description,
                    evidence=f.evidence,
                    actions=[_action(a) for a in f.actions.all()],
                )
                for f in i.findings.all()
            ],
        )
        for i in qs
    ]


@router.post(
    "/corrective-actions/{action_id}/transitions/{transition}",
    response={
        200: SupervisionCorrectiveActionOut,
        401: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
    },
    summary="Verify or return a corrective action (office)",
)
def move_action(request: HttpRequest, action_id: int, transition: str, payload: SupervisionTransitionIn):
    item = get_visible_or_404(CorrectiveAction, request.user, pk=action_id)
    return _action(services.move_correction(request.user, item, transition, payload.reason))


@router.get(
    "/campaigns/{campaign_id}/results",
    response={200: CampaignResultsOut, 401: ErrorOut, 404: ErrorOut},
    auth=PUBLIC,
    summary="Results of an evaluation campaign: ranking, grades, and counts by field and region",
)
def campaign_results(request: HttpRequest, campaign_id: int):
    campaign = get_visible_or_404(EvaluationCampaign, request.user, pk=campaign_id)
    entries = (
        EvaluationEntry.objects.visible_to(request.user)
        .filter(campaign=campaign)
        .select_related("laboratory")
    )
    show = campaign.status == "published" or services.oversees(request.user)
    results = services.campaign_results(campaign) if show else {"field": [], "region": []}
    return CampaignResultsOut(
        code=campaign.code,
        status=campaign.status,
        grades=campaign.grades,
        entries=[
            CampaignEntryOut(
                laboratory_id=e.laboratory_id,
                code=e.laboratory.code,
                total=float(e.total) if e.total is not None and show else None,
                grade=e.grade if show else "",
                rank=e.rank if show else None,
            )
            for e in entries.distinct()
        ],
        by_field=[SupervisionGradeCountOut(label=k, counts=v) for k, v in results["field"]],
        by_region=[SupervisionGradeCountOut(label=k, counts=v) for k, v in results["region"]],
    )


@router.get(
    "/overview",
    response={200: list[SupervisionOverviewRowOut], 401: ErrorOut, 403: ErrorOut},
    summary="Every laboratory's supervision status (office and committee)",
)
def overview(request: HttpRequest, status: str = "", region: str = "", risk: str = ""):
    if not services.oversees(request.user):
        raise PermissionDenied(_("Only the office and the committee see the supervision overview."))
    return [
        SupervisionOverviewRowOut(
            laboratory_id=r.lab.pk,
            code=r.lab.code,
            status=r.lab.status,
            risk=r.risk,
            report=r.report,
            report_overdue=r.report_overdue,
            checks=r.checks,
            major_findings=r.major_findings,
            open_inspections=r.open_inspections,
            open_actions=r.open_actions,
            overdue_actions=r.overdue_actions,
            pending_changes=r.pending_changes,
            grade=r.grade,
            open_orders=r.open_orders,
        )
        for r in services.overview(status=status, region=region, risk=risk)
    ]


class FigureOut(Schema):
    indicator: str
    name_zh: str
    name_en: str
    value: float | None
    target: float | None
    rule: str
    source: str
    period_from: int | None
    period_to: int | None
    computed_at: str


@router.get(
    "/entries/{entry_id}/figures",
    response={200: list[FigureOut], 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    auth=PUBLIC,
    summary="Computed quantitative figures of an evaluated laboratory, with their source and period",
)
def entry_figures(request: HttpRequest, entry_id: int):
    entry = get_visible_or_404(
        EvaluationEntry.objects.select_related("campaign", "laboratory"), request.user, pk=entry_id
    )
    if not (services.oversees(request.user) or entry.campaign.status == "published"):
        raise PermissionDenied(_("The figures are shown once the results are published."))
    return [
        FigureOut(
            indicator=row["indicator"].code,
            name_zh=row["indicator"].name_zh,
            name_en=row["indicator"].name_en,
            value=row["value"],
            target=float(row["indicator"].target) if row["indicator"].target is not None else None,
            rule=row["indicator"].rule,
            source=row["indicator"].source,
            period_from=entry.figure_sources.get(row["indicator"].code, {}).get("from"),
            period_to=entry.figure_sources.get(row["indicator"].code, {}).get("to"),
            computed_at=row["computed_at"],
        )
        for row in services.figure_rows(entry)
    ]
