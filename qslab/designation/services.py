"""Operations of the designation app: calls, applications and their route to the office, the formal
check, experts and conflicts of interest, optimal assignment, reviews and ranking, the committee's
vote, the public notice with objections, and the hand-over to the laboratory registry."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from qslab.accounts.models import Organisation
from qslab.accounts.roles import Role, has_role
from qslab.core.calendar import add_days
from qslab.core.context import acting_as
from qslab.core.services import apply_transition
from qslab.core.workflow import TransitionRefused
from qslab.designation.assignment import AssignmentInfeasible, solve_assignment
from qslab.designation.models import (
    APPLICATION_WORKFLOW,
    Application,
    ApplicationFile,
    Assignment,
    Call,
    CoApplicant,
    ConflictDeclaration,
    Criterion,
    Decision,
    ExpertProfile,
    Objection,
    PublicNotice,
    Review,
    Vote,
)
from qslab.labs.models import KeyField

#: attachments: PDF only, at most this many bytes
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
#: working days an expert has for a review once released
REVIEW_WORKING_DAYS = 15
#: what the office ticks at the formal check
CHECKLIST = (
    ("eligible", "The institution meets the call's eligibility rules"),
    ("complete", "All required sections are filled in"),
    ("attachments", "The required PDF attachments are present and legible"),
    ("recommendation", "The recommendation (or targeted designation) is on file"),
)
CALL_FIELDS = (
    "code",
    "title_zh",
    "title_en",
    "description_zh",
    "description_en",
    "eligibility_zh",
    "eligibility_en",
    "opens_on",
    "soft_deadline",
    "hard_deadline",
    "recommendation_deadline",
    "recommendation_quota",
    "reviewers_per_application",
    "min_load",
    "max_load",
    "conflict_same_region",
    "conflict_years",
    "quorum",
    "majority",
    "notice_working_days",
    "construction_years",
)
APPLICATION_FIELDS = (
    "name_zh",
    "name_en",
    "region_code",
    "directions",
    "team",
    "resources",
    "construction_plan",
    "budget",
)


def _require(user: Any, role: str, message: str) -> None:
    if not has_role(user, role):
        raise PermissionDenied(message)


# -- calls -----------------------------------------------------------------------------------------


def _check_call(call: Call) -> None:
    errors = {}
    if call.soft_deadline and call.hard_deadline and call.soft_deadline > call.hard_deadline:
        errors["soft_deadline"] = _("The soft deadline must not be after the hard deadline.")
    if call.min_load > call.max_load:
        errors["min_load"] = _("The minimum load must not exceed the maximum load.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def save_call(user: Any, data: dict[str, Any], call: Call | None = None) -> Call:
    """The office drafts or edits a call; ``fields`` are key-field objects or codes."""
    _require(user, Role.OFFICE, _("Only the committee office publishes calls."))
    call = call or Call()
    for f in CALL_FIELDS:
        if f in data:
            setattr(call, f, data[f])
    call.full_clean(exclude=["status"])
    _check_call(call)
    with acting_as(user):
        call.save()
        if "fields" in data:
            call.fields.set(_key_fields(data["fields"]))
    return call


def _key_fields(values: Iterable[Any]) -> list[KeyField]:
    values = list(values)
    codes = [v for v in values if isinstance(v, str)]
    found = {k.code: k for k in KeyField.objects.filter(code__in=codes)}
    unknown = sorted(set(codes) - set(found))
    if unknown:
        raise ValidationError({"fields": _("Unknown key fields: %(codes)s.") % {"codes": ", ".join(unknown)}})
    return [found[v] if isinstance(v, str) else v for v in values]


@dataclasses.dataclass(frozen=True)
class CriterionRow:
    code: str
    name_zh: str
    name_en: str
    weight: float
    max_score: int = 5
    anchors: dict[str, str] = dataclasses.field(default_factory=dict)


def parse_criteria(text: str) -> tuple[list[CriterionRow], list[str]]:
    """Lines ``code | 中文名 | English name | weight | max | 0=anchor; 5=anchor``; all errors at once."""
    rows, errors = [], []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 4:
            errors.append(_("Line %(n)d: expected code | Chinese | English | weight.") % {"n": n})
            continue
        try:
            weight = float(parts[3])
            max_score = int(parts[4]) if len(parts) > 4 and parts[4] else 5
        except ValueError:
            errors.append(_("Line %(n)d: weight and highest score must be numbers.") % {"n": n})
            continue
        anchors = {}
        if len(parts) > 5:
            for item in parts[5].split(";"):
                if "=" in item:
                    level, text_ = item.split("=", 1)
                    anchors[level.strip()] = text_.strip()
        if weight < 0 or max_score < 1:
            errors.append(_("Line %(n)d: weight must be ≥ 0 and the highest score ≥ 1.") % {"n": n})
            continue
        rows.append(CriterionRow(parts[0], parts[1], parts[2], weight, max_score, anchors))
    codes = [r.code for r in rows]
    for code in sorted({c for c in codes if codes.count(c) > 1}):
        errors.append(_("Criterion code “%(code)s” appears twice.") % {"code": code})
    return rows, errors


@transaction.atomic
def set_criteria(user: Any, call: Call, rows: Sequence[CriterionRow]) -> list[Criterion]:
    _require(user, Role.OFFICE, _("Only the committee office sets the criteria."))
    if Review.objects.filter(assignment__application__call=call, submitted_at__isnull=False).exists():
        raise ValidationError(_("Reviews have been submitted: the criteria can no longer change."))
    with acting_as(user):
        call.criteria.all().delete()
        return [
            Criterion.objects.create(call=call, order=i, **dataclasses.asdict(r)) for i, r in enumerate(rows)
        ]


def move_call(user: Any, call: Call, transition: str, reason: str = "") -> Call:
    if transition == "publish" and not call.criteria.exists():
        raise TransitionRefused(
            _("A call needs review criteria before it is published."), TransitionRefused.GUARD
        )
    apply_transition(call, transition, user, reason)
    return call


# -- applications ----------------------------------------------------------------------------------


def _check_application(data: dict[str, Any]) -> None:
    name_zh = (data.get("name_zh") or "").strip()
    if name_zh and not (name_zh.startswith("国家") and name_zh.endswith("质量标准实验室")):
        raise ValidationError(
            {
                "name_zh": _("The Chinese name follows the pattern 国家XX质量标准实验室, got “%(name)s”.")
                % {"name": name_zh}
            }
        )


def _refuse_if_closed(call: Call) -> None:
    if call.status != "published":
        raise ValidationError(_("The call “%(call)s” is not open for applications.") % {"call": call})
    if timezone.now() > call.hard_deadline:
        raise ValidationError(
            _("The hard deadline of this call (%(when)s) has passed: applications are refused.")
            % {"when": timezone.localtime(call.hard_deadline).strftime("%Y-%m-%d %H:%M")}
        )


@transaction.atomic
def start_application(user: Any, call: Call, data: dict[str, Any]) -> Application:
    """A supporting institution's user opens an application in an open call."""
    _require(user, Role.LAB_MANAGER, _("Applications are made by a supporting institution's user."))
    if user.organisation_id is None:
        raise ValidationError(_("Your account is not linked to an institution; ask the office to link it."))
    _refuse_if_closed(call)
    return _create(user, call, user.organisation, Application.Route.OPEN, data)


@transaction.atomic
def open_targeted(user: Any, call: Call, institution: Organisation, data: dict[str, Any]) -> Application:
    """The office opens a targeted designation for a named institution, which then completes it."""
    _require(user, Role.OFFICE, _("Only the committee office opens a targeted designation."))
    if call.status == "closed":
        raise ValidationError(_("The call “%(call)s” is closed.") % {"call": call})
    app = _create(None, call, institution, Application.Route.TARGETED, data, actor=user)
    from qslab.accounts.models import User
    from qslab.core.notifications import notify

    notify(
        User.objects.filter(organisation=institution, role_memberships__role=Role.LAB_MANAGER).distinct(),
        verb="targeted_designation",
        text_en=f"The office opened a targeted designation for you: {app.name_en}. Complete and submit it.",
        text_zh=f"办公室已为贵单位开启定向组建：{app.name_zh}。请完善并提交申请。",
        obj=app,
    )
    return app


def _create(
    owner: Any, call: Call, institution: Organisation, route: str, data: dict[str, Any], actor: Any = None
) -> Application:
    _check_application(data)
    app = Application(call=call, institution=institution, route=route, created_by=owner)
    for f in APPLICATION_FIELDS:
        if f in data:
            setattr(app, f, data[f])
    if not app.region_code:
        app.region_code = institution.region_code
    app.full_clean(exclude=["status"])
    with acting_as(actor or owner):
        app.save()
        if "fields" in data:
            app.fields.set(_key_fields(data["fields"]))
    return app


def _require_editable(user: Any, app: Application) -> None:
    if not Application.objects.editable_by(user).filter(pk=app.pk).exists():
        raise PermissionDenied(
            _("This application can be changed only by its applicant while it is a draft.")
        )


@transaction.atomic
def edit_application(user: Any, app: Application, data: dict[str, Any]) -> Application:
    _require_editable(user, app)
    _check_application(data)
    fields = [f for f in APPLICATION_FIELDS if f in data]
    for f in fields:
        setattr(app, f, data[f])
    app.full_clean(exclude=["status"])
    with acting_as(user):
        if fields:
            app.save(update_fields=[*fields, "last_updated"])
        if "fields" in data:
            app.fields.set(_key_fields(data["fields"]))
    return app


@transaction.atomic
def add_co_applicant(user: Any, app: Application, organisation: Organisation, role: str) -> CoApplicant:
    _require_editable(user, app)
    if organisation.pk == app.institution_id:
        raise ValidationError(_("The supporting institution cannot also be a co-applicant."))
    if role not in CoApplicant.Role.values:
        raise ValidationError({"role": _("Unknown co-applicant role “%(role)s”.") % {"role": role}})
    if app.co_applicants.filter(organisation=organisation).exists():
        raise ValidationError(_("%(org)s is already a co-applicant.") % {"org": organisation})
    with acting_as(user):
        return CoApplicant.objects.create(application=app, organisation=organisation, role=role)


@transaction.atomic
def attach_file(user: Any, app: Application, upload: UploadedFile, kind: str) -> ApplicationFile:
    """Attach a PDF (checked by extension, content and size) to a draft application."""
    _require_editable(user, app)
    if kind not in ApplicationFile.Kind.values:
        raise ValidationError({"kind": _("Unknown attachment type “%(kind)s”.") % {"kind": kind}})
    name = upload.name or "attachment.pdf"
    head = upload.read(5)
    upload.seek(0)
    if not name.lower().endswith(".pdf") or head != b"%PDF-":
        raise ValidationError(
            {"file": _("“%(name)s” is not a PDF file; attach PDF files only.") % {"name": name}}
        )
    if upload.size > MAX_ATTACHMENT_BYTES:
        raise ValidationError(
            {
                "file": _("“%(name)s” is %(size).1f MB; the limit is %(max)d MB.")
                % {"name": name, "size": upload.size / 2**20, "max": MAX_ATTACHMENT_BYTES // 2**20}
            }
        )
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    with acting_as(user):
        return ApplicationFile.objects.create(
            application=app,
            kind=kind,
            file=upload,
            name=name[:200],
            size=upload.size,
            sha256=digest.hexdigest(),
            uploaded_by=user,
        )


def recommendations_used(user: Any, call: Call) -> int:
    return Application.objects.filter(call=call, recommended_by=user).count()


@transaction.atomic
def move_application(
    user: Any, app: Application, transition: str, reason: str = "", checklist: dict[str, bool] | None = None
) -> Application:
    """Take a workflow action on an application; quota, timestamps and the checklist are kept here."""
    if transition in ("approve", "not_approve", "defer"):
        raise TransitionRefused(
            _("The committee's decision is recorded from its votes, not taken as an action."),
            TransitionRefused.FORBIDDEN,
        )
    wf = APPLICATION_WORKFLOW
    t = wf.transition(transition)
    app.refresh_from_db()
    wf.check(app, t, user)
    fields = []
    if transition == "recommend":
        used = recommendations_used(user, app.call)
        if used >= app.call.recommendation_quota:
            raise TransitionRefused(
                _("You have used your quota of %(n)d recommendations in this call.")
                % {"n": app.call.recommendation_quota},
                TransitionRefused.GUARD,
            )
        app.recommended_by = user
        fields.append("recommended_by")
    if transition in ("submit", "submit_targeted"):
        app.submitted_at = timezone.now()
        app.late = app.submitted_at > app.call.soft_deadline
        fields += ["submitted_at", "late"]
    if transition in ("accept", "return_for_correction", "reject"):
        app.checklist = {code: bool((checklist or {}).get(code)) for code, _label in CHECKLIST}
        if transition == "accept" and not all(app.checklist.values()):
            missing = [label for code, label in CHECKLIST if not app.checklist[code]]
            raise TransitionRefused(
                _("The formal check is not passed: %(items)s.") % {"items": "; ".join(_(m) for m in missing)},
                TransitionRefused.GUARD,
            )
        fields.append("checklist")
    if fields:
        with acting_as(user, reason):
            app.save(update_fields=[*fields, "last_updated"])
    apply_transition(app, transition, user, reason)
    app.refresh_from_db()
    return app


# -- experts and conflicts -------------------------------------------------------------------------


@transaction.atomic
def save_expert_profile(
    user: Any, data: dict[str, Any], profile: ExpertProfile | None = None
) -> ExpertProfile:
    """An expert registers or updates their profile; a change by the expert needs vetting again."""
    office = has_role(user, Role.OFFICE)
    if profile is None:
        _require(user, Role.EXPERT, _("Only experts register in the expert directory."))
        profile = ExpertProfile.objects.filter(user=user).first() or ExpertProfile(user=user)
    elif not ExpertProfile.objects.editable_by(user).filter(pk=profile.pk).exists():
        raise PermissionDenied(_("You may change only your own expert profile."))
    for f in ("name", "title", "organisation", "region_code", "former_affiliations"):
        if f in data:
            setattr(profile, f, data[f])
    if "vetted" in data:
        if not office:
            raise PermissionDenied(_("Only the office vets experts."))
        profile.vetted = bool(data["vetted"])
    elif not office:
        profile.vetted = False
    if not isinstance(profile.former_affiliations, list) or any(
        not isinstance(x, dict) or "organisation" not in x for x in profile.former_affiliations
    ):
        raise ValidationError({"former_affiliations": _("Give a list of {organisation, until} entries.")})
    profile.full_clean()
    with acting_as(user):
        profile.save()
        if "fields" in data:
            profile.fields.set(_key_fields(data["fields"]))
    return profile


@transaction.atomic
def declare_conflict(user: Any, app: Application, conflicted: bool, note: str = "") -> ConflictDeclaration:
    _require(user, Role.EXPERT, _("Only experts declare conflicts of interest."))
    with acting_as(user):
        decl, _created = ConflictDeclaration.objects.update_or_create(
            expert=user, application=app, defaults={"conflicted": conflicted, "note": note.strip()}
        )
    if conflicted:
        Assignment.objects.filter(application=app, expert=user, review__submitted_at__isnull=True).delete()
    return decl


CONFLICT = "conflict"
UNKNOWN = "unknown"
CLEAR = "clear"


@dataclasses.dataclass(frozen=True)
class ConflictCheck:
    status: str  # conflict | unknown | clear
    reasons: tuple[str, ...]


def check_conflict(
    profile: ExpertProfile | None, app: Application, declared: bool | None, year: int
) -> ConflictCheck:
    """Why ``profile``'s expert may not review ``app``; missing profile data gives ``unknown``."""
    reasons: list[str] = []
    if declared:
        reasons.append(_("declared by the expert"))
    if profile is None:
        return ConflictCheck(CONFLICT if reasons else UNKNOWN, tuple(reasons) or (_("no expert profile"),))
    orgs = {app.institution_id} | {c.organisation_id for c in app.co_applicants.all()}
    if profile.organisation_id in orgs:
        reasons.append(
            _("same organisation as the applicant")
            if profile.organisation_id == app.institution_id
            else _("works at a co-applicant")
        )
    for past in profile.former_affiliations or []:
        until = past.get("until") or year
        if past.get("organisation") in orgs and year - int(until) <= app.call.conflict_years:
            reasons.append(_("affiliated with the applicant until %(year)s") % {"year": until})
    if (
        app.call.conflict_same_region
        and profile.region_code
        and profile.region_code[:2] == app.region_code[:2]
    ):
        reasons.append(_("same province as the applicant"))
    if reasons:
        return ConflictCheck(CONFLICT, tuple(reasons))
    missing = []
    if profile.organisation_id is None:
        missing.append(_("no organisation on the profile"))
    if app.call.conflict_same_region and not profile.region_code:
        missing.append(_("no region on the profile"))
    if missing:
        return ConflictCheck(UNKNOWN, tuple(missing))
    return ConflictCheck(CLEAR, ())


def panel_experts(call: Call) -> list[ExpertProfile]:
    """Vetted experts holding the expert role."""
    return list(
        ExpertProfile.objects.filter(
            vetted=True,
            user__is_active=True,
            user__role_memberships__role=Role.EXPERT,
            user__role_memberships__active=True,
        )
        .distinct()
        .select_related("user")
        .prefetch_related("fields")
    )


def affinity_of(profile: ExpertProfile, app_fields: set[int], app_parents: set[int]) -> float:
    """1 for each exact key-field match, 0.5 for a match on the parent field only."""
    score = 0.0
    for f in profile.fields.all():
        if f.pk in app_fields:
            score += 1.0
        elif f.pk in app_parents or (f.parent_id and f.parent_id in app_parents):
            score += 0.5
    return score


@dataclasses.dataclass(frozen=True)
class ConflictTable:
    applications: list[Application]
    experts: list[ExpertProfile]
    checks: dict[tuple[int, int], ConflictCheck]  # (application pk, expert user pk)
    affinity: np.ndarray
    blocked: np.ndarray

    def unknown(self) -> list[tuple[Application, ExpertProfile, ConflictCheck]]:
        return [
            (a, e, self.checks[(a.pk, e.user_id)])
            for a in self.applications
            for e in self.experts
            if self.checks[(a.pk, e.user_id)].status == UNKNOWN
        ]

    def conflicts(self) -> list[tuple[Application, ExpertProfile, ConflictCheck]]:
        return [
            (a, e, self.checks[(a.pk, e.user_id)])
            for a in self.applications
            for e in self.experts
            if self.checks[(a.pk, e.user_id)].status == CONFLICT
        ]


def conflict_table(call: Call, applications: Sequence[Application] | None = None) -> ConflictTable:
    apps = list(
        applications
        if applications is not None
        else call.applications.filter(status__in=("accepted", "in_review")).prefetch_related(
            "co_applicants", "fields"
        )
    )
    experts = panel_experts(call)
    declared = {
        (d.application_id, d.expert_id): d.conflicted
        for d in ConflictDeclaration.objects.filter(application__in=apps)
    }
    year = timezone.localdate().year
    checks = {}
    aff = np.zeros((len(apps), len(experts)))
    blocked = np.zeros((len(apps), len(experts)), dtype=bool)
    for i, app in enumerate(apps):
        fields = set(app.fields.values_list("pk", flat=True))
        parents = set(app.fields.exclude(parent=None).values_list("parent_id", flat=True))
        for j, e in enumerate(experts):
            check = check_conflict(e, app, declared.get((app.pk, e.user_id)), year)
            checks[(app.pk, e.user_id)] = check
            blocked[i, j] = check.status != CLEAR  # unknown pairs are never silently passed
            aff[i, j] = affinity_of(e, fields, parents)
    return ConflictTable(apps, experts, checks, aff, blocked)


@transaction.atomic
def propose_assignment(user: Any, call: Call) -> tuple[list[Assignment], Any]:
    """Solve the assignment for the call's accepted applications and store it unreleased."""
    _require(user, Role.OFFICE, _("Only the committee office assigns experts."))
    table = conflict_table(
        call, list(call.applications.filter(status="accepted").prefetch_related("co_applicants"))
    )
    if not table.applications:
        raise ValidationError(_("No accepted application waits for experts in this call."))
    try:
        result = solve_assignment(
            table.affinity,
            table.blocked,
            k=call.reviewers_per_application,
            max_load=call.max_load,
            min_load=min(call.min_load, call.max_load),
        )
    except AssignmentInfeasible as exc:
        raise ValidationError(_("No assignment is possible: %(why)s.") % {"why": exc}) from exc
    with acting_as(user):
        Assignment.objects.filter(application__in=table.applications, released=False).delete()
        created = [
            Assignment.objects.create(
                application=table.applications[i],
                expert=table.experts[j].user,
                affinity=float(table.affinity[i, j]),
            )
            for i, j in result.pairs
        ]
    return created, result


@transaction.atomic
def add_assignment(user: Any, app: Application, expert: Any) -> Assignment:
    """The office adds an expert by hand; conflicted or unknown pairs are refused."""
    _require(user, Role.OFFICE, _("Only the committee office assigns experts."))
    profile = ExpertProfile.objects.filter(user=expert, vetted=True).first()
    if profile is None:
        raise ValidationError(_("%(who)s is not a vetted expert.") % {"who": expert})
    decl = ConflictDeclaration.objects.filter(application=app, expert=expert).first()
    check = check_conflict(profile, app, decl.conflicted if decl else None, timezone.localdate().year)
    if check.status != CLEAR:
        raise ValidationError(
            _("%(who)s cannot review this application: %(why)s.")
            % {"who": profile, "why": "; ".join(check.reasons)}
        )
    with acting_as(user):
        assignment, _created = Assignment.objects.get_or_create(application=app, expert=expert)
    return assignment


@transaction.atomic
def remove_assignment(user: Any, assignment: Assignment) -> None:
    _require(user, Role.OFFICE, _("Only the committee office assigns experts."))
    if hasattr(assignment, "review") and assignment.review.submitted_at:
        raise ValidationError(_("This expert has already submitted a review."))
    with acting_as(user):
        assignment.delete()


@transaction.atomic
def release_assignments(user: Any, call: Call) -> int:
    """Release the proposed panels to the experts; each application moves into review."""
    _require(user, Role.OFFICE, _("Only the committee office releases assignments."))
    due = add_days(timezone.localdate(), REVIEW_WORKING_DAYS)
    apps = call.applications.filter(status="accepted", assignments__released=False).distinct()
    count = 0
    for app in apps:
        n = app.assignments.count()
        if n < call.reviewers_per_application:
            raise ValidationError(
                _("“%(app)s” has %(n)d experts; the call needs %(k)d.")
                % {"app": app, "n": n, "k": call.reviewers_per_application}
            )
        with acting_as(user):
            for a in app.assignments.filter(released=False):
                a.released, a.due = True, due
                a.save(update_fields=["released", "due", "last_updated"])
        apply_transition(app, "start_review", user)
        count += 1
    return count


@transaction.atomic
def submit_review(user: Any, assignment: Assignment, scores: dict[str, Any], comments: str) -> Review:
    """An assigned expert scores every criterion (0..highest) and comments; all errors at once."""
    if not Assignment.objects.editable_by(user).filter(pk=assignment.pk).exists():
        raise PermissionDenied(
            _("You may review only applications assigned to you while they are in review.")
        )
    criteria = list(assignment.application.call.criteria.all())
    errors, clean = {}, {}
    for c in criteria:
        raw = scores.get(c.code)
        try:
            value = int(raw)
        except (TypeError, ValueError):
            errors[c.code] = _("Give a score for “%(name)s”.") % {"name": c.name}
            continue
        if not 0 <= value <= c.max_score:
            errors[c.code] = _("The score for “%(name)s” must be between 0 and %(max)d.") % {
                "name": c.name,
                "max": c.max_score,
            }
            continue
        clean[c.code] = value
    extra = sorted(set(scores) - {c.code for c in criteria})
    if extra:
        errors["__all__"] = _("Unknown criteria: %(codes)s.") % {"codes": ", ".join(extra)}
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        review, _created = Review.objects.update_or_create(
            assignment=assignment,
            defaults={
                "scores": clean,
                "comments": comments.strip(),
                "submitted_at": timezone.now(),
                "total": weighted_total(criteria, clean),
            },
        )
    return review


def weighted_total(criteria: Sequence[Criterion], scores: dict[str, int]) -> float:
    """The weighted score on a 0–100 scale: Σ w·s/max over Σ w."""
    weight = sum(float(c.weight) for c in criteria)
    if not weight:
        return 0.0
    return round(100 * sum(float(c.weight) * scores[c.code] / c.max_score for c in criteria) / weight, 2)


@dataclasses.dataclass(frozen=True)
class RankRow:
    rank: int
    application: Application
    mean: float | None
    lowest: float | None
    reviews: int


#: declared tie-break rules, in order
TIE_BREAKS = (
    "higher mean weighted score",
    "higher lowest individual score",
    "earlier submission",
)


def ranking(call: Call) -> list[RankRow]:
    """The call's reviewed applications ranked by mean score, then the tie-breaks in ``TIE_BREAKS``."""
    rows = []
    far = timezone.now() + dt.timedelta(days=36500)
    for app in call.applications.exclude(
        status__in=("draft", "submitted", "declined", "rejected", "withdrawn")
    ):
        totals = [
            r.total for r in Review.objects.filter(assignment__application=app, submitted_at__isnull=False)
        ]
        mean = sum(totals) / len(totals) if totals else None
        rows.append((app, mean, min(totals) if totals else None, len(totals)))
    rows.sort(
        key=lambda r: (
            -(r[1] if r[1] is not None else -1),
            -(r[2] if r[2] is not None else -1),
            r[0].submitted_at or far,
        )
    )
    return [RankRow(i, a, m, lo, n) for i, (a, m, lo, n) in enumerate(rows, start=1)]


def evaluation_summary(app: Application) -> list[dict[str, Any]]:
    """What the applicant receives: scores and comments per anonymous reviewer (no identities)."""
    out = []
    reviews = Review.objects.filter(assignment__application=app, submitted_at__isnull=False).order_by("pk")
    for n, r in enumerate(reviews, start=1):
        out.append(
            {
                "reviewer": _("Reviewer %(n)d") % {"n": n},
                "total": r.total,
                "scores": r.scores,
                "comments": r.comments,
            }
        )
    return out


# -- committee -------------------------------------------------------------------------------------


@transaction.atomic
def cast_vote(user: Any, app: Application, choice: str) -> Vote:
    _require(user, Role.COMMITTEE, _("Only committee members vote."))
    app.refresh_from_db()
    if app.status != "reviewed":
        raise ValidationError(_("Votes are taken only on reviewed applications."))
    if choice not in Vote.Choice.values:
        raise ValidationError({"choice": _("Unknown vote “%(choice)s”.") % {"choice": choice}})
    with acting_as(user):
        vote, _created = Vote.objects.update_or_create(
            application=app, member=user, defaults={"choice": choice}
        )
    return vote


@transaction.atomic
def record_decision(user: Any, app: Application, minutes: str, defer: bool = False) -> Decision:
    """The office records the committee's decision from the votes cast (quorum and majority from the call)."""
    _require(user, Role.OFFICE, _("Only the committee office records the committee's decision."))
    app.refresh_from_db()
    if app.status != "reviewed":
        raise ValidationError(_("Only a reviewed application goes before the committee."))
    votes = list(app.votes.values_list("choice", flat=True))
    counts = {c: votes.count(c) for c in Vote.Choice.values}
    cast = counts["approve"] + counts["reject"] + counts["abstain"]
    if cast < app.call.quorum:
        raise ValidationError(
            _("No quorum: %(cast)d members voted (recused members excluded); %(quorum)d are needed.")
            % {"cast": cast, "quorum": app.call.quorum}
        )
    if defer:
        outcome = "defer"
    else:
        outcome = "approve" if counts["approve"] > float(app.call.majority) * cast else "reject"
    with acting_as(user):
        decision = Decision.objects.create(
            application=app,
            outcome=outcome,
            approve=counts["approve"],
            reject=counts["reject"],
            abstain=counts["abstain"],
            recused=counts["recuse"],
            minutes=minutes.strip(),
            recorded_by=user,
        )
    target = {"approve": "approved", "reject": "not_approved", "defer": "deferred"}[outcome]
    _decide(app, user, target, minutes)
    if outcome == "defer":
        app.votes.all().delete()
    return decision


def _decide(app: Application, user: Any, target: str, reason: str) -> None:
    """Apply the decision's state through a declared committee transition (audited like any other)."""
    apply_transition(
        app, {"approved": "approve", "not_approved": "not_approve", "deferred": "defer"}[target], user, reason
    )


# -- public notice, objections, designation --------------------------------------------------------


@transaction.atomic
def file_objection(user: Any, notice: PublicNotice, contact: str, text: str) -> Objection:
    """Anyone signed in may object during the notice period, under their real name."""
    if user is None or not user.is_authenticated:
        raise PermissionDenied(_("Sign in to file an objection: objections need the objector's identity."))
    if not notice.open:
        raise ValidationError(
            _("The notice period ran from %(start)s to %(end)s; objections are closed.")
            % {"start": notice.starts_on, "end": notice.ends_on}
        )
    errors = {}
    if not contact.strip():
        errors["contact"] = _("Give your real name and a way to reach you.")
    if not text.strip():
        errors["text"] = _("Say what you object to.")
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        return Objection.objects.create(
            notice=notice, objector=user, contact=contact.strip(), text=text.strip()
        )


@transaction.atomic
def handle_objection(user: Any, objection: Objection, upheld: bool, response: str) -> Objection:
    _require(user, Role.OFFICE, _("Only the committee office handles objections."))
    if not response.strip():
        raise ValidationError({"response": _("Give the reason for the decision on the objection.")})
    objection.status = Objection.Status.UPHELD if upheld else Objection.Status.DISMISSED
    objection.response = response.strip()
    with acting_as(user):
        objection.save(update_fields=["status", "response", "last_updated"])
    return objection


def hand_over_to_registry(app: Application, user: Any) -> None:
    """Create the laboratory in the registry and approve its construction (numbered document there)."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.accounts.models import RoleMembership
    from qslab.labs import services as labs

    code = f"{app.call.code}-{app.pk}"[:40]
    lab = labs.register_laboratory(
        user,
        {
            "code": code,
            "name_zh": app.name_zh,
            "name_en": app.name_en,
            "supporting_institution": app.institution,
            "region_code": app.region_code,
            "direction": app.directions.strip().splitlines()[0][:200] if app.directions.strip() else "",
            "fields": list(app.fields.all()),
        },
    )
    years = app.call.construction_years
    labs.move_laboratory(
        user,
        lab,
        "approve_construction",
        _("Approved for construction after call “%(call)s”; construction period %(years)d years.")
        % {"call": app.call, "years": years},
    )
    lab.refresh_from_db()
    if app.created_by_id:
        ct = ContentType.objects.get_for_model(lab)
        RoleMembership.objects.get_or_create(
            user=app.created_by,
            role=Role.LAB_MANAGER,
            region_code="",
            industry="",
            scope_type=ct,
            scope_id=str(lab.pk),
        )
    app.laboratory = lab
    app.last_document = lab.last_document
    app.save(update_fields=["laboratory", "last_document"])


def available_actions(app: Application, user: Any) -> list[Any]:
    return [
        t
        for t in APPLICATION_WORKFLOW.available(app, user)
        if t.name not in ("approve", "not_approve", "defer")
    ]


def queue_items(user: Any) -> list[Any]:
    """Dashboard: recommendations due (authority), reviews due (expert), formal checks and more (office)."""
    from qslab.core.dashboard import QueueItem

    items: list[QueueItem] = []
    if has_role(user, Role.AUTHORITY):
        for app in (
            Application.objects.visible_to(user).filter(status="submitted").select_related("call")[:100]
        ):
            items.append(
                QueueItem(
                    label=_("Recommend or decline: %(app)s") % {"app": app},
                    url=app.get_absolute_url(),
                    due=app.call.recommendation_deadline,
                    kind="designation",
                )
            )
    if has_role(user, Role.EXPERT):
        for a in (
            Assignment.objects.filter(expert=user, released=True, application__status="in_review")
            .exclude(review__submitted_at__isnull=False)
            .select_related("application")[:100]
        ):
            items.append(
                QueueItem(
                    label=_("Review: %(app)s") % {"app": a.application},
                    url=a.get_absolute_url(),
                    due=a.due,
                    kind="designation",
                )
            )
    if has_role(user, Role.OFFICE):
        labels = {
            "recommended": _("Formal check: %(app)s"),
            "accepted": _("Assign experts: %(app)s"),
            "reviewed": _("Committee decision: %(app)s"),
            "approved": _("Publish the notice: %(app)s"),
        }
        for app in Application.objects.filter(status__in=labels)[:200]:
            items.append(
                QueueItem(
                    label=labels[app.status] % {"app": app}, url=app.get_absolute_url(), kind="designation"
                )
            )
        for app in Application.objects.filter(status="public_notice").select_related("public_notice")[:100]:
            items.append(
                QueueItem(
                    label=_("Notice ends; designate: %(app)s") % {"app": app},
                    url=app.get_absolute_url(),
                    due=app.public_notice.ends_on,
                    kind="designation",
                )
            )
    if has_role(user, Role.COMMITTEE):
        for app in Application.objects.filter(status="reviewed").exclude(votes__member=user)[:100]:
            items.append(
                QueueItem(
                    label=_("Vote: %(app)s") % {"app": app}, url=app.get_absolute_url(), kind="designation"
                )
            )
    return items
