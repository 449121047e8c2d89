"""Recording, moving and verifying research outputs; and the figures per laboratory and year that
supervision and funding read (:func:`lab_figures`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from qslab.accounts.roles import Role, has_role
from qslab.core.context import acting_as
from qslab.core.services import add_attachment, apply_transition, watch
from qslab.core.uploads import DOCUMENTS, MB, check_upload
from qslab.labs.models import Laboratory
from qslab.outputs.identifiers import (
    IdentifierError,
    normalise_doi,
    parse_patent_application,
    parse_standard_number,
    validate_patent_grant,
)
from qslab.outputs.models import (
    PUBLIC_STAGES,
    STAGE_DATES,
    Output,
    OutputKind,
    PatentType,
    StaffMember,
    StaffRole,
    Standard,
    StandardClaim,
    StandardLevel,
)

STANDARD_FIELDS = (
    "number",
    "project_number",
    "level",
    "title_zh",
    "title_en",
    "role",
    "implemented_on",
    "notes",
)
OUTPUT_FIELDS = (
    "kind",
    "title_zh",
    "title_en",
    "year",
    "date",
    "people",
    "description",
    "doi",
    "journal",
    "patent_type",
    "application_number",
    "grant_number",
    "granted_on",
    "value",
    "participants",
    "counterpart",
    "policy_question",
    "impact_assessment",
)
MIN_YEAR = 1949


def may_record_for(user: Any, lab: Laboratory) -> bool:
    """The office, or the manager of this laboratory."""
    return has_role(user, Role.OFFICE) or has_role(user, Role.LAB_MANAGER, scope=lab)


def labs_for(user: Any) -> Any:
    """Laboratories the user may record outputs for."""
    if has_role(user, Role.OFFICE):
        return Laboratory.objects.all()
    if not has_role(user, Role.LAB_MANAGER):
        return Laboratory.objects.none()
    return Laboratory.objects.editable_by(user)


def may_read_figures(user: Any, lab: Laboratory) -> bool:
    """The office and committee, the laboratory's managers and the authority of its region."""
    return (
        has_role(user, Role.OFFICE)
        or has_role(user, Role.COMMITTEE)
        or has_role(user, Role.LAB_MANAGER, scope=lab)
        or (
            has_role(user, Role.AUTHORITY)
            and Laboratory.objects.filter(Laboratory.jurisdiction_q(user), pk=lab.pk).exists()
        )
    )


def _require_lab(user: Any, lab: Laboratory) -> None:
    if not may_record_for(user, lab):
        raise PermissionDenied(_("You may record outputs only for your own laboratory."))


def _describe(obj: Standard | Output) -> str:
    return _("“%(title)s” (%(lab)s, record %(id)d)") % {
        "title": obj.title,
        "lab": obj.laboratory.code,
        "id": obj.pk,
    }


# --------------------------------------------------------------------------------------------------
# Standards
# --------------------------------------------------------------------------------------------------


def clean_standard(data: dict[str, Any], lab: Laboratory, instance: Standard | None = None) -> dict[str, Any]:
    """Checked values of a standard (number parsed; level, nature and issuer taken from it), or a
    ``ValidationError`` naming every wrong field. Duplicates in the same laboratory, and a second
    lead drafter of the same number, are refused with the existing record named."""
    errors: dict[str, str] = {}
    out = {f: data[f] for f in STANDARD_FIELDS if f in data}
    for f in ("number", "project_number", "title_zh", "title_en", "notes"):
        if f in out:
            out[f] = (out[f] or "").strip()
    current = {f: getattr(instance, f) for f in STANDARD_FIELDS} if instance else {}
    merged = {**current, **out}
    if not merged.get("title_zh"):
        errors["title_zh"] = _("The Chinese title is required.")
    if merged.get("role") not in Standard.DrafterRole.values:
        errors["role"] = _("The role must be “lead” or “participant”.")
    number = merged.get("number") or ""
    if number:
        try:
            parsed = parse_standard_number(number)
        except IdentifierError as exc:
            errors["number"] = str(exc)
        else:
            out.update(number=parsed.text, level=parsed.level, nature=parsed.nature, issuer=parsed.issuer)
            others = Standard.objects.filter(number=parsed.text).exclude(pk=getattr(instance, "pk", None))
            same_lab = others.filter(laboratory=lab).select_related("laboratory").first()
            if same_lab:
                errors["number"] = _("This standard is already recorded: %(existing)s.") % {
                    "existing": _describe(same_lab)
                }
            elif merged.get("role") == Standard.DrafterRole.LEAD:
                lead = others.filter(role=Standard.DrafterRole.LEAD).select_related("laboratory").first()
                if lead:
                    errors["role"] = _("Another laboratory already leads this standard: %(existing)s.") % {
                        "existing": _describe(lead)
                    }
    else:
        if merged.get("level") not in StandardLevel.values:
            errors["level"] = _("Choose the level, or enter the standard number.")
        out["nature"] = ""
        out["issuer"] = ""
    if errors:
        raise ValidationError(errors)
    return out


@transaction.atomic
def record_standard(user: Any, lab: Laboratory, data: dict[str, Any]) -> Standard:
    """A laboratory records a standard it proposes or joins; it starts at "proposal"."""
    _require_lab(user, lab)
    values = clean_standard(data, lab)
    with acting_as(user):
        std = Standard.objects.create(
            laboratory=lab,
            created_by=user,
            proposed_on=data.get("proposed_on") or timezone.localdate(),
            **values,
        )
    watch(std, user)
    return std


@transaction.atomic
def edit_standard(user: Any, std: Standard, data: dict[str, Any]) -> Standard:
    if not Standard.objects.editable_by(user).filter(pk=std.pk).exists():
        raise PermissionDenied(_("You may view this standard but not change it."))
    values = clean_standard(data, std.laboratory, instance=std)
    changed = [f for f, v in values.items() if f in CLAIMED_FIELDS and getattr(std, f) != v]
    for f, v in values.items():
        setattr(std, f, v)
    with acting_as(user):
        std.save(update_fields=[*values, "last_updated"])
    if changed and std.verification == "verified":
        _amend_claim(user, std, _("changed after verification: %(fields)s") % {"fields": ", ".join(changed)})
        std.refresh_from_db()
    return std


#: what the office verifies: a change of these (or a later publication, revision or withdrawal) sends a
#: verified standard back to "claimed"
CLAIMED_FIELDS = ("number", "level", "title_zh", "role")
CLAIM_CHANGING_STEPS = ("publish", "revise", "withdraw")


def _amend_claim(user: Any, std: Standard, reason: str) -> None:
    apply_transition(StandardClaim.objects.get(pk=std.pk), "amend", user, reason=reason)


def verify_standard(user: Any, std: Standard, transition: str, reason: str = "") -> Standard:
    """The office's verification of a standard the laboratory claims: ``verify``, ``reject`` (with a
    reason the laboratory sees), ``reopen`` (with a reason); the laboratory ``resubmit``s a rejected
    claim after fixing it. Every step is audited in the standard's history and notifies its followers."""
    if transition == "amend":
        raise PermissionDenied(_("A claim goes back to “claimed” by itself when the laboratory changes it."))
    apply_transition(StandardClaim.objects.get(pk=std.pk), transition, user, reason=reason)
    std.refresh_from_db()
    return std


def move_standard(
    user: Any,
    std: Standard,
    transition: str,
    reason: str = "",
    on: dt.date | None = None,
    attachments: Any = (),
) -> Standard:
    """Take a lifecycle step; ``on`` records when it happened (default today), never in the future and
    never before the previous stage."""
    with transaction.atomic():
        was_verified = std.verification == "verified"
        apply_transition(std, transition, user, reason=reason, attachments=attachments)
        std.refresh_from_db()
        if was_verified and transition in CLAIM_CHANGING_STEPS:
            step = Standard.workflow.transition(transition).label
            _amend_claim(user, std, _("%(step)s after verification") % {"step": step})
            std.refresh_from_db()
        if on is not None:
            if on > timezone.localdate():
                raise ValidationError({"on": _("The date of a stage cannot be in the future.")})
            earlier = [
                getattr(std, field)
                for stage, field in STAGE_DATES.items()
                if stage != std.stage and field not in ("revised_on", "withdrawn_on") and getattr(std, field)
            ]
            if earlier and on < max(earlier):
                raise ValidationError(
                    {
                        "on": _("The date cannot be before the previous stage (%(date)s).")
                        % {"date": max(earlier)}
                    }
                )
            field = STAGE_DATES[std.stage]
            setattr(std, field, on)
            with acting_as(user):
                std.save(update_fields=[field, "last_updated"])
    return std


@transaction.atomic
def link_study(user: Any, std: Standard, study: Any | None) -> Standard:
    """Link the verification study that supports the standard (any model instance of the studies app),
    or unlink it with ``None``. A loose generic reference keeps the two apps independent."""
    from django.contrib.contenttypes.models import ContentType

    if not Standard.objects.editable_by(user).filter(pk=std.pk).exists():
        raise PermissionDenied(_("You may view this standard but not change it."))
    std.study_type = ContentType.objects.get_for_model(study) if study is not None else None
    std.study_id = str(study.pk) if study is not None else ""
    with acting_as(user):
        std.save(update_fields=["study_type", "study_id", "last_updated"])
    return std


def published_standards(lab: Laboratory) -> Any:
    """The public list: a laboratory's published standards (and those since revised), newest first."""
    return Standard.objects.filter(laboratory=lab, stage__in=PUBLIC_STAGES, verification="verified").order_by(
        "-published_on", "number"
    )


# --------------------------------------------------------------------------------------------------
# Other outputs
# --------------------------------------------------------------------------------------------------

REQUIRED_BY_KIND: dict[str, tuple[str, ...]] = {
    OutputKind.PAPER: ("doi",),
    OutputKind.PATENT: ("application_number",),
    OutputKind.TRANSFER: ("value", "counterpart"),
    OutputKind.EVENT: ("participants",),
    OutputKind.POLICY_REPORT: ("policy_question",),
    OutputKind.IMPACT_REPORT: ("impact_assessment",),
    OutputKind.TALENT: ("people",),
    OutputKind.TRAINEE: ("people",),
    OutputKind.VISITOR: ("people",),
}
PATENT_ONLY = ("patent_type", "application_number", "grant_number", "granted_on")


def _as_int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _as_date(value: Any) -> dt.date | str | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        return "bad"


def clean_output(data: dict[str, Any], instance: Output | None = None) -> dict[str, Any]:
    """Checked values of an output, or a ``ValidationError`` naming every wrong field: identifiers
    parsed (DOI, patent numbers), what each kind needs, and duplicates (same DOI, application or grant
    number) refused with the existing record named."""
    errors: dict[str, str] = {}
    out = {f: data[f] for f in OUTPUT_FIELDS if f in data}
    for f, v in list(out.items()):
        if isinstance(v, str):
            out[f] = v.strip()
    current = {f: getattr(instance, f) for f in OUTPUT_FIELDS} if instance else {}
    merged = {**current, **{k: v for k, v in out.items()}}
    kind = merged.get("kind")
    if kind not in OutputKind.values:
        errors["kind"] = _("Unknown kind “%(kind)s”.") % {"kind": kind or ""}
    if not merged.get("title_zh"):
        errors["title_zh"] = _("The Chinese title is required.")
    year = _as_int(merged.get("year"))
    if year is None:
        errors["year"] = _("The year is required, as four digits.")
    elif not MIN_YEAR <= year <= timezone.localdate().year + 1:
        errors["year"] = _("The year %(year)d is outside %(low)d–%(high)d.") % {
            "year": year,
            "low": MIN_YEAR,
            "high": timezone.localdate().year + 1,
        }
    else:
        out["year"] = year
    for f in ("date", "granted_on"):
        if f in out:
            value = _as_date(out[f])
            if value == "bad":
                errors[f] = _("Write the date as YYYY-MM-DD.")
            else:
                out[f] = value
    if "participants" in out:
        n = _as_int(out["participants"])
        if out["participants"] not in (None, "") and (n is None or n < 0):
            errors["participants"] = _("The number of participants must be a whole number.")
        out["participants"] = n
    if "value" in out:
        if out["value"] in (None, ""):
            out["value"] = None
        else:
            try:
                amount = Decimal(str(out["value"]))
            except InvalidOperation:
                errors["value"] = _("The value must be a number (10k CNY).")
            else:
                if amount < 0:
                    errors["value"] = _("The value cannot be negative.")
                out["value"] = amount
    merged.update({k: v for k, v in out.items() if k not in errors})
    for f in REQUIRED_BY_KIND.get(str(kind), ()):
        if merged.get(f) in (None, "") and f not in errors:
            errors[f] = _("Required for the kind “%(kind)s”.") % {"kind": OutputKind(kind).label}
    if kind != OutputKind.PATENT:
        for f in PATENT_ONLY:
            if merged.get(f) not in (None, ""):
                errors[f] = _("Only a patent has this field.")
    exclude = getattr(instance, "pk", None)
    if merged.get("doi") and "doi" not in errors:
        try:
            out["doi"] = normalise_doi(merged["doi"])
        except IdentifierError as exc:
            errors["doi"] = str(exc)
        else:
            dup = (
                Output.objects.filter(doi=out["doi"]).exclude(pk=exclude).select_related("laboratory").first()
            )
            if dup:
                errors["doi"] = _("This DOI is already recorded: %(existing)s.") % {
                    "existing": _describe(dup)
                }
    if kind == OutputKind.PATENT and merged.get("application_number") and "application_number" not in errors:
        try:
            app = parse_patent_application(merged["application_number"])
        except IdentifierError as exc:
            errors["application_number"] = str(exc)
        else:
            out["application_number"] = app.text
            if merged.get("patent_type") and merged["patent_type"] != app.kind:
                errors["patent_type"] = _("The application number is of a %(kind)s patent.") % {
                    "kind": PatentType(app.kind).label
                }
            out["patent_type"] = app.kind
            dup = (
                Output.objects.filter(application_number=app.text)
                .exclude(pk=exclude)
                .select_related("laboratory")
                .first()
            )
            if dup:
                errors["application_number"] = _("This patent is already recorded: %(existing)s.") % {
                    "existing": _describe(dup)
                }
            if merged.get("grant_number"):
                try:
                    out["grant_number"] = validate_patent_grant(merged["grant_number"], app.kind)
                except IdentifierError as exc:
                    errors["grant_number"] = str(exc)
                else:
                    dup = (
                        Output.objects.filter(grant_number=out["grant_number"])
                        .exclude(pk=exclude)
                        .select_related("laboratory")
                        .first()
                    )
                    if dup:
                        errors["grant_number"] = _("This grant is already recorded: %(existing)s.") % {
                            "existing": _describe(dup)
                        }
                if not merged.get("granted_on") and "granted_on" not in errors:
                    errors["granted_on"] = _("A granted patent needs the date of grant.")
            elif merged.get("granted_on"):
                errors["grant_number"] = _("A date of grant needs the grant number.")
    if errors:
        raise ValidationError(errors)
    return out


@transaction.atomic
def record_output(user: Any, lab: Laboratory, data: dict[str, Any]) -> Output:
    """A laboratory claims an output; the office will verify it."""
    _require_lab(user, lab)
    values = clean_output(data)
    with acting_as(user):
        item = Output.objects.create(laboratory=lab, created_by=user, **values)
    watch(item, user)
    return item


@transaction.atomic
def edit_output(user: Any, item: Output, data: dict[str, Any]) -> Output:
    if not Output.objects.editable_by(user).filter(pk=item.pk).exists():
        raise PermissionDenied(_("You may view this output but not change it."))
    values = clean_output(data, instance=item)
    for f, v in values.items():
        setattr(item, f, v)
    with acting_as(user):
        item.save(update_fields=[*values, "last_updated"])
    return item


def move_output(user: Any, item: Output, transition: str, reason: str = "") -> Output:
    """Verification steps: the office verifies or rejects (with a reason); the lab claims again."""
    apply_transition(item, transition, user, reason=reason)
    item.refresh_from_db()
    return item


#: Evidence files: documents and images checked by content (``qslab.core.uploads``), at most 20 MB.
EVIDENCE_KINDS = DOCUMENTS
EVIDENCE_MAX_BYTES = 20 * MB
#: Import files (CSV or XLSX) are read whole into memory: at most 10 MB.
IMPORT_MAX_BYTES = 10 * MB


def add_evidence(user: Any, obj: Standard | Output, upload: Any) -> Any:
    """Attach an evidence file (the standard's text, a grant certificate, a paper's PDF...).

    The file is checked by its content and size here as well as in the form, so no caller can store an
    HTML page or an executable as evidence; it is served only by the permission-checked download view.
    """
    if not type(obj).objects.editable_by(user).filter(pk=obj.pk).exists():
        raise PermissionDenied(_("You may attach evidence only to your own laboratory's records."))
    check_upload(upload, EVIDENCE_KINDS, EVIDENCE_MAX_BYTES)
    return add_attachment(obj, upload, user)


# --------------------------------------------------------------------------------------------------
# Staff register
# --------------------------------------------------------------------------------------------------

STAFF_FIELDS = (
    "name_zh", "name_en", "role", "title", "employment", "degree", "qualifications", "starts_on", "ends_on",
    "notes",
)  # fmt: skip


def _clean_staff(values: dict[str, Any], instance: StaffMember | None = None) -> dict[str, str]:
    merged = {**({f: getattr(instance, f) for f in STAFF_FIELDS} if instance else {}), **values}
    errors: dict[str, str] = {}
    if not (merged.get("name_zh") or "").strip():
        errors["name_zh"] = _("The name in Chinese is required.")
    if merged.get("role") not in StaffRole.values:
        errors["role"] = _("Choose the person's role in the laboratory.")
    if merged.get("employment", "full_time") not in StaffMember.Employment.values:
        errors["employment"] = _("Choose full time, part time or seconded.")
    starts, ends = merged.get("starts_on"), merged.get("ends_on")
    if not starts:
        errors["starts_on"] = _("The date the person joined is required.")
    elif ends and ends < starts:
        errors["ends_on"] = _("The person cannot leave before joining (%(date)s).") % {"date": starts}
    if starts and starts > timezone.localdate():
        errors["starts_on"] = _("The date of joining cannot be in the future.")
    return errors


@transaction.atomic
def add_staff(user: Any, lab: Laboratory, data: dict[str, Any]) -> StaffMember:
    """Put a person on the laboratory's staff register (its managers; the office)."""
    if not may_record_for(user, lab):
        raise PermissionDenied(_("You may keep the staff register only of your own laboratory."))
    values = {f: data[f] for f in STAFF_FIELDS if f in data and data[f] is not None}
    values.setdefault("ends_on", data.get("ends_on"))
    errors = _clean_staff(values)
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        member = StaffMember(laboratory=lab, **values)
        member.full_clean()
        member.save()
    return member


@transaction.atomic
def edit_staff(user: Any, member: StaffMember, data: dict[str, Any]) -> StaffMember:
    """Change a register entry (e.g. a new title or qualification, or the date the person left)."""
    if not StaffMember.objects.editable_by(user).filter(pk=member.pk).exists():
        raise PermissionDenied(_("You may keep the staff register only of your own laboratory."))
    values = {f: data[f] for f in STAFF_FIELDS if f in data}
    errors = _clean_staff(values, instance=member)
    if errors:
        raise ValidationError(errors)
    for f, v in values.items():
        setattr(member, f, "" if v is None and f not in ("ends_on", "starts_on") else v)
    with acting_as(user):
        member.full_clean()
        member.save(update_fields=[*values, "last_updated"])
    return member


def staff_on(lab: Laboratory, day: dt.date) -> Any:
    """The laboratory's staff on a day."""
    return StaffMember.objects.filter(laboratory=lab, starts_on__lte=day).filter(
        Q(ends_on__isnull=True) | Q(ends_on__gte=day)
    )


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------


def lab_figures(lab: Laboratory, year: int) -> dict[str, Any]:
    """Indicators of one laboratory in one calendar year, computed from the records (never typed in).

    Standards count by the date they reached a stage in ``year`` (``by_stage_and_level``); outputs count
    only when verified by the office, by their year (patents granted by the date of grant).
    """
    stds = Standard.objects.filter(laboratory=lab)
    by_stage: dict[str, dict[str, int]] = {}
    for stage, field in STAGE_DATES.items():
        rows = stds.filter(**{f"{field}__year": year}).values("level").annotate(n=Count("pk"))
        counts = {level: 0 for level in StandardLevel.values}
        for row in rows:
            counts[row["level"]] = row["n"]
        by_stage[stage] = counts
    published = stds.filter(published_on__year=year)
    verified = Output.objects.filter(laboratory=lab, status="verified")
    in_year = verified.filter(year=year)
    by_kind = {kind: 0 for kind in OutputKind.values}
    for row in in_year.values("kind").annotate(n=Count("pk")):
        by_kind[row["kind"]] = row["n"]
    sums = in_year.aggregate(
        value=Sum("value", filter=Q(kind=OutputKind.TRANSFER)),
        participants=Sum("participants", filter=Q(kind=OutputKind.EVENT)),
    )
    year_end = min(dt.date(year, 12, 31), max(timezone.localdate(), dt.date(year, 1, 1)))
    staff = staff_on(lab, year_end)
    staff_by_role = {role: 0 for role in StaffRole.values}
    for row in staff.values("role").annotate(n=Count("pk")):
        staff_by_role[row["role"]] = row["n"]
    return {
        "laboratory": lab.code,
        "year": year,
        "staff": staff.count(),
        "staff_by_role": staff_by_role,
        "staff_joined": StaffMember.objects.filter(laboratory=lab, starts_on__year=year).count(),
        "standards_by_stage_and_level": by_stage,
        "standards_published": published.count(),
        "standards_published_by_level": by_stage["published"],
        "standards_published_as_lead": published.filter(role=Standard.DrafterRole.LEAD).count(),
        "standards_published_verified": published.filter(verification="verified").count(),
        "standards_in_progress": stds.exclude(stage__in=("published", "revised", "withdrawn")).count(),
        "standard_claims_awaiting_verification": stds.filter(verification="claimed")
        .exclude(stage="withdrawn")
        .count(),
        "outputs_verified_by_kind": by_kind,
        "patents_granted": verified.filter(kind=OutputKind.PATENT, granted_on__year=year).count(),
        "patent_applications": by_kind[OutputKind.PATENT],
        "papers": by_kind[OutputKind.PAPER],
        "equipment_developed": by_kind[OutputKind.EQUIPMENT],
        "methods": by_kind[OutputKind.TEST_METHOD] + by_kind[OutputKind.CERTIFICATION_METHOD],
        "trainees": by_kind[OutputKind.TRAINEE],
        "events": by_kind[OutputKind.EVENT],
        "event_participants": sums["participants"] or 0,
        "transfer_value": float(sums["value"] or 0),
        "claims_awaiting_verification": Output.objects.filter(
            laboratory=lab, year=year, status="claimed"
        ).count(),
    }
