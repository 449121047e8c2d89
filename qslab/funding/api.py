"""API of the funding app (mounted at /api/funding/ in qslab/api.py): budgets, their versions, targets
and expenditures, execution, and subsidy allocations. A laboratory sees only its own money."""

import datetime as dt
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import StrictBool

from qslab.accounts.roles import Role, has_role
from qslab.core.apitools import ErrorOut, LimitOffsetPagination
from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.core.uploads import check_upload
from qslab.funding import reports, services
from qslab.funding.models import AllocationRun, Budget, MonitoringFlag, SelfEvaluation
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
    id: int
    year: int
    title_zh: str
    title_en: str
    total: Decimal
    status: str
    inputs_sha256: str
    document_number: str | None
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
    return [_budget(b) for b in qs]


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
    return list(b.expenditures.all())


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


def _run(r: AllocationRun, full: bool = False) -> MonitoringRunOut:
    out = MonitoringRunOut(
        id=r.pk,
        year=r.year,
        title_zh=r.title_zh,
        title_en=r.title_en,
        total=r.total,
        status=r.status,
        inputs_sha256=r.inputs_sha256,
        document_number=r.document.number if r.document_id else None,
    )
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
    return [_run(r) for r in AllocationRun.objects.visible_to(request.user).select_related("document")]


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
    if not any(
        has_role(request.user, r) for r in (Role.OFFICE, Role.COMMITTEE, Role.AUTHORITY, Role.LAB_MANAGER)
    ):
        raise PermissionDenied("Budgets are shown to the laboratories, their authorities and the office.")
    rep = reports.report(request.user, year, by)
    return FundingReportOut(
        year=rep.year, by=rep.by, rows=[_report_row(g) for g in rep.rows], total=_report_row(rep.total)
    )
