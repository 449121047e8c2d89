"""API of the risk app (mounted at /api/risk/): taxonomies, reports, patterns, signals, early warning."""

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from ninja import Field, File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate
from pydantic import StrictBool

from qslab.core.apitools import PUBLIC, ErrorOut, LimitOffsetPagination, PageOf, Year
from qslab.core.permissions import get_visible_or_404
from qslab.core.validators import clean_gtin
from qslab.risk import services
from qslab.risk.models import (
    AlertUpdate,
    ConsumerAlert,
    DefectPattern,
    IncidentReport,
    IngestRun,
    RiskAssessment,
    Signal,
    Term,
    is_risk_staff,
)

router = Router(tags=["risk"])


class RiskTermOut(Schema):
    kind: str
    code: str
    name_zh: str
    name_en: str
    source: str


class ReportIn(Schema):
    product_category: str = Field(..., description="product category code")
    brand: str = Field(..., min_length=1, max_length=120)
    model: str = ""
    batch: str = ""
    barcode: str = ""
    incident_date: dt.date
    hazard: str = Field("", description="hazard code")
    description: str = Field(..., min_length=1)
    injured: StrictBool = False
    diagnosis: str = ""
    reporter_email: str = ""
    consent_publish: StrictBool = Field(
        False, description="must be true: the reporter agrees to the consent text"
    )
    consent_contact: StrictBool = False


class IncidentReportOut(Schema):
    id: int
    reference: str
    status: str
    product_category: str
    hazard: str | None
    incident_date: dt.date
    public_summary_zh: str
    public_summary_en: str


class RiskTransitionIn(Schema):
    reason: str = ""


class PatternOut(Schema):
    id: int
    title_zh: str
    title_en: str
    product_category: str
    hazard: str
    failure_mode: str
    injury_mechanism: str
    detection_method: str
    summary_zh: str
    summary_en: str
    evidence: list[str]


class SignalOut(Schema):
    id: int
    family: str
    unit: str
    unit_label: str
    first_period: dt.date
    last_period: dt.date
    observed: float
    upperbound: float
    method: str
    config: dict
    status: str
    severity: str
    assignee: str | None
    due: dt.date | None


class EarlyWarningRunOut(Schema):
    task_id: str


class IngestOut(Schema):
    id: int
    source: str
    file_name: str
    status: str
    n_rows: int
    n_inserted: int
    problems: list[dict]


def _report_out(r: IncidentReport) -> IncidentReportOut:
    return IncidentReportOut(
        id=r.pk,
        reference=r.reference,
        status=r.status,
        product_category=r.product_category.code,
        hazard=r.hazard.code if r.hazard_id else None,
        incident_date=r.incident_date,
        public_summary_zh=r.public_summary_zh,
        public_summary_en=r.public_summary_en,
    )


def _signal_out(s: Signal) -> SignalOut:
    return SignalOut(
        id=s.pk,
        family=s.family.name,
        unit=s.unit,
        unit_label=s.unit_label,
        first_period=s.first_period,
        last_period=s.last_period,
        observed=s.observed,
        upperbound=s.upperbound,
        method=s.method,
        config=s.config,
        status=s.status,
        severity=s.severity,
        assignee=str(s.assignee) if s.assignee_id else None,
        due=s.due,
    )


def _pattern_out(p: DefectPattern, user, evidence: list[str] | None = None) -> PatternOut:  # type: ignore[no-untyped-def]
    if evidence is None:
        evidence = list(
            IncidentReport.objects.visible_to(user).filter(patterns=p).values_list("reference", flat=True)
        )
    return PatternOut(
        id=p.pk,
        title_zh=p.title_zh,
        title_en=p.title_en,
        product_category=p.product_category.code,
        hazard=p.hazard.code,
        failure_mode=p.failure_mode,
        injury_mechanism=p.injury_mechanism,
        detection_method=p.detection_method,
        summary_zh=p.summary_zh,
        summary_en=p.summary_en,
        evidence=evidence,
    )


def _patterns_out(rows: list[DefectPattern], user) -> list[PatternOut]:  # type: ignore[no-untyped-def]
    """A page of patterns converted together: the evidence ``user`` may see for all of them in one query,
    newest first as ``IncidentReport``'s order (one query per pattern otherwise)."""
    from collections import defaultdict

    evidence: dict[int, list[str]] = defaultdict(list)
    links = (
        DefectPattern.evidence.through.objects.filter(
            defectpattern_id__in=[p.pk for p in rows],
            incidentreport__in=IncidentReport.objects.visible_to(user),
        )
        .order_by(
            *(f"{'-' if f.startswith('-') else ''}incidentreport__{f.lstrip('-')}" for f in _REPORT_ORDER)
        )
        .values_list("defectpattern_id", "incidentreport__reference")
    )
    for pattern_id, reference in links:
        evidence[pattern_id].append(reference)
    return [_pattern_out(p, user, evidence[p.pk]) for p in rows]


_REPORT_ORDER = IncidentReport._meta.ordering


@router.get("/terms", response=list[RiskTermOut], auth=PUBLIC, summary="Taxonomy terms (public)")
@paginate(LimitOffsetPagination)
def terms(request: HttpRequest, kind: Term.Kind | None = None, q: str = ""):
    qs = Term.objects.visible_to(request.user).filter(active=True)
    if kind:
        qs = qs.filter(kind=kind)
    if q:
        qs = qs.filter(name_en__icontains=q) | qs.filter(name_zh__icontains=q) | qs.filter(code=q)
    return PageOf(qs.order_by("kind", "code", "pk"), lambda t: t)


def _staff_only(request: HttpRequest) -> None:
    if not is_risk_staff(request.user):
        raise PermissionDenied("Only risk analysts and the committee office may do this.")


def _term(kind: str, code: str, field: str) -> Term | None:
    if not code:
        return None
    term = Term.objects.filter(kind=kind, code=code, active=True).first()
    if term is None:
        raise ValidationError({field: [f"Unknown {kind} code {code!r}."]})
    return term


@router.post(
    "/reports",
    response={201: IncidentReportOut, 401: ErrorOut, 422: ErrorOut},
    auth=PUBLIC,
    summary="File an incident report (anyone; reviewed before publication)",
)
def create_report(request: HttpRequest, payload: ReportIn):
    data = payload.dict()
    errors: dict[str, list[str]] = {}
    try:
        data["barcode"] = clean_gtin(data["barcode"], isbn=True)
    except Exception as exc:
        errors["barcode"] = list(getattr(exc, "messages", [str(exc)]))
    for field, kind in (
        ("product_category", Term.Kind.PRODUCT),
        ("hazard", Term.Kind.HAZARD),
        ("diagnosis", Term.Kind.DIAGNOSIS),
    ):
        try:
            data[field] = _term(kind, data[field], field)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    user = request.user if request.user.is_authenticated else None
    return Status(201, _report_out(services.submit_report(user, data)))


@router.get(
    "/reports", response=list[IncidentReportOut], auth=PUBLIC, summary="Reports I may see (public: published)"
)
@paginate(LimitOffsetPagination)
def reports(request: HttpRequest, status: IncidentReport.Status | None = None):
    qs = IncidentReport.objects.visible_to(request.user).select_related("product_category", "hazard")
    if status:
        qs = qs.filter(status=status)
    return PageOf(qs, _report_out)


@router.get(
    "/reports/{report_id}", response={200: IncidentReportOut, 401: ErrorOut, 404: ErrorOut}, auth=PUBLIC
)
def report(request: HttpRequest, report_id: int):
    return _report_out(
        get_visible_or_404(
            IncidentReport.objects.select_related("product_category", "hazard"), request.user, pk=report_id
        )
    )


@router.post(
    "/reports/{report_id}/transitions/{transition}",
    response={200: IncidentReportOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Review a report: review, publish, reject",
)
def move_report(request: HttpRequest, report_id: int, transition: str, payload: RiskTransitionIn):
    item = get_visible_or_404(IncidentReport, request.user, pk=report_id)
    return _report_out(services.move_report(request.user, item, transition, payload.reason))


@router.get("/patterns", response=list[PatternOut], auth=PUBLIC, summary="Search defect patterns")
@paginate(LimitOffsetPagination)
def patterns(request: HttpRequest, q: str = "", hazard: str = "", product: str = ""):
    q = q.replace("\x00", "")  # PostgreSQL refuses NUL in text; no real search contains one
    qs = services.search_patterns(request.user, q, hazard, product)
    return PageOf(
        qs.order_by(*qs.query.order_by or DefectPattern._meta.ordering, "-pk"),
        convert_page=lambda rows: _patterns_out(rows, request.user),
    )


@router.get("/patterns/{pattern_id}", response={200: PatternOut, 401: ErrorOut, 404: ErrorOut}, auth=PUBLIC)
def pattern(request: HttpRequest, pattern_id: int):
    return _pattern_out(get_visible_or_404(DefectPattern, request.user, pk=pattern_id), request.user)


@router.get("/signals", response=list[SignalOut], summary="Early-warning signals (analysts, office)")
@paginate(LimitOffsetPagination)
def signals(request: HttpRequest, status: Signal.Status | None = None, mine: bool = False):
    _staff_only(request)
    qs = Signal.objects.visible_to(request.user).select_related("family", "assignee")
    if status:
        qs = qs.filter(status=status)
    if mine:
        qs = qs.filter(assignee=request.user)
    return PageOf(qs.order_by("-last_period", "-id"), _signal_out)


@router.get("/signals/{signal_id}", response={200: SignalOut, 401: ErrorOut, 404: ErrorOut})
def signal(request: HttpRequest, signal_id: int):
    return _signal_out(
        get_visible_or_404(Signal.objects.select_related("family", "assignee"), request.user, pk=signal_id)
    )


@router.post(
    "/signals/{signal_id}/transitions/{transition}",
    response={200: SignalOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Triage a signal: triage, escalate, dismiss",
)
def move_signal(request: HttpRequest, signal_id: int, transition: str, payload: RiskTransitionIn):
    item = get_visible_or_404(Signal, request.user, pk=signal_id)
    return _signal_out(services.move_signal(request.user, item, transition, payload.reason))


@router.post(
    "/early-warning/runs",
    response={201: EarlyWarningRunOut, 401: ErrorOut, 403: ErrorOut},
    summary="Start the early-warning job over all series (analysts, office)",
)
def start_early_warning(request: HttpRequest):
    result = services.start_early_warning(request.user)
    return Status(201, EarlyWarningRunOut(task_id=str(result.id)))


@router.get("/ingests", response=list[IngestOut], summary="Data intakes with every rejected value")
@paginate(LimitOffsetPagination)
def ingests(request: HttpRequest):
    _staff_only(request)
    return PageOf(IngestRun.objects.visible_to(request.user).order_by("-created", "-id"), lambda run: run)


# -- statistics, assessments and consumer alerts ---------------------------------------------------


class RiskEstimateOut(Schema):
    key: str
    label: str
    n_records: int
    estimate: float | None = Field(None, description="null when the estimate is unstable (suppressed)")
    cv: float | None
    ci_lower: float | None
    ci_upper: float | None
    unstable: bool


@router.get(
    "/statistics",
    response={200: list[RiskEstimateOut], 422: ErrorOut},
    auth=PUBLIC,
    summary="National injury estimates (NEISS-style; unstable estimates suppressed)",
)
def statistics(
    request: HttpRequest, by: str = "product", year: int | None = None, product: str = "", hazard: str = ""
):
    from qslab.risk import statistics as stats

    if by not in stats.DIMENSIONS:
        raise ValidationError({"by": [f"by must be one of {', '.join(stats.DIMENSIONS)}"]})
    table = stats.national_estimate_table(by, year=year, product=product, hazard=hazard)
    return [
        RiskEstimateOut(
            key=r.key,
            label=r.label,
            n_records=r.n_records,
            estimate=None if r.unstable else r.estimate,
            cv=None if r.unstable else r.cv,
            ci_lower=None if r.unstable else r.ci_lower,
            ci_upper=None if r.unstable else r.ci_upper,
            unstable=r.unstable,
        )
        for r in table.rows
    ]


class RiskScenarioStepOut(Schema):
    description_zh: str
    description_en: str
    probability: float


class RiskScenarioOut(Schema):
    id: int
    position: int
    description_zh: str
    description_en: str
    consumer: str
    injury: str
    severity: int
    probability: float | None
    risk_level: str
    steps: list[RiskScenarioStepOut]


class RiskAssessmentOut(Schema):
    id: int
    reference: str
    status: str
    title_zh: str
    title_en: str
    product_category: str | None
    hazard: str | None
    product_name: str
    brand: str
    model: str
    risk_level: str
    matrix: str
    matrix_verified: bool
    signal: int | None
    document: str | None
    batch: str = ""
    barcode: str = ""
    product_description: str = ""
    conclusion_zh: str = ""
    conclusion_en: str = ""
    deciding_scenario: int | None = None
    scenarios: list[RiskScenarioOut]


def _assessment_out(a: RiskAssessment) -> RiskAssessmentOut:
    return RiskAssessmentOut(
        id=a.pk,
        reference=a.reference,
        status=a.status,
        title_zh=a.title_zh,
        title_en=a.title_en,
        product_category=a.product_category.code if a.product_category_id else None,
        hazard=a.hazard.code if a.hazard_id else None,
        product_name=a.product_name,
        brand=a.brand,
        model=a.model,
        risk_level=a.risk_level,
        matrix=a.matrix.code,
        matrix_verified=a.matrix.verified,
        signal=a.signal_id,
        document=a.document.number if a.document_id else None,
        batch=a.batch,
        barcode=a.barcode,
        product_description=a.product_description,
        conclusion_zh=a.conclusion_zh,
        conclusion_en=a.conclusion_en,
        deciding_scenario=a.deciding_scenario_id,
        scenarios=[
            RiskScenarioOut(
                id=s.pk,
                position=s.position,
                description_zh=s.description_zh,
                description_en=s.description_en,
                consumer=s.consumer,
                injury=s.injury,
                severity=s.severity,
                probability=s.probability,
                risk_level=s.risk_level,
                steps=[
                    RiskScenarioStepOut(
                        description_zh=st.description_zh,
                        description_en=st.description_en,
                        probability=st.probability,
                    )
                    for st in s.steps.all()
                ],
            )
            for s in (
                a.scenarios.all()  # prefetched with their steps by the list
                if "scenarios" in getattr(a, "_prefetched_objects_cache", {})
                else a.scenarios.prefetch_related("steps")
            )
        ],
    )


@router.get("/assessments", response=list[RiskAssessmentOut], summary="Risk assessments (analysts, office)")
@paginate(LimitOffsetPagination)
def assessments(request: HttpRequest, status: RiskAssessment.Status | None = None):
    _staff_only(request)
    qs = (
        RiskAssessment.objects.visible_to(request.user)
        .select_related("product_category", "hazard", "matrix", "document")
        .prefetch_related("scenarios__steps")
    )
    if status:
        qs = qs.filter(status=status)
    return PageOf(qs.order_by("-created", "-id"), _assessment_out)


@router.get("/assessments/{assessment_id}", response={200: RiskAssessmentOut, 401: ErrorOut, 404: ErrorOut})
def assessment(request: HttpRequest, assessment_id: int):
    return _assessment_out(
        get_visible_or_404(
            RiskAssessment.objects.select_related("product_category", "hazard", "matrix", "document"),
            request.user,
            pk=assessment_id,
        )
    )


# -- writing risk assessments and their injury scenarios (analysts, office) -------------------------


class RiskAssessmentIn(Schema):
    """An assessment's fields; on an edit, only the fields sent change. Codes for category, hazard, matrix."""

    title_zh: str | None = Field(None, max_length=200)
    title_en: str | None = Field(None, max_length=200)
    product_category: str | None = Field(None, description="product category code")
    hazard: str | None = Field(None, description="hazard code")
    product_name: str | None = Field(None, max_length=200)
    brand: str | None = Field(None, max_length=120)
    model: str | None = Field(None, max_length=120)
    batch: str | None = Field(None, max_length=80)
    barcode: str | None = Field(None, description="GTIN (EAN/UPC), checked by its check digit")
    product_description: str | None = None
    matrix: str | None = Field(None, description="risk matrix code (default: the office's default matrix)")
    conclusion_zh: str | None = None
    conclusion_en: str | None = None


class RiskScenarioStepIn(Schema):
    probability: str | float = Field(..., description="1/50, 0.02 or 2%; above 0 and at most 1")
    description_zh: str = ""
    description_en: str = ""


class RiskScenarioIn(Schema):
    """One injury scenario: the steps' probabilities multiply; severity 1-4 (see the matrix)."""

    description_zh: str = ""
    description_en: str = ""
    consumer: str = ""
    injury: str = ""
    severity: int = Field(..., description="1 to 4, as the matrix's severities say")
    steps: list[RiskScenarioStepIn]


def _clean_payload(payload: Schema, keep_none: tuple[str, ...]) -> tuple[dict, dict[str, list[str]]]:
    """The sent fields with terms and barcode checked, and the errors so far (the caller adds its own).

    A ``None`` becomes ``""`` (the text fields are blank, not null) except in ``keep_none``, the
    nullable references.
    """
    data = payload.dict(exclude_unset=True)
    data = {k: ("" if v is None and k not in keep_none else v) for k, v in data.items()}
    errors: dict[str, list[str]] = {}
    for field, kind in (("product_category", Term.Kind.PRODUCT), ("hazard", Term.Kind.HAZARD)):
        if field in data:
            try:
                data[field] = _term(kind, data[field] or "", field)
            except ValidationError as exc:
                errors.update(exc.message_dict)
    if "barcode" in data:
        try:
            data["barcode"] = clean_gtin(data["barcode"])
        except ValidationError as exc:
            errors["barcode"] = exc.messages
    return data, errors


def _assessment_data(payload: RiskAssessmentIn) -> dict:
    """The sent fields as model values (terms, matrix, checked barcode); every problem at once."""
    from qslab.risk.models import RiskMatrix

    data, errors = _clean_payload(payload, keep_none=("product_category", "hazard", "matrix"))
    if "matrix" in data:
        code = data.pop("matrix")
        if code:
            matrix = RiskMatrix.objects.filter(active=True, code=code).first()
            if matrix is None:
                errors["matrix"] = [f"Unknown risk matrix {code!r}."]
            data["matrix"] = matrix
    if errors:
        raise ValidationError(errors)
    return data


def _assessment_for_staff(request: HttpRequest, assessment_id: int) -> RiskAssessment:
    _staff_only(request)
    return get_visible_or_404(
        RiskAssessment.objects.select_related("product_category", "hazard", "matrix", "document"),
        request.user,
        pk=assessment_id,
    )


def _fresh_assessment(pk: int) -> RiskAssessmentOut:
    return _assessment_out(
        RiskAssessment.objects.select_related("product_category", "hazard", "matrix", "document").get(pk=pk)
    )


@router.post(
    "/assessments",
    response={201: RiskAssessmentOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Open a draft risk assessment (analysts, office)",
)
def create_assessment(request: HttpRequest, payload: RiskAssessmentIn):
    _staff_only(request)
    item = services.save_assessment(request.user, _assessment_data(payload))
    return Status(201, _fresh_assessment(item.pk))


@router.patch(
    "/assessments/{assessment_id}",
    response={200: RiskAssessmentOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Edit a draft assessment (analysts, office); a completed one is frozen",
)
def edit_assessment(request: HttpRequest, assessment_id: int, payload: RiskAssessmentIn):
    item = _assessment_for_staff(request, assessment_id)
    services.save_assessment(request.user, _assessment_data(payload), assessment=item)
    return _fresh_assessment(item.pk)


def _scenario_data(payload: RiskScenarioIn) -> dict:
    return payload.dict()  # steps as a list of dicts: the service checks them as it checks the page's lines


@router.post(
    "/assessments/{assessment_id}/scenarios",
    response={201: RiskAssessmentOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Add an injury scenario to a draft assessment; returns the assessment with its new level",
)
def add_scenario(request: HttpRequest, assessment_id: int, payload: RiskScenarioIn):
    item = _assessment_for_staff(request, assessment_id)
    services.save_scenario(request.user, item, _scenario_data(payload))
    return Status(201, _fresh_assessment(item.pk))


def _scenario_of(item: RiskAssessment, scenario_id: int):  # type: ignore[no-untyped-def]
    from django.http import Http404

    scenario = item.scenarios.filter(pk=scenario_id).first()
    if scenario is None:
        raise Http404("No such scenario.")
    return scenario


@router.put(
    "/assessments/{assessment_id}/scenarios/{scenario_id}",
    response={200: RiskAssessmentOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Replace an injury scenario of a draft assessment (its steps too); returns the assessment",
)
def edit_scenario(request: HttpRequest, assessment_id: int, scenario_id: int, payload: RiskScenarioIn):
    item = _assessment_for_staff(request, assessment_id)
    services.save_scenario(
        request.user, item, _scenario_data(payload), scenario=_scenario_of(item, scenario_id)
    )
    return _fresh_assessment(item.pk)


@router.delete(
    "/assessments/{assessment_id}/scenarios/{scenario_id}",
    response={200: RiskAssessmentOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Remove an injury scenario from a draft assessment; returns the assessment",
)
def delete_scenario(request: HttpRequest, assessment_id: int, scenario_id: int):
    item = _assessment_for_staff(request, assessment_id)
    services.delete_scenario(request.user, _scenario_of(item, scenario_id))
    return _fresh_assessment(item.pk)


@router.post(
    "/assessments/{assessment_id}/transitions/{transition}",
    response={200: RiskAssessmentOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Complete (issues the numbered report) or withdraw an assessment",
)
def move_assessment(request: HttpRequest, assessment_id: int, transition: str, payload: RiskTransitionIn):
    item = get_visible_or_404(RiskAssessment, request.user, pk=assessment_id)
    return _assessment_out(services.move_assessment(request.user, item, transition, payload.reason))


class RiskAlertUpdateOut(Schema):
    date: dt.date
    text_zh: str
    text_en: str


class RiskAlertOut(Schema):
    """Public fields of a consumer alert only: the confidential fields are never in this schema."""

    id: int
    reference: str
    notification_type: str
    title_zh: str
    title_en: str
    product_category: str | None
    product_name_zh: str
    product_name_en: str
    brand: str
    model: str
    batch: str
    barcode: str
    product_description_zh: str
    product_description_en: str
    country_of_origin: str
    hazard: str | None
    risk_level: str
    hazard_description_zh: str
    hazard_description_en: str
    measures_zh: str
    measures_en: str
    advice_zh: str
    advice_en: str
    published_at: dt.datetime | None
    photos: list[str]
    updates: list[RiskAlertUpdateOut]
    url: str


class RiskAlertPhotoOut(Schema):
    id: int
    url: str
    caption_zh: str
    caption_en: str
    position: int


def _alert_out(a: ConsumerAlert) -> RiskAlertOut:
    from django.urls import reverse

    from qslab.risk.alerts import public_view

    return RiskAlertOut(
        id=a.pk,
        **public_view(a),
        photos=[reverse("risk:alert_photo", args=[a.pk, p.pk]) for p in a.photos.all()],
        updates=[
            RiskAlertUpdateOut(date=u.date, text_zh=u.text_zh, text_en=u.text_en)
            for u in (
                a.public_updates  # prefetched by the list
                if hasattr(a, "public_updates")
                else AlertUpdate.objects.visible_to(None).filter(alert=a)
            )
        ],
        url=a.get_absolute_url(),
    )


@router.get(
    "/alerts", response=list[RiskAlertOut], auth=PUBLIC, summary="Published consumer alerts (public fields)"
)
@paginate(LimitOffsetPagination)
def alerts(
    request: HttpRequest,
    q: str = "",
    hazard: str = "",
    risk_level: str = "",
    category: str = "",
    year: Year | None = None,
):
    # the API gives public alerts to everyone, staff included: drafts are read on the pages
    from django.db.models import Prefetch

    qs = services.search_alerts(None, q, hazard, risk_level, category, year).prefetch_related(
        "photos", Prefetch("updates", AlertUpdate.objects.visible_to(None), to_attr="public_updates")
    )
    return PageOf(qs.order_by(*qs.query.order_by or ConsumerAlert._meta.ordering, "-pk"), _alert_out)


@router.get("/alerts/{alert_id}", response={200: RiskAlertOut, 401: ErrorOut, 404: ErrorOut}, auth=PUBLIC)
def alert(request: HttpRequest, alert_id: int):
    return _alert_out(get_visible_or_404(ConsumerAlert, None, pk=alert_id))


# -- writing consumer alerts (analysts draft, the office approves) ---------------------------------


class RiskAlertIn(Schema):
    """An alert's fields; on an edit, only the fields sent change. Codes for category and hazard."""

    notification_type: ConsumerAlert.NotificationType | None = None
    assessment: int | None = Field(None, description="id of the risk assessment it follows")
    title_zh: str | None = Field(None, max_length=200)
    title_en: str | None = Field(None, max_length=200)
    product_category: str | None = Field(None, description="product category code")
    product_name_zh: str | None = Field(None, max_length=200)
    product_name_en: str | None = Field(None, max_length=200)
    brand: str | None = Field(None, max_length=120)
    model: str | None = Field(None, max_length=120)
    batch: str | None = Field(None, max_length=200)
    barcode: str | None = Field(None, description="GTIN (EAN/UPC), checked by its check digit")
    product_description_zh: str | None = None
    product_description_en: str | None = None
    country_of_origin: str | None = Field(None, max_length=80)
    hazard: str | None = Field(None, description="hazard code")
    risk_level: str | None = Field(None, description="serious, high, medium, low or empty")
    hazard_description_zh: str | None = None
    hazard_description_en: str | None = None
    measures_zh: str | None = None
    measures_en: str | None = None
    advice_zh: str | None = None
    advice_en: str | None = None
    operator_name: str | None = Field(None, max_length=200, description="confidential")
    operator_contact: str | None = Field(None, description="confidential")
    supply_chain: str | None = Field(None, description="confidential")
    information_source: str | None = Field(None, description="confidential")
    internal_notes: str | None = Field(None, description="confidential")


class RiskAlertStaffUpdateOut(Schema):
    id: int
    date: dt.date
    text_zh: str
    text_en: str
    is_public: bool


class RiskAlertStaffOut(RiskAlertOut):
    """An alert for risk staff: the public fields, the workflow and the confidential fields."""

    status: str
    assessment: int | None
    author: str | None
    approved_by: str | None
    operator_name: str
    operator_contact: str
    supply_chain: str
    information_source: str
    internal_notes: str
    all_updates: list[RiskAlertStaffUpdateOut]
    photo_items: list[RiskAlertPhotoOut] = Field(
        default_factory=list, description="the photos with their ids and captions (to remove one)"
    )


class RiskAlertUpdateIn(Schema):
    date: dt.date | None = None
    text_zh: str = ""
    text_en: str = ""
    is_public: StrictBool = True


def _alert_staff_out(a: ConsumerAlert) -> RiskAlertStaffOut:
    """The full record; only ever returned to risk staff (``_staff_only`` runs first)."""
    from django.urls import reverse

    from qslab.risk.alerts import public_view

    return RiskAlertStaffOut(
        id=a.pk,
        **public_view(a),
        photos=[reverse("risk:alert_photo", args=[a.pk, p.pk]) for p in a.photos.all()],
        updates=[
            RiskAlertUpdateOut(date=u.date, text_zh=u.text_zh, text_en=u.text_en)
            for u in a.updates.all()
            if u.is_public
        ],
        url=a.get_absolute_url(),
        status=a.status,
        assessment=a.assessment_id,
        author=str(a.author) if a.author_id else None,
        approved_by=str(a.approved_by) if a.approved_by_id else None,
        **{f: getattr(a, f) for f in ConsumerAlert.CONFIDENTIAL_FIELDS},
        all_updates=[
            RiskAlertStaffUpdateOut(
                id=u.pk, date=u.date, text_zh=u.text_zh, text_en=u.text_en, is_public=u.is_public
            )
            for u in a.updates.all()
        ],
        photo_items=[_photo_out(p) for p in a.photos.all()],
    )


def _alert_data(request: HttpRequest, payload: RiskAlertIn) -> dict:
    """The sent fields as model values (terms, assessment, checked barcode); every problem at once."""
    from qslab.risk.models import RiskLevel

    data, errors = _clean_payload(payload, keep_none=("assessment", "product_category", "hazard"))
    if data.get("risk_level") and data["risk_level"] not in RiskLevel.values:
        errors["risk_level"] = [f"risk_level must be one of {', '.join(RiskLevel.values)}."]
    if data.get("assessment") is not None:
        found = RiskAssessment.objects.visible_to(request.user).filter(pk=data["assessment"]).first()
        if found is None:
            errors["assessment"] = [f"No risk assessment {data['assessment']}."]
        data["assessment"] = found
    if errors:
        raise ValidationError(errors)
    return data


def _alert_for_staff(request: HttpRequest, alert_id: int) -> ConsumerAlert:
    _staff_only(request)
    return get_visible_or_404(
        ConsumerAlert.objects.select_related("hazard", "product_category", "author", "approved_by"),
        request.user,
        pk=alert_id,
    )


@router.get(
    "/staff/alerts",
    response=list[RiskAlertStaffOut],
    summary="Every consumer alert with its confidential fields (analysts, office)",
)
@paginate(LimitOffsetPagination)
def staff_alerts(request: HttpRequest, status: ConsumerAlert.Status | None = None, q: str = ""):
    _staff_only(request)
    qs = services.search_alerts(request.user, q, status=status or "").select_related("author", "approved_by")
    qs = qs.prefetch_related("photos", "updates")
    return PageOf(qs.order_by(*qs.query.order_by or ConsumerAlert._meta.ordering, "-pk"), _alert_staff_out)


@router.get(
    "/alerts/{alert_id}/full",
    response={200: RiskAlertStaffOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="One consumer alert with its confidential fields (analysts, office)",
)
def staff_alert(request: HttpRequest, alert_id: int):
    return _alert_staff_out(_alert_for_staff(request, alert_id))


@router.post(
    "/alerts",
    response={201: RiskAlertStaffOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Draft a consumer alert (analysts, office)",
)
def create_alert(request: HttpRequest, payload: RiskAlertIn):
    _staff_only(request)
    alert = services.save_alert(request.user, _alert_data(request, payload))
    return Status(201, _alert_staff_out(alert))


@router.patch(
    "/alerts/{alert_id}",
    response={200: RiskAlertStaffOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Edit an alert: analysts their drafts, the office until approval",
)
def edit_alert(request: HttpRequest, alert_id: int, payload: RiskAlertIn):
    item = _alert_for_staff(request, alert_id)
    return _alert_staff_out(services.save_alert(request.user, _alert_data(request, payload), item))


#: Names the API also accepts for the alert workflow's transitions.
ALERT_TRANSITION_ALIASES = {"publish": "approve", "reject": "return"}


@router.post(
    "/alerts/{alert_id}/transitions/{transition}",
    response={200: RiskAlertStaffOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Move an alert: submit; approve (publish), return (reject) or withdraw (office)",
)
def move_alert(request: HttpRequest, alert_id: int, transition: str, payload: RiskTransitionIn):
    item = _alert_for_staff(request, alert_id)
    name = ALERT_TRANSITION_ALIASES.get(transition, transition)
    return _alert_staff_out(services.move_alert(request.user, item, name, payload.reason))


@router.post(
    "/alerts/{alert_id}/updates",
    response={201: RiskAlertStaffUpdateOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Add a follow-up update to a published alert (analysts, office)",
)
def add_alert_update(request: HttpRequest, alert_id: int, payload: RiskAlertUpdateIn):
    item = _alert_for_staff(request, alert_id)
    if not (payload.text_zh.strip() or payload.text_en.strip()):
        raise ValidationError({"text_en": ["Write the update (Chinese or English)."]})
    update = services.add_alert_update(request.user, item, payload.dict())
    return Status(
        201,
        RiskAlertStaffUpdateOut(
            id=update.pk,
            date=update.date,
            text_zh=update.text_zh,
            text_en=update.text_en,
            is_public=update.is_public,
        ),
    )


def _photo_out(photo) -> RiskAlertPhotoOut:
    from django.urls import reverse

    return RiskAlertPhotoOut(
        id=photo.pk,
        url=reverse("risk:alert_photo", args=[photo.alert_id, photo.pk]),
        caption_zh=photo.caption_zh,
        caption_en=photo.caption_en,
        position=photo.position,
    )


@router.post(
    "/alerts/{alert_id}/photos",
    response={201: RiskAlertPhotoOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Add a photo to an alert (multipart: image, caption_zh, caption_en): analysts their drafts, "
    "the office until approval",
)
def add_alert_photo(
    request: HttpRequest,
    alert_id: int,
    image: File[UploadedFile],
    caption_zh: Form[str] = "",
    caption_en: Form[str] = "",
):
    """The same checks as the alert page: JPEG, PNG or WebP by content, at most 5 MB, a real image."""
    from qslab.risk.forms import AlertPhotoForm

    item = _alert_for_staff(request, alert_id)
    form = AlertPhotoForm({"caption_zh": caption_zh, "caption_en": caption_en}, {"image": image})
    if not form.is_valid():
        raise ValidationError({k: list(v) for k, v in form.errors.items()})
    photo = services.add_alert_photo(
        request.user,
        item,
        form.cleaned_data["image"],
        form.cleaned_data["caption_zh"],
        form.cleaned_data["caption_en"],
    )
    return Status(201, _photo_out(photo))


@router.delete(
    "/alerts/{alert_id}/photos/{photo_id}",
    response={204: None, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Remove a photo from an alert: analysts their drafts, the office until approval",
)
def delete_alert_photo(request: HttpRequest, alert_id: int, photo_id: int):
    from django.http import Http404

    item = _alert_for_staff(request, alert_id)
    photo = item.photos.filter(pk=photo_id).first()
    if photo is None:
        raise Http404("No such photo.")
    services.delete_alert_photo(request.user, photo)
    return Status(204, None)


# -- the weekly digest of published alerts (public) -------------------------------------------------


class RiskDigestSummaryOut(Schema):
    year: int
    week: int
    start: dt.date
    end: dt.date
    n_alerts: int
    url: str


class RiskDigestOut(RiskDigestSummaryOut):
    """One week's digest: its published alerts with their public fields only (``RiskAlertOut``)."""

    alerts: list[RiskAlertOut]


def _digest_alerts(digest) -> list[ConsumerAlert]:  # type: ignore[no-untyped-def]
    """The digest's alerts that are still published (a withdrawn alert leaves the digest at once)."""
    return list(
        digest.alerts.filter(status=ConsumerAlert.Status.PUBLISHED)
        .select_related("hazard", "product_category")
        .prefetch_related("photos")
        .order_by("published_at", "id")
    )


@router.get(
    "/digests",
    response=list[RiskDigestSummaryOut],
    auth=PUBLIC,
    summary="Weekly digests of published consumer alerts, latest week first (public)",
)
@paginate(LimitOffsetPagination)
def digests(request: HttpRequest, year: Year | None = None):
    from django.db.models import Count, Q

    from qslab.risk.models import AlertDigest

    qs = AlertDigest.objects.visible_to(None).annotate(
        n_published=Count("alerts", filter=Q(alerts__status=ConsumerAlert.Status.PUBLISHED))
    )
    if year:
        qs = qs.filter(year=year)
    return PageOf(
        qs.order_by("-year", "-week", "-pk"),
        lambda d: RiskDigestSummaryOut(
            year=d.year,
            week=d.week,
            start=d.start,
            end=d.end,
            n_alerts=d.n_published,
            url=d.get_absolute_url(),
        ),
    )


@router.get(
    "/digests/{year}/{week}",
    response={200: RiskDigestOut, 401: ErrorOut, 404: ErrorOut},
    auth=PUBLIC,
    summary="One week's digest with its alerts (public fields only)",
)
def digest(request: HttpRequest, year: int, week: int):
    from qslab.risk.models import AlertDigest

    item = get_visible_or_404(AlertDigest, None, year=year, week=week)
    alerts = _digest_alerts(item)
    return RiskDigestOut(
        year=item.year,
        week=item.week,
        start=item.start,
        end=item.end,
        n_alerts=len(alerts),
        url=item.get_absolute_url(),
        alerts=[_alert_out(a) for a in alerts],
    )
