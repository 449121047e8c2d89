"""API of the outputs app (mounted at /api/outputs/): standards and their lifecycle, other outputs and
their verification, bulk import, the standard-number checker and the figures per laboratory and year."""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import StrictBool

from qslab.core.apitools import PUBLIC, ErrorOut, LimitOffsetPagination, PageOf
from qslab.core.permissions import get_visible_or_404
from qslab.labs.models import Laboratory
from qslab.outputs import imports, services
from qslab.outputs.identifiers import IdentifierError, parse_standard_number
from qslab.outputs.models import Output, OutputKind, StaffMember, StaffRole, Standard

router = Router(tags=["outputs"])

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


class StandardOut(Schema):
    id: int
    laboratory: str
    number: str
    project_number: str
    level: str
    nature: str
    title_zh: str
    title_en: str
    role: str
    stage: str
    proposed_on: dt.date | None
    project_approved_on: dt.date | None
    approved_on: dt.date | None
    published_on: dt.date | None
    implemented_on: dt.date | None
    withdrawn_on: dt.date | None
    verification: str
    verification_note: str
    verified_on: dt.date | None


class StandardIn(Schema):
    laboratory_id: int
    number: str = ""
    project_number: str = ""
    level: str = ""
    title_zh: str = Field(..., min_length=1, max_length=300)
    title_en: str = ""
    role: str = "lead"
    implemented_on: dt.date | None = None
    notes: str = ""


class StandardPatch(Schema):
    number: str | None = None
    project_number: str | None = None
    level: str | None = None
    title_zh: str | None = None
    title_en: str | None = None
    role: str | None = None
    implemented_on: dt.date | None = None
    notes: str | None = None


class StandardMove(Schema):
    reason: str = ""
    on: dt.date | None = None


class OutputOut(Schema):
    id: int
    laboratory: str
    kind: str
    title_zh: str
    title_en: str
    year: int
    date: dt.date | None
    people: str
    doi: str
    patent_type: str
    application_number: str
    grant_number: str
    granted_on: dt.date | None
    value: Decimal | None
    participants: int | None
    counterpart: str
    status: str
    rejection_reason: str


class OutputIn(Schema):
    laboratory_id: int
    kind: OutputKind
    title_zh: str = Field(..., min_length=1, max_length=300)
    title_en: str = ""
    year: int
    date: dt.date | None = None
    people: str = ""
    description: str = ""
    doi: str = ""
    journal: str = ""
    patent_type: str = ""
    application_number: str = ""
    grant_number: str = ""
    granted_on: dt.date | None = None
    value: Decimal | None = None
    participants: int | None = None
    counterpart: str = ""
    policy_question: str = ""
    impact_assessment: str = ""


class OutputPatch(Schema):
    title_zh: str | None = None
    title_en: str | None = None
    year: int | None = None
    date: dt.date | None = None
    people: str | None = None
    description: str | None = None
    doi: str | None = None
    journal: str | None = None
    application_number: str | None = None
    grant_number: str | None = None
    granted_on: dt.date | None = None
    value: Decimal | None = None
    participants: int | None = None
    counterpart: str | None = None
    policy_question: str | None = None
    impact_assessment: str | None = None


class ReasonIn(Schema):
    reason: str = ""


class OutputImportIn(Schema):
    format: str = Field("csv", pattern="^csv$")
    content: str = Field(..., description="the CSV text, header first")
    dry_run: StrictBool = False


class OutputImportOut(Schema):
    dry_run: bool
    rows: int
    created: list[int]


class NumberOut(Schema):
    text: str
    code: str
    level: str
    nature: str
    issuer: str
    serial: str
    parts: list[str]
    year: int


def _standard_out(s: Standard) -> dict[str, Any]:
    return {
        **{f: getattr(s, f) for f in StandardOut.model_fields if f != "laboratory"},
        "laboratory": s.laboratory.code,
    }


def _output_out(o: Output) -> dict[str, Any]:
    return {
        **{f: getattr(o, f) for f in OutputOut.model_fields if f != "laboratory"},
        "laboratory": o.laboratory.code,
    }


def _lab(user: Any, lab_id: int) -> Laboratory:
    return get_visible_or_404(Laboratory, user, pk=lab_id)


# ---- standards ------------------------------------------------------------------------------------


@router.get(
    "/standards", response=list[StandardOut], auth=PUBLIC, summary="Standards I may see (public: published)"
)
@paginate(LimitOffsetPagination)
def list_standards(request: HttpRequest, laboratory: str = "", stage: str = "", level: str = ""):
    qs = Standard.objects.visible_to(request.user).select_related("laboratory")
    if laboratory:
        qs = qs.filter(laboratory__code=laboratory)
    if stage:
        qs = qs.filter(stage=stage)
    if level:
        qs = qs.filter(level=level)
    return PageOf(qs.order_by("laboratory", "-published_on", "number", "pk"), _standard_out)


@router.get("/standards/{standard_id}", response={200: StandardOut, **ERRORS}, auth=PUBLIC)
def get_standard(request: HttpRequest, standard_id: int):
    return _standard_out(
        get_visible_or_404(Standard.objects.select_related("laboratory"), request.user, pk=standard_id)
    )


@router.post(
    "/standards",
    response={201: StandardOut, **ERRORS, 422: ErrorOut},
    summary="Record a standard the laboratory proposes or joins (own laboratory; office)",
)
def create_standard(request: HttpRequest, payload: StandardIn):
    data = payload.dict()
    lab = _lab(request.user, data.pop("laboratory_id"))
    return Status(201, _standard_out(services.record_standard(request.user, lab, data)))


@router.patch("/standards/{standard_id}", response={200: StandardOut, **ERRORS, 422: ErrorOut})
def update_standard(request: HttpRequest, standard_id: int, payload: StandardPatch):
    item = get_visible_or_404(Standard.objects.select_related("laboratory"), request.user, pk=standard_id)
    data = payload.dict(exclude_unset=True)
    return _standard_out(services.edit_standard(request.user, item, data))


@router.post(
    "/standards/{standard_id}/transitions/{transition}",
    response={200: StandardOut, **ERRORS, 409: ErrorOut, 422: ErrorOut},
    summary="Lifecycle step: approve_project, start_drafting, circulate, submit_review, send_back, approve, "
    "publish, revise, withdraw",
)
def move_standard(request: HttpRequest, standard_id: int, transition: str, payload: StandardMove):
    item = get_visible_or_404(Standard.objects.select_related("laboratory"), request.user, pk=standard_id)
    return _standard_out(
        services.move_standard(request.user, item, transition, payload.reason, on=payload.on)
    )


@router.post(
    "/standards/{standard_id}/verification/{transition}",
    response={200: StandardOut, **ERRORS, 409: ErrorOut},
    summary="Verification of the claim: verify, reject (office, with reason), resubmit (laboratory), "
    "reopen (office, with reason)",
)
def verify_standard(request: HttpRequest, standard_id: int, transition: str, payload: ReasonIn):
    item = get_visible_or_404(Standard.objects.select_related("laboratory"), request.user, pk=standard_id)
    return _standard_out(services.verify_standard(request.user, item, transition, payload.reason))


@router.get(
    "/standard-numbers/check",
    response={200: NumberOut, 422: ErrorOut},
    auth=PUBLIC,
    summary="Parse a standard number",
)
def check_standard_number(request: HttpRequest, number: str):
    try:
        parsed = parse_standard_number(number)
    except IdentifierError as exc:
        return Status(
            422,
            {"detail": str(exc), "code": "invalid", "errors": [{"field": "number", "messages": [str(exc)]}]},
        )
    return {**parsed.__dict__, "parts": list(parsed.parts)}


# ---- other outputs --------------------------------------------------------------------------------


@router.get("/items", response=list[OutputOut], auth=PUBLIC, summary="Outputs I may see (public: verified)")
@paginate(LimitOffsetPagination)
def list_outputs(
    request: HttpRequest, laboratory: str = "", kind: str = "", status: str = "", year: int | None = None
):
    qs = Output.objects.visible_to(request.user).select_related("laboratory")
    if laboratory:
        qs = qs.filter(laboratory__code=laboratory)
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    if year:
        qs = qs.filter(year=year)
    return PageOf(qs.order_by("laboratory", "-year", "kind", "pk"), _output_out)


@router.get("/items/{output_id}", response={200: OutputOut, **ERRORS}, auth=PUBLIC)
def get_output(request: HttpRequest, output_id: int):
    return _output_out(
        get_visible_or_404(Output.objects.select_related("laboratory"), request.user, pk=output_id)
    )


@router.post(
    "/items",
    response={201: OutputOut, **ERRORS, 422: ErrorOut},
    summary="Claim an output (own laboratory; office)",
)
def create_output(request: HttpRequest, payload: OutputIn):
    data = payload.dict()
    lab = _lab(request.user, data.pop("laboratory_id"))
    data["kind"] = str(data["kind"].value if hasattr(data["kind"], "value") else data["kind"])
    return Status(201, _output_out(services.record_output(request.user, lab, data)))


@router.patch("/items/{output_id}", response={200: OutputOut, **ERRORS, 422: ErrorOut})
def update_output(request: HttpRequest, output_id: int, payload: OutputPatch):
    item = get_visible_or_404(Output.objects.select_related("laboratory"), request.user, pk=output_id)
    return _output_out(services.edit_output(request.user, item, payload.dict(exclude_unset=True)))


@router.post(
    "/items/{output_id}/transitions/{transition}",
    response={200: OutputOut, **ERRORS, 409: ErrorOut},
    summary="Verification: verify, reject (office, with reason), resubmit (laboratory), reopen (office)",
)
def move_output(request: HttpRequest, output_id: int, transition: str, payload: ReasonIn):
    item = get_visible_or_404(Output.objects.select_related("laboratory"), request.user, pk=output_id)
    return _output_out(services.move_output(request.user, item, transition, payload.reason))


@router.post(
    "/import",
    response={200: OutputImportOut, 201: OutputImportOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Import outputs from CSV: all rows or none; every row error with row and column",
)
def import_outputs(request: HttpRequest, payload: OutputImportIn):
    try:
        result = imports.import_outputs(
            request.user, "import.csv", payload.content.encode(), dry_run=payload.dry_run
        )
    except imports.ImportFailed as exc:
        return Status(
            422,
            {
                "detail": _("%(n)d problem(s): nothing was saved.") % {"n": len(exc.errors)},
                "code": "import_failed",
                "errors": [e.to_dict() for e in exc.errors],
            },
        )
    return Status(200 if result.dry_run else 201, result.__dict__)


# ---- staff register -------------------------------------------------------------------------------


class StaffMemberOut(Schema):
    id: int
    laboratory: str
    name_zh: str
    name_en: str
    role: str
    title: str
    employment: str
    degree: str
    qualifications: str
    starts_on: dt.date
    ends_on: dt.date | None
    notes: str


class StaffMemberIn(Schema):
    name_zh: str = Field(..., min_length=1, max_length=100)
    name_en: str = Field("", max_length=100)
    role: StaffRole
    title: str = Field("", max_length=100)
    employment: StaffMember.Employment = StaffMember.Employment.FULL_TIME
    degree: str = Field("", max_length=60)
    qualifications: str = ""
    starts_on: dt.date
    ends_on: dt.date | None = None
    notes: str = ""


class StaffMemberPatch(Schema):
    name_zh: str | None = Field(None, min_length=1, max_length=100)
    name_en: str | None = Field(None, max_length=100)
    role: StaffRole | None = None
    title: str | None = Field(None, max_length=100)
    employment: StaffMember.Employment | None = None
    degree: str | None = Field(None, max_length=60)
    qualifications: str | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    notes: str | None = None


def _staff_out(m: StaffMember) -> dict[str, Any]:
    return {
        **{f: getattr(m, f) for f in StaffMemberOut.model_fields if f != "laboratory"},
        "laboratory": m.laboratory.code,
    }


@router.get(
    "/labs/{lab_id}/staff",
    response={200: list[StaffMemberOut], **ERRORS},
    summary="A laboratory's staff register (its managers, the office, the committee, the authority)",
)
def list_staff(request: HttpRequest, lab_id: int, current: bool = False):
    lab = _lab(request.user, lab_id)
    if not services.may_read_figures(request.user, lab):
        raise PermissionDenied(_("The staff register is for the laboratory's managers and the authorities."))
    qs = (
        services.staff_on(lab, dt.date.today())
        if current
        else StaffMember.objects.visible_to(request.user).filter(laboratory=lab)
    )
    return [_staff_out(m) for m in qs.select_related("laboratory")]


@router.post(
    "/labs/{lab_id}/staff",
    response={201: StaffMemberOut, **ERRORS, 422: ErrorOut},
    summary="Put a person on the staff register (own laboratory; office)",
)
def add_staff(request: HttpRequest, lab_id: int, payload: StaffMemberIn):
    lab = _lab(request.user, lab_id)
    return Status(201, _staff_out(services.add_staff(request.user, lab, payload.dict())))


@router.patch("/staff/{member_id}", response={200: StaffMemberOut, **ERRORS, 422: ErrorOut})
def update_staff(request: HttpRequest, member_id: int, payload: StaffMemberPatch):
    member = get_visible_or_404(StaffMember.objects.select_related("laboratory"), request.user, pk=member_id)
    return _staff_out(services.edit_staff(request.user, member, payload.dict(exclude_unset=True)))


@router.post(
    "/import/standards",
    response={200: OutputImportOut, 201: OutputImportOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Import standards from CSV, each taken to its stage: all rows or none; every row error at once",
)
def import_standards(request: HttpRequest, payload: OutputImportIn):
    try:
        result = imports.import_standards(
            request.user, "import.csv", payload.content.encode(), dry_run=payload.dry_run
        )
    except imports.ImportFailed as exc:
        return Status(
            422,
            {
                "detail": _("%(n)d problem(s): nothing was saved.") % {"n": len(exc.errors)},
                "code": "import_failed",
                "errors": [e.to_dict() for e in exc.errors],
            },
        )
    return Status(200 if result.dry_run else 201, result.__dict__)


# ---- figures --------------------------------------------------------------------------------------


@router.get(
    "/labs/{lab_id}/figures",
    response={200: dict, **ERRORS},
    summary="Computed figures of a laboratory in a year (standards by stage and level, verified outputs)",
)
def lab_figures(request: HttpRequest, lab_id: int, year: int):
    lab = _lab(request.user, lab_id)
    if not services.may_read_figures(request.user, lab):
        raise PermissionDenied(_("The figures of a laboratory are for its managers and the authorities."))
    return services.lab_figures(lab, year)
