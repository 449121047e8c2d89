"""API of the funding app (mounted at /api/funding/ in qslab/api.py): budgets, their versions, targets
and expenditures, execution, and subsidy allocations. A laboratory sees only its own money."""

import datetime as dt
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, File, Form, Path, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate
from pydantic import StrictBool

from qslab.accounts.roles import Role, has_role
from qslab.core.apitools import ErrorOut, LimitOffsetPagination, PageOf, require_office
from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.core.uploads import check_upload, download_response
from qslab.funding import reports, services
from qslab.funding.models import (
    AllocationRun,
    Budget,
    EvidenceFile,
    FundingRules,
    Grade,
    LabGrade,
    MonitoringFlag,
    MonitoringRun,
    SelfEvaluation,
)
from qslab.labs.models import Laboratory

router = Router(tags=["funding"])
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class LineOut(Schema):
    line: str
    source: str
    amount: Decimal


class VersionOut(Schema):
    number: int
    reason: str
    created: dt.datetime
    total: Decimal
    lines: list[LineOut]


class IndicatorOut(Schema):
    id: int
    level1: str
    level2: str
    name_zh: str
    name_en: str
    comparator: str
    target: Decimal
    unit: str
    basis: str
    weight: Decimal
    actual: Decimal | None


class LabBudgetOut(Schema):
    id: int
    laboratory_id: int
    laboratory_code: str
    year: int
    status: str
    approved_version: int | None
    versions: list[VersionOut] = []
    indicators: list[IndicatorOut] = []


class BudgetIn(Schema):
    laboratory_id: int
    year: int = Field(..., ge=2000, le=2100)


class VersionIn(Schema):
    lines: list[LineOut]
    reason: str = ""


class IndicatorIn(Schema):
    level2: str
    name_zh: str
    name_en: str = ""
    comparator: str
    target: Decimal
    unit: str = ""
    basis: str = "planned"
    weight: Decimal = Decimal(1)


class FundingTransitionIn(Schema):
    reason: str = ""


class ExpenditureIn(Schema):
    date: dt.date
    line: str
    source: str
    amount: Decimal
    description: str = ""
    reference: str = ""


class ExpenditureOut(Schema):
    id: int
    date: dt.date
    line: str
    source: str
    amount: Decimal
    description: str
    reference: str


class ExpenditureImportIn(Schema):
    csv: str
    dry_run: StrictBool = False


class ExpenditureImportOut(Schema):
    rows: int
    dry_run: bool


class ExecutionOut(Schema):
    year: int
    budgeted_total: Decimal
    cumulative: list[Decimal]
    rate: list[Decimal | None]
    rate_by_line: dict[str, list[Decimal | None]]
    rate_by_source: dict[str, list[Decimal | None]]


class AllocationOut(Schema):
    laboratory_code: str
    eligible: bool
    reason: str
    lab_grade: str
    self_grade: str
    self_score: Decimal | None
    weight: Decimal
    amount: Decimal


class MonitoringRunOut(Schema):
    """A subsidy allocation run (the historical name of this schema; monitoring runs are
    ``FundingMonitoringRunOut``)."""

    id: int
    year: int
    title_zh: str
    title_en: str
    total: Decimal
    formula: str = Field(
        ..., description="tiers (weight of the grade) or score (weight of the grade × score)"
    )
    grade_weights: dict[str, str]
    status: str = Field(..., description="draft, issued, or superseded (by an issued amendment)")
    inputs_sha256: str
    document_number: str | None
    amends_id: int | None = Field(None, description="the allocation run this one amends")
    amendment_reason: str = ""
    superseded_by_id: int | None = Field(None, description="the issued amendment that replaced this run")
    allocations: list[AllocationOut] = []


def _version(v) -> VersionOut:
    lines = list(v.lines.all())
    return VersionOut(
        number=v.number,
        reason=v.reason,
        created=v.created,
        total=sum((ln.amount for ln in lines), Decimal("0.00")),
        lines=[LineOut(line=ln.line, source=ln.source, amount=ln.amount) for ln in lines],
    )


def _budget(b: Budget, full: bool = False) -> LabBudgetOut:
    out = LabBudgetOut(
        id=b.pk,
        laboratory_id=b.laboratory_id,
        laboratory_code=b.laboratory.code,
        year=b.year,
        status=b.status,
        approved_version=b.approved_version.number if b.approved_version_id else None,
    )
    if full:
        out.versions = [_version(v) for v in b.versions.prefetch_related("lines").order_by("number")]
        out.indicators = [IndicatorOut.from_orm(i) for i in b.indicators.all()]
    return out


@router.get(
    "/budgets", response=list[LabBudgetOut], summary="Budgets I may see (a lab manager: own lab only)"
)
@paginate(LimitOffsetPagination)
def list_budgets(request: HttpRequest, year: int | None = None):
    qs = Budget.objects.visible_to(request.user).select_related("laboratory", "approved_version")
    if year:
        qs = qs.filter(year=year)
    return PageOf(qs.order_by("-year", "laboratory__code", "pk"), _budget)


@router.get("/budgets/{budget_id}", response={200: LabBudgetOut, **ERRORS})
def get_budget(request: HttpRequest, budget_id: int):
    b = get_visible_or_404(
        Budget.objects.select_related("laboratory", "approved_version"), request.user, pk=budget_id
    )
    return _budget(b, full=True)


@router.post(
    "/budgets", response={201: LabBudgetOut, **ERRORS}, summary="Open a budget (lab manager or office)"
)
def create_budget(request: HttpRequest, payload: BudgetIn):
    lab = get_visible_or_404(Laboratory, request.user, pk=payload.laboratory_id)
    return Status(201, _budget(services.create_budget(request.user, lab, payload.year)))


@router.post(
    "/budgets/{budget_id}/versions",
    response={201: LabBudgetOut, **ERRORS},
    summary="Save the budget lines as a new immutable version (a reason is needed after approval)",
)
def add_version(request: HttpRequest, budget_id: int, payload: VersionIn):
    b = get_editable_or_403(Budget, request.user, pk=budget_id)
    amounts: dict[tuple[str, str], Decimal] = {}
    for ln in payload.lines:
        key = (ln.line, ln.source)
        amounts[key] = amounts.get(key, Decimal(0)) + ln.amount
    services.save_budget_version(request.user, b, amounts, payload.reason)
    b.refresh_from_db()
    return Status(201, _budget(b, full=True))


@router.put(
    "/budgets/{budget_id}/indicators", response={200: LabBudgetOut, **ERRORS}, summary="Replace the targets"
)
def set_indicators(request: HttpRequest, budget_id: int, payload: list[IndicatorIn]):
    import csv
    import io

    b = get_editable_or_403(Budget, request.user, pk=budget_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for i in payload:
        writer.writerow([i.level2, i.name_zh, i.name_en, i.comparator, i.target, i.unit, i.basis, i.weight])
    try:
        rows = services.parse_indicators(buffer.getvalue())
    except services.ImportFailed as exc:
        raise ValidationError({f"item {e.row}: {e.column}": e.message for e in exc.errors}) from exc
    services.set_indicators(request.user, b, rows)
    return _budget(b, full=True)


@router.post(
    "/budgets/{budget_id}/transitions/{transition}",
    response={200: LabBudgetOut, **ERRORS},
    summary="Take a workflow action: submit, return, approve, adjust",
)
def move_budget(request: HttpRequest, budget_id: int, transition: str, payload: FundingTransitionIn):
    b = get_visible_or_404(Budget, request.user, pk=budget_id)
    return _budget(services.move_budget(request.user, b, transition, payload.reason))


@router.get("/budgets/{budget_id}/execution", response={200: ExecutionOut, **ERRORS})
def get_execution(request: HttpRequest, budget_id: int):
    b = get_visible_or_404(Budget, request.user, pk=budget_id)
    ex = services.execution_of(b)
    return ExecutionOut(
        year=ex.year,
        budgeted_total=ex.budgeted_total,
        cumulative=ex.cumulative,
        rate=ex.rates(),
        rate_by_line=ex.line_rates(),
        rate_by_source=ex.source_rates(),
    )


@router.get("/budgets/{budget_id}/expenditures", response=list[ExpenditureOut])
@paginate(LimitOffsetPagination)
def list_expenditures(request: HttpRequest, budget_id: int):
    b = get_visible_or_404(Budget, request.user, pk=budget_id)
    return PageOf(b.expenditures.order_by("date", "pk"), lambda e: e)


@router.post("/budgets/{budget_id}/expenditures", response={201: ExpenditureOut, **ERRORS})
def add_expenditure(request: HttpRequest, budget_id: int, payload: ExpenditureIn):
    b = get_editable_or_403(Budget, request.user, pk=budget_id)
    data = payload.dict()
    data["date"] = payload.date.isoformat()
    return Status(201, services.record_expenditure(request.user, b, data))


@router.post(
    "/budgets/{budget_id}/expenditures/import",
    response={200: ExpenditureImportOut, **ERRORS},
    summary="Import expenditures from CSV text: all rows or none, every row error reported",
)
def import_expenditures(request: HttpRequest, budget_id: int, payload: ExpenditureImportIn):
    b = get_editable_or_403(Budget, request.user, pk=budget_id)
    content = payload.csv.encode()
    try:
        # the same content and size check as an uploaded file, before anything parses it
        check_upload(ContentFile(content, name="upload.csv"), ("text",), services.IMPORT_MAX_BYTES)
    except ValidationError as exc:
        return Status(422, ErrorOut(detail=" ".join(exc.messages), code="invalid_file"))
    try:
        table = services.read_table("upload.csv", content)
        n = services.import_expenditures(request.user, b, table, dry_run=payload.dry_run)
    except services.ImportFailed as exc:
        return Status(
            422,
            ErrorOut(
                detail=f"{len(exc.errors)} problem(s): nothing was saved.",
                code="import_failed",
                errors=[e.to_dict() for e in exc.errors],
            ),
        )
    return ExpenditureImportOut(rows=n, dry_run=payload.dry_run)


class FlagOut(Schema):
    id: int
    budget_id: int
    month: int
    kind: str
    subject: str
    expected: Decimal
    actual: Decimal
    cause: str
    corrective_action: str
    answered_at: dt.datetime | None
    hold_funding: bool
    hold_reason: str


class FlagAnswerIn(Schema):
    cause: str
    corrective_action: str


@router.get(
    "/budgets/{budget_id}/flags",
    response={200: list[FlagOut], **ERRORS},
    summary="The in-year monitoring flags of a budget",
)
def list_flags(request: HttpRequest, budget_id: int):
    b = get_visible_or_404(Budget, request.user, pk=budget_id)
    return list(MonitoringFlag.objects.visible_to(request.user).filter(budget=b).order_by("month", "pk"))


@router.post(
    "/flags/{flag_id}/answer",
    response={200: FlagOut, **ERRORS},
    summary="Answer a monitoring flag with a cause and a corrective action (the laboratory)",
)
def answer_flag(request: HttpRequest, flag_id: int, payload: FlagAnswerIn):
    flag = get_editable_or_403(MonitoringFlag, request.user, pk=flag_id)
    return services.answer_flag(request.user, flag, payload.cause, payload.corrective_action)


class SelfEvaluationOut(Schema):
    budget_id: int
    status: str
    summary: str
    score_execution: Decimal | None
    score_output: Decimal | None
    score_effect: Decimal | None
    score_satisfaction: Decimal | None
    total: Decimal | None
    adjusted_total: Decimal | None
    adjustment_reason: str
    grade: str
    indicators: list[IndicatorOut]


class ActualIn(Schema):
    indicator_id: int
    actual: Decimal | None


class EvaluationIn(Schema):
    actuals: list[ActualIn]
    summary: str = ""


def _evaluation(ev: SelfEvaluation) -> SelfEvaluationOut:
    return SelfEvaluationOut(
        budget_id=ev.budget_id,
        status=ev.status,
        summary=ev.summary,
        score_execution=ev.score_execution,
        score_output=ev.score_output,
        score_effect=ev.score_effect,
        score_satisfaction=ev.score_satisfaction,
        total=ev.total,
        adjusted_total=ev.adjusted_total,
        adjustment_reason=ev.adjustment_reason,
        grade=ev.grade,
        indicators=[IndicatorOut.from_orm(i) for i in ev.budget.indicators.all()],
    )


@router.get(
    "/budgets/{budget_id}/evaluation",
    response={200: SelfEvaluationOut, **ERRORS},
    summary="The year-end self-evaluation of a budget (404 until it is opened)",
)
def get_evaluation(request: HttpRequest, budget_id: int):
    return _evaluation(
        get_visible_or_404(SelfEvaluation.objects.select_related("budget"), request.user, budget_id=budget_id)
    )


@router.put(
    "/budgets/{budget_id}/evaluation",
    response={200: SelfEvaluationOut, **ERRORS},
    summary="Open the self-evaluation (if needed) and record the achieved values and the summary",
)
def put_evaluation(request: HttpRequest, budget_id: int, payload: EvaluationIn):
    b = get_editable_or_403(Budget, request.user, pk=budget_id)
    ev = services.open_evaluation(request.user, b)
    own = set(b.indicators.values_list("pk", flat=True))
    unknown = [a.indicator_id for a in payload.actuals if a.indicator_id not in own]
    if unknown:
        raise ValidationError(
            {"actuals": f"not an indicator of this budget: {', '.join(str(u) for u in unknown)}"}
        )
    services.record_actuals(
        request.user, ev, {a.indicator_id: a.actual for a in payload.actuals}, payload.summary
    )
    ev.refresh_from_db()
    return _evaluation(ev)


@router.post(
    "/budgets/{budget_id}/evaluation/transitions/{transition}",
    response={200: SelfEvaluationOut, **ERRORS},
    summary="Take a self-evaluation action: submit, return, accept",
)
def move_evaluation(request: HttpRequest, budget_id: int, transition: str, payload: FundingTransitionIn):
    ev = get_visible_or_404(
        SelfEvaluation.objects.select_related("budget"), request.user, budget_id=budget_id
    )
    return _evaluation(services.move_evaluation(request.user, ev, transition, payload.reason))


def _run(r: AllocationRun, full: bool = False, newer_ids: dict[int, int] | None = None) -> MonitoringRunOut:
    out = MonitoringRunOut(
        id=r.pk,
        year=r.year,
        title_zh=r.title_zh,
        title_en=r.title_en,
        total=r.total,
        formula=r.formula,
        grade_weights={str(k): str(v) for k, v in (r.grade_weights or {}).items()},
        status=r.status,
        inputs_sha256=r.inputs_sha256,
        document_number=r.document.number if r.document_id else None,
        amends_id=r.amends_id,
        amendment_reason=r.amendment_reason,
    )
    if r.status == AllocationRun.Status.SUPERSEDED and newer_ids is not None:
        out.superseded_by_id = newer_ids.get(r.pk)
    elif r.status == AllocationRun.Status.SUPERSEDED:
        newer = r.superseded_by
        out.superseded_by_id = newer.pk if newer else None
    if full:
        out.allocations = [
            AllocationOut(
                laboratory_code=a.laboratory.code,
                eligible=a.eligible,
                reason=a.reason,
                lab_grade=a.lab_grade,
                self_grade=a.self_grade,
                self_score=a.self_score,
                weight=a.weight,
                amount=a.amount,
            )
            for a in r.allocations.select_related("laboratory")
        ]
    return out


@router.get(
    "/allocations", response=list[MonitoringRunOut], summary="Subsidy allocation runs (office, committee)"
)
@paginate(LimitOffsetPagination)
def list_allocations(request: HttpRequest):
    if not (has_role(request.user, Role.OFFICE) or has_role(request.user, Role.COMMITTEE)):
        raise PermissionDenied("Only the committee office and committee members see allocations.")
    qs = AllocationRun.objects.visible_to(request.user).select_related("document")
    return PageOf(qs.order_by("-year", "-pk"), convert_page=_runs)


def _runs(rows: list[AllocationRun]) -> list[MonitoringRunOut]:
    """A page of runs converted together: what replaced its superseded runs is read in one query
    (``AllocationRun.superseded_by`` per row would be one query each)."""
    superseded = [r.pk for r in rows if r.status == AllocationRun.Status.SUPERSEDED]
    newer_ids: dict[int, int] = {}
    if superseded:
        amendments = (
            AllocationRun.objects.filter(amends__in=superseded)
            .exclude(status=AllocationRun.Status.DRAFT)
            .order_by("-pk")
            .values_list("amends_id", "pk")
        )
        newer_ids = dict(amendments)  # the lowest pk of each comes last and wins, as superseded_by's first()
    return [_run(r, newer_ids=newer_ids) for r in rows]


@router.get("/allocations/{run_id}", response={200: MonitoringRunOut, **ERRORS})
def get_allocation(request: HttpRequest, run_id: int):
    return _run(
        get_visible_or_404(AllocationRun.objects.select_related("document"), request.user, pk=run_id), True
    )


class FundingReportRowOut(Schema):
    code: str = Field(..., description="top-level key field code or GB/T 2260 province code; '' for all")
    name: str
    laboratories: int
    approved: int
    budgeted: Decimal
    spent: Decimal
    execution_pct: Decimal | None
    targets_measured: int
    targets_met: int
    attainment_pct: Decimal | None
    evaluations: int
    mean_score: Decimal | None
    grades: dict[str, int]


class FundingReportOut(Schema):
    year: int
    by: str
    rows: list[FundingReportRowOut]
    total: FundingReportRowOut


def _report_row(g: reports.GroupRow) -> FundingReportRowOut:
    return FundingReportRowOut(
        code=g.code,
        name=str(g.name),
        laboratories=g.laboratories,
        approved=g.approved,
        budgeted=g.budgeted,
        spent=g.spent,
        execution_pct=g.execution,
        targets_measured=g.targets_measured,
        targets_met=g.targets_met,
        attainment_pct=g.attainment,
        evaluations=len(g.scores),
        mean_score=g.mean_score,
        grades={str(k): v for k, v in g.grades.items()},
    )


@router.get(
    "/reports",
    response={200: FundingReportOut, **ERRORS},
    summary="A year's budgets by key field or province (only the budgets I may see)",
)
def get_report(request: HttpRequest, year: int, by: str = "field"):
    if by not in reports.GROUPINGS:
        return Status(
            422, ErrorOut(detail=f"by must be one of {', '.join(reports.GROUPINGS)}", code="invalid")
        )
    if not any(has_role(request.user, r) for r in services.BUDGET_READERS):
        raise PermissionDenied("Budgets are shown to the laboratories, their authorities and the office.")
    rep = reports.report(request.user, year, by)
    return FundingReportOut(
        year=rep.year, by=rep.by, rows=[_report_row(g) for g in rep.rows], total=_report_row(rep.total)
    )


# -- the office's work: evidence, score adjustment, holds, monitoring runs, rules, grades, allocations --


class FundingEvidenceOut(Schema):
    id: int
    name: str
    description: str
    size: int
    sha256: str
    uploaded_at: dt.datetime
    url: str = Field(..., description="the checked download (API: /api/funding/evidence/{id}/file)")


def _evidence(e: EvidenceFile) -> FundingEvidenceOut:
    return FundingEvidenceOut(
        id=e.pk,
        name=e.name,
        description=e.description,
        size=e.size,
        sha256=e.sha256,
        uploaded_at=e.uploaded_at,
        url=f"/api/funding/evidence/{e.pk}/file",
    )


@router.get(
    "/budgets/{budget_id}/evaluation/evidence",
    response={200: list[FundingEvidenceOut], **ERRORS},
    summary="The evidence files of a self-evaluation (the laboratory's managers, the office and the "
    "experts assigned to it; 404 for everyone else)",
)
def list_evidence(request: HttpRequest, budget_id: int):
    ev = get_object_or_404(
        SelfEvaluation.objects.filter(SelfEvaluation.evidence_readers_q(request.user)), budget_id=budget_id
    )
    return [_evidence(e) for e in EvidenceFile.objects.visible_to(request.user).filter(evaluation=ev)]


@router.post(
    "/budgets/{budget_id}/evaluation/evidence",
    response={201: FundingEvidenceOut, **ERRORS},
    summary="Attach an evidence file to a self-evaluation in draft (multipart: file — PDF, XLSX or an "
    "image, checked by content, at most 20 MB — and an optional description; the manager or the office)",
)
def upload_evidence(
    request: HttpRequest, budget_id: int, file: File[UploadedFile], description: Form[str] = ""
):
    ev = get_editable_or_403(SelfEvaluation, request.user, budget_id=budget_id)
    return Status(201, _evidence(services.attach_evidence(request.user, ev, file, description)))


@router.get(
    "/evidence/{evidence_id}/file",
    response={200: None, **ERRORS},
    summary="Download one evidence file (the laboratory's managers, the office, the assigned experts)",
    openapi_extra={"responses": {200: {"description": "the file, as an attachment"}}},
)
def download_evidence(request: HttpRequest, evidence_id: int):
    item = get_visible_or_404(EvidenceFile, request.user, pk=evidence_id)
    return download_response(item.file, item.name)


class FundingScoreAdjustIn(Schema):
    score: Decimal = Field(..., ge=0, le=100, description="the score after the office's review")
    reason: str = Field(..., description="why (required)")


@router.post(
    "/budgets/{budget_id}/evaluation/adjust",
    response={200: SelfEvaluationOut, **ERRORS},
    summary="Adjust the score of a submitted or reviewed self-evaluation, with a reason (office); "
    "the grade follows the score",
)
def adjust_score(request: HttpRequest, budget_id: int, payload: FundingScoreAdjustIn):
    ev = get_visible_or_404(
        SelfEvaluation.objects.select_related("budget"), request.user, budget_id=budget_id
    )
    return _evaluation(services.adjust_score(request.user, ev, payload.score, payload.reason))


class FundingEvaluationExpertsIn(Schema):
    experts: list[str] = Field(
        ..., description="usernames of the experts who review it (replaces the list; [] unassigns all)"
    )


class FundingEvaluationExpertsOut(Schema):
    budget_id: int
    experts: list[str]


@router.put(
    "/budgets/{budget_id}/evaluation/experts",
    response={200: FundingEvaluationExpertsOut, **ERRORS},
    summary="Name the experts who review a self-evaluation and may read its evidence (office); "
    "newly named experts are told",
)
def assign_evaluation_experts(request: HttpRequest, budget_id: int, payload: FundingEvaluationExpertsIn):
    from qslab.accounts.models import User

    require_office(request)
    ev = get_visible_or_404(SelfEvaluation, request.user, budget_id=budget_id)
    names = list(dict.fromkeys(n.strip() for n in payload.experts))
    found = {u.username: u for u in User.objects.filter(username__in=names)}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValidationError({"experts": f"no such user: {', '.join(unknown)}"})
    services.assign_evaluation_experts(request.user, ev, [found[n] for n in names])
    return FundingEvaluationExpertsOut(
        budget_id=ev.budget_id, experts=sorted(ev.experts.values_list("username", flat=True))
    )


class FundingHoldIn(Schema):
    hold: StrictBool = Field(..., description="true: hold back funding; false: release it")
    reason: str


@router.post(
    "/flags/{flag_id}/hold",
    response={200: FlagOut, **ERRORS},
    summary="Hold back (or release) funding on a monitoring flag, with a reason (office); a hold bars "
    "the laboratory from that year's subsidy allocation",
)
def hold_flag(request: HttpRequest, flag_id: int, payload: FundingHoldIn):
    flag = get_visible_or_404(MonitoringFlag, request.user, pk=flag_id)
    return services.hold_funding(request.user, flag, payload.hold, payload.reason)


class FundingMonitoringRunOut(Schema):
    id: int
    year: int
    month: int
    trigger: str
    ran_at: dt.datetime
    ran_by: str | None
    budgets: int
    new_flags: int


class FundingMonitoringRunIn(Schema):
    year: int = Field(..., ge=2000, le=2100)
    month: int | None = Field(None, ge=1, le=12, description="data up to this month; default the rules'")


class FundingMonitoringStartedOut(Schema):
    run: FundingMonitoringRunOut
    flags: list[FlagOut]


def _monitoring_run(r: MonitoringRun) -> FundingMonitoringRunOut:
    return FundingMonitoringRunOut(
        id=r.pk,
        year=r.year,
        month=r.month,
        trigger=r.trigger,
        ran_at=r.ran_at,
        ran_by=r.ran_by.get_username() if r.ran_by_id else None,
        budgets=r.budgets,
        new_flags=r.new_flags,
    )


def _board(request: HttpRequest) -> None:
    if not (has_role(request.user, Role.OFFICE) or has_role(request.user, Role.COMMITTEE)):
        raise PermissionDenied("Only the committee office and committee members see this.")


@router.get(
    "/monitoring/runs",
    response={200: list[FundingMonitoringRunOut], **ERRORS},
    summary="The in-year monitoring runs, newest first (office, committee)",
)
@paginate(LimitOffsetPagination)
def list_monitoring_runs(request: HttpRequest, year: int | None = Query(None, ge=2000, le=2100)):
    _board(request)
    qs = MonitoringRun.objects.filter(MonitoringRun.visible_q(request.user)).select_related("ran_by")
    if year:
        qs = qs.filter(year=year)
    return PageOf(qs.order_by("-ran_at", "-pk"), _monitoring_run)


@router.post(
    "/monitoring/runs",
    response={201: FundingMonitoringStartedOut, **ERRORS},
    summary="Run the in-year monitoring of a year now (office): flags every approved budget, once per "
    "month, and notifies the flagged laboratories",
)
def start_monitoring_run(request: HttpRequest, payload: FundingMonitoringRunIn):
    require_office(request)
    run, made = services.start_monitoring_run(request.user, payload.year, payload.month)
    return Status(201, FundingMonitoringStartedOut(run=_monitoring_run(run), flags=made))


class FundingRulesOut(Schema):
    year: int
    saved: bool = Field(..., description="false: the defaults, not yet saved for this year")
    weight_execution: Decimal
    weight_output: Decimal
    weight_effect: Decimal
    weight_satisfaction: Decimal
    proportional_credit: bool
    grade_excellent: Decimal
    grade_good: Decimal
    grade_fair: Decimal
    monitoring_month: int
    monitoring_day: int
    monitoring_data_month: int
    expected_curve: list[float]
    lag_tolerance: Decimal


class FundingRulesIn(Schema):
    weight_execution: Decimal | None = Field(None, ge=0, le=100)
    weight_output: Decimal | None = Field(None, ge=0, le=100)
    weight_effect: Decimal | None = Field(None, ge=0, le=100)
    weight_satisfaction: Decimal | None = Field(None, ge=0, le=100)
    proportional_credit: StrictBool | None = None
    grade_excellent: Decimal | None = Field(None, ge=0, le=100)
    grade_good: Decimal | None = Field(None, ge=0, le=100)
    grade_fair: Decimal | None = Field(None, ge=0, le=100)
    monitoring_month: int | None = Field(None, ge=1, le=12)
    monitoring_day: int | None = Field(None, ge=1, le=28)
    monitoring_data_month: int | None = Field(None, ge=1, le=12)
    expected_curve: list[float] | None = Field(None, description="twelve rising percentages, or []")
    lag_tolerance: Decimal | None = Field(None, ge=0, le=100)


def _rules(r: FundingRules) -> FundingRulesOut:
    return FundingRulesOut(
        year=r.year,
        saved=r.pk is not None,
        **{f: getattr(r, f) for f in services.RULE_FIELDS},
    )


YEAR_PATH = Path(..., ge=2000, le=2100)


@router.get(
    "/rules/{year}",
    response={200: FundingRulesOut, **ERRORS},
    summary="The funding rules of a year: self-evaluation weights, grade thresholds, monitoring date and "
    "curve (office; the defaults until saved)",
)
def get_rules(request: HttpRequest, year: int = YEAR_PATH):
    require_office(request)
    return _rules(FundingRules.for_year(year))


@router.put(
    "/rules/{year}",
    response={200: FundingRulesOut, **ERRORS},
    summary="Set the funding rules of a year (office; fields left out keep their value); every problem "
    "is reported at once (422) and nothing saved",
)
def put_rules(request: HttpRequest, payload: FundingRulesIn, year: int = YEAR_PATH):
    data = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    return _rules(services.save_rules(request.user, year, data))


class FundingLabGradeOut(Schema):
    id: int
    laboratory_id: int
    laboratory_code: str
    year: int
    grade: str
    open_rectification: bool
    source: str


class FundingLabGradeIn(Schema):
    laboratory_id: int
    year: int = Field(..., ge=2000, le=2100)
    grade: str = Field(..., description="excellent, good, fair or poor")
    open_rectification: StrictBool = False


def _grade(g: LabGrade) -> FundingLabGradeOut:
    return FundingLabGradeOut(
        id=g.pk,
        laboratory_id=g.laboratory_id,
        laboratory_code=g.laboratory.code,
        year=g.year,
        grade=g.grade,
        open_rectification=g.open_rectification,
        source=g.source,
    )


@router.get(
    "/grades",
    response={200: list[FundingLabGradeOut], **ERRORS},
    summary="The laboratories' evaluation grades used for subsidy eligibility (office)",
)
@paginate(LimitOffsetPagination)
def list_lab_grades(request: HttpRequest, year: int | None = Query(None, ge=2000, le=2100)):
    require_office(request)
    qs = LabGrade.objects.visible_to(request.user).select_related("laboratory")
    if year:
        qs = qs.filter(year=year)
    return PageOf(qs.order_by("-year", "laboratory__code", "pk"), _grade)


@router.post(
    "/grades",
    response={200: FundingLabGradeOut, **ERRORS},
    summary="Record (or correct) a laboratory's evaluation grade of a year (office)",
)
def record_lab_grade(request: HttpRequest, payload: FundingLabGradeIn):
    require_office(request)
    lab = get_visible_or_404(Laboratory, request.user, pk=payload.laboratory_id)
    row = services.record_lab_grade(
        request.user, lab, payload.year, payload.grade, open_rectification=payload.open_rectification
    )
    return _grade(LabGrade.objects.select_related("laboratory").get(pk=row.pk))


class FundingAllocationRunIn(Schema):
    year: int = Field(..., ge=2000, le=2100, description="the evaluation year")
    title_zh: str
    title_en: str
    total: Decimal = Field(..., gt=0, description="yuan, at most two decimals")
    formula: str = Field("tiers", description="tiers or score")
    grade_weights: dict[str, Decimal] = Field(
        default_factory=lambda: {"excellent": Decimal(3), "good": Decimal(2), "fair": Decimal(1)},
        description="weight per self-evaluation grade (excellent, good, fair, poor; missing = 0)",
    )
    require_named: StrictBool = True
    min_lab_grade: str = "fair"
    exclude_open_rectification: StrictBool = True
    min_self_grade: str = "fair"


class FundingAmendmentIn(Schema):
    reason: str = Field(..., description="why the issued allocation is amended (required)")
    total: Decimal | None = Field(None, gt=0, description="a new declared total; default the original's")


@router.post(
    "/allocations",
    response={201: MonitoringRunOut, **ERRORS},
    summary="Create a draft allocation run and compute its list (office)",
)
def create_allocation(request: HttpRequest, payload: FundingAllocationRunIn):
    require_office(request)
    unknown = sorted(set(payload.grade_weights) - set(Grade.values))
    if unknown:
        raise ValidationError({"grade_weights": f"unknown grade(s): {', '.join(unknown)}"})
    data = payload.dict()
    data["grade_weights"] = {g: str(w) for g, w in payload.grade_weights.items()}
    run = services.create_allocation_run(request.user, data)
    run = services.compute_allocation(request.user, run)
    return Status(201, _run(AllocationRun.objects.select_related("document").get(pk=run.pk), True))


@router.post(
    "/allocations/{run_id}/compute",
    response={200: MonitoringRunOut, **ERRORS},
    summary="Recompute a draft allocation on today's inputs and show it: the preview before issuing (office)",
)
def compute_allocation(request: HttpRequest, run_id: int):
    run = get_editable_or_403(AllocationRun, request.user, pk=run_id)
    run = services.compute_allocation(request.user, run)
    return _run(AllocationRun.objects.select_related("document").get(pk=run.pk), True)


@router.post(
    "/allocations/{run_id}/issue",
    response={200: MonitoringRunOut, **ERRORS},
    summary="Issue a draft allocation (or amendment) as a numbered document; the amounts feed next "
    "year's budgets (office)",
)
def issue_allocation(request: HttpRequest, run_id: int):
    run = get_editable_or_403(AllocationRun, request.user, pk=run_id)
    run = services.issue_allocation(request.user, run)
    return _run(AllocationRun.objects.select_related("document").get(pk=run.pk), True)


@router.post(
    "/allocations/{run_id}/amend",
    response={201: MonitoringRunOut, **ERRORS},
    summary="Open an amendment of the issued allocation (office; reason required, optionally a new "
    "total): a draft computed on today's inputs, to be issued as a new document superseding it",
)
def amend_allocation(request: HttpRequest, run_id: int, payload: FundingAmendmentIn):
    run = get_editable_or_403(AllocationRun, request.user, pk=run_id)
    amendment = services.amend_allocation(request.user, run, payload.reason, payload.total)
    return Status(201, _run(AllocationRun.objects.select_related("document").get(pk=amendment.pk), True))
