"""API of the labs app (mounted at /api/labs/ in qslab/api.py): the registry and its lifecycle,
partners, committee and key figures, taxonomies, layout plans with coverage, and bulk import."""

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import StrictBool

from qslab.accounts.models import Organisation
from qslab.core.apitools import PUBLIC, ErrorOut, LimitOffsetPagination, PageOf, require_office
from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.labs import services
from qslab.labs.forms import TERM_MODELS
from qslab.labs.imports import ImportFailed, import_records, read_table
from qslab.labs.models import (
    CommitteeMember,
    IndustryChain,
    KeyField,
    Laboratory,
    LayoutPlan,
    Partner,
    PartnerRole,
    ResearchPriority,
)

router = Router(tags=["labs"])

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class PartnerOut(Schema):
    id: int
    organisation_id: int
    organisation: str
    role: str


class MemberOut(Schema):
    id: int
    name: str
    affiliation: str
    title: str
    position: str


class LabOut(Schema):
    id: int
    code: str
    name_zh: str
    name_en: str
    status: str
    region_code: str
    prefecture_code: str
    supporting_institution_id: int
    supporting_institution: str
    fields: list[str]
    priorities: list[str]
    industry_chains: list[str]
    direction: str
    director_name: str
    director_title: str
    contact_name: str
    contact_email: str
    contact_phone: str
    address: str
    website: str
    summary_zh: str
    summary_en: str
    named_on: dt.date | None
    merged_into_id: int | None
    partners: list[PartnerOut]
    committee: list[MemberOut]


def _lab_out(lab: Laboratory) -> LabOut:
    return LabOut(
        **{
            f: getattr(lab, f)
            for f in (
                "id",
                "code",
                "name_zh",
                "name_en",
                "status",
                "region_code",
                "prefecture_code",
                "supporting_institution_id",
                "direction",
                *services.PROFILE_FIELDS,
                "named_on",
                "merged_into_id",
            )
        },
        supporting_institution=str(lab.supporting_institution),
        fields=[f.code for f in lab.fields.all()],
        priorities=[p.code for p in lab.priorities.all()],
        industry_chains=[c.code for c in lab.industry_chains.all()],
        partners=[
            PartnerOut(
                id=p.id, organisation_id=p.organisation_id, organisation=str(p.organisation), role=p.role
            )
            for p in lab.partners.all()
        ],
        committee=[
            MemberOut(id=m.id, name=m.name, affiliation=m.affiliation, title=m.title, position=m.position)
            for m in lab.committee.all()
        ],
    )


def _labs() -> Any:
    return Laboratory.objects.select_related("supporting_institution").prefetch_related(
        "fields", "priorities", "industry_chains", "partners__organisation", "committee"
    )


class LabIn(Schema):
    code: str = Field(..., min_length=1, max_length=40)
    name_zh: str = Field(..., min_length=1, max_length=200)
    name_en: str = Field(..., min_length=1, max_length=200)
    supporting_institution_id: int
    region_code: str
    prefecture_code: str = ""
    direction: str = ""
    fields: list[str] = []
    priorities: list[str] = []
    industry_chains: list[str] = []
    director_name: str = ""
    director_title: str = ""
    contact_name: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    address: str = ""
    website: str = ""
    summary_zh: str = ""
    summary_en: str = ""


class LabPatch(Schema):
    """Only the fields sent are changed. A lab manager may send the profile fields only."""

    code: str | None = None
    name_zh: str | None = None
    name_en: str | None = None
    supporting_institution_id: int | None = None
    region_code: str | None = None
    prefecture_code: str | None = None
    direction: str | None = None
    fields: list[str] | None = None
    priorities: list[str] | None = None
    industry_chains: list[str] | None = None
    director_name: str | None = None
    director_title: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    address: str | None = None
    website: str | None = None
    summary_zh: str | None = None
    summary_en: str | None = None
    status: str | None = None


def _resolve(data: dict[str, Any]) -> dict[str, Any]:
    """Codes to objects, with an error naming each unknown code."""
    out = dict(data)
    errors: dict[str, list[str]] = {}
    for name, model in (
        ("fields", KeyField),
        ("priorities", ResearchPriority),
        ("industry_chains", IndustryChain),
    ):
        if name in out:
            codes = out[name]
            found = {o.code: o for o in model.objects.filter(code__in=codes)}
            unknown = [c for c in codes if c not in found]
            if unknown:
                errors[name] = [f"unknown codes: {', '.join(unknown)}"]
            out[name] = list(found.values())
    if "supporting_institution_id" in out:
        org = Organisation.objects.visible_to(None).filter(pk=out.pop("supporting_institution_id")).first()
        if org is None:
            errors["supporting_institution_id"] = ["no such organisation"]
        out["supporting_institution"] = org
    if errors:
        raise ValidationError(errors)
    return out


@router.get("/laboratories", response=list[LabOut], auth=PUBLIC, summary="The directory (search and filters)")
@paginate(LimitOffsetPagination)
def list_labs(request: HttpRequest, q: str = "", field: str = "", region: str = "", status: str = ""):
    qs = services.search_directory(request.user, q=q, field=field, region=region, status=status)
    return PageOf(
        qs.prefetch_related("priorities", "industry_chains", "partners__organisation", "committee"), _lab_out
    )


@router.get("/laboratories/{lab_id}", response={200: LabOut, **ERRORS}, auth=PUBLIC)
def get_lab(request: HttpRequest, lab_id: int):
    return _lab_out(get_visible_or_404(_labs(), request.user, pk=lab_id))


@router.post("/laboratories", response={201: LabOut, **ERRORS}, summary="Register a laboratory (office)")
def create_lab(request: HttpRequest, payload: LabIn):
    require_office(request, "Only the committee office registers laboratories.")
    lab = services.register_laboratory(request.user, _resolve(payload.dict()))
    return Status(201, _lab_out(_labs().get(pk=lab.pk)))


@router.patch(
    "/laboratories/{lab_id}",
    response={200: LabOut, **ERRORS},
    summary="Change a laboratory (office: all but status; its manager: the profile)",
)
def update_lab(request: HttpRequest, lab_id: int, payload: LabPatch):
    lab = get_editable_or_403(Laboratory, request.user, pk=lab_id)
    data = {k: v for k, v in payload.dict(exclude_unset=True).items()}
    services.edit_laboratory(request.user, lab, _resolve(data))
    return _lab_out(_labs().get(pk=lab.pk))


class LabTransitionIn(Schema):
    reason: str = ""
    merged_into_id: int | None = None


@router.post(
    "/laboratories/{lab_id}/transitions/{transition}",
    response={200: LabOut, **ERRORS},
    summary="Take a lifecycle action: approve_construction, request_acceptance, return_to_construction, "
    "designate, order_rectification, close_rectification, decline_revocation, suspend, reinstate, revoke, "
    "withdraw, merge",
)
def move_lab(request: HttpRequest, lab_id: int, transition: str, payload: LabTransitionIn):
    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    if transition == "merge" and payload.merged_into_id:
        into = get_visible_or_404(Laboratory, request.user, pk=payload.merged_into_id)
        services.merge_laboratory(request.user, lab, into, payload.reason)
    else:
        services.move_laboratory(request.user, lab, transition, payload.reason)
    return _lab_out(_labs().get(pk=lab.pk))


class EventOut(Schema):
    time: dt.datetime
    from_state: str
    to_state: str
    reason: str


@router.get("/laboratories/{lab_id}/history", response={200: list[EventOut], **ERRORS}, auth=PUBLIC)
def lab_history(request: HttpRequest, lab_id: int):
    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    with_reasons = Laboratory.objects.editable_by(request.user).filter(pk=lab.pk).exists()
    return [
        EventOut(time=e.time, from_state=e.from_state, to_state=e.to_state, reason=e.reason)
        for e in services.status_history(lab, with_reasons=with_reasons)
    ]


class FiguresIn(Schema):
    staff: int = Field(0, ge=0)
    instrument_value: Decimal = Field(Decimal(0), ge=0, max_digits=12, decimal_places=2)
    standards_drafted: int = Field(0, ge=0)
    patents: int = Field(0, ge=0)
    services_delivered: int = Field(0, ge=0)


class FiguresOut(FiguresIn):
    year: int


@router.get("/laboratories/{lab_id}/figures", response={200: list[FiguresOut], **ERRORS}, auth=PUBLIC)
def list_figures(request: HttpRequest, lab_id: int):
    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    return [
        FiguresOut(year=f.year, **{k: getattr(f, k) for k in services.FIGURE_FIELDS})
        for f in lab.figures.all()
    ]


@router.put(
    "/laboratories/{lab_id}/figures/{year}",
    response={200: FiguresOut, **ERRORS},
    summary="Report one year's key figures (the lab's manager or the office)",
)
def put_figures(request: HttpRequest, lab_id: int, year: int, payload: FiguresIn):
    lab = get_editable_or_403(Laboratory, request.user, pk=lab_id)
    row = services.report_key_figures(request.user, lab, year, payload.dict())
    return FiguresOut(year=row.year, **{k: getattr(row, k) for k in services.FIGURE_FIELDS})


class PartnerIn(Schema):
    organisation_id: int
    role: PartnerRole


@router.post("/laboratories/{lab_id}/partners", response={201: PartnerOut, **ERRORS})
def add_partner(request: HttpRequest, lab_id: int, payload: PartnerIn):
    lab = get_editable_or_403(Laboratory, request.user, pk=lab_id)
    org = get_visible_or_404(Organisation, request.user, pk=payload.organisation_id)
    p = services.add_partner(request.user, lab, org, payload.role)
    return Status(201, PartnerOut(id=p.id, organisation_id=org.id, organisation=str(org), role=p.role))


@router.delete("/partners/{partner_id}", response={204: None, **ERRORS})
def delete_partner(request: HttpRequest, partner_id: int):
    services.remove_partner(request.user, get_editable_or_403(Partner, request.user, pk=partner_id))
    return Status(204, None)


class MemberIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    affiliation: str = ""
    title: str = ""
    position: CommitteeMember.Position = CommitteeMember.Position.MEMBER


@router.post("/laboratories/{lab_id}/committee", response={201: MemberOut, **ERRORS})
def add_committee_member(request: HttpRequest, lab_id: int, payload: MemberIn):
    lab = get_editable_or_403(Laboratory, request.user, pk=lab_id)
    m = services.add_committee_member(request.user, lab, payload.dict())
    return Status(
        201, MemberOut(id=m.id, name=m.name, affiliation=m.affiliation, title=m.title, position=m.position)
    )


@router.delete("/committee/{member_id}", response={204: None, **ERRORS})
def delete_committee_member(request: HttpRequest, member_id: int):
    services.remove_committee_member(
        request.user, get_editable_or_403(CommitteeMember, request.user, pk=member_id)
    )
    return Status(204, None)


# ---- taxonomies -----------------------------------------------------------------------------------

TermKind = Literal["fields", "priorities", "chains", "regions"]


class TaxonomyTermOut(Schema):
    id: int
    code: str
    name_zh: str
    name_en: str
    parent: str | None = None
    active: bool


class TermIn(Schema):
    code: str = Field(..., min_length=1, max_length=40)
    name_zh: str = Field(..., min_length=1, max_length=120)
    name_en: str = Field(..., min_length=1, max_length=120)
    parent: str | None = None
    level: str | None = None
    active: StrictBool = True


class TermPatch(Schema):
    name_zh: str | None = None
    name_en: str | None = None
    active: StrictBool | None = None


def _term_out(t: Any) -> TaxonomyTermOut:
    parent = getattr(t, "parent", None)
    return TaxonomyTermOut(
        id=t.id,
        code=t.code,
        name_zh=t.name_zh,
        name_en=t.name_en,
        parent=parent.code if parent else None,
        active=t.active,
    )


@router.get("/taxonomies/{kind}", response={200: list[TaxonomyTermOut], **ERRORS}, auth=PUBLIC)
def list_terms(request: HttpRequest, kind: TermKind):
    model = TERM_MODELS[kind][0]
    qs = model.objects.visible_to(request.user)
    if hasattr(model, "parent"):
        qs = qs.select_related("parent")
    return [_term_out(t) for t in qs]


@router.post("/taxonomies/{kind}", response={201: TaxonomyTermOut, **ERRORS}, summary="Add a term (office)")
def create_term(request: HttpRequest, kind: TermKind, payload: TermIn):
    model = TERM_MODELS[kind][0]
    data = payload.dict()
    parent_code, level = data.pop("parent"), data.pop("level")
    if hasattr(model, "parent"):
        data["parent"] = model.objects.filter(code=parent_code).first() if parent_code else None
        if parent_code and data["parent"] is None:
            raise ValidationError({"parent": [f"no {kind} term has the code {parent_code}"]})
    if kind == "regions":
        data["level"] = level or "prefecture"
    return Status(201, _term_out(services.save_term(request.user, model, None, data)))


@router.patch(
    "/taxonomies/{kind}/{term_id}",
    response={200: TaxonomyTermOut, **ERRORS},
    summary="Change a term (office)",
)
def update_term(request: HttpRequest, kind: TermKind, term_id: int, payload: TermPatch):
    model = TERM_MODELS[kind][0]
    term = get_editable_or_403(model, request.user, pk=term_id)
    return _term_out(services.save_term(request.user, model, term, payload.dict(exclude_unset=True)))


# ---- layout plans ---------------------------------------------------------------------------------


class TargetIO(Schema):
    field: str
    region: str
    target: int
    priority: int = 2
    chain: str = ""


class PlanOut(Schema):
    id: int
    code: str
    name_zh: str
    name_en: str
    start_year: int
    end_year: int
    revision: int
    targets: list[TargetIO]


class PlanIn(Schema):
    code: str = Field(..., min_length=1, max_length=40)
    name_zh: str = Field(..., min_length=1, max_length=200)
    name_en: str = Field(..., min_length=1, max_length=200)
    start_year: int = Field(..., ge=2000, le=2100)
    end_year: int = Field(..., ge=2000, le=2100)
    notes_zh: str = ""
    notes_en: str = ""


def _plan_out(plan: LayoutPlan) -> PlanOut:
    return PlanOut(
        id=plan.id,
        code=plan.code,
        name_zh=plan.name_zh,
        name_en=plan.name_en,
        start_year=plan.start_year,
        end_year=plan.end_year,
        revision=plan.revision,
        targets=[TargetIO(**t.as_row()) for t in plan.targets.select_related("field", "industry_chain")],
    )


@router.get(
    "/plans", response={200: list[PlanOut], **ERRORS}, summary="Layout plans (office, committee, authorities)"
)
def list_plans(request: HttpRequest):
    return [_plan_out(p) for p in LayoutPlan.objects.visible_to(request.user)]


@router.post("/plans", response={201: PlanOut, **ERRORS}, summary="Start a layout plan (office)")
def create_plan(request: HttpRequest, payload: PlanIn):
    return Status(201, _plan_out(services.create_plan(request.user, payload.dict())))


@router.get("/plans/{plan_id}", response={200: PlanOut, **ERRORS})
def get_plan(request: HttpRequest, plan_id: int):
    return _plan_out(get_visible_or_404(LayoutPlan, request.user, pk=plan_id))


class TargetsIn(Schema):
    targets: list[TargetIO]
    note: str = ""


@router.put(
    "/plans/{plan_id}/targets",
    response={200: PlanOut, **ERRORS},
    summary="Replace the targets (new revision)",
)
def set_targets(request: HttpRequest, plan_id: int, payload: TargetsIn):
    plan = get_editable_or_403(LayoutPlan, request.user, pk=plan_id)
    rows = [services.TargetRow(**t.dict()) for t in payload.targets]
    services.set_plan_targets(request.user, plan, rows, payload.note)
    plan.refresh_from_db()
    return _plan_out(plan)


class CellOut(Schema):
    field: str
    region: str
    chain: str
    target: int
    priority: int
    operating: list[str]
    pipeline: list[str]
    gap: int
    gap_after_pipeline: int


class OverlapOut(Schema):
    field: str
    province: str
    direction: str
    laboratories: list[str]


class CoverageOut(Schema):
    plan_id: int
    revision: int
    total_target: int
    total_covered: int
    cells: list[CellOut]
    gaps: list[CellOut]
    overlaps: list[OverlapOut]


def _cell(c: services.CoverageCell) -> CellOut:
    return CellOut(
        **c.target.as_row(),
        operating=[lab.code for lab in c.operating],
        pipeline=[lab.code for lab in c.pipeline],
        gap=c.gap,
        gap_after_pipeline=c.gap_after_pipeline,
    )


@router.get(
    "/plans/{plan_id}/coverage",
    response={200: CoverageOut, **ERRORS},
    summary="Targets against labs: gaps ranked, overlaps",
)
def coverage(request: HttpRequest, plan_id: int):
    plan = get_visible_or_404(LayoutPlan, request.user, pk=plan_id)
    cov = services.plan_coverage(plan)
    return CoverageOut(
        plan_id=plan.id,
        revision=plan.revision,
        total_target=cov.total_target,
        total_covered=cov.total_covered,
        cells=[_cell(c) for c in cov.cells],
        gaps=[_cell(c) for c in cov.gaps],
        overlaps=[
            OverlapOut(
                field=o.field.code,
                province=o.province,
                direction=o.direction,
                laboratories=[lab.code for lab in o.labs],
            )
            for o in cov.overlaps
        ],
    )


class RevisionOut(Schema):
    number: int
    created: dt.datetime
    note: str
    targets: list[TargetIO]


@router.get("/plans/{plan_id}/revisions", response={200: list[RevisionOut], **ERRORS})
def revisions(request: HttpRequest, plan_id: int):
    plan = get_visible_or_404(LayoutPlan, request.user, pk=plan_id)
    return [
        RevisionOut(number=r.number, created=r.created, note=r.note, targets=r.targets)
        for r in plan.revisions.all()
    ]


# ---- import ---------------------------------------------------------------------------------------


class LabImportIn(Schema):
    kind: Literal["organisations", "laboratories"]
    csv: str = Field(..., description="the CSV text, header row first")
    dry_run: StrictBool = True


class LabImportOut(Schema):
    kind: str
    dry_run: bool
    rows: int
    created: list[str]


@router.post(
    "/import",
    response={200: LabImportOut, **ERRORS},
    summary="Import organisations or laboratories from CSV text (office): all rows or none, "
    "every error at once",
)
def import_csv(request: HttpRequest, payload: LabImportIn):
    require_office(request, "Only the committee office imports records.")
    try:
        result = import_records(
            request.user, payload.kind, read_table("upload.csv", payload.csv.encode()), payload.dry_run
        )
    except ImportFailed as exc:
        return Status(
            422,
            ErrorOut(
                detail=f"{len(exc.errors)} problem(s): nothing was saved.",
                code="invalid_rows",
                errors=[e.to_dict() for e in exc.errors],
            ),
        )
    return LabImportOut(kind=result.kind, dry_run=result.dry_run, rows=result.rows, created=result.created)
