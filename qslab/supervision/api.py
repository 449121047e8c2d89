"""API of the supervision app (mounted at /api/supervision/ in qslab/api.py)."""

import datetime as dt
import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema, Status, UploadedFile
from ninja.errors import ValidationError as NinjaValidationError
from ninja.pagination import paginate
from pydantic import ValidationError as PydanticValidationError

from qslab.core.apitools import PUBLIC, ErrorOut, IsoDate, LimitOffsetPagination, PageOf, Year, require_office
from qslab.core.permissions import get_visible_or_404
from qslab.core.ratelimit import check_public_form
from qslab.supervision import services
from qslab.supervision.models import (
    AnnualReport,
    Complaint,
    CorrectiveAction,
    EvaluationCampaign,
    EvaluationEntry,
    EvaluationVisit,
    Finding,
    Inspection,
    MajorChange,
    PublicNotification,
    RectificationOrder,
    ReportTemplate,
    SpotCheck,
    SpotCheckItem,
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


class SupervisionFileOut(Schema):
    id: int
    name: str
    sha256: str
    url: str


class OrderOut(Schema):
    id: int
    laboratory_id: int
    status: str
    due_on: dt.date
    extended: bool
    document_number: str | None
    response: str
    files: list[SupervisionFileOut]


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


def _files(obj) -> list[SupervisionFileOut]:  # type: ignore[no-untyped-def]
    """The checked-download addresses of an object's files (never /media/ links)."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Attachment

    rows = Attachment.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)
    ).order_by("pk")
    return [
        SupervisionFileOut(
            id=a.pk, name=a.name, sha256=a.sha256, url=reverse("supervision:attachment", args=[a.pk])
        )
        for a in rows
    ]


def _order(o: RectificationOrder, files: list[SupervisionFileOut] | None = None) -> OrderOut:
    return OrderOut(
        id=o.pk,
        laboratory_id=o.laboratory_id,
        status=o.status,
        due_on=o.due_on,
        extended=o.extended,
        document_number=o.document.number if o.document_id else None,
        response=o.response,
        files=_files(o) if files is None else files,
    )


@router.get(
    "/reports", response=list[AnnualReportOut], summary="Annual reports I may see (a lab manager: own lab)"
)
@paginate(LimitOffsetPagination)
def reports(request: HttpRequest):
    qs = AnnualReport.objects.visible_to(request.user).select_related("template")
    return PageOf(qs.order_by("-template__year", "laboratory__code", "pk"), _report)


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
    qs = RectificationOrder.objects.visible_to(request.user).select_related("document")
    return PageOf(qs.order_by("-created", "-pk"), convert_page=_orders)


def _orders(rows: list[RectificationOrder]) -> list[OrderOut]:
    """A page of orders converted together: their files in one query (one per order otherwise)."""
    files = _file_map(RectificationOrder, [o.pk for o in rows])
    return [_order(o, files.get(o.pk, [])) for o in rows]


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
    files: list[SupervisionFileOut] = []


class SupervisionFindingOut(Schema):
    id: int
    severity: str
    description: str
    evidence: str
    actions: list[SupervisionCorrectiveActionOut]
    files: list[SupervisionFileOut] = []


class SupervisionInspectionOut(Schema):
    id: int
    laboratory_id: int
    kind: str
    cause: str
    planned_on: dt.date
    conducted_on: dt.date | None
    status: str
    inspector_ids: list[int] = []
    spot_check_id: int | None = None
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


def _file_map(model, ids) -> dict[int, list[SupervisionFileOut]]:  # type: ignore[no-untyped-def]
    """Files of many objects of one model in one query, by object id."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Attachment

    out: dict[int, list[SupervisionFileOut]] = {}
    rows = Attachment.objects.filter(
        content_type=ContentType.objects.get_for_model(model), object_id__in=[str(i) for i in ids]
    ).order_by("pk")
    for a in rows:
        out.setdefault(int(a.object_id), []).append(
            SupervisionFileOut(
                id=a.pk, name=a.name, sha256=a.sha256, url=reverse("supervision:attachment", args=[a.pk])
            )
        )
    return out


def _action(
    a: CorrectiveAction, files: list[SupervisionFileOut] | None = None
) -> SupervisionCorrectiveActionOut:
    return SupervisionCorrectiveActionOut(
        id=a.pk,
        request=a.request,
        due_on=a.due_on,
        response=a.response,
        status=a.status,
        files=_files(a) if files is None else files,
    )


def _inspection_rows(inspections: list[Inspection]) -> list[SupervisionInspectionOut]:
    findings = [f for i in inspections for f in i.findings.all()]
    actions = [a for f in findings for a in f.actions.all()]
    finding_files = _file_map(Finding, [f.pk for f in findings])
    action_files = _file_map(CorrectiveAction, [a.pk for a in actions])
    return [
        SupervisionInspectionOut(
            id=i.pk,
            laboratory_id=i.laboratory_id,
            kind=i.kind,
            cause=i.cause,
            planned_on=i.planned_on,
            conducted_on=i.conducted_on,
            status=i.status,
            inspector_ids=sorted(u.pk for u in i.inspectors.all()),
            spot_check_id=i.spot_check_id,
            findings=[
                SupervisionFindingOut(
                    id=f.pk,
                    severity=f.severity,
                    description=f.description,
                    evidence=f.evidence,
                    actions=[_action(a, action_files.get(a.pk, [])) for a in f.actions.all()],
                    files=finding_files.get(f.pk, []),
                )
                for f in i.findings.all()
            ],
        )
        for i in inspections
    ]


def _inspection(i: Inspection) -> SupervisionInspectionOut:
    item = Inspection.objects.prefetch_related("findings__actions", "inspectors").get(pk=i.pk)
    return _inspection_rows([item])[0]


@router.get("/changes", response=list[MajorChangeOut], summary="Major-change reports I may see")
@paginate(LimitOffsetPagination)
def changes(request: HttpRequest):
    qs = MajorChange.objects.visible_to(request.user).select_related("new_institution")
    return PageOf(qs.order_by("-created", "-pk"), _change)


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
        .prefetch_related("findings__actions", "inspectors")
        .order_by("-planned_on", "-id")
    )
    return PageOf(qs, convert_page=_inspection_rows)


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


# ==================================================================================================
# Creating and running: templates, items, plans and draws, inspections, findings, orders, changes
# (the same services and permissions as the pages)
# ==================================================================================================

CREATE_ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class ReportTemplateIn(Schema):
    year: Year
    sections: list[dict]
    opens_on: IsoDate
    due_on: IsoDate


class ReportTemplateOut(Schema):
    id: int
    year: int
    opens_on: dt.date
    due_on: dt.date
    opened: bool
    sections: list[dict]
    reports: int


def _template(t: ReportTemplate) -> ReportTemplateOut:
    return ReportTemplateOut(
        id=t.pk,
        year=t.year,
        opens_on=t.opens_on,
        due_on=t.due_on,
        opened=t.opened,
        sections=t.sections,
        reports=t.reports.count(),
    )


@router.post(
    "/templates",
    response={201: ReportTemplateOut, **CREATE_ERRORS},
    summary="Create the annual-report template of a year: sections with fields, opening and due dates "
    "(office)",
)
def create_template(request: HttpRequest, payload: ReportTemplateIn):
    t = services.create_template(
        request.user,
        year=payload.year,
        sections=payload.sections,
        opens_on=payload.opens_on,
        due_on=payload.due_on,
    )
    return Status(201, _template(t))


@router.post(
    "/templates/{template_id}/open",
    response={200: ReportTemplateOut, **CREATE_ERRORS},
    summary="Send a template to every operating laboratory: one report and one deadline each (office)",
)
def open_template(request: HttpRequest, template_id: int):
    t = get_visible_or_404(ReportTemplate, request.user, pk=template_id)
    services.open_reporting(request.user, t)
    return _template(t)


class SpotCheckItemIn(Schema):
    code: str
    name_zh: str
    name_en: str
    legal_basis: str
    content: str
    method: str
    inspecting_body: str = ""


class SpotCheckItemOut(Schema):
    id: int
    code: str
    name_zh: str
    name_en: str
    legal_basis: str
    inspecting_body: str
    content: str
    method: str
    active: bool


def _item(i: SpotCheckItem) -> SpotCheckItemOut:
    return SpotCheckItemOut(
        id=i.pk,
        code=i.code,
        name_zh=i.name_zh,
        name_en=i.name_en,
        legal_basis=i.legal_basis,
        inspecting_body=i.inspecting_body,
        content=i.content,
        method=i.method,
        active=i.active,
    )


@router.get("/items", response=list[SpotCheckItemOut], auth=PUBLIC, summary="The public spot-check item list")
def items(request: HttpRequest):
    return [_item(i) for i in SpotCheckItem.objects.visible_to(request.user).filter(active=True)]


@router.post(
    "/items",
    response={201: SpotCheckItemOut, **CREATE_ERRORS},
    summary="Add an item to the spot-check list: legal basis, content and method (office)",
)
def create_item(request: HttpRequest, payload: SpotCheckItemIn):
    return Status(201, _item(services.create_item(request.user, **payload.dict())))


class SpotCheckItemPatch(Schema):
    code: str | None = None
    name_zh: str | None = None
    name_en: str | None = None
    legal_basis: str | None = None
    content: str | None = None
    method: str | None = None
    inspecting_body: str | None = None
    active: bool | None = None
    reason: str = ""


@router.patch(
    "/items/{item_id}",
    response={200: SpotCheckItemOut, **CREATE_ERRORS},
    summary="Change an item of the spot-check list; the fields sent only (office; audited, with the reason)",
)
def update_item(request: HttpRequest, item_id: int, payload: SpotCheckItemPatch):
    from qslab.core.permissions import get_editable_or_403

    item = get_editable_or_403(SpotCheckItem, request.user, pk=item_id)
    changes = payload.dict(exclude_unset=True, exclude_none=True)
    reason = changes.pop("reason", "")
    return _item(services.update_item(request.user, item, reason=reason, **changes))


class SpotCheckPlanIn(Schema):
    year: Year
    name_zh: str
    name_en: str
    item_ids: list[int]
    proportions: dict[str, float]
    inspectors_per_lab: int = 2
    publication_days: int = 20
    conflict_rules: list[str] = ["same_organisation"]
    seed_source: str = ""
    complaint_months: int = 12


class SpotCheckOut(Schema):
    id: int
    laboratory_id: int
    risk_class: str
    inspector_ids: list[int]
    outcome: str
    findings: str
    inspected_on: dt.date | None
    publish_by: dt.date | None


class SpotCheckPlanOut(Schema):
    id: int
    year: int
    name_zh: str
    name_en: str
    status: str
    item_codes: list[str]
    proportions: dict
    inspectors_per_lab: int
    publication_days: int
    conflict_rules: list[str]
    complaint_months: int
    seed_source: str
    draw_number: int | None
    checks: list[SpotCheckOut]


def _check(c: SpotCheck) -> SpotCheckOut:
    return SpotCheckOut(
        id=c.pk,
        laboratory_id=c.laboratory_id,
        risk_class=c.risk_class,
        inspector_ids=sorted(u.pk for u in c.inspectors.all()),
        outcome=c.outcome,
        findings=c.findings,
        inspected_on=c.inspected_on,
        publish_by=c.publish_by,
    )


def _plan(p: SpotCheckPlan, user, page: dict | None = None) -> SpotCheckPlanOut:  # type: ignore[no-untyped-def]
    """One plan; ``page`` holds what :func:`_plans` read for a whole page (draws, checks, items)."""
    if page is not None:
        draw = page["draws"].get(p.pk)
        checks = page["checks"].get(p.pk, [])
        item_codes = page["items"].get(p.pk, [])
    else:
        draw = p.current_draw
        checks = (
            SpotCheck.objects.visible_to(user)
            .filter(plan=p, draw__superseded=False)
            .distinct()
            .prefetch_related("inspectors")
        )
        item_codes = list(p.items.order_by("code").values_list("code", flat=True))
    return SpotCheckPlanOut(
        id=p.pk,
        year=p.year,
        name_zh=p.name_zh,
        name_en=p.name_en,
        status=p.status,
        item_codes=item_codes,
        proportions=p.proportions,
        inspectors_per_lab=p.inspectors_per_lab,
        publication_days=p.publication_days,
        conflict_rules=p.conflict_rules,
        complaint_months=p.complaint_months,
        seed_source=p.seed_source,
        draw_number=draw.number if draw else None,
        checks=[_check(c) for c in checks],
    )


@router.get(
    "/plans",
    response=list[SpotCheckPlanOut],
    auth=PUBLIC,
    summary="Spot-check plans I may see (the public: published ones)",
)
@paginate(LimitOffsetPagination)
def plans(request: HttpRequest):
    qs = SpotCheckPlan.objects.visible_to(request.user)
    return PageOf(qs.order_by("-year", "-id"), convert_page=lambda rows: _plans(rows, request.user))


def _plans(rows: list[SpotCheckPlan], user) -> list[SpotCheckPlanOut]:  # type: ignore[no-untyped-def]
    """A page of plans converted together: current draws, the checks ``user`` may see and the item codes
    come in one query each (four queries per plan otherwise)."""
    from qslab.supervision.models import SpotCheckDraw

    ids = [p.pk for p in rows]
    draws: dict[int, SpotCheckDraw] = {}
    for draw in SpotCheckDraw.objects.filter(plan__in=ids, superseded=False).order_by("number"):
        draws[draw.plan_id] = draw  # the highest number comes last and wins, as current_draw
    checks: dict[int, list[SpotCheck]] = {}
    visible = (
        SpotCheck.objects.visible_to(user)
        .filter(plan__in=ids, draw__superseded=False)
        .distinct()
        .prefetch_related("inspectors")
    )
    for check in visible:
        checks.setdefault(check.plan_id, []).append(check)
    items: dict[int, list[str]] = {}
    through = SpotCheckPlan.items.through
    plan_field, item_field = _through_fields(through)
    for plan_id, code in (
        through.objects.filter(**{f"{plan_field}__in": ids})
        .order_by(f"{item_field}__code")
        .values_list(plan_field, f"{item_field}__code")
    ):
        items.setdefault(plan_id, []).append(code)
    page = {"draws": draws, "checks": checks, "items": items}
    return [_plan(p, user, page) for p in rows]


def _through_fields(through) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """The names of the plan and item foreign keys of the plans' item table."""
    from qslab.supervision.models import SpotCheckItem

    plan = next(f.name for f in through._meta.fields if f.related_model is SpotCheckPlan)
    item = next(f.name for f in through._meta.fields if f.related_model is SpotCheckItem)
    return plan, item


@router.post(
    "/plans",
    response={201: SpotCheckPlanOut, **CREATE_ERRORS},
    summary="Create a year's spot-check plan: items, proportion per risk class, inspectors per lab, "
    "conflict rules, complaint window (office)",
)
def create_plan(request: HttpRequest, payload: SpotCheckPlanIn):
    require_office(request, _("Only the committee office may do this."))
    chosen = list(SpotCheckItem.objects.filter(pk__in=payload.item_ids, active=True))
    missing = sorted(set(payload.item_ids) - {i.pk for i in chosen})
    if missing:
        raise ValidationError({"item_ids": _("Unknown or retired items: %(ids)s.") % {"ids": missing}})
    p = services.create_plan(
        request.user,
        year=payload.year,
        name_zh=payload.name_zh,
        name_en=payload.name_en,
        items=chosen,
        proportions=payload.proportions,
        inspectors_per_lab=payload.inspectors_per_lab,
        publication_days=payload.publication_days,
        conflict_rules=payload.conflict_rules,
        seed_source=payload.seed_source,
        complaint_months=payload.complaint_months,
    )
    return Status(201, _plan(p, request.user))


class SeedIn(Schema):
    seed_source: str


@router.post(
    "/plans/{plan_id}/seed",
    response={200: SpotCheckPlanOut, **CREATE_ERRORS},
    summary="Enter the value published before the draw (office; only before the first draw)",
)
def plan_seed(request: HttpRequest, plan_id: int, payload: SeedIn):
    p = get_visible_or_404(SpotCheckPlan, request.user, pk=plan_id)
    return _plan(services.set_seed_source(request.user, p, payload.seed_source), request.user)


class DrawIn(Schema):
    reason: str = ""
    after: int | None = None


def _draw(d) -> DrawOut:  # type: ignore[no-untyped-def]
    check = services.verify_draw(d)
    return DrawOut(
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


@router.post(
    "/plans/{plan_id}/draws",
    response={201: DrawOut, **CREATE_ERRORS},
    summary="Draw the laboratories and inspectors (office); a redraw needs a reason and supersedes the "
    "earlier draw; `after` is the number of the draw you saw (0 for none)",
)
def run_draw(request: HttpRequest, plan_id: int, payload: DrawIn):
    p = get_visible_or_404(SpotCheckPlan, request.user, pk=plan_id)
    return Status(201, _draw(services.draw_spot_check(request.user, p, payload.reason, payload.after)))


class PlannedOnIn(Schema):
    planned_on: IsoDate


@router.post(
    "/plans/{plan_id}/inspections",
    response={201: list[SupervisionInspectionOut], **CREATE_ERRORS},
    summary="Schedule one inspection per drawn laboratory with the drawn inspectors (office)",
)
def plan_inspections(request: HttpRequest, plan_id: int, payload: PlannedOnIn):
    p = get_visible_or_404(SpotCheckPlan, request.user, pk=plan_id)
    made = services.inspections_from_draw(request.user, p, payload.planned_on)
    return Status(201, [_inspection(i) for i in made])


class CheckResultIn(Schema):
    outcome: str
    findings: str = ""
    inspected_on: IsoDate


@router.post(
    "/checks/{check_id}/result",
    response={200: SpotCheckOut, **CREATE_ERRORS},
    summary="Enter a spot check's result (its drawn inspectors or the office); the publication clock starts",
)
def check_result(request: HttpRequest, check_id: int, payload: CheckResultIn):
    check = get_visible_or_404(SpotCheck.objects.distinct(), request.user, pk=check_id)
    services.enter_result(
        request.user,
        check,
        outcome=payload.outcome,
        findings=payload.findings,
        inspected_on=payload.inspected_on,
    )
    return _check(check)


@router.post(
    "/plans/{plan_id}/publish",
    response={200: SpotCheckPlanOut, **CREATE_ERRORS},
    summary="Publish the results of a plan (office; every drawn lab needs a result): a numbered public "
    "document",
)
def plan_publish(request: HttpRequest, plan_id: int):
    p = get_visible_or_404(SpotCheckPlan, request.user, pk=plan_id)
    return _plan(services.publish_spot_check_results(request.user, p), request.user)


class InspectionIn(Schema):
    kind: str
    planned_on: IsoDate
    inspector_ids: list[int]
    cause: str = ""


def _users(ids: list[int], field: str = "inspector_ids") -> list:
    from qslab.accounts.models import User

    found = list(User.objects.filter(pk__in=ids))
    missing = sorted(set(ids) - {u.pk for u in found})
    if missing:
        raise ValidationError({field: _("Unknown users: %(ids)s.") % {"ids": missing}})
    return found


@router.post(
    "/laboratories/{lab_id}/inspections",
    response={201: SupervisionInspectionOut, **CREATE_ERRORS},
    summary="Schedule an inspection of a laboratory, scheduled or for cause (the cause is required), with "
    "inspectors from the directory (office)",
)
def create_inspection(request: HttpRequest, lab_id: int, payload: InspectionIn):
    from qslab.labs.models import Laboratory

    require_office(request, _("Only the committee office schedules inspections."))
    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    inspection = services.plan_inspection(
        request.user,
        lab,
        kind=payload.kind,
        planned_on=payload.planned_on,
        inspectors=_users(payload.inspector_ids),
        cause=payload.cause,
    )
    return Status(201, _inspection(inspection))


@router.post(
    "/inspections/{inspection_id}/findings",
    response={201: SupervisionFindingOut, **CREATE_ERRORS},
    summary="Record a finding, major or minor, with evidence text and files (multipart: severity, "
    "description, evidence, files; the inspection's inspectors or the office, before the report)",
)
def create_finding(
    request: HttpRequest,
    inspection_id: int,
    severity: Form[str],
    description: Form[str],
    evidence: Form[str] = "",
    files: File[list[UploadedFile]] = None,  # type: ignore[assignment]
):
    inspection = get_visible_or_404(Inspection.objects.distinct(), request.user, pk=inspection_id)
    f = services.record_finding(
        request.user,
        inspection,
        severity=severity,
        description=description,
        evidence=evidence,
        files=files or [],
    )
    return Status(
        201,
        SupervisionFindingOut(
            id=f.pk,
            severity=f.severity,
            description=f.description,
            evidence=f.evidence,
            actions=[],
            files=_files(f),
        ),
    )


class InspectionRecordIn(Schema):
    conducted_on: IsoDate
    summary: str


@router.post(
    "/inspections/{inspection_id}/record",
    response={200: SupervisionInspectionOut, **CREATE_ERRORS},
    summary="Close the fieldwork: date and summary; the findings go to the laboratory (inspectors or office)",
)
def record_inspection(request: HttpRequest, inspection_id: int, payload: InspectionRecordIn):
    inspection = get_visible_or_404(Inspection.objects.distinct(), request.user, pk=inspection_id)
    services.record_inspection(
        request.user, inspection, conducted_on=payload.conducted_on, summary=payload.summary
    )
    return _inspection(inspection)


@router.post(
    "/inspections/{inspection_id}/transitions/{transition}",
    response={200: SupervisionInspectionOut, **CREATE_ERRORS},
    summary="Close an inspection (all corrective actions verified) or cancel a planned one with a reason "
    "(office)",
)
def move_inspection(
    request: HttpRequest, inspection_id: int, transition: str, payload: SupervisionTransitionIn
):
    inspection = get_visible_or_404(Inspection.objects.distinct(), request.user, pk=inspection_id)
    if transition == "record":
        raise ValidationError(
            _("Record an inspection with POST /inspections/{id}/record (date and summary).")
        )
    return _inspection(services.move_inspection(request.user, inspection, transition, payload.reason))


class CorrectionIn(Schema):
    request: str
    working_days: int = 20


@router.post(
    "/findings/{finding_id}/corrective-actions",
    response={201: SupervisionCorrectiveActionOut, **CREATE_ERRORS},
    summary="Ask the laboratory to correct a finding by a deadline in working days (office)",
)
def request_correction(request: HttpRequest, finding_id: int, payload: CorrectionIn):
    finding = get_visible_or_404(
        Finding.objects.select_related("inspection").distinct(), request.user, pk=finding_id
    )
    action = services.request_correction(
        request.user, finding, text=payload.request, working_days=payload.working_days
    )
    return Status(201, _action(action))


@router.post(
    "/corrective-actions/{action_id}/response",
    response={200: SupervisionCorrectiveActionOut, **CREATE_ERRORS},
    summary="Answer a corrective-action request with the action taken and evidence files (multipart: "
    "response, files; the laboratory's manager)",
)
def respond_to_correction(
    request: HttpRequest,
    action_id: int,
    response: Form[str],
    files: File[list[UploadedFile]] = None,  # type: ignore[assignment]
):
    action = get_visible_or_404(CorrectiveAction.objects.distinct(), request.user, pk=action_id)
    return _action(services.respond_to_correction(request.user, action, response, files or []))


class OrderIn(Schema):
    grounds: str
    working_days: int = 60
    inspection_id: int | None = None


@router.post(
    "/laboratories/{lab_id}/rectification-orders",
    response={201: OrderOut, **CREATE_ERRORS},
    summary="Order a named laboratory to rectify by a deadline (office; the labs lifecycle issues the "
    "numbered order)",
)
def create_order(request: HttpRequest, lab_id: int, payload: OrderIn):
    from qslab.labs.models import Laboratory

    require_office(request, _("Only the committee office orders rectification."))
    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    source = None
    if payload.inspection_id is not None:
        source = Inspection.objects.filter(pk=payload.inspection_id, laboratory=lab).first()
        if source is None:
            raise ValidationError({"inspection_id": _("No such inspection of this laboratory.")})
    order = services.order_rectification(
        request.user, lab, grounds=payload.grounds, working_days=payload.working_days, inspection=source
    )
    return Status(201, _order(order))


@router.post(
    "/orders/{order_id}/response",
    response={200: OrderOut, **CREATE_ERRORS},
    summary="Submit the rectification plan and evidence, with files (multipart: response, files; the "
    "laboratory's manager)",
)
def respond_to_order(
    request: HttpRequest,
    order_id: int,
    response: Form[str],
    files: File[list[UploadedFile]] = None,  # type: ignore[assignment]
):
    order = get_visible_or_404(RectificationOrder, request.user, pk=order_id)
    return _order(services.respond_to_order(request.user, order, response, files or []))


class ExtensionIn(Schema):
    working_days: int
    reason: str


@router.post(
    "/orders/{order_id}/extension",
    response={200: OrderOut, **CREATE_ERRORS},
    summary="Extend an open order's deadline once, with a reason (office)",
)
def extend_order(request: HttpRequest, order_id: int, payload: ExtensionIn):
    order = get_visible_or_404(RectificationOrder, request.user, pk=order_id)
    return _order(services.extend_order(request.user, order, payload.working_days, payload.reason))


class MajorChangeIn(Schema):
    kind: str
    reason: str
    new_value: str = ""
    new_title: str = ""
    new_institution_id: int | None = None


def _institution(pk: int | None):  # type: ignore[no-untyped-def]
    if pk is None:
        return None
    from qslab.accounts.models import Organisation

    org = Organisation.objects.filter(pk=pk).first()
    if org is None:
        raise ValidationError({"new_institution_id": _("No such organisation.")})
    return org


@router.post(
    "/laboratories/{lab_id}/changes",
    response={201: MajorChangeOut, **CREATE_ERRORS},
    summary="Report a major change (director, supporting_institution, direction) with the reason (the "
    "laboratory's manager, or the office on its behalf)",
)
def create_change(request: HttpRequest, lab_id: int, payload: MajorChangeIn):
    from qslab.labs.models import Laboratory

    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    change = services.report_major_change(
        request.user,
        lab,
        kind=payload.kind,
        reason=payload.reason,
        new_value=payload.new_value,
        new_title=payload.new_title,
        new_institution=_institution(payload.new_institution_id),
    )
    return Status(201, _change(change))


class MajorChangeRevisionIn(Schema):
    reason: str
    new_value: str = ""
    new_title: str = ""
    new_institution_id: int | None = None


@router.post(
    "/changes/{change_id}/revision",
    response={200: MajorChangeOut, **CREATE_ERRORS},
    summary="Revise a returned major-change report and submit it again (the laboratory's manager)",
)
def revise_change(request: HttpRequest, change_id: int, payload: MajorChangeRevisionIn):
    change = get_visible_or_404(MajorChange, request.user, pk=change_id)
    change = services.revise_major_change(
        request.user,
        change,
        reason=payload.reason,
        new_value=payload.new_value,
        new_title=payload.new_title,
        new_institution=_institution(payload.new_institution_id),
    )
    return _change(change)


# ==================================================================================================
# Campaign timetable and on-site visit records
# ==================================================================================================


class TimetableIn(Schema):
    self_report_due: IsoDate | None = None
    visits_from: IsoDate | None = None
    visits_to: IsoDate | None = None
    scoring_due: IsoDate | None = None
    confirmation_due: IsoDate | None = None


class TimetableOut(Schema):
    campaign_id: int
    status: str
    self_report_due: dt.date | None
    visits_from: dt.date | None
    visits_to: dt.date | None
    scoring_due: dt.date | None
    confirmation_due: dt.date | None


def _timetable(c: EvaluationCampaign) -> TimetableOut:
    return TimetableOut(
        campaign_id=c.pk,
        status=c.status,
        self_report_due=c.self_report_due,
        visits_from=c.visits_from,
        visits_to=c.visits_to,
        scoring_due=c.scoring_due,
        confirmation_due=c.confirmation_due,
    )


@router.get(
    "/campaigns/{campaign_id}/timetable",
    response={200: TimetableOut, 401: ErrorOut, 404: ErrorOut},
    auth=PUBLIC,
    summary="The phases of an evaluation campaign: self-evaluation due, visits, scoring, confirmation",
)
def campaign_timetable(request: HttpRequest, campaign_id: int):
    return _timetable(get_visible_or_404(EvaluationCampaign, request.user, pk=campaign_id))


@router.post(
    "/campaigns/{campaign_id}/timetable",
    response={200: TimetableOut, **CREATE_ERRORS},
    summary="Set the campaign's phase dates (office, before confirmation; only the dates sent change)",
)
def set_timetable(request: HttpRequest, campaign_id: int, payload: TimetableIn):
    campaign = get_visible_or_404(EvaluationCampaign, request.user, pk=campaign_id)
    dates = payload.dict(exclude_unset=True)
    return _timetable(services.set_timetable(request.user, campaign, **dates))


class EvaluationVisitOut(Schema):
    entry_id: int
    visited_on: dt.date
    place: str
    expert_ids: list[int]
    agenda: str
    summary: str
    files: list[SupervisionFileOut]


def _visit(v: EvaluationVisit) -> EvaluationVisitOut:
    return EvaluationVisitOut(
        entry_id=v.entry_id,
        visited_on=v.visited_on,
        place=v.place,
        expert_ids=sorted(u.pk for u in v.experts_present.all()),
        agenda=v.agenda,
        summary=v.summary,
        files=_files(v),
    )


@router.get(
    "/entries/{entry_id}/visit",
    response={200: EvaluationVisitOut, 401: ErrorOut, 404: ErrorOut},
    summary="The on-site visit record of an evaluated laboratory (office, committee, its experts; the "
    "laboratory once the results are published)",
)
def entry_visit(request: HttpRequest, entry_id: int):
    visit = get_visible_or_404(EvaluationVisit.objects.distinct(), request.user, entry_id=entry_id)
    return _visit(visit)


@router.post(
    "/entries/{entry_id}/visit",
    response={200: EvaluationVisitOut, **CREATE_ERRORS},
    summary="Record (or correct) the on-site visit (multipart: visited_on, place, expert_ids, agenda, "
    "summary, files; the office or the lead expert, before confirmation)",
)
def record_visit(
    request: HttpRequest,
    entry_id: int,
    visited_on: Form[IsoDate],
    place: Form[str],
    expert_ids: Form[list[int]],
    agenda: Form[str],
    summary: Form[str],
    files: File[list[UploadedFile]] = None,  # type: ignore[assignment]
):

    entry = get_visible_or_404(
        EvaluationEntry.objects.select_related("campaign", "laboratory").distinct(), request.user, pk=entry_id
    )
    visit = services.record_visit(
        request.user,
        entry,
        visited_on=visited_on,
        place=place,
        experts=_users(expert_ids, "expert_ids"),  # an unknown id is named, not dropped
        agenda=agenda,
        summary=summary,
        files=files or [],
    )
    return _visit(visit)


# ==================================================================================================
# Complaints
# ==================================================================================================


class ComplaintIn(Schema):
    laboratory_id: int
    name: str
    contact: str
    subject: str
    description: str
    channel: str = "online"
    received_on: IsoDate | None = None


class ComplaintOut(Schema):
    id: int
    laboratory_id: int
    received_on: dt.date
    channel: str
    subject: str
    description: str
    status: str
    reason: str
    complainant_name: str | None
    complainant_contact: str | None
    files: list[SupervisionFileOut] = Field(
        [], description="files sent with the complaint (the office and the complainant only)"
    )


def _complaint_files(complaints: list[Complaint]) -> dict[int, list[SupervisionFileOut]]:
    """The files of a page of complaints in one query, as checked-download addresses."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Attachment

    out: dict[int, list[SupervisionFileOut]] = {}
    rows = Attachment.objects.filter(
        content_type=ContentType.objects.get_for_model(Complaint),
        object_id__in=[str(c.pk) for c in complaints],
    ).order_by("pk")
    for a in rows:
        cid = int(a.object_id)
        url = reverse("supervision:complaint_file", args=[cid, a.pk])
        out.setdefault(cid, []).append(SupervisionFileOut(id=a.pk, name=a.name, sha256=a.sha256, url=url))
    return out


def _complaints_out(complaints: list[Complaint], user) -> list[ComplaintOut]:  # type: ignore[no-untyped-def]
    """A page of complaints converted together: the files the reader may see and each complaint's last
    handling reason come from one query each (``services.complaint_reason`` per complaint otherwise)."""
    shown = [c for c in complaints if services.may_see_complainant(user, c)]
    files = _complaint_files(shown) if shown else {}
    reasons = services.complaint_reasons(complaints)
    return [_complaint(c, user, files.get(c.pk, []), reasons.get(c.pk, "")) for c in complaints]


def _complaint(  # type: ignore[no-untyped-def]
    c: Complaint, user, files: list[SupervisionFileOut] | None = None, reason: str | None = None
) -> ComplaintOut:
    sees_identity = services.may_see_complainant(user, c)
    if not sees_identity:
        files = []
    elif files is None:
        files = _complaint_files([c]).get(c.pk, [])
    return ComplaintOut(
        id=c.pk,
        laboratory_id=c.laboratory_id,
        received_on=c.received_on,
        channel=c.channel,
        subject=c.subject,
        description=c.description,
        status=c.status,
        reason=services.complaint_reason(c) if reason is None else reason,
        complainant_name=c.complainant_name if sees_identity else None,
        complainant_contact=c.complainant_contact if sees_identity else None,
        files=files,
    )


@router.get(
    "/complaints",
    response={200: list[ComplaintOut], 401: ErrorOut},
    summary="Complaints I may see (office and committee: all; anyone else: those they filed)",
)
@paginate(LimitOffsetPagination)
def complaints(request: HttpRequest, laboratory_id: int | None = None, status: str = ""):
    qs = Complaint.objects.visible_to(request.user)
    if laboratory_id is not None:
        qs = qs.filter(laboratory_id=laboratory_id)
    if status:
        qs = qs.filter(status=status)
    return PageOf(
        qs.order_by("-received_on", "-id"), convert_page=lambda rows: _complaints_out(rows, request.user)
    )


def _complaint_request(request: HttpRequest) -> tuple[ComplaintIn, list[Any]]:
    """The complaint from a JSON body, or from a multipart form with its ``files`` (one operation for
    both: django-ninja binds a body to one content type, so the request is read here)."""
    files: list[Any] = []
    if request.content_type == "multipart/form-data":
        data: Any = {k: v for k, v in request.POST.items() if v != "" or k not in ("channel", "received_on")}
        files = request.FILES.getlist("files")
    else:
        try:
            data = json.loads(request.body or b"{}")
        except ValueError as exc:
            raise NinjaValidationError(
                [{"type": "json_invalid", "loc": ["body"], "msg": "The body is not valid JSON."}]
            ) from exc
    try:
        return ComplaintIn.model_validate(data), files
    except PydanticValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise NinjaValidationError([{**e, "loc": ["body", "payload", *e["loc"]]} for e in errors]) from exc


# The body's schema, from ComplaintIn itself so the two cannot drift apart; multipart adds the files.
_COMPLAINT_SCHEMA = ComplaintIn.model_json_schema()
_COMPLAINT_FIELDS = _COMPLAINT_SCHEMA["properties"]
_COMPLAINT_REQUIRED = _COMPLAINT_SCHEMA["required"]


@router.post(
    "/complaints",
    response={201: ComplaintOut, 429: ErrorOut, **CREATE_ERRORS},
    auth=PUBLIC,
    summary="File a complaint about a named laboratory under your real name and contact (anyone; the "
    "office may also record one received by telephone, letter, e-mail, in person or by referral). JSON, or "
    "multipart with the same fields and up to 5 ``files`` (documents or photos, each at most 10 MB, checked "
    "by content as on the web form; one bad file and nothing is saved). 429: too many from this client in "
    "the window, nothing saved",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": _COMPLAINT_FIELDS,
                        "required": _COMPLAINT_REQUIRED,
                    }
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            **_COMPLAINT_FIELDS,
                            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        },
                        "required": _COMPLAINT_REQUIRED,
                    }
                },
            },
        }
    },
)
def file_complaint(request: HttpRequest):
    from qslab.labs.models import Laboratory

    payload, files = _complaint_request(request)
    check_public_form(request, "complaint")

    lab = get_visible_or_404(Laboratory, request.user, pk=payload.laboratory_id)
    c = services.file_complaint(
        request.user,
        lab,
        name=payload.name,
        contact=payload.contact,
        subject=payload.subject,
        description=payload.description,
        channel=payload.channel,
        received_on=payload.received_on,
        files=files,
    )
    return Status(201, _complaint(c, request.user))


@router.post(
    "/complaints/{complaint_id}/transitions/{transition}",
    response={200: ComplaintOut, **CREATE_ERRORS},
    summary="Handle a complaint: accept, dismiss (reason) or substantiate (finding) (office)",
)
def move_complaint(
    request: HttpRequest, complaint_id: int, transition: str, payload: SupervisionTransitionIn
):
    c = get_visible_or_404(Complaint, request.user, pk=complaint_id)
    return _complaint(services.move_complaint(request.user, c, transition, payload.reason), request.user)


# ==================================================================================================
# Evaluation campaigns: create, add laboratories, take the workflow steps
# ==================================================================================================


class CampaignIn(Schema):
    code: str
    name_zh: str
    name_en: str
    year: Year
    indicators: list[dict]
    grades: list[dict] | None = None
    period_from: int | None = None
    self_report_due: IsoDate | None = None
    visits_from: IsoDate | None = None
    visits_to: IsoDate | None = None
    scoring_due: IsoDate | None = None
    confirmation_due: IsoDate | None = None


class SupervisionCampaignOut(Schema):
    id: int
    code: str
    name_zh: str
    name_en: str
    year: int
    version: int
    status: str
    grades: list[dict]
    timetable: TimetableOut
    laboratory_ids: list[int]


def _campaign(c: EvaluationCampaign) -> SupervisionCampaignOut:
    return SupervisionCampaignOut(
        id=c.pk,
        code=c.code,
        name_zh=c.name_zh,
        name_en=c.name_en,
        year=c.year,
        version=c.version,
        status=c.status,
        grades=c.grades,
        timetable=_timetable(c),
        laboratory_ids=sorted(c.entries.values_list("laboratory_id", flat=True)),
    )


@router.post(
    "/campaigns",
    response={201: SupervisionCampaignOut, **CREATE_ERRORS},
    summary="Create an evaluation campaign: indicator tree (nested: code, name_zh, name_en, kind, weight, "
    "target, source, rule, children), grades, period and timetable (office)",
)
def create_campaign(request: HttpRequest, payload: CampaignIn):
    c = services.create_campaign(request.user, **payload.dict())
    return Status(201, _campaign(c))


class CampaignEntryIn(Schema):
    laboratory_id: int
    expert_ids: list[int]
    lead_expert_id: int | None = None


@router.post(
    "/campaigns/{campaign_id}/entries",
    response={200: SupervisionCampaignOut, **CREATE_ERRORS},
    summary="Add a laboratory to a campaign with its experts and lead expert (office, before confirmation)",
)
def add_campaign_entry(request: HttpRequest, campaign_id: int, payload: CampaignEntryIn):
    from qslab.labs.models import Laboratory

    campaign = get_visible_or_404(EvaluationCampaign, request.user, pk=campaign_id)
    lab = get_visible_or_404(Laboratory, request.user, pk=payload.laboratory_id)
    experts = _users(payload.expert_ids, "expert_ids")
    lead = next((u for u in experts if u.pk == payload.lead_expert_id), None)
    if payload.lead_expert_id is not None and lead is None:
        raise ValidationError(
            {"lead_expert_id": _("The lead expert must be one of the laboratory's experts.")}
        )
    services.add_to_campaign(request.user, campaign, lab, experts, lead)
    return _campaign(campaign)


@router.post(
    "/campaigns/{campaign_id}/transitions/{transition}",
    response={200: SupervisionCampaignOut, **CREATE_ERRORS},
    summary="Take a campaign step: open_scoring, publish (office), confirm (office or committee)",
)
def move_campaign(request: HttpRequest, campaign_id: int, transition: str, payload: SupervisionTransitionIn):
    campaign = get_visible_or_404(EvaluationCampaign, request.user, pk=campaign_id)
    return _campaign(services.move_campaign(request.user, campaign, transition, payload.reason))
