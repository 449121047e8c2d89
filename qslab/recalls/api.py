"""API of the recalls app (mounted at /api/recalls/): public recall notices and statistics, and for the
company, risk staff and authorities the full recall record, its workflow, progress and scope.

The public operations return :class:`RecallPublicOut`, which has no confidential field; the full
record (:class:`RecallOut`) is returned only for recalls in :meth:`Recall.confidential_q`.
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from ninja import Field, Router, Schema
from ninja.pagination import paginate
from pydantic import StrictBool

from qslab.core.apitools import PUBLIC, ErrorOut, LimitOffsetPagination, Year
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
    name_zh: str
    name_en: str
    brand: str
    model: str
    gtin: str
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
            for p in r.progress_reports.order_by("period_end")
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
    return [_public_out(r) for r in qs.prefetch_related("batches")]


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
    return [
        RecallProductOut(
            id=p.pk,
            company=p.company.name,
            name_zh=p.name_zh,
            name_en=p.name_en,
            brand=p.brand,
            model=p.model,
            gtin=p.gtin,
            batches=[b.lot for b in p.batches.all()],
        )
        for p in qs
    ]


@router.get("/", response=list[RecallOut], summary="Recalls I work on (company, risk staff, authorities)")
@paginate(LimitOffsetPagination)
def recalls(request: HttpRequest, status: Recall.Status | None = None):
    qs = services.confidential_for_user(request.user).prefetch_related("batches", "progress_reports")
    if status:
        qs = qs.filter(status=status)
    return [_full_out(r) for r in qs]


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
