"""API of the sharing app (mounted at /api/sharing/): catalogue, availability, bookings, service
requests, invoices and usage figures."""

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import StrictBool

from qslab.core.apitools import PUBLIC, ErrorOut, IsoDate, LimitOffsetPagination, PageOf
from qslab.core.permissions import get_visible_or_404
from qslab.labs.models import Laboratory
from qslab.sharing import services
from qslab.sharing.models import (
    Booking,
    CustodyEvent,
    Invoice,
    Resource,
    Sample,
    ServiceRequest,
    Tariff,
    UserClass,
    manages_lab,
)

router = Router(tags=["sharing"])

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class SharingTariffOut(Schema):
    user_class: str
    unit: str
    price: Decimal


class SharingTariffIn(Schema):
    user_class: UserClass
    unit: Tariff.Unit
    price: Decimal | None = Field(None, ge=0, max_digits=10, decimal_places=2)


class SharingTariffsIn(Schema):
    tariffs: list[SharingTariffIn]


class SharingPriceOut(Schema):
    user_class: str
    hourly: Decimal | None
    per_sample: Decimal | None
    amount: Decimal | None


class ResourceOut(Schema):
    id: int
    lab_code: str
    code: str
    kind: str
    name_zh: str
    name_en: str
    model_name: str
    maker: str
    value: Decimal | None
    location: str
    status: str
    capabilities_zh: str
    capabilities_en: str
    accreditation_scope: str
    bookable: bool
    requires_approval: bool
    requires_qualification: bool
    tariffs: list[SharingTariffOut]


class ResourceIn(Schema):
    code: str = Field(..., min_length=1, max_length=40, pattern=r"^[-a-zA-Z0-9_]+$")
    kind: Resource.Kind = Resource.Kind.INSTRUMENT
    name_zh: str = Field(..., min_length=1, max_length=200)
    name_en: str = Field(..., min_length=1, max_length=200)
    model_name: str = ""
    maker: str = ""
    value: Decimal | None = None
    location: str = ""
    capabilities_zh: str = ""
    capabilities_en: str = ""
    accreditation_scope: str = ""
    requires_approval: StrictBool = False
    requires_qualification: StrictBool = False
    tariffs: list[SharingTariffIn] = []


class SlotOut(Schema):
    starts: dt.datetime
    ends: dt.datetime
    kind: str


class DayOut(Schema):
    date: dt.date
    open: bool
    taken: list[SlotOut]


class SharingWindowOut(Schema):
    starts: dt.datetime
    ends: dt.datetime


class SharingFreeResourceOut(Schema):
    resource_id: int
    code: str
    lab_code: str
    name_zh: str
    name_en: str
    first_free: dt.datetime
    free_minutes: int
    windows: list[SharingWindowOut]


class BookingOut(Schema):
    id: int
    resource_id: int
    resource_code: str
    starts: dt.datetime
    ends: dt.datetime
    status: str
    user_class: str
    purpose: str
    amount: Decimal
    actions: list[str]


class BookingIn(Schema):
    starts: dt.datetime
    ends: dt.datetime
    purpose: str = Field("", max_length=300)
    repeat_weeks: int = Field(1, ge=1, le=26)


class SharingTransitionIn(Schema):
    reason: str = ""


class SharingCustodyOut(Schema):
    action: str
    at: dt.datetime
    by: str
    holder: str
    location: str
    note: str


class SharingSampleOut(Schema):
    id: int
    code: str
    description: str
    quantity: str
    condition: str
    condition_note: str
    received_at: dt.datetime
    disposition: str
    holder: str
    location: str
    custody: list[SharingCustodyOut]


class SharingSampleIn(Schema):
    description: str = Field(..., min_length=1, max_length=300)
    quantity: str = Field("", max_length=60)
    condition: Sample.Condition = Sample.Condition.INTACT
    condition_note: str = Field("", max_length=300)


class SharingReceiptIn(Schema):
    samples: list[SharingSampleIn] = Field(..., min_length=1, max_length=100)
    location: str = Field("", max_length=200)
    note: str = ""


class SharingCustodyIn(Schema):
    action: CustodyEvent.Action
    holder: str = Field("", max_length=150)
    location: str = Field("", max_length=200)
    note: str = Field("", max_length=300)


class SharingResultsIn(Schema):
    method: str = Field("", max_length=300)
    results_zh: str = Field(..., min_length=1)
    results_en: str = Field(..., min_length=1)


class RequestOut(Schema):
    id: int
    lab_code: str
    resource_id: int | None
    title: str
    details: str
    samples: int
    status: str
    user_class: str
    estimate: Decimal | None
    quote_amount: Decimal | None
    received_at: dt.datetime | None
    samples_received: list[SharingSampleOut]
    method: str
    report_number: str | None
    invoice_number: str | None


class RequestIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    details: str = ""
    samples: int = Field(1, ge=1)
    resource_id: int | None = None


class QuoteIn(Schema):
    amount: Decimal | None = Field(None, ge=0, description="omitted: the price by the tariff")
    note: str = ""


class InvoiceOut(Schema):
    id: int
    number: str
    lab_code: str
    period: str
    total: Decimal
    lines: list[list[str]]


class UsageResourceOut(Schema):
    code: str
    name_zh: str
    name_en: str
    kind: str
    hours: float
    external_hours: float
    bookings: int
    utilisation: float


class UsageOut(Schema):
    lab: str
    year: int
    machine_hours: float
    external_hours: float
    external_share: float
    clients: int
    external_clients: int
    bookings: int
    service_requests: int
    service_requests_invoiced: int
    resources: list[UsageResourceOut]


def _resource_out(r: Resource) -> ResourceOut:
    return ResourceOut(
        lab_code=r.lab.code,
        tariffs=[
            SharingTariffOut(user_class=t.user_class, unit=t.unit, price=t.price) for t in r.tariffs.all()
        ],
        **{f: getattr(r, f) for f in ResourceOut.model_fields if f not in ("lab_code", "tariffs")},
    )


def _booking_out(b: Booking, user) -> BookingOut:  # type: ignore[no-untyped-def]
    return BookingOut(
        id=b.id,
        resource_id=b.resource_id,
        resource_code=b.resource.code,
        starts=b.starts,
        ends=b.ends,
        status=b.status,
        user_class=b.user_class,
        purpose=b.purpose,
        amount=b.amount,
        actions=[t.name for t in Booking.workflow.available(b, user)],
    )


def _request_out(r: ServiceRequest) -> RequestOut:
    listed = "sample_items" in getattr(r, "_prefetched_objects_cache", {})  # read with the page
    if listed:
        invoice = getattr(r, "invoice", None)  # joined by the list (None when there is none)
        samples = r.sample_items.all()
    else:
        invoice = Invoice.objects.filter(service_request=r).select_related("document").first()
        samples = r.sample_items.prefetch_related("custody", "custody__by")
    return RequestOut(
        id=r.id,
        lab_code=r.lab.code,
        resource_id=r.resource_id,
        title=r.title,
        details=r.details,
        samples=r.samples,
        status=r.status,
        user_class=r.user_class,
        estimate=r.estimate,
        quote_amount=r.quote_amount,
        received_at=r.received_at,
        samples_received=[
            SharingSampleOut(
                id=x.id,
                code=x.code,
                description=x.description,
                quantity=x.quantity,
                condition=x.condition,
                condition_note=x.condition_note,
                received_at=x.received_at,
                disposition=x.disposition,
                holder=x.holder,
                location=x.location,
                custody=[
                    SharingCustodyOut(
                        action=e.action,
                        at=e.at,
                        by=e.by.username,
                        holder=e.holder,
                        location=e.location,
                        note=e.note,
                    )
                    for e in x.custody.all()
                ],
            )
            for x in samples
        ],
        method=r.method,
        report_number=r.report.number if r.report_id else None,
        invoice_number=invoice.document.number if invoice else None,
    )


# ---- catalogue -----------------------------------------------------------------------------------


@router.get(
    "/resources", response=list[ResourceOut], auth=PUBLIC, summary="Search the shared-resource catalogue"
)
@paginate(LimitOffsetPagination)
def resources(
    request: HttpRequest, q: str = "", kind: str = "", lab: str = "", status: str = "", region: str = ""
):
    found = services.search_catalogue(request.user, q=q, kind=kind, lab=lab, status=status, region=region)
    return PageOf(found.prefetch_related("tariffs"), _resource_out)


@router.get("/resources/{resource_id}", response={200: ResourceOut, **ERRORS}, auth=PUBLIC)
def resource(request: HttpRequest, resource_id: int):
    return _resource_out(
        get_visible_or_404(Resource.objects.select_related("lab"), request.user, pk=resource_id)
    )


@router.get(
    "/resources/{resource_id}/availability",
    response={200: list[DayOut], **ERRORS},
    auth=PUBLIC,
    summary="Taken times of a resource for the week starting on a date (default: this week)",
)
def availability(request: HttpRequest, resource_id: int, week: IsoDate | None = None):
    item = get_visible_or_404(Resource, request.user, pk=resource_id)
    day = week or timezone.localdate()
    monday = day - dt.timedelta(days=day.weekday())
    return [
        DayOut(
            date=d.date,
            open=d.open,
            taken=[SlotOut(starts=e.starts, ends=e.ends, kind=e.kind) for e in d.entries],
        )
        for d in services.week_of(item, request.user, monday)
    ]


@router.get(
    "/availability",
    response=list[SharingFreeResourceOut],
    auth=PUBLIC,
    summary="Bookable resources with a free window of at least `minutes` in the week of `week`",
)
@paginate(LimitOffsetPagination)
def search_availability(
    request: HttpRequest,
    week: IsoDate | None = None,
    minutes: int = Query(60, ge=15, le=1440),
    q: str = "",
    kind: str = "",
    lab: str = "",
    region: str = "",
):
    # PostgreSQL refuses text with a NUL character (a server error); no search term needs one.
    q, kind, lab, region = (value.replace("\x00", "") for value in (q, kind, lab, region))
    found = services.search_availability(
        request.user, week or timezone.localdate(), minutes, q=q, kind=kind, lab=lab, region=region
    )
    return [
        SharingFreeResourceOut(
            resource_id=f.resource_id,
            code=f.code,
            lab_code=f.lab_code,
            name_zh=f.name_zh,
            name_en=f.name_en,
            first_free=f.first_free,
            free_minutes=f.free_minutes,
            windows=[SharingWindowOut(starts=s, ends=e) for s, e in f.windows],
        )
        for f in found
    ]


@router.post(
    "/labs/{lab_id}/resources",
    response={201: ResourceOut, **ERRORS},
    summary="Add a shared resource to a laboratory (its lab managers)",
)
def create_resource(request: HttpRequest, lab_id: int, payload: ResourceIn):
    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    data = payload.dict()
    prices = {(t["user_class"], t["unit"]): t["price"] for t in data.pop("tariffs")}
    with transaction.atomic():
        item = services.save_resource(request.user, lab, data)
        if prices:
            services.set_tariffs(request.user, item, prices)
    return Status(201, _resource_out(item))


@router.put(
    "/resources/{resource_id}/tariffs",
    response={200: ResourceOut, **ERRORS},
    summary="Set prices per hour or per sample by user class (its lab managers; price null removes one)",
)
def set_tariffs(request: HttpRequest, resource_id: int, payload: SharingTariffsIn):
    item = get_visible_or_404(Resource.objects.select_related("lab"), request.user, pk=resource_id)
    services.set_tariffs(request.user, item, {(t.user_class, t.unit): t.price for t in payload.tariffs})
    return _resource_out(item)


@router.get(
    "/resources/{resource_id}/price",
    response={200: SharingPriceOut, **ERRORS},
    auth=PUBLIC,
    summary="What the caller would pay: their user class, its tariffs, and the amount for a time or samples",
)
def price(
    request: HttpRequest,
    resource_id: int,
    starts: dt.datetime | None = None,
    ends: dt.datetime | None = None,
    samples: int | None = None,
):
    item = get_visible_or_404(Resource.objects.select_related("lab"), request.user, pk=resource_id)
    q = services.price_quote(request.user, item, starts, ends, samples)
    return SharingPriceOut(user_class=q.user_class, hourly=q.hourly, per_sample=q.per_sample, amount=q.amount)


# ---- bookings ------------------------------------------------------------------------------------


@router.get("/bookings", response=list[BookingOut], summary="My bookings (lab managers: their labs' too)")
@paginate(LimitOffsetPagination)
def bookings(request: HttpRequest, status: str = ""):
    qs = Booking.objects.visible_to(request.user).select_related("resource", "resource__lab")
    if status:
        qs = qs.filter(status=status)
    return PageOf(qs.order_by("starts", "pk"), lambda b: _booking_out(b, request.user))


@router.post(
    "/resources/{resource_id}/bookings",
    response={201: list[BookingOut], **ERRORS},
    summary="Book a resource (weekly: all or nothing); every rule is checked, a refusal names each one",
)
def create_booking(request: HttpRequest, resource_id: int, payload: BookingIn):
    item = get_visible_or_404(Resource.objects.select_related("lab"), request.user, pk=resource_id)
    made = services.book_recurring(
        request.user, item, payload.starts, payload.ends, payload.purpose, payload.repeat_weeks
    )
    return Status(201, [_booking_out(b, request.user) for b in made])


@router.get("/bookings/{booking_id}", response={200: BookingOut, **ERRORS})
def booking(request: HttpRequest, booking_id: int):
    b = get_visible_or_404(
        Booking.objects.select_related("resource", "resource__lab"), request.user, pk=booking_id
    )
    return _booking_out(b, request.user)


@router.post(
    "/bookings/{booking_id}/transitions/{transition}",
    response={200: BookingOut, **ERRORS},
    summary="approve, reject, check_in, complete, cancel, withdraw, no_show",
)
def move_booking(request: HttpRequest, booking_id: int, transition: str, payload: SharingTransitionIn):
    b = get_visible_or_404(
        Booking.objects.select_related("resource", "resource__lab"), request.user, pk=booking_id
    )
    return _booking_out(services.move_booking(request.user, b, transition, payload.reason), request.user)


# ---- service requests, invoices, usage -----------------------------------------------------------


@router.get("/requests", response=list[RequestOut], summary="My service requests (lab managers: their labs')")
@paginate(LimitOffsetPagination)
def service_requests(request: HttpRequest):
    qs = (
        ServiceRequest.objects.visible_to(request.user)
        .select_related("lab", "report", "invoice__document")
        .prefetch_related("sample_items__custody__by")
    )
    return PageOf(qs.order_by("-created", "-pk"), _request_out)


@router.post(
    "/labs/{lab_id}/requests", response={201: RequestOut, **ERRORS}, summary="Ask a laboratory for a service"
)
def create_request(request: HttpRequest, lab_id: int, payload: RequestIn):
    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    data = payload.dict()
    rid = data.pop("resource_id")
    data["resource"] = get_visible_or_404(Resource, request.user, pk=rid) if rid else None
    return Status(201, _request_out(services.request_service(request.user, lab, data)))


@router.get("/requests/{request_id}", response={200: RequestOut, **ERRORS})
def service_request(request: HttpRequest, request_id: int):
    return _request_out(
        get_visible_or_404(ServiceRequest.objects.select_related("lab"), request.user, pk=request_id)
    )


@router.post(
    "/requests/{request_id}/quote",
    response={200: RequestOut, **ERRORS},
    summary="Quote a price (lab managers)",
)
def quote_request(request: HttpRequest, request_id: int, payload: QuoteIn):
    item = get_visible_or_404(ServiceRequest.objects.select_related("lab"), request.user, pk=request_id)
    return _request_out(services.quote_request(request.user, item, payload.amount, payload.note))


@router.post(
    "/requests/{request_id}/transitions/{transition}",
    response={200: RequestOut, **ERRORS},
    summary="decline, accept, cancel, start, invoice (receipt and report have their own operations)",
)
def move_request(request: HttpRequest, request_id: int, transition: str, payload: SharingTransitionIn):
    item = get_visible_or_404(ServiceRequest.objects.select_related("lab"), request.user, pk=request_id)
    return _request_out(services.move_request(request.user, item, transition, payload.reason))


@router.post(
    "/requests/{request_id}/samples",
    response={200: RequestOut, **ERRORS},
    summary="Record the samples received with their condition on arrival (lab managers; accepted requests)",
)
def receive_samples(request: HttpRequest, request_id: int, payload: SharingReceiptIn):
    item = get_visible_or_404(ServiceRequest.objects.select_related("lab"), request.user, pk=request_id)
    services.receive_samples(
        request.user, item, [x.dict() for x in payload.samples], payload.location, payload.note
    )
    item.refresh_from_db()
    return _request_out(item)


@router.post(
    "/samples/{sample_id}/custody",
    response={200: RequestOut, **ERRORS},
    summary="Add a link to a sample's chain of custody: stored, handed over, tested, returned, disposed",
)
def record_custody(request: HttpRequest, sample_id: int, payload: SharingCustodyIn):
    sample = get_visible_or_404(Sample.objects.select_related("request__lab"), request.user, pk=sample_id)
    services.record_custody(
        request.user, sample, payload.action, payload.holder, payload.location, payload.note
    )
    return _request_out(sample.request)


@router.post(
    "/requests/{request_id}/report",
    response={200: RequestOut, **ERRORS},
    summary="Write the results and issue the numbered test report, zh + en PDF (lab managers; work started)",
)
def issue_report(request: HttpRequest, request_id: int, payload: SharingResultsIn):
    item = get_visible_or_404(ServiceRequest.objects.select_related("lab"), request.user, pk=request_id)
    return _request_out(
        services.issue_report(request.user, item, payload.results_zh, payload.results_en, payload.method)
    )


@router.get("/invoices", response=list[InvoiceOut], summary="My invoices (lab managers: their labs')")
@paginate(LimitOffsetPagination)
def invoices(request: HttpRequest):
    qs = Invoice.objects.visible_to(request.user).select_related("lab", "document")
    return PageOf(
        qs.order_by("-created", "-pk"),
        lambda i: InvoiceOut(
            id=i.id,
            number=i.document.number,
            lab_code=i.lab.code,
            period=i.period,
            total=i.total,
            lines=i.lines,
        ),
    )


@router.get(
    "/labs/{lab_id}/usage",
    response={200: UsageOut, **ERRORS},
    summary="Machine hours, external share and clients of a laboratory in a year",
)
def usage(request: HttpRequest, lab_id: int, year: int | None = None):
    from qslab.accounts.roles import Role, has_role

    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    if not (manages_lab(request.user, lab) or has_role(request.user, Role.COMMITTEE)):
        raise Http404
    return services.usage_summary(lab, year or timezone.localdate().year)
