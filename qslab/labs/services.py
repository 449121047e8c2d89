"""Operations of the labs app: register and edit laboratories, move them through their lifecycle, keep
their partners, committee and key figures, keep the taxonomies, and draw up layout plans and compute
their coverage (targets against laboratories, gaps, overlaps)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from qslab.accounts.roles import Role, has_role
from qslab.core.context import acting_as
from qslab.core.regions import NATIONAL, region_name
from qslab.core.services import apply_transition
from qslab.labs.models import (
    LIFECYCLE,
    OPERATING,
    PIPELINE,
    CommitteeMember,
    IndustryChain,
    KeyField,
    KeyFigures,
    Laboratory,
    LayoutPlan,
    Partner,
    PlanRevision,
    PlanTarget,
)

#: what a laboratory's manager may change about their own lab
PROFILE_FIELDS = (
    "summary_zh",
    "summary_en",
    "director_name",
    "director_title",
    "contact_name",
    "contact_email",
    "contact_phone",
    "address",
    "website",
    "prefecture_code",
)
#: what only the office changes (never ``status``: that moves through the workflow)
OFFICE_FIELDS = ("code", "name_zh", "name_en", "supporting_institution", "region_code", "direction")
M2M_FIELDS = ("fields", "priorities", "industry_chains")
#: fields of a named laboratory that change only through an approved major-change report (supervision):
#: the director, the supporting institution and the research direction (Issue 7, item 1)
GOVERNED_FIELDS = ("director_name", "director_title", "supporting_institution", "direction")
#: fields an approved major-change report may write (see :func:`apply_major_change`)
MAJOR_CHANGE_FIELDS = GOVERNED_FIELDS
#: states in which the governed fields are locked; before naming, the record is still being built
GOVERNED_STATES = ("named", "under_rectification", "suspended")
FIGURE_FIELDS = ("staff", "instrument_value", "standards_drafted", "patents", "services_delivered")


def _require_office(user: Any, message: str) -> None:
    if not has_role(user, Role.OFFICE):
        raise PermissionDenied(message)


def _check_naming(data: dict[str, Any]) -> None:
    name_zh = (data.get("name_zh") or "").strip()
    if name_zh and not (name_zh.startswith("国家") and name_zh.endswith("质量标准实验室")):
        raise ValidationError(
            {
                "name_zh": _("The Chinese name follows the pattern 国家XX质量标准实验室, got “%(name)s”.")
                % {"name": name_zh}
            }
        )


def _check_prefecture(region_code: str, prefecture_code: str) -> None:
    if prefecture_code and prefecture_code[:2] != region_code[:2]:
        raise ValidationError(
            {
                "prefecture_code": _("The prefecture %(pref)s is not in the province %(prov)s.")
                % {"pref": prefecture_code, "prov": region_code}
            }
        )


@transaction.atomic
def register_laboratory(user: Any, data: dict[str, Any]) -> Laboratory:
    """The office enters a laboratory in the registry; it starts as proposed."""
    _require_office(user, _("Only the committee office registers laboratories."))
    _check_naming(data)
    _check_prefecture(data.get("region_code", ""), data.get("prefecture_code", ""))
    lab = Laboratory(**{f: data[f] for f in (*OFFICE_FIELDS, *PROFILE_FIELDS) if f in data})
    lab.full_clean(exclude=["status"])
    with acting_as(user):
        lab.save()
        for f in M2M_FIELDS:
            if f in data:
                getattr(lab, f).set(data[f])
    return lab


def editable_fields(user: Any, lab: Laboratory) -> tuple[str, ...]:
    """The fields ``user`` may change directly on ``lab``: the office all but the status, its manager
    the profile; once the lab is named, nobody changes the director, the supporting institution or the
    research direction here (major-change report)."""
    office = has_role(user, Role.OFFICE)
    fields = (*OFFICE_FIELDS, *PROFILE_FIELDS, *M2M_FIELDS) if office else PROFILE_FIELDS
    if lab.status in GOVERNED_STATES:
        fields = tuple(f for f in fields if f not in GOVERNED_FIELDS)
    return fields


def _governed_change_refused(lab: Laboratory, data: dict[str, Any]) -> None:
    changed = [f for f in GOVERNED_FIELDS if f in data and (data[f] or "") != (getattr(lab, f) or "")]
    if lab.status in GOVERNED_STATES and changed:
        raise PermissionDenied(
            _(
                "The director, supporting institution and research direction of a named laboratory "
                "change only through an approved major-change report (Supervision → report a major "
                "change)."
            )
        )


@transaction.atomic
def edit_laboratory(user: Any, lab: Laboratory, data: dict[str, Any]) -> Laboratory:
    """Change a laboratory's record: the office all of it but the status, its manager the profile.
    The director, supporting institution and direction of a named laboratory are written only by
    :func:`apply_major_change`."""
    if not Laboratory.objects.editable_by(user).filter(pk=lab.pk).exists():
        raise PermissionDenied(_("You may view this laboratory but not change it."))
    if "status" in data:
        raise PermissionDenied(_("The status changes only through the lifecycle actions."))
    _governed_change_refused(lab, data)
    data = {k: v for k, v in data.items() if not (k in GOVERNED_FIELDS and lab.status in GOVERNED_STATES)}
    allowed = editable_fields(user, lab)
    refused = sorted(set(data) - set(allowed))
    if refused:
        raise PermissionDenied(
            _("You may not change these fields of the laboratory: %(fields)s.")
            % {"fields": ", ".join(refused)}
        )
    _check_naming(data)
    fields = [f for f in data if f not in M2M_FIELDS]
    for f in fields:
        setattr(lab, f, data[f])
    _check_prefecture(lab.region_code, lab.prefecture_code)
    lab.full_clean(exclude=["status"], validate_unique=True)
    with acting_as(user):
        if fields:
            lab.save(update_fields=[*(f.removesuffix("_id") for f in fields), "last_updated"])
        for f in M2M_FIELDS:
            if f in data:
                getattr(lab, f).set(data[f])
    return lab


@transaction.atomic
def apply_major_change(user: Any, lab: Laboratory, data: dict[str, Any], *, change: Any) -> Laboratory:
    """Write an approved major-change report (director, supporting institution, direction) to the
    registry. ``change`` is the supervision app's report; it must be approved and about ``lab``."""
    from qslab.supervision.models import MajorChange

    _require_office(user, _("Only the committee office writes an approved major change."))
    if not MajorChange.objects.filter(
        pk=getattr(change, "pk", None), laboratory=lab, status="approved"
    ).exists():
        raise PermissionDenied(_("Only an approved major-change report of this laboratory changes it."))
    refused = sorted(set(data) - set(MAJOR_CHANGE_FIELDS))
    if refused:
        raise PermissionDenied(
            _("A major change may not set these fields: %(fields)s.") % {"fields": ", ".join(refused)}
        )
    lab = Laboratory.objects.select_for_update().get(pk=lab.pk)
    for f, value in data.items():
        setattr(lab, f, value)
    lab.full_clean(exclude=["status"], validate_unique=True)
    with acting_as(user, str(change)):
        lab.save(update_fields=[*data, "last_updated"])
    return lab


def _rectification_deadlines(lab: Laboratory) -> Any:
    """The open deadlines the ``order_rectification`` step opened for the lab's managers."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline

    rule = LIFECYCLE.transition("order_rectification").deadline
    assert rule is not None
    return Deadline.objects.filter(
        content_type=ContentType.objects.get_for_model(Laboratory),
        object_id=str(lab.pk),
        label_en=rule.label_en,
        done_at__isnull=True,
    )


@transaction.atomic
def close_rectification_deadline(user: Any, lab: Laboratory) -> int:
    """Close the lab's open rectification deadline (the order it belongs to was answered, lapsed or
    closed); returns how many were closed."""
    from django.utils import timezone

    if not (
        has_role(user, Role.OFFICE)
        or has_role(user, Role.COMMITTEE)
        or has_role(user, Role.LAB_MANAGER, scope=lab)
    ):
        raise PermissionDenied(_("Only the office, the committee or the lab's manager closes this deadline."))
    return _rectification_deadlines(lab).update(done_at=timezone.now())


@transaction.atomic
def move_rectification_deadline(user: Any, lab: Laboratory, due: Any) -> int:
    """Set the lab's open rectification deadline to ``due`` (the order's deadline, e.g. after an
    extension); returns how many were moved."""
    _require_office(user, _("Only the committee office moves a rectification deadline."))
    return _rectification_deadlines(lab).update(due=due, overdue_at=None, reminded_at=None)


def move_laboratory(user: Any, lab: Laboratory, transition: str, reason: str = "") -> Laboratory:
    """Take a lifecycle action (the workflow checks role, state, guard and reason, and audits it)."""
    apply_transition(lab, transition, user, reason=reason)
    lab.refresh_from_db()
    return lab


@transaction.atomic
def merge_laboratory(user: Any, lab: Laboratory, into: Laboratory, reason: str) -> Laboratory:
    """Merge ``lab`` into ``into``: record the target, then take the ``merge`` transition (all or nothing)."""
    _require_office(user, _("Only the committee office merges laboratories."))
    if into.status not in OPERATING:
        raise ValidationError(_("A laboratory can only be merged into a named one."))
    lab.merged_into = into
    with acting_as(user, reason):
        lab.save(update_fields=["merged_into", "last_updated"])
    return move_laboratory(user, lab, "merge", reason)


def available_actions(lab: Laboratory, user: Any) -> list[Any]:
    if user is None or not user.is_authenticated:
        return []
    return LIFECYCLE.available(lab, user)


# ---- partners, committee, key figures ------------------------------------------------------------


def _require_editable(user: Any, lab: Laboratory) -> None:
    if not Laboratory.objects.editable_by(user).filter(pk=lab.pk).exists():
        raise PermissionDenied(_("You may view this laboratory but not change it."))


@transaction.atomic
def add_partner(user: Any, lab: Laboratory, organisation: Any, role: str) -> Partner:
    _require_editable(user, lab)
    if Partner.objects.filter(laboratory=lab, organisation=organisation).exists():
        raise ValidationError({"organisation": _("%(org)s is already a partner.") % {"org": organisation}})
    partner = Partner(laboratory=lab, organisation=organisation, role=role)
    partner.full_clean()
    with acting_as(user):
        partner.save()
    return partner


@transaction.atomic
def remove_partner(user: Any, partner: Partner) -> None:
    _require_editable(user, partner.laboratory)
    with acting_as(user):
        partner.delete()


@transaction.atomic
def add_committee_member(user: Any, lab: Laboratory, data: dict[str, Any]) -> CommitteeMember:
    _require_editable(user, lab)
    member = CommitteeMember(laboratory=lab, **data)
    member.full_clean()
    with acting_as(user):
        member.save()
    return member


@transaction.atomic
def remove_committee_member(user: Any, member: CommitteeMember) -> None:
    _require_editable(user, member.laboratory)
    with acting_as(user):
        member.delete()


@transaction.atomic
def report_key_figures(user: Any, lab: Laboratory, year: int, data: dict[str, Any]) -> KeyFigures:
    """Record (or correct) one year's key figures of a laboratory."""
    _require_editable(user, lab)
    row = KeyFigures.objects.filter(laboratory=lab, year=year).first() or KeyFigures(
        laboratory=lab, year=year
    )
    fields = [f for f in FIGURE_FIELDS if f in data]
    for f in fields:
        setattr(row, f, data[f])
    row.full_clean()
    with acting_as(user):
        if row.pk:
            row.save(update_fields=[*fields, "last_updated"])
        else:
            row.save()
    return row


# ---- taxonomies ----------------------------------------------------------------------------------


@transaction.atomic
def save_term(user: Any, model: type[models.Model], instance: Any, data: dict[str, Any]) -> Any:
    """Create or change a taxonomy term (office only; the change log keeps every version)."""
    _require_office(user, _("Only the committee office edits the taxonomies."))
    obj = instance or model()
    for f, v in data.items():
        setattr(obj, f, v)
    obj.full_clean()
    with acting_as(user):
        if obj.pk:
            obj.save(update_fields=[*data, "last_updated"])
        else:
            obj.save()
    return obj


# ---- status history and directory feed ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DirectoryEvent:
    """A public fact about a laboratory: entered in the registry, or moved from one state to another."""

    key: str
    time: Any
    lab: Laboratory
    from_state: str
    to_state: str
    reason: str = ""

    @property
    def title(self) -> str:
        if not self.from_state:
            return _("%(lab)s entered in the registry") % {"lab": self.lab}
        return (
            f"{self.lab}: {LIFECYCLE.state(self.from_state).label} → {LIFECYCLE.state(self.to_state).label}"
        )

    @property
    def to_label(self) -> str:
        return LIFECYCLE.state(self.to_state).label

    @property
    def from_label(self) -> str:
        return LIFECYCLE.state(self.from_state).label if self.from_state else ""


def _events(records: Iterable[Any], labs: dict[int, Laboratory], with_reasons: bool) -> list[DirectoryEvent]:
    out = []
    for r in records:
        lab = labs.get(int(r.object_id))
        if lab is None:
            continue
        out.append(
            DirectoryEvent(
                key=str(r.pk),
                time=r.time,
                lab=lab,
                from_state=r.from_state if r.action == "transition" else "",
                to_state=r.to_state
                if r.action == "transition"
                else (r.after or {}).get("status", "proposed"),
                reason=r.reason if with_reasons else "",
            )
        )
    return out


def status_history(lab: Laboratory, with_reasons: bool = False) -> list[DirectoryEvent]:
    """The lab's entry in the registry and every lifecycle step, oldest first.

    Who changed the record and every field is the office's audit view; this public projection shows
    only when the status changed (the reasons to the office and the lab's own managers).
    """
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import ChangeRecord

    ct = ContentType.objects.get_for_model(Laboratory)
    records = ChangeRecord.objects.filter(
        content_type=ct, object_id=str(lab.pk), action__in=("create", "transition")
    ).order_by("time", "id")
    return _events(records, {lab.pk: lab}, with_reasons)


def directory_events(limit: int = 50) -> list[DirectoryEvent]:
    """The latest entries and lifecycle steps across the registry, newest first (for the Atom feed)."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import ChangeRecord

    ct = ContentType.objects.get_for_model(Laboratory)
    records = list(
        ChangeRecord.objects.filter(content_type=ct, action__in=("create", "transition")).order_by(
            "-time", "-id"
        )[:limit]
    )
    labs = Laboratory.objects.in_bulk([int(r.object_id) for r in records])
    return _events(records, labs, with_reasons=False)


# ---- directory -----------------------------------------------------------------------------------


def search_directory(user: Any, *, q: str = "", field: str = "", region: str = "", status: str = "") -> Any:
    """The directory: keyword in Chinese or English (name, code, institution, direction), field (with its
    sub-fields), province or prefecture, status."""
    qs = (
        Laboratory.objects.visible_to(user)
        .select_related("supporting_institution")
        .prefetch_related("fields")
        .order_by("code")
    )
    q = q.strip()
    if q:
        for word in q.split():
            qs = qs.filter(
                Q(name_zh__icontains=word)
                | Q(name_en__icontains=word)
                | Q(code__icontains=word)
                | Q(direction__icontains=word)
                | Q(supporting_institution__name_zh__icontains=word)
                | Q(supporting_institution__name_en__icontains=word)
            )
    if field:
        qs = qs.filter(Q(fields__code=field) | Q(fields__parent__code=field))
    if region and region != NATIONAL:
        if region.endswith("0000"):
            qs = qs.filter(region_code__startswith=region[:2])
        else:
            qs = qs.filter(prefecture_code=region)
    if status:
        qs = qs.filter(status=status)
    return qs.distinct()


def directory_rows(labs: Iterable[Laboratory]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the directory export (CSV and XLSX)."""
    header = [
        "code",
        "name_zh",
        "name_en",
        "status",
        "region",
        "region_name",
        "supporting_institution",
        "fields",
        "director",
        "website",
        "named_on",
    ]
    rows = [
        [
            lab.code,
            lab.name_zh,
            lab.name_en,
            lab.status,
            lab.region_code,
            region_name(lab.region_code, "zh-hans"),
            lab.supporting_institution.name_zh,
            ";".join(f.code for f in lab.fields.all()),
            lab.director_name,
            lab.website,
            lab.named_on.isoformat() if lab.named_on else "",
        ]
        for lab in labs
    ]
    return header, rows


# ---- layout plans --------------------------------------------------------------------------------


@transaction.atomic
def create_plan(user: Any, data: dict[str, Any]) -> LayoutPlan:
    _require_office(user, _("Only the committee office draws up layout plans."))
    plan = LayoutPlan(**data)
    if plan.start_year and plan.end_year and plan.end_year < plan.start_year:
        raise ValidationError({"end_year": _("The plan cannot end before it starts.")})
    plan.full_clean()
    with acting_as(user):
        plan.save()
    return plan


@dataclasses.dataclass(frozen=True)
class TargetRow:
    """One target as entered: codes, not objects, so that errors can name what was typed."""

    field: str
    region: str
    target: int
    priority: int = 2
    chain: str = ""


def parse_target_lines(text: str) -> tuple[list[TargetRow], list[str]]:
    """Targets typed one per line: ``field, region, target[, priority[, chain]]``; returns rows and errors."""
    rows, errors = [], []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.replace("，", ",").split(",")]
        if len(parts) < 3:
            errors.append(_("Line %(n)d: expected “field, region, target[, priority[, chain]]”.") % {"n": n})
            continue
        try:
            target = int(parts[2])
            priority = int(parts[3]) if len(parts) > 3 and parts[3] else 2
        except ValueError:
            errors.append(_("Line %(n)d: target and priority are whole numbers.") % {"n": n})
            continue
        rows.append(
            TargetRow(
                field=parts[0],
                region=parts[1],
                target=target,
                priority=priority,
                chain=parts[4] if len(parts) > 4 else "",
            )
        )
    return rows, errors


@transaction.atomic
def set_plan_targets(user: Any, plan: LayoutPlan, rows: Sequence[TargetRow], note: str = "") -> PlanRevision:
    """Replace a plan's targets and keep the new revision; every problem of every row is reported at once."""
    if not LayoutPlan.objects.editable_by(user).filter(pk=plan.pk).exists():
        raise PermissionDenied(_("Only the committee office changes layout plans."))
    fields = {f.code: f for f in KeyField.objects.all()}
    chains = {c.code: c for c in IndustryChain.objects.all()}
    from qslab.core.regions import validate_region_code

    errors: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    targets = []
    for n, row in enumerate(rows, start=1):
        problems = []
        if row.field not in fields:
            problems.append(_("unknown key field “%(code)s”") % {"code": row.field})
        try:
            validate_region_code(row.region)
        except ValidationError as exc:
            problems.append(" ".join(exc.messages))
        if row.chain and row.chain not in chains:
            problems.append(_("unknown industry chain “%(code)s”") % {"code": row.chain})
        if row.target < 1:
            problems.append(_("the target must be at least 1"))
        if row.priority not in (1, 2, 3):
            problems.append(_("the priority is 1, 2 or 3"))
        key = (row.field, row.region, row.chain)
        if key in seen:
            problems.append(_("the same field, region and chain appear twice"))
        seen.add(key)
        if problems:
            errors.append(_("Target %(n)d: %(problems)s.") % {"n": n, "problems": "; ".join(problems)})
            continue
        targets.append(
            PlanTarget(
                plan=plan,
                field=fields[row.field],
                region_code=row.region,
                industry_chain=chains.get(row.chain) if row.chain else None,
                target=row.target,
                priority=row.priority,
            )
        )
    if errors:
        raise ValidationError(errors)
    plan.targets.all().delete()
    PlanTarget.objects.bulk_create(targets)
    plan.revision += 1
    with acting_as(user, note):
        plan.save(update_fields=["revision", "last_updated"])
    return PlanRevision.objects.create(
        plan=plan,
        number=plan.revision,
        targets=[t.as_row() for t in targets],
        note=note,
        created_by=user,
    )


@dataclasses.dataclass(frozen=True)
class RevisionDiff:
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    changed: list[tuple[dict[str, Any], dict[str, Any]]]


def diff_revisions(old: PlanRevision | None, new: PlanRevision) -> RevisionDiff:
    """What changed between two revisions of a plan: targets added, removed and changed."""

    def keyed(rev: PlanRevision | None) -> dict[tuple[str, str, str], dict[str, Any]]:
        return {(r["field"], r["region"], r["chain"]): r for r in (rev.targets if rev else [])}

    a, b = keyed(old), keyed(new)
    return RevisionDiff(
        added=[b[k] for k in sorted(b.keys() - a.keys())],
        removed=[a[k] for k in sorted(a.keys() - b.keys())],
        changed=[(a[k], b[k]) for k in sorted(a.keys() & b.keys()) if a[k] != b[k]],
    )


@dataclasses.dataclass(frozen=True)
class CoverageCell:
    """One target against the laboratories that meet it."""

    target: PlanTarget
    operating: list[Laboratory]
    pipeline: list[Laboratory]

    @property
    def covered(self) -> int:
        return len(self.operating)

    @property
    def gap(self) -> int:
        return max(self.target.target - self.covered, 0)

    @property
    def gap_after_pipeline(self) -> int:
        return max(self.target.target - self.covered - len(self.pipeline), 0)

    @property
    def ratio(self) -> float:
        return min(self.covered / self.target.target, 1.0)

    @property
    def score(self) -> int:
        """Rank of the gap to fill: the gap weighted by the target's priority (1 weighs 3, 3 weighs 1)."""
        return self.gap * (4 - self.target.priority)


@dataclasses.dataclass(frozen=True)
class Overlap:
    """Laboratories with the same field and direction in the same province."""

    field: KeyField
    province: str
    direction: str
    labs: list[Laboratory]

    @property
    def province_label(self) -> str:
        return region_name(self.province)


@dataclasses.dataclass(frozen=True)
class Coverage:
    plan: LayoutPlan
    cells: list[CoverageCell]
    overlaps: list[Overlap]

    @property
    def gaps(self) -> list[CoverageCell]:
        """Targets not met by operating laboratories, most urgent first."""
        return sorted(
            (c for c in self.cells if c.gap),
            key=lambda c: (-c.score, c.target.priority, -c.gap, c.target.field.code, c.target.region_code),
        )

    @property
    def total_target(self) -> int:
        return sum(c.target.target for c in self.cells)

    @property
    def total_covered(self) -> int:
        return sum(min(c.covered, c.target.target) for c in self.cells)

    def by_province(self) -> dict[str, tuple[int, int]]:
        """Province code -> (labs counted against targets, target), national targets left out."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for c in self.cells:
            if c.target.region_code == NATIONAL:
                continue
            key = c.target.region_code[:2] + "0000"
            out[key][0] += min(c.covered, c.target.target)
            out[key][1] += c.target.target
        return {k: (v[0], v[1]) for k, v in out.items()}

    def matrix(self) -> tuple[list[KeyField], list[str], dict[tuple[int, str], CoverageCell]]:
        """Fields (rows), regions (columns) and the cell of each, for the heat table."""
        fields: dict[int, KeyField] = {}
        regions: list[str] = []
        cells: dict[tuple[int, str], CoverageCell] = {}
        for c in self.cells:
            fields.setdefault(c.target.field_id, c.target.field)
            if c.target.region_code not in regions:
                regions.append(c.target.region_code)
            cells[(c.target.field_id, c.target.region_code)] = c
        return (
            sorted(fields.values(), key=lambda f: (f.order, f.code)),
            sorted(regions),
            cells,
        )


def _lab_matches(lab: Laboratory, target: PlanTarget, lab_fields: set[int], lab_parents: set[int]) -> bool:
    if target.field_id not in lab_fields and target.field_id not in lab_parents:
        return False
    region = target.region_code
    if region != NATIONAL:
        if region.endswith("0000"):
            if lab.region_code[:2] != region[:2]:
                return False
        elif region not in (lab.prefecture_code, lab.region_code):
            return False
    return not (
        target.industry_chain_id and target.industry_chain_id not in {c.pk for c in lab.industry_chains.all()}
    )


def plan_coverage(plan: LayoutPlan) -> Coverage:
    """Each target of the plan against the laboratories in its field (or a sub-field) and region.

    Operating laboratories (named, or named and under rectification) count against a target; those
    on their way (proposed, under construction, in acceptance) are shown as the pipeline. A gap is a
    target not met by operating laboratories; gaps are ranked by size weighted by priority.
    """
    targets = list(plan.targets.select_related("field", "industry_chain"))
    labs = list(
        Laboratory.objects.filter(status__in=(*OPERATING, *PIPELINE))
        .prefetch_related("fields", "industry_chains")
        .order_by("code")
    )
    lab_keys = {
        lab.pk: ({f.pk for f in lab.fields.all()}, {f.parent_id for f in lab.fields.all() if f.parent_id})
        for lab in labs
    }
    cells = []
    for t in targets:
        matched = [lab for lab in labs if _lab_matches(lab, t, *lab_keys[lab.pk])]
        cells.append(
            CoverageCell(
                target=t,
                operating=[lab for lab in matched if lab.status in OPERATING],
                pipeline=[lab for lab in matched if lab.status in PIPELINE],
            )
        )
    return Coverage(plan=plan, cells=cells, overlaps=find_overlaps(labs))


def find_overlaps(labs: Iterable[Laboratory]) -> list[Overlap]:
    """Groups of two or more laboratories sharing a (sub-)field, a province and a direction."""
    groups: dict[tuple[int, str, str], list[Laboratory]] = defaultdict(list)
    field_by_id: dict[int, KeyField] = {}
    for lab in labs:
        direction = " ".join(lab.direction.lower().split())
        for f in lab.fields.all():
            field_by_id[f.pk] = f
            groups[(f.pk, lab.province_code, direction)].append(lab)
    return [
        Overlap(field=field_by_id[fid], province=prov, direction=direction, labs=group)
        for (fid, prov, direction), group in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        if len(group) > 1
    ]


# ---- queues --------------------------------------------------------------------------------------


def queue_items(user: Any) -> list[Any]:
    """What waits for the user in the registry: acceptance for the office, rectifications for authorities
    (labs in their jurisdiction) and for a lab's own managers, missing key figures for managers."""
    from django.utils import timezone

    from qslab.core.dashboard import QueueItem

    if user is None or not user.is_authenticated:
        return []
    items: list[QueueItem] = []
    if has_role(user, Role.OFFICE):
        for lab in Laboratory.objects.filter(status="acceptance"):
            items.append(
                QueueItem(
                    label=_("Acceptance: %(lab)s") % {"lab": lab}, url=lab.get_absolute_url(), kind="labs"
                )
            )
    elif has_role(user, Role.AUTHORITY):
        jurisdiction = Laboratory.objects.filter(Laboratory.jurisdiction_q(user))
        for lab in jurisdiction.filter(status__in=("acceptance", "under_rectification", "suspended")):
            items.append(
                QueueItem(
                    label=_("%(lab)s is %(state)s") % {"lab": lab, "state": lab.status_label},
                    url=lab.get_absolute_url(),
                    kind="labs",
                )
            )
    if has_role(user, Role.LAB_MANAGER) and not has_role(user, Role.OFFICE):
        year = timezone.localdate().year - 1
        own = Laboratory.objects.editable_by(user).filter(status__in=OPERATING)
        for lab in own.exclude(figures__year=year)[:50]:
            items.append(
                QueueItem(
                    label=_("Report the key figures of %(year)d for %(lab)s") % {"year": year, "lab": lab},
                    url=lab.get_absolute_url(),
                    kind="labs",
                )
            )
    return items
