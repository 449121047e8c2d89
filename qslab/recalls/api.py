"""API of the recalls app (mounted at /api/recalls/): public recall notices and statistics, and for the
company, risk staff and authorities the full recall record, its workflow, progress and scope.

The public operations return :class:`RecallPublicOut`, which has no confidential field; the full
record (:class:`RecallOut`) is returned only for recalls in :meth:`Recall.confidential_q`.
"""

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from ninja import Field, File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate
from pydantic import StrictBool

from qslab.core.apitools import PUBLIC, ErrorOut, IsoDate, LimitOffsetPagination, PageOf, Year, require_office
from qslab.recalls import services
from qslab.recalls.models import Recall, split_serial

router = Router(tags=["recalls"])


class RecallPublicOut(Schema):
    """A published recall notice: only fields the public may read."""

    id: int
    reference: str
    status: str
    title_zh: str
    title_en: str
    company_zh: str
    company_en: str
    product_brand: str
    product_model: str
    product_gtin: str
    batches: list[str]
    serial_ranges: list[list[str]]
    hazard: str | None
    risk_level: str
    defect_zh: str
    defect_en: str
    remedy: str
    remedy_text_zh: str
    remedy_text_en: str
    advice_zh: str
    advice_en: str
    notice_zh: str
    notice_en: str
    start_date: dt.date | None
    planned_end: dt.date | None
    notice_published_at: dt.datetime | None
    notice_number: str | None
    closing_number: str | None = Field(None, description="number of the closing summary document")
    units_affected: int
    units_remedied: int
    effectiveness: float | None
    closed_on: dt.date | None


class RecallProgressOut(Schema):
    period_end: dt.date
    units_notified: int
    units_remedied: int
    summary_zh: str
    summary_en: str
    is_final: bool


class RecallProgressFullOut(RecallProgressOut):
    notes: str


class RecallOut(RecallPublicOut):
    """The full recall record, with its confidential fields (company, staff, authorities)."""

    investigation: str
    sales_channels: str
    contact_name: str
    contact_phone: str
    office_notes: str
    units_planned: int
    report_every_days: int = 90
    risk_assessment: int | None = Field(None, description="id of the risk assessment it follows")
    alert: int | None = Field(None, description="id of the consumer alert about it")
    progress: list[RecallProgressFullOut]


class RecallTransitionIn(Schema):
    reason: str = ""


class RecallProgressIn(Schema):
    period_end: dt.date
    units_notified: int = Field(0, ge=0)
    units_remedied: int = Field(..., ge=0)
    summary_zh: str = ""
    summary_en: str = ""
    notes: str = ""
    is_final: StrictBool = False


class RecallPartyOut(Schema):
    party_id: str
    party_name: str
    role: str
    region: str
    units_handled: int
    units_held: int
    units_sold: int
    units_recalled: int
    units_remedied: int


class RecallRegionOut(Schema):
    region: str
    units_handled: int
    units_held: int
    units_sold: int
    n_parties: int


class RecallScopeOut(Schema):
    criteria: str
    n_units: int
    n_in_supply_chain: int
    n_with_consumers: int
    n_recalled: int
    n_remedied: int
    effectiveness: float | None
    parties: list[RecallPartyOut]
    regions: list[RecallRegionOut]


class RecallScopeUnitOut(Schema):
    gtin: str
    serial: str
    model: str | None
    batch: str | None
    production_date: dt.date | None
    status: str
    last_kind: str | None
    last_at: dt.datetime | None
    last_party_id: str | None
    last_party_name: str | None
    last_party_role: str | None
    last_region: str | None
    recalled: bool
    remedied: bool


class RecallScopeUnitsOut(Schema):
    count: int
    items: list[RecallScopeUnitOut]


class RecallCountOut(Schema):
    label: str
    n: int


class FdaCountOut(Schema):
    label: str | int | None
    products: int
    events: int


class RecallStatisticsOut(Schema):
    recalls_by_year: list[RecallCountOut]
    recalls_by_hazard: list[RecallCountOut]
    recalls_by_remedy: list[RecallCountOut]
    fda_by_class: list[FdaCountOut]
    fda_by_reason: list[FdaCountOut]
    fda_by_year: list[FdaCountOut]
    alerts_by_hazard: list[RecallCountOut]
    alerts_by_category: list[RecallCountOut]


class RecallProductOut(Schema):
    id: int
    company: str
    company_id: int | None = None
    name_zh: str
    name_en: str
    brand: str
    model: str
    gtin: str
    category: str | None = None
    batches: list[str]


def _public(r: Recall) -> dict:
    return {
        "id": r.pk,
        "reference": r.reference,
        "status": r.status,
        "title_zh": r.title_zh,
        "title_en": r.title_en,
        "company_zh": r.company.name_zh,
        "company_en": r.company.name_en,
        "product_brand": r.product.brand,
        "product_model": r.product.model,
        "product_gtin": r.product.gtin,
        "batches": [b.lot for b in r.batches.all()],
        "serial_ranges": [list(x) for x in (r.serial_ranges or [])],
        "hazard": r.hazard.code if r.hazard_id else None,
        "risk_level": r.risk_level,
        "defect_zh": r.defect_zh,
        "defect_en": r.defect_en,
        "remedy": r.remedy,
        "remedy_text_zh": r.remedy_text_zh,
        "remedy_text_en": r.remedy_text_en,
        "advice_zh": r.advice_zh,
        "advice_en": r.advice_en,
        "notice_zh": r.notice_zh,
        "notice_en": r.notice_en,
        "start_date": r.start_date,
        "planned_end": r.planned_end,
        "notice_published_at": r.notice_published_at,
        "notice_number": r.notice_document.number if r.notice_document_id else None,
        "closing_number": r.closing_document.number if r.closing_document_id else None,
        "units_affected": r.units_affected,
        "units_remedied": r.units_remedied,
        "effectiveness": r.effectiveness,
        "closed_on": r.closed_on,
    }


def _public_out(r: Recall) -> RecallPublicOut:
    return RecallPublicOut(**_public(r))


def _full_out(r: Recall) -> RecallOut:
    return RecallOut(
        **_public(r),
        **{f: getattr(r, f) for f in Recall.CONFIDENTIAL_FIELDS},
        units_planned=r.units_planned,
        report_every_days=r.report_every_days,
        risk_assessment=r.risk_assessment_id,
        alert=r.alert_id,
        progress=[
            RecallProgressFullOut(
                period_end=p.period_end,
                units_notified=p.units_notified,
                units_remedied=p.units_remedied,
                summary_zh=p.summary_zh,
                summary_en=p.summary_en,
                is_final=p.is_final,
                notes=p.notes,
            )
            for p in (
                r.progress_reports.all()  # prefetched in date order by the list
                if "progress_reports" in getattr(r, "_prefetched_objects_cache", {})
                else r.progress_reports.order_by("period_end")
            )
        ],
    )


def _confidential(request: HttpRequest, recall_id: int) -> Recall:
    recall = services.confidential_for_user(request.user).filter(pk=recall_id).first()
    if recall is None:
        raise Http404
    return recall


@router.get(
    "/public",
    response=list[RecallPublicOut],
    auth=PUBLIC,
    summary="Published recall notices (public fields), with search and filters",
)
@paginate(LimitOffsetPagination)
def public_recalls(
    request: HttpRequest, q: str = "", hazard: str = "", remedy: str = "", year: Year | None = None
):
    qs = services.search_public_recalls(q[:200], hazard=hazard[:40], remedy=remedy, year=year)
    qs = qs.select_related("closing_document").prefetch_related("batches")
    return PageOf(qs.order_by("-notice_published_at", "-id"), _public_out)


@router.get(
    "/public/{recall_id}",
    response={200: RecallPublicOut, 401: ErrorOut, 404: ErrorOut},
    auth=PUBLIC,
    summary="One published recall notice (public fields)",
)
def public_recall(request: HttpRequest, recall_id: int):
    recall = services.published_recalls().filter(pk=recall_id).first()
    if recall is None:
        raise Http404
    return _public_out(recall)


@router.get(
    "/public/{recall_id}/progress",
    response=list[RecallProgressOut],
    auth=PUBLIC,
    summary="Progress reports of a published recall (public fields)",
)
def public_progress(request: HttpRequest, recall_id: int):
    recall = services.published_recalls().filter(pk=recall_id).first()
    if recall is None:
        raise Http404
    return list(recall.progress_reports.order_by("period_end"))


class SerialRecallOut(Schema):
    range: str = Field(..., description="the range (or batch) of the recall that holds the serial")
    recall: RecallPublicOut


class SerialBatchOut(Schema):
    product_id: int
    product: str
    gtin: str
    lot: str
    range: str


class SerialLookupOut(Schema):
    serial: str
    recalls: list[SerialRecallOut] = Field(..., description="published recalls whose scope holds it")
    batches: list[SerialBatchOut] = Field(..., description="batches holding it that the user may see")


@router.get(
    "/serial-lookup",
    response={200: SerialLookupOut, 401: ErrorOut, 422: ErrorOut},
    auth=PUBLIC,
    summary="Is this unit recalled? Published recalls (and the user's batches) whose serial range holds it",
)
def serial_lookup(request: HttpRequest, serial: str, gtin: str = ""):
    from qslab.core.validators import clean_gtin

    errors: dict[str, list[str]] = {}
    try:
        gtin = clean_gtin(gtin)
    except ValidationError as exc:
        errors["gtin"] = exc.messages
    try:
        split_serial(serial[:40])
    except ValidationError as exc:
        errors["serial"] = exc.messages
    if errors:
        raise ValidationError(errors)
    public = services.lookup_serial(None, serial[:40], gtin)
    own = services.lookup_serial(request.user, serial[:40], gtin)
    return SerialLookupOut(
        serial=public["serial"],
        recalls=[SerialRecallOut(range=where, recall=_public_out(r)) for r, where in public["recalls"]],
        batches=[
            SerialBatchOut(
                product_id=b.product_id, product=str(b.product), gtin=b.product.gtin, lot=b.lot, range=where
            )
            for b, where in own["batches"]
        ],
    )


@router.get(
    "/statistics",
    response=RecallStatisticsOut,
    auth=PUBLIC,
    summary="Recalls by year, hazard and remedy; FDA recalls by class, reason and year; alerts",
)
def recall_statistics(request: HttpRequest):
    domestic = services.domestic_statistics()
    fda = services.fda_statistics()
    alerts = services.alert_statistics()
    return RecallStatisticsOut(
        recalls_by_year=domestic["by_year"],
        recalls_by_hazard=domestic["by_hazard"],
        recalls_by_remedy=domestic["by_remedy"],
        fda_by_class=fda["by_class"],
        fda_by_reason=fda["by_reason"],
        fda_by_year=fda["by_year"],
        alerts_by_hazard=alerts["by_hazard"],
        alerts_by_category=alerts["by_category"],
    )


@router.get("/products/", response=list[RecallProductOut], summary="Products I may see (own company; staff)")
@paginate(LimitOffsetPagination)
def products(request: HttpRequest):
    from qslab.recalls.models import Product

    qs = Product.objects.visible_to(request.user).select_related("company").prefetch_related("batches")
    return PageOf(qs.select_related("category").order_by("brand", "model", "id"), _product_out)


def _product_out(p) -> RecallProductOut:  # type: ignore[no-untyped-def]
    return RecallProductOut(
        id=p.pk,
        company=p.company.name,
        company_id=p.company_id,
        name_zh=p.name_zh,
        name_en=p.name_en,
        brand=p.brand,
        model=p.model,
        gtin=p.gtin,
        category=p.category.code if p.category_id else None,
        batches=[b.lot for b in p.batches.all()],
    )


# -- products and batches (the company, or the office for it) ---------------------------------------


class RecallProductIn(Schema):
    company: int | None = Field(None, description="organisation id; may be left out by a company of one")
    name_zh: str = Field(..., min_length=1, max_length=200)
    name_en: str = Field("", max_length=200)
    brand: str = Field(..., min_length=1, max_length=120)
    model: str = Field(..., min_length=1, max_length=120)
    gtin: str = Field("", description="GTIN-8/12/13/14, checked by its check digit")
    category: str = Field("", description="product category code")


class RecallBatchIn(Schema):
    lot: str = Field(..., min_length=1, max_length=80)
    produced_from: dt.date
    produced_to: dt.date
    quantity: int | None = Field(None, ge=0, le=2_147_483_647)
    serial_first: str = Field("", max_length=40, description="e.g. SN-A000100")
    serial_last: str = Field("", max_length=40, description="same prefix and digit count as the first")


class RecallBatchOut(Schema):
    id: int
    product_id: int
    lot: str
    produced_from: dt.date
    produced_to: dt.date
    quantity: int | None
    serial_first: str
    serial_last: str


def _company_of(request: HttpRequest, company_id: int | None):  # type: ignore[no-untyped-def]
    """The organisation the user files for: one of ``companies_for(user)`` (403 for anyone else)."""
    companies = services.companies_for(request.user)
    if not companies.exists():
        raise PermissionDenied("Only a company (industry client) or the committee office may do this.")
    if company_id is None:
        if companies.count() == 1:
            return companies.first()
        raise ValidationError({"company": ["Name the company (you file for more than one)."]})
    company = companies.filter(pk=company_id).first()
    if company is None:
        raise ValidationError({"company": [f"Organisation {company_id} is not a company you file for."]})
    return company


@router.post(
    "/products/",
    response={201: RecallProductOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Record a product (GTIN checked): the company, or the office for it",
)
def create_product(request: HttpRequest, payload: RecallProductIn):
    from qslab.core.validators import clean_gtin
    from qslab.risk.models import Term

    company = _company_of(request, payload.company)
    data = payload.dict(exclude={"company"})
    errors: dict[str, list[str]] = {}
    try:
        data["gtin"] = clean_gtin(data["gtin"])
    except ValidationError as exc:
        errors["gtin"] = exc.messages
    code = data.pop("category")
    data["category"] = None
    if code:
        data["category"] = Term.objects.filter(kind=Term.Kind.PRODUCT, code=code, active=True).first()
        if data["category"] is None:
            errors["category"] = [f"Unknown product category code {code!r}."]
    if errors:
        raise ValidationError(errors)
    product = services.save_product(request.user, {**data, "company": company})
    return Status(201, _product_out(product))


class RecallProductPatch(Schema):
    name_zh: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    brand: str | None = Field(None, min_length=1, max_length=120)
    model: str | None = Field(None, min_length=1, max_length=120)
    gtin: str | None = Field(None, description="GTIN-8/12/13/14, checked by its check digit; '' removes it")
    category: str | None = Field(None, description="product category code; '' removes it")


@router.patch(
    "/products/{product_id}",
    response={200: RecallProductOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Change a product, the fields sent only (GTIN checked as on the form): its company, or the "
    "office; the company never changes",
)
def update_product(request: HttpRequest, product_id: int, payload: RecallProductPatch):
    """The product form itself checks the values (GTIN by python-stdnum, category, one product per brand
    and model of a company), so the API and the page accept and refuse the same products."""
    from qslab.core.permissions import get_editable_or_403
    from qslab.recalls.forms import ProductForm
    from qslab.recalls.models import Product
    from qslab.risk.models import Term

    product = get_editable_or_403(
        Product.objects.select_related("company", "category"), request.user, pk=product_id
    )
    changes = payload.dict(exclude_unset=True, exclude_none=True)
    data = {f: getattr(product, f) for f in ("name_zh", "name_en", "brand", "model", "gtin")}
    data["category"] = product.category_id or ""
    data |= {k: v for k, v in changes.items() if k != "category"}
    if "category" in changes:
        code = changes["category"].strip()
        term = Term.objects.filter(kind=Term.Kind.PRODUCT, code=code, active=True).first() if code else None
        if code and term is None:
            raise ValidationError({"category": [f"Unknown product category code {code!r}."]})
        data["category"] = term.pk if term else ""
    form = ProductForm(data, instance=product)
    if not form.is_valid():
        raise ValidationError({field: list(problems) for field, problems in form.errors.items()})
    updated = services.save_product(
        request.user, {f: form.cleaned_data[f] for f in services.PRODUCT_FIELDS}, product
    )
    return _product_out(
        Product.objects.prefetch_related("batches").select_related("company", "category").get(pk=updated.pk)
    )


@router.post(
    "/products/{product_id}/batches",
    response={201: RecallBatchOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Add a batch (lot, production period, quantity, serial range) to a product",
)
def create_batch(request: HttpRequest, product_id: int, payload: RecallBatchIn):
    from qslab.core.permissions import get_editable_or_403
    from qslab.recalls.models import Product

    product = get_editable_or_403(Product, request.user, pk=product_id)
    batch = services.add_batch(request.user, product, payload.dict())
    return Status(
        201,
        RecallBatchOut(
            product_id=batch.product_id,
            **{
                f: getattr(batch, f)
                for f in (
                    "id",
                    "lot",
                    "produced_from",
                    "produced_to",
                    "quantity",
                    "serial_first",
                    "serial_last",
                )
            },
        ),
    )


# -- supply-chain uploads (background task, like the page) ------------------------------------------


class RecallUploadOut(Schema):
    id: int
    company_id: int
    company: str
    kind: str
    file_name: str
    status: str = Field(..., description="queued, running, done, rejected (nothing written) or failed")
    n_rows: int
    n_inserted: int
    message: str
    problems: list[dict] = Field(..., description="every bad value: row, column, value, message")
    task_id: str
    progress_percent: int | None = Field(None, description="the background task's progress, while known")
    progress_message: str = ""
    url: str


def _upload_out(request: HttpRequest, u, tasks: dict | None = None) -> RecallUploadOut:  # type: ignore[no-untyped-def]
    """One upload; ``tasks`` are the page's task progress rows by task id, read by :func:`_uploads`."""
    from qslab.core.models import TaskProgress

    if tasks is not None:
        task = tasks.get(u.task_id) if u.task_id else None
    else:
        task = (
            TaskProgress.objects.visible_to(request.user).filter(task_id=u.task_id).first()
            if u.task_id
            else None
        )
    done = u.status in ("done", "rejected", "failed")
    return RecallUploadOut(
        id=u.pk,
        company_id=u.company_id,
        company=u.company.name,
        kind=u.kind,
        file_name=u.file_name,
        status=u.status,
        n_rows=u.n_rows,
        n_inserted=u.n_inserted,
        message=u.message,
        problems=u.problems or [],
        task_id=u.task_id,
        progress_percent=100 if done else (task.percent if task else None),
        progress_message=task.message if task else "",
        url=u.get_absolute_url(),
    )


@router.post(
    "/uploads",
    response={201: RecallUploadOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Upload units or supply-chain events (multipart: file, kind, company); checked and loaded "
    "by a background task, all or nothing",
)
def start_upload(
    request: HttpRequest,
    file: File[UploadedFile],
    kind: Form[str],
    company: Form[str] = "",
):
    """The page's checks: CSV (.csv, .csv.gz) or XLSX by name and content, at most 100 MB; a company
    loads records of its own products' GTINs only. Follow ``GET /uploads/{id}`` until it is done."""
    from qslab.recalls.forms import TraceUploadForm

    companies = services.companies_for(request.user)
    if not companies.exists():
        raise PermissionDenied("Only a company or the committee office uploads supply-chain records.")
    if not company.strip() and companies.count() == 1:
        company = str(companies.first().pk)
    form = TraceUploadForm({"company": company.strip(), "kind": kind}, {"file": file}, companies=companies)
    if not form.is_valid():
        raise ValidationError({k: list(v) for k, v in form.errors.items()})
    d = form.cleaned_data
    record = services.start_trace_upload(request.user, d["company"], d["kind"], d["file"])
    return Status(201, _upload_out(request, record))


@router.get("/uploads", response=list[RecallUploadOut], summary="Supply-chain uploads I may see")
@paginate(LimitOffsetPagination)
def uploads(request: HttpRequest, status: str = ""):
    from qslab.recalls.models import TraceUpload

    qs = TraceUpload.objects.visible_to(request.user).select_related("company")
    if status:
        qs = qs.filter(status=status[:10])
    return PageOf(qs.order_by("-created", "-id"), convert_page=lambda rows: _uploads(request, rows))


def _uploads(request: HttpRequest, rows: list) -> list[RecallUploadOut]:
    """A page of uploads converted together: the progress of their tasks the user may see comes in one
    query (one per upload otherwise)."""
    from qslab.core.models import TaskProgress

    tasks: dict = {}
    ids = [u.task_id for u in rows if u.task_id]
    if ids:
        tasks = {t.task_id: t for t in TaskProgress.objects.visible_to(request.user).filter(task_id__in=ids)}
    return [_upload_out(request, u, tasks) for u in rows]


@router.get(
    "/uploads/{upload_id}",
    response={200: RecallUploadOut, 401: ErrorOut, 404: ErrorOut},
    summary="One upload: its status, the task's progress, rows loaded and every problem",
)
def upload(request: HttpRequest, upload_id: int):
    from qslab.core.permissions import get_visible_or_404
    from qslab.recalls.models import TraceUpload

    return _upload_out(
        request, get_visible_or_404(TraceUpload.objects.select_related("company"), request.user, pk=upload_id)
    )


# -- the producer's statutory reports (deaths, serious injuries, major losses, recalls abroad) --------


class RecallProducerReportIn(Schema):
    company: int | None = Field(None, description="organisation id; may be left out by a company of one")
    rule: str = Field(..., description="what happened: a reporting rule's code, e.g. death-or-serious-injury")
    learned_on: dt.date = Field(..., description="the day the producer learned of it")
    occurred_on: dt.date | None = None
    product: int | None = Field(None, description="product id (the producer's)")
    recall: int | None = Field(None, description="recall id (the producer's)")
    description: str = Field(..., min_length=1, description="confidential")


class RecallProducerReportOut(Schema):
    id: int
    reference: str
    status: str
    company_id: int
    company: str
    rule: str
    rule_verified: bool = Field(..., description="false: the number of days is unverified, set by the office")
    learned_on: dt.date
    occurred_on: dt.date | None
    working_days: int
    due: dt.date
    overdue: bool
    reported_at: dt.datetime | None
    reported_late: bool
    product: int | None
    recall: int | None
    description: str
    report_text: str


def _producer_report_out(r) -> RecallProducerReportOut:  # type: ignore[no-untyped-def]
    return RecallProducerReportOut(
        id=r.pk,
        reference=r.reference,
        status=r.status,
        company_id=r.company_id,
        company=r.company.name,
        rule=r.rule.code,
        rule_verified=r.rule.verified,
        learned_on=r.learned_on,
        occurred_on=r.occurred_on,
        working_days=r.working_days,
        due=r.due,
        overdue=r.is_overdue,
        reported_at=r.reported_at,
        reported_late=r.reported_late,
        product=r.product_id,
        recall=r.recall_id,
        description=r.description,
        report_text=r.report_text,
    )


@router.get(
    "/incidents",
    response=list[RecallProducerReportOut],
    summary="Producers' incident reports I may see, with their due dates (company, staff, authorities)",
)
@paginate(LimitOffsetPagination)
def producer_reports(request: HttpRequest, status: str = "", overdue: bool = False):
    from django.utils import timezone

    qs = services.producer_reports_for(request.user)
    if status:
        qs = qs.filter(status=status[:10])
    if overdue:
        qs = qs.filter(status="open", due__lt=timezone.localdate())
    return PageOf(qs.order_by("-learned_on", "-id"), _producer_report_out)


@router.post(
    "/incidents",
    response={201: RecallProducerReportOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Record what the producer learned of; its report falls due the rule's working days later",
)
def record_producer_report(request: HttpRequest, payload: RecallProducerReportIn):
    from qslab.recalls.models import Product, ReportingRule

    company = _company_of(request, payload.company)
    data = payload.dict(exclude={"company"})
    errors: dict[str, list[str]] = {}
    rule = ReportingRule.objects.filter(code=data["rule"], active=True).first()
    if rule is None:
        errors["rule"] = [f"Unknown reporting rule {data['rule']!r}."]
    data["rule"] = rule
    if data["product"] is not None:
        data["product"] = Product.objects.filter(company=company, pk=data["product"]).first()
        if data["product"] is None:
            errors["product"] = [f"No product {payload.product} of this producer."]
    if data["recall"] is not None:
        data["recall"] = Recall.objects.filter(company=company, pk=data["recall"]).first()
        if data["recall"] is None:
            errors["recall"] = [f"No recall {payload.recall} of this producer."]
    if errors:
        raise ValidationError(errors)
    report = services.record_producer_report(request.user, {**data, "company": company})
    return Status(201, _producer_report_out(report))


@router.get(
    "/incidents/{report_id}",
    response={200: RecallProducerReportOut, 401: ErrorOut, 404: ErrorOut},
    summary="One producer's incident report",
)
def producer_report(request: HttpRequest, report_id: int):
    from qslab.core.permissions import get_visible_or_404

    return _producer_report_out(
        get_visible_or_404(services.producer_reports_for(request.user), request.user, pk=report_id)
    )


@router.post(
    "/incidents/{report_id}/transitions/{transition}",
    response={200: RecallProducerReportOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="report: the producer has reported it to the market regulator (reason: what was reported)",
)
def move_producer_report(request: HttpRequest, report_id: int, transition: str, payload: RecallTransitionIn):
    from qslab.core.permissions import get_visible_or_404

    item = get_visible_or_404(services.producer_reports_for(request.user), request.user, pk=report_id)
    return _producer_report_out(services.move_producer_report(request.user, item, transition, payload.reason))


# Paths with a fixed first segment (products, uploads, incidents...) are declared above: from here on,
# "/{recall_id}" (a str converter in the URL) would catch them.

# -- the recall plan (the company drafts; the office may act for it) --------------------------------


class RecallPlanIn(Schema):
    """A recall plan's fields; on an edit, only the fields sent change. Codes for the hazard; lots for
    the batches; serial ranges as pairs ``["SN-A000100", "SN-A000250"]``."""

    product: int | None = Field(None, description="product id (on creation; it never changes)")
    title_zh: str | None = Field(None, max_length=200)
    title_en: str | None = Field(None, max_length=200)
    hazard: str | None = Field(None, description="hazard code")
    risk_level: str | None = Field(None, description="serious, high, medium, low or empty")
    defect_zh: str | None = None
    defect_en: str | None = None
    batches: list[str] | None = Field(None, description="lots of the product in scope")
    serial_ranges: list[list[str]] | None = Field(None, description="[[first, last], ...]")
    units_planned: int | None = Field(None, ge=0, le=2_147_483_647)
    remedy: Recall.Remedy | None = None
    remedy_text_zh: str | None = None
    remedy_text_en: str | None = None
    advice_zh: str | None = None
    advice_en: str | None = None
    start_date: dt.date | None = None
    planned_end: dt.date | None = None
    report_every_days: int | None = Field(None, ge=7, le=366)
    notice_zh: str | None = None
    notice_en: str | None = None
    investigation: str | None = Field(None, description="confidential")
    sales_channels: str | None = Field(None, description="confidential")
    contact_name: str | None = Field(None, max_length=100, description="confidential")
    contact_phone: str | None = Field(None, max_length=40, description="confidential")
    office_notes: str | None = Field(None, description="confidential; the office only")
    risk_assessment: int | None = Field(None, description="completed risk assessment id; the office only")
    alert: int | None = Field(None, description="consumer alert id; the office only")


_PLAN_NULLABLE = (
    "product",
    "hazard",
    "batches",
    "serial_ranges",
    "start_date",
    "planned_end",
    "risk_assessment",
    "alert",
    "units_planned",
    "report_every_days",
    "remedy",
)


def _plan_data(request: HttpRequest, payload: RecallPlanIn, recall: Recall | None):  # type: ignore[no-untyped-def]
    """The sent fields as model values, the batches in scope (or None: unchanged); every problem at once."""
    from qslab.accounts.roles import Role, has_role
    from qslab.recalls.models import Batch, Product
    from qslab.risk.models import ConsumerAlert, RiskAssessment, Term

    user = request.user
    data = payload.dict(exclude_unset=True)
    data = {k: ("" if v is None and k not in _PLAN_NULLABLE else v) for k, v in data.items()}
    for k in ("units_planned", "report_every_days", "remedy"):
        if k in data and data[k] is None:
            del data[k]  # not nullable: null leaves the value as it is
    errors: dict[str, list[str]] = {}
    office = has_role(user, Role.OFFICE)
    product = recall.product if recall is not None else None
    if recall is None:
        product_id = data.pop("product", None)
        if product_id is None:
            errors["product"] = ["Name the product (its id)."]
        else:
            product = (
                Product.objects.editable_by(user)
                .filter(company__in=services.companies_for(user), pk=product_id)
                .first()
            )
            if product is None:
                errors["product"] = [f"No product {product_id} that you may recall."]
            data["product"] = product
    elif data.pop("product", None) not in (None, recall.product_id):
        errors["product"] = ["The product of a recall plan never changes."]
    if "hazard" in data:
        code = data["hazard"]
        data["hazard"] = None
        if code:
            data["hazard"] = Term.objects.filter(kind=Term.Kind.HAZARD, code=code, active=True).first()
            if data["hazard"] is None:
                errors["hazard"] = [f"Unknown hazard code {code!r}."]
    batches = None
    if "batches" in data:
        lots = [str(x).strip() for x in (data.pop("batches") or [])]
        if product is not None:
            batches = list(Batch.objects.filter(product=product, lot__in=lots))
            unknown = sorted(set(lots) - {b.lot for b in batches})
            if unknown:
                errors["batches"] = [f"Not batches of this product: {', '.join(unknown)}."]
    if "serial_ranges" in data:
        try:
            data["serial_ranges"] = services.check_serial_ranges(data["serial_ranges"] or [])
        except ValidationError as exc:
            errors.update(exc.message_dict)
    for field in ("office_notes", "risk_assessment", "alert"):
        if field in data and not office and data[field] not in ("", None):
            errors[field] = ["Only the committee office sets this."]
    if office and data.get("risk_assessment") is not None:
        found = RiskAssessment.objects.filter(status="completed", pk=data["risk_assessment"]).first()
        if found is None:
            errors["risk_assessment"] = [f"No completed risk assessment {data['risk_assessment']}."]
        data["risk_assessment"] = found
    if office and data.get("alert") is not None:
        found = ConsumerAlert.objects.exclude(status="withdrawn").filter(pk=data["alert"]).first()
        if found is None:
            errors["alert"] = [f"No consumer alert {data['alert']}."]
        data["alert"] = found
    if not office:
        for field in ("risk_assessment", "alert", "office_notes"):
            data.pop(field, None)
    if errors:
        raise ValidationError(errors)
    return data, batches


# -- laboratory testing: the office requests it, the laboratory's managers deliver the PDF report -------


class RecallLabRequestIn(Schema):
    laboratory: int = Field(..., description="id of the laboratory asked to test")
    assessment: int | None = Field(None, description="id of the risk assessment the testing is for")
    recall: int | None = Field(None, description="id of the recall whose defect analysis needs it")
    question: str = Field(..., min_length=1, max_length=5000, description="what to test")
    due: IsoDate | None = Field(None, description="report wanted by (YYYY-MM-DD)")


class RecallLabRequestOut(Schema):
    id: int
    laboratory: int
    laboratory_name: str
    assessment: int | None
    recall: int | None
    question: str
    due: dt.date | None
    status: str
    report_name: str
    report_summary: str
    report_url: str | None = Field(None, description="the checked download of the PDF report, once delivered")
    url: str


def _lab_request_out(t: Any) -> RecallLabRequestOut:
    return RecallLabRequestOut(
        id=t.pk,
        laboratory=t.laboratory_id,
        laboratory_name=t.laboratory.name,
        assessment=t.assessment_id,
        recall=t.recall_id,
        question=t.question,
        due=t.due,
        status=t.status,
        report_name=t.report_name,
        report_summary=t.report_summary,
        report_url=f"/api/recalls/lab-requests/{t.pk}/report" if t.report else None,
        url=t.get_absolute_url(),
    )


def _lab_requests_for(request: HttpRequest) -> Any:
    from qslab.recalls.models import LabTestRequest

    return LabTestRequest.objects.visible_to(request.user).select_related("laboratory")


@router.post(
    "/lab-requests",
    response={201: RecallLabRequestOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Ask a laboratory to test a product for a risk assessment or a recall (committee office)",
)
def create_lab_request(request: HttpRequest, payload: RecallLabRequestIn):
    from qslab.labs.models import Laboratory
    from qslab.risk.models import RiskAssessment

    require_office(request, "Only the committee office requests laboratory testing.")
    data: dict[str, Any] = payload.dict()
    errors: dict[str, list[str]] = {}
    for name, model in (("laboratory", Laboratory), ("assessment", RiskAssessment), ("recall", Recall)):
        if data[name] is not None:
            data[name] = model.objects.filter(pk=data[name]).first()
            if data[name] is None:
                errors[name] = [f"No {name} {getattr(payload, name)}."]
    if errors:
        raise ValidationError(errors)
    item = services.request_lab_test(request.user, data)
    return Status(201, _lab_request_out(item))


@router.get(
    "/lab-requests",
    response=list[RecallLabRequestOut],
    summary="Laboratory test requests I may see (risk staff: all; a laboratory's managers: their own)",
)
@paginate(LimitOffsetPagination)
def lab_requests(request: HttpRequest, status: str = ""):
    qs = _lab_requests_for(request)
    if status:
        qs = qs.filter(status=status[:10])
    return PageOf(qs, _lab_request_out)


@router.get(
    "/lab-requests/{request_id}",
    response={200: RecallLabRequestOut, 401: ErrorOut, 404: ErrorOut},
    summary="One laboratory test request",
)
def lab_request(request: HttpRequest, request_id: int):
    from qslab.core.permissions import get_visible_or_404

    return _lab_request_out(get_visible_or_404(_lab_requests_for(request), request.user, pk=request_id))


@router.post(
    "/lab-requests/{request_id}/report",
    response={
        200: RecallLabRequestOut,
        401: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
    },
    summary="Deliver the test report (multipart: file = the PDF, summary = the findings); the laboratory's "
    "managers, once",
)
def deliver_lab_report(
    request: HttpRequest, request_id: int, file: File[UploadedFile], summary: Form[str] = ""
):
    """The PDF is checked by name and content (UploadValidator), at most 20 MB."""
    from qslab.core.permissions import get_visible_or_404

    item = get_visible_or_404(_lab_requests_for(request), request.user, pk=request_id)
    try:
        delivered = services.deliver_lab_report(request.user, item, file, summary[:5000])
    except ValidationError as exc:
        raise ValidationError({"file": exc.messages}) from exc
    return _lab_request_out(delivered)


@router.get(
    "/lab-requests/{request_id}/report",
    response={200: None, 401: ErrorOut, 404: ErrorOut},
    summary="The delivered test report (PDF), through this checked download only",
    openapi_extra={"responses": {200: {"description": "PDF", "content": {"application/pdf": {}}}}},
)
def lab_request_report(request: HttpRequest, request_id: int):
    from qslab.core.permissions import get_visible_or_404
    from qslab.core.uploads import download_response

    item = get_visible_or_404(_lab_requests_for(request), request.user, pk=request_id)
    if not item.report:
        raise Http404("No report delivered yet.")
    return download_response(item.report, item.report_name or "report.pdf", "application/pdf")


def _full(request: HttpRequest, recall_id: int) -> RecallOut:
    return _full_out(_confidential(request, recall_id))


@router.post(
    "/",
    response={201: RecallOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Draft a recall plan for one of your products (the company, or the office)",
)
def create_recall(request: HttpRequest, payload: RecallPlanIn):
    if not services.companies_for(request.user).exists():
        raise PermissionDenied("Only a company (industry client) or the committee office files recall plans.")
    data, batches = _plan_data(request, payload, None)
    recall = services.save_recall(request.user, data, batches=batches)
    return Status(201, _full(request, recall.pk))


@router.patch(
    "/{recall_id}",
    response={200: RecallOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Change a recall plan: the company its drafts, the office any plan not closed",
)
def edit_recall(request: HttpRequest, recall_id: int, payload: RecallPlanIn):
    item = _confidential(request, recall_id)
    if not Recall.objects.editable_by(request.user).filter(pk=item.pk).exists():
        raise PermissionDenied("This recall plan cannot be changed now.")
    data, batches = _plan_data(request, payload, item)
    services.save_recall(request.user, data, recall=item, batches=batches)
    return _full(request, item.pk)


@router.get("/", response=list[RecallOut], summary="Recalls I work on (company, risk staff, authorities)")
@paginate(LimitOffsetPagination)
def recalls(request: HttpRequest, status: Recall.Status | None = None):
    from django.db.models import Prefetch

    from qslab.recalls.models import ProgressReport

    qs = services.confidential_for_user(request.user).prefetch_related(
        "batches", Prefetch("progress_reports", ProgressReport.objects.order_by("period_end"))
    )
    if status:
        qs = qs.filter(status=status)
    return PageOf(qs.select_related("closing_document").order_by("-created", "-id"), _full_out)


@router.get(
    "/{recall_id}", response={200: RecallOut, 401: ErrorOut, 404: ErrorOut}, summary="A full recall record"
)
def recall(request: HttpRequest, recall_id: int):
    return _full_out(_confidential(request, recall_id))


@router.post(
    "/{recall_id}/transitions/{transition}",
    response={200: RecallOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Move a recall: submit, return, approve, publish, start, close",
)
def move_recall(request: HttpRequest, recall_id: int, transition: str, payload: RecallTransitionIn):
    item = _confidential(request, recall_id)
    return _full_out(services.move_recall(request.user, item, transition, payload.reason))


@router.post(
    "/{recall_id}/progress",
    response={201: RecallProgressFullOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Report cumulative progress (the company or the office)",
)
def record_progress(request: HttpRequest, recall_id: int, payload: RecallProgressIn):
    from ninja import Status

    item = _confidential(request, recall_id)
    report = services.record_progress(request.user, item, payload.dict())
    return Status(201, report)


@router.get(
    "/{recall_id}/scope",
    response={200: RecallScopeOut, 401: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="The recall scope query: affected units, parties (distributors, retailers) and regions",
)
def recall_scope(request: HttpRequest, recall_id: int):
    item = _confidential(request, recall_id)
    result, error = services.scope_of_recall(item)
    if result is None:
        raise ValidationError(error)
    return RecallScopeOut(
        criteria=result.criteria.describe(),
        n_units=result.n_units,
        n_in_supply_chain=result.n_in_supply_chain,
        n_with_consumers=result.n_with_consumers,
        n_recalled=result.n_recalled,
        n_remedied=result.n_remedied,
        effectiveness=result.effectiveness,
        parties=[p.to_dict() for p in result.parties],
        regions=[r.to_dict() for r in result.regions],
    )


@router.get(
    "/{recall_id}/scope/units",
    response={200: RecallScopeUnitsOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="The units in the recall's scope, by batch and serial, a page at a time (limit, offset)",
)
def recall_scope_units(request: HttpRequest, recall_id: int, limit: int = 1000, offset: int = 0):
    item = _confidential(request, recall_id)
    if not (1 <= limit <= 10_000) or offset < 0:
        raise ValidationError({"limit": ["limit is 1 to 10,000 and offset at least 0."]})
    total, rows, error = services.scope_unit_page(item, limit, offset)
    if error:
        raise ValidationError(error)
    return RecallScopeUnitsOut(count=total, items=rows)
