"""Operations of the designation app: calls, applications and their route to the office, the formal
check, experts and conflicts of interest, optimal assignment, reviews and ranking, the committee's
vote, the public notice with objections, and the hand-over to the laboratory registry."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, models, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from qslab.accounts.models import Organisation
from qslab.accounts.roles import Role, has_role
from qslab.core.calendar import add_days
from qslab.core.context import acting_as
from qslab.core.pdf import render_pdf
from qslab.core.regions import region_name
from qslab.core.services import apply_transition
from qslab.core.workflow import TransitionRefused
from qslab.designation.assignment import AssignmentInfeasible, solve_assignment
from qslab.designation.models import (
    APPLICATION_WORKFLOW,
    AgendaItem,
    Application,
    ApplicationFile,
    Assignment,
    BudgetLine,
    Call,
    CallTemplate,
    CoApplicant,
    CommitteeMeeting,
    CommitteeMembership,
    ConflictDeclaration,
    ConsensusReport,
    Construction,
    Criterion,
    Decision,
    ExpertProfile,
    IndustryScope,
    Milestone,
    Objection,
    ProgressReport,
    PublicNotice,
    Review,
    ReviewMeeting,
    SiteVisit,
    Stage,
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
    "review_due_on",
    "committee_meeting_on",
    "notice_starts_on",
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
    "progress_report_months",
    "extension_years",
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


def require_evaluation_reader(user: Any, app: Application, stage: str) -> None:
    """The evaluation summary is for the office, the committee and the applicant (its creator or an
    account of the institution); the acceptance summary also for the laboratory's managers."""
    if has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE):
        return
    own = app.created_by_id == user.pk or (
        user.organisation_id is not None and user.organisation_id == app.institution_id
    )
    if stage == Stage.ACCEPTANCE and app.laboratory_id is not None and has_role(user, Role.LAB_MANAGER):
        from qslab.accounts.roles import scoped_ids
        from qslab.labs.models import Laboratory

        labs = scoped_ids(user, Role.LAB_MANAGER, Laboratory)  # None: every laboratory
        own = own or labs is None or str(app.laboratory_id) in {str(i) for i in labs}
    if not own:
        raise PermissionDenied(
            _("The evaluation summary is for the applicant, the office and the committee.")
        )


# -- calls -----------------------------------------------------------------------------------------


def _local_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def timetable_errors(call: Call) -> dict[str, str]:
    """The call's dates must follow each other: opening, soft and hard deadline, recommendations, expert
    reviews, committee meeting, public notice. Each unset later milestone is skipped; the error names
    the field that comes too early and the date it must follow."""
    errors: dict[str, str] = {}
    if call.soft_deadline and call.hard_deadline and call.soft_deadline > call.hard_deadline:
        errors["soft_deadline"] = _("The soft deadline must not be after the hard deadline.")
    soft = _local_date(call.soft_deadline)
    if call.opens_on and soft and soft < call.opens_on:
        errors["opens_on"] = _(
            "The call must open (%(opens)s) on or before its soft deadline (%(soft)s)."
        ) % {
            "opens": call.opens_on.isoformat(),
            "soft": soft.isoformat(),
        }
    # (field, label, strictly after the previous milestone?)
    chain = (
        ("hard_deadline", _("the hard deadline"), False),
        ("recommendation_deadline", _("the recommendations due date"), False),
        ("review_due_on", _("the expert reviews due date"), True),
        ("committee_meeting_on", _("the Review Committee meeting"), True),
        ("notice_starts_on", _("the start of the public notice"), True),
    )
    previous: tuple[str, dt.date] | None = None
    for name, label, strict in chain:
        day = _local_date(getattr(call, name))
        if day is None:
            continue
        if previous is not None and name not in errors:
            before_label, before = previous
            if day < before or (strict and day == before):
                errors[name] = (
                    _("%(what)s (%(day)s) must be after %(before)s (%(before_day)s).")
                    if strict
                    else _("%(what)s (%(day)s) must not be before %(before)s (%(before_day)s).")
                ) % {
                    "what": str(label)[:1].upper() + str(label)[1:],
                    "day": day.isoformat(),
                    "before": before_label,
                    "before_day": before.isoformat(),
                }
        previous = (str(label), day)
    return errors


def _check_call(call: Call) -> None:
    errors: dict[str, Any] = dict(timetable_errors(call))
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
def set_criteria(
    user: Any, call: Call, rows: Sequence[CriterionRow], stage: str = Stage.DESIGNATION
) -> list[Criterion]:
    """The office sets the criteria of one review stage (designation or acceptance) of the call."""
    _require(user, Role.OFFICE, _("Only the committee office sets the criteria."))
    if stage not in Stage.values:
        raise ValidationError(_("Unknown review stage “%(stage)s”.") % {"stage": stage})
    if Review.objects.filter(
        assignment__application__call=call, assignment__stage=stage, submitted_at__isnull=False
    ).exists():
        raise ValidationError(_("Reviews have been submitted: the criteria can no longer change."))
    with acting_as(user):
        call.criteria.filter(stage=stage).delete()
        return [
            Criterion.objects.create(call=call, stage=stage, order=i, **dataclasses.asdict(r))
            for i, r in enumerate(rows)
        ]


#: what a call's template may be (checked by content, not by name): PDF, Word, Excel, older Office files
TEMPLATE_KINDS = ("pdf", "docx", "xlsx", "ole")


def template_validator() -> Any:
    """The one check of a template file, for the form, the API and the services alike."""
    from qslab.core.uploads import UploadValidator

    return UploadValidator(TEMPLATE_KINDS, max_bytes=MAX_ATTACHMENT_BYTES)


def _checked_template(upload: UploadedFile) -> str:
    try:
        template_validator()(upload)
    except ValidationError as exc:
        raise ValidationError({"file": [f"“{upload.name}”: {m}" for m in exc.messages]}) from exc
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


@transaction.atomic
def add_call_template(user: Any, call: Call, upload: UploadedFile, name: str = "") -> CallTemplate:
    """The office publishes a template with the call (PDF or office document, at most 20 MB)."""
    _require(user, Role.OFFICE, _("Only the committee office publishes the call's templates."))
    sha256 = _checked_template(upload)
    with acting_as(user):
        return CallTemplate.objects.create(
            call=call, name=(name or upload.name or "template").strip()[:200], file=upload, sha256=sha256
        )


def _delete_stored_later(name: str) -> None:
    """Remove a stored file once the transaction that stopped using it has committed."""
    from django.core.files.storage import default_storage

    transaction.on_commit(lambda: default_storage.delete(name))


@transaction.atomic
def replace_call_template(
    user: Any, template: CallTemplate, upload: UploadedFile, name: str = ""
) -> CallTemplate:
    """The office replaces a template's file (and optionally its name); the change log keeps both
    checksums, the old file is removed from storage after commit."""
    _require(user, Role.OFFICE, _("Only the committee office publishes the call's templates."))
    sha256 = _checked_template(upload)
    old = template.file.name
    template.file = upload
    template.sha256 = sha256
    if name.strip():
        template.name = name.strip()[:200]
    with acting_as(user, "template replaced"):
        template.save(update_fields=["file", "sha256", "name", "last_updated"])
    if old and old != template.file.name:
        _delete_stored_later(old)
    return template


@transaction.atomic
def remove_call_template(user: Any, template: CallTemplate) -> None:
    """The office withdraws a template from the call (audited in the change log)."""
    _require(user, Role.OFFICE, _("Only the committee office publishes the call's templates."))
    name = template.file.name
    with acting_as(user, "template removed"):
        template.delete()
    if name:
        _delete_stored_later(name)


def move_call(user: Any, call: Call, transition: str, reason: str = "") -> Call:
    if transition == "publish" and not call.criteria.filter(stage=Stage.DESIGNATION).exists():
        raise TransitionRefused(
            _("A call needs review criteria before it is published."), TransitionRefused.GUARD
        )
    apply_transition(call, transition, user, reason)
    return call


# -- industries ------------------------------------------------------------------------------------


@transaction.atomic
def save_industry_scope(user: Any, data: dict[str, Any], scope: IndustryScope | None = None) -> IndustryScope:
    """The office maps an industry (as written in authorities' industry scopes) to its key fields;
    ``fields`` are key-field objects or codes."""
    _require(user, Role.OFFICE, _("Only the committee office maps industries to key fields."))
    scope = scope or IndustryScope()
    for f in ("industry", "name_zh", "name_en"):
        if f in data:
            setattr(scope, f, (data[f] or "").strip())
    if not scope.industry:
        raise ValidationError({"industry": _("Name the industry as the authorities' roles write it.")})
    clash = IndustryScope.objects.filter(industry__iexact=scope.industry).exclude(pk=scope.pk).first()
    if clash is not None:
        raise ValidationError(
            {"industry": _("The industry “%(industry)s” is already mapped.") % {"industry": clash.industry}}
        )
    scope.full_clean(exclude=["fields"])
    with acting_as(user):
        try:
            with transaction.atomic():
                scope.save()
        except IntegrityError:
            # mapped by another request at the same instant: refused like any mapped industry, not a 500
            raise ValidationError(
                {
                    "industry": _("The industry “%(industry)s” is already mapped.")
                    % {"industry": scope.industry}
                }
            ) from None
        if "fields" in data:
            scope.fields.set(_key_fields(data["fields"]))
    return scope


def unmapped_industries() -> list[str]:
    """Industry scopes of active competent authorities that no ``IndustryScope`` maps: such an authority
    sees no application until the office maps its industry."""
    from qslab.accounts.models import RoleMembership

    named = set(
        RoleMembership.objects.filter(role=Role.AUTHORITY, active=True)
        .exclude(industry="")
        .values_list("industry", flat=True)
    )
    mapped = {
        i.lower()
        for i in IndustryScope.objects.filter(fields__isnull=False).values_list("industry", flat=True)
    }
    return sorted(i for i in named if i.strip().lower() not in mapped)


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


def require_editable(user: Any, app: Application) -> None:
    """The application's institution (draft or returned) or the office; for an endpoint that must refuse
    a wrong role before it looks at the input."""
    _require_editable(user, app)


def _require_editable(user: Any, app: Application) -> None:
    if not Application.objects.editable_by(user).filter(pk=app.pk).exists():
        raise PermissionDenied(
            _("This application can be changed only by its applicant while it is a draft.")
        )


@transaction.atomic
def edit_application(user: Any, app: Application, data: dict[str, Any]) -> Application:
    _require_editable(user, app)
    _check_application(data)
    if "budget" in data and app.budget_lines.exists() and data["budget"] != app.budget:
        raise ValidationError(
            {
                "budget": _("The budget is the total of its lines (%(total)s); change the lines instead.")
                % {"total": app.budget}
            }
        )
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


def attachment_validator() -> Any:
    """The one check of an application's attachment (PDF by content, at most 20 MB), for the form, the
    API and the services alike."""
    from qslab.core.uploads import UploadValidator

    return UploadValidator(("pdf",), max_bytes=MAX_ATTACHMENT_BYTES)


def _checked_attachment(upload: UploadedFile) -> str:
    """The SHA-256 of a valid PDF attachment; a ValidationError on ``file`` naming the file otherwise."""
    name = upload.name or "attachment.pdf"
    try:
        attachment_validator()(upload)
    except ValidationError as exc:
        if getattr(exc, "code", None) == "wrong_type":
            message = _("“%(name)s” is not a PDF file; attach PDF files only.") % {"name": name}
        else:
            message = " ".join(f"“{name}”: {m}" for m in exc.messages)
        raise ValidationError({"file": message}) from exc
    if not name.lower().endswith(".pdf"):
        raise ValidationError(
            {"file": _("“%(name)s” is not a PDF file; attach PDF files only.") % {"name": name}}
        )
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


@transaction.atomic
def attach_file(user: Any, app: Application, upload: UploadedFile, kind: str) -> ApplicationFile:
    """Attach a PDF (checked by content and size through ``UploadValidator``) to a draft application."""
    _require_editable(user, app)
    if kind not in ApplicationFile.Kind.values:
        raise ValidationError({"kind": _("Unknown attachment type “%(kind)s”.") % {"kind": kind}})
    sha256 = _checked_attachment(upload)
    name = upload.name or "attachment.pdf"
    with acting_as(user):
        return ApplicationFile.objects.create(
            application=app,
            kind=kind,
            file=upload,
            name=name[:200],
            size=upload.size,
            sha256=sha256,
            uploaded_by=user,
        )


# -- the construction plan's budget: lines per year, category and source ---------------------------


@dataclasses.dataclass(frozen=True)
class BudgetRow:
    year: int
    category: str
    source: str
    amount: Decimal
    note: str = ""


def budget_years(call: Call) -> tuple[int, int]:
    """Calendar years a budget line of this call may fall in: from the year the construction can start
    (the public notice's, else the hard deadline's) through that year plus ``construction_years`` — a
    period of n years that starts during a year touches n + 1 calendar years."""
    start = call.notice_starts_on or _local_date(call.hard_deadline) or timezone.localdate()
    return start.year, start.year + call.construction_years


def _choice(value: str, choices: Any) -> str | None:
    """A choice given by its code or its label (either language)."""
    wanted = (value or "").strip().lower()
    for code, label in choices.choices:
        if wanted in (code, str(label).lower()):
            return code
    return None


def parse_budget_lines(text: str) -> tuple[list[BudgetRow], list[str]]:
    """Lines ``year | line | source | amount [| note]`` (line and source by code or label); all errors at
    once."""
    rows, errors = [], []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.replace("｜", "|").split("|")]
        if len(parts) < 4:
            errors.append(_("Line %(n)d: expected year | budget line | source | amount.") % {"n": n})
            continue
        try:
            year = int(parts[0])
            amount = Decimal(parts[3].replace(",", ""))
        except (ValueError, ArithmeticError):
            errors.append(_("Line %(n)d: the year and the amount must be numbers.") % {"n": n})
            continue
        rows.append(BudgetRow(year, parts[1], parts[2], amount, parts[4] if len(parts) > 4 else ""))
    return rows, errors


def budget_row_errors(call: Call, rows: Sequence[BudgetRow]) -> list[str]:
    """What is wrong with ``rows`` for an application in ``call``: unknown line or source, a negative or
    malformed amount, a year outside the construction period, a line given twice."""
    first, last = budget_years(call)
    errors: list[str] = []
    seen: set[tuple[int, str, str]] = set()
    for n, r in enumerate(rows, start=1):
        category = _choice(r.category, BudgetLine.Category)
        source = _choice(r.source, BudgetLine.Source)
        if category is None:
            errors.append(
                _("Line %(n)d: unknown budget line “%(value)s” (one of %(codes)s).")
                % {"n": n, "value": r.category, "codes": ", ".join(BudgetLine.Category.values)}
            )
        if source is None:
            errors.append(
                _("Line %(n)d: unknown source of funds “%(value)s” (one of %(codes)s).")
                % {"n": n, "value": r.source, "codes": ", ".join(BudgetLine.Source.values)}
            )
        if not r.amount.is_finite() or r.amount < 0:
            errors.append(_("Line %(n)d: the amount must not be negative.") % {"n": n})
        elif abs(r.amount) >= Decimal("1e10") or r.amount != r.amount.quantize(Decimal("0.01")):
            # the size first: quantizing 1e30 to cents needs more digits than the context has
            errors.append(
                _("Line %(n)d: the amount has at most 10 digits before and 2 after the decimal point.")
                % {"n": n}
            )
        if not first <= r.year <= last:
            errors.append(
                _("Line %(n)d: %(year)d is outside the construction period (%(first)d–%(last)d).")
                % {"n": n, "year": r.year, "first": first, "last": last}
            )
        key = (r.year, category or r.category, source or r.source)
        if key in seen:
            errors.append(
                _("Line %(n)d: %(year)d, this budget line and source are already given; add up the amounts.")
                % {"n": n, "year": r.year}
            )
        seen.add(key)
    amounts = [r.amount for r in rows if r.amount.is_finite() and abs(r.amount) < Decimal("1e10")]
    total = sum(amounts, Decimal(0))
    if total >= Decimal("1e10"):
        # the application's budget (the total) has the lines' 12 digits, 2 after the point
        errors.append(
            _("The total (%(total)s) has more than 10 digits before the decimal point.") % {"total": total}
        )
    return errors


@transaction.atomic
def set_budget_lines(user: Any, app: Application, rows: Sequence[BudgetRow]) -> list[BudgetLine]:
    """Replace the application's budget by ``rows`` (all or nothing); the application's ``budget`` becomes
    their total (none when there is no line)."""
    # the application row is locked: two replacements at once run one after the other (else both delete
    # nothing, both insert, and the second breaks the one-line-per-year-line-source constraint)
    app = Application.objects.select_for_update().select_related("call").get(pk=app.pk)
    _require_editable(user, app)
    errors = budget_row_errors(app.call, rows)
    if errors:
        raise ValidationError({"budget_lines": errors})
    with acting_as(user, "budget"):
        app.budget_lines.all().delete()
        lines = [
            BudgetLine.objects.create(
                application=app,
                year=r.year,
                category=_choice(r.category, BudgetLine.Category),
                source=_choice(r.source, BudgetLine.Source),
                amount=r.amount,
                note=r.note[:200],
            )
            for r in sorted(rows, key=lambda r: r.year)
        ]
        app.budget = sum((line.amount for line in lines), Decimal(0)) if lines else None
        app.save(update_fields=["budget", "last_updated"])
    return lines


@dataclasses.dataclass(frozen=True)
class BudgetTotals:
    """The budget's totals: per year, per source, per line, and overall (10k CNY)."""

    by_year: list[tuple[int, Decimal]]
    by_source: list[tuple[str, str, Decimal]]
    by_category: list[tuple[str, str, Decimal]]
    total: Decimal

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def budget_totals(app: Application) -> BudgetTotals:
    lines = list(app.budget_lines.all())
    by_year: dict[int, Decimal] = {}
    by_source: dict[str, Decimal] = {}
    by_category: dict[str, Decimal] = {}
    for line in lines:
        by_year[line.year] = by_year.get(line.year, Decimal(0)) + line.amount
        by_source[line.source] = by_source.get(line.source, Decimal(0)) + line.amount
        by_category[line.category] = by_category.get(line.category, Decimal(0)) + line.amount
    return BudgetTotals(
        by_year=sorted(by_year.items()),
        by_source=[
            (code, str(label), by_source[code])
            for code, label in BudgetLine.Source.choices
            if code in by_source
        ],
        by_category=[
            (code, str(label), by_category[code])
            for code, label in BudgetLine.Category.choices
            if code in by_category
        ],
        total=sum(by_year.values(), Decimal(0)),
    )


# -- the application as a bilingual PDF --------------------------------------------------------------

#: the PDF's labels, each printed in Chinese and English side by side
PDF_LABELS = {
    "title": gettext_noop("Application for a national quality standards laboratory"),
    "call": gettext_noop("Call"),
    "status": gettext_noop("Status"),
    "institution": gettext_noop("Supporting institution"),
    "region": gettext_noop("Region"),
    "fields": gettext_noop("Key fields"),
    "submitted_at": gettext_noop("Submitted at"),
    "co_applicants": gettext_noop("Co-applicants"),
    "organisation": gettext_noop("Organisation"),
    "role": gettext_noop("Role"),
    "directions": gettext_noop("Research directions"),
    "team": gettext_noop("Team"),
    "resources": gettext_noop("Resources"),
    "construction_plan": gettext_noop("Construction plan with milestones"),
    "milestones": gettext_noop("Milestones"),
    "milestone": gettext_noop("Milestone"),
    "due": gettext_noop("Due"),
    "reached_on": gettext_noop("Reached on"),
    "budget": gettext_noop("Budget (10k CNY)"),
    "year": gettext_noop("Year"),
    "category": gettext_noop("Budget line"),
    "source": gettext_noop("Source of funds"),
    "amount": gettext_noop("Amount"),
    "note": gettext_noop("Note"),
    "by_year": gettext_noop("Total per year"),
    "by_category": gettext_noop("Total per budget line"),
    "by_source": gettext_noop("Total per source of funds"),
    "total": gettext_noop("Total"),
    "none": gettext_noop("None given."),
    "generated": gettext_noop("Generated at"),
}


def _both(message: Any) -> tuple[str, str]:
    """A label in Chinese and in English (a choice label or a ``PDF_LABELS`` message)."""
    with translation.override("zh-hans"):
        zh = str(_(str(message)) if isinstance(message, str) else message)
    with translation.override("en"):
        en = str(_(str(message)) if isinstance(message, str) else message)
    return zh, en


def may_print_application(user: Any, app: Application) -> bool:
    if getattr(user, "is_superuser", False) and getattr(user, "is_active", False):
        return True
    return Application.objects.filter(Application.printable_q(user), pk=app.pk).exists()


def application_pdf(app: Application) -> bytes:
    """The whole application (co-applicants, directions, team, resources, plan, budget with its totals)
    as one PDF with Chinese and English labels, for reviewers and the file."""
    categories = {code: _both(label) for code, label in BudgetLine.Category.choices}
    sources = {code: _both(label) for code, label in BudgetLine.Source.choices}
    roles = {code: _both(label) for code, label in CoApplicant.Role.choices}
    totals = budget_totals(app)
    construction = Construction.objects.filter(application=app).first()
    context = {
        "app": app,
        "L": {key: _both(message) for key, message in PDF_LABELS.items()},
        "status": (lambda st: (st.label_zh, st.label_en))(APPLICATION_WORKFLOW.state(app.status)),
        "region": (region_name(app.region_code, "zh-hans"), region_name(app.region_code, "en")),
        "fields": list(app.fields.all()),
        "co_applicants": [
            (c.organisation, roles.get(c.role, (c.role, c.role)))
            for c in app.co_applicants.select_related("organisation").order_by("role", "pk")
        ],
        "lines": [(line, categories[line.category], sources[line.source]) for line in app.budget_lines.all()],
        "by_year": totals.by_year,
        "by_category": [(categories[code], amount) for code, _label, amount in totals.by_category],
        "by_source": [(sources[code], amount) for code, _label, amount in totals.by_source],
        "total": totals.total,
        "milestones": list(construction.milestones.all()) if construction else [],
        "generated": timezone.localtime(),
        "pdf_identifier": f"application-{app.pk}".encode(),
    }
    return render_pdf("designation/pdf/application.html", context, "zh-hans")


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
    for f in ("name", "title", "organisation", "region_code", "former_affiliations", "collaborations"):
        if f in data:
            setattr(profile, f, data[f])
    if "vetted" in data:
        if not office:
            raise PermissionDenied(_("Only the office vets experts."))
        profile.vetted = bool(data["vetted"])
    elif not office:
        profile.vetted = False
    for f in ("former_affiliations", "collaborations"):
        value = getattr(profile, f)
        if not isinstance(value, list) or any(
            not isinstance(x, dict) or "organisation" not in x for x in value
        ):
            raise ValidationError({f: _("Give a list of {organisation, until} entries.")})
    profile.full_clean()
    with acting_as(user):
        profile.save()
        if "fields" in data:
            profile.fields.set(_key_fields(data["fields"]))
    return profile


def parse_affiliations(text: str, label: str) -> tuple[list[dict[str, int]], list[str]]:
    """Lines ``organisation (USCC, Chinese or English name) | until year``; all errors at once."""
    rows, errors = [], []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in re.split(r"[|｜]", line)]
        if len(parts) != 2 or not parts[1].isdigit():
            errors.append(
                _("%(label)s, line %(n)d: expected “organisation | year”.") % {"label": label, "n": n}
            )
            continue
        org = Organisation.objects.filter(
            models.Q(uscc=parts[0]) | models.Q(name_zh=parts[0]) | models.Q(name_en=parts[0])
        ).first()
        if org is None:
            errors.append(
                _("%(label)s, line %(n)d: no organisation “%(org)s” in the register.")
                % {"label": label, "n": n, "org": parts[0]}
            )
            continue
        rows.append({"organisation": org.pk, "until": int(parts[1])})
    return rows, errors


def format_affiliations(rows: Sequence[dict[str, Any]]) -> str:
    names = dict(
        Organisation.objects.filter(pk__in=[r.get("organisation") for r in rows]).values_list("pk", "name_zh")
    )
    return "\n".join(
        f"{names.get(r.get('organisation'), r.get('organisation'))} | {r.get('until', '')}" for r in rows
    )


EXPERT_PROFILE_FIELDS = (
    "name",
    "title",
    "organisation",
    "region_code",
    "former_affiliations",
    "collaborations",
)


@transaction.atomic
def register_expert(user: Any, data: dict[str, Any]) -> ExpertProfile:
    """Self-registration in the expert directory: a visitor creates an account (``username``, ``email``,
    ``password``) or a signed-in user without the expert role applies; the office then vets the entry."""
    from django.contrib.auth.password_validation import validate_password

    from qslab.accounts.models import User
    from qslab.core.notifications import notify

    signed_in = user is not None and getattr(user, "is_authenticated", False)
    errors: dict[str, Any] = {}
    if not (data.get("name") or "").strip():
        errors["name"] = _("Give your name.")
    if not data.get("fields"):
        errors["fields"] = _("Choose at least one field of expertise.")
    if signed_in:
        if ExpertProfile.objects.filter(user=user).exists():
            raise ValidationError(_("You are already in the expert directory."))
        account = user
    else:
        username = (data.get("username") or "").strip()
        email = (data.get("email") or "").strip()
        if not username:
            errors["username"] = _("Choose a user name.")
        elif User.objects.filter(username__iexact=username).exists():
            errors["username"] = _("This user name is taken.")
        if not email:
            errors["email"] = _("An email address is required: the office answers there.")
        account = User(username=username, email=email, display_name=(data.get("name") or "").strip()[:100])
        try:
            validate_password(data.get("password") or "", account)
        except ValidationError as exc:
            errors["password"] = exc.messages
    if errors:
        raise ValidationError(errors)
    if not signed_in:
        account.set_password(data["password"])
        account.full_clean(exclude=["password"])
        account.save()
    profile = ExpertProfile(user=account, vetted=False)
    for f in EXPERT_PROFILE_FIELDS:
        if f in data and data[f] is not None:
            setattr(profile, f, data[f])
    profile.full_clean()
    with acting_as(account):
        profile.save()
        profile.fields.set(_key_fields(data["fields"]))
    notify(
        _office_people(),
        verb="expert_registered",
        text_en=f"New expert registration to vet: {profile.name}",
        text_zh=f"新专家注册待审核：{profile.name}",
        obj=profile,
        link="/designation/experts/",
    )
    return profile


@transaction.atomic
def vet_expert(user: Any, profile: ExpertProfile, approve: bool, reason: str = "") -> ExpertProfile:
    """The office vets a directory entry: approval grants the expert role; a refusal gives its reason."""
    from qslab.accounts.models import RoleMembership
    from qslab.accounts.roles import forget_cached_roles
    from qslab.core.notifications import notify

    _require(user, Role.OFFICE, _("Only the office vets experts."))
    if not approve and not reason.strip():
        raise ValidationError({"reason": _("Give the reason for not admitting the expert.")})
    profile.vetted = bool(approve)
    with acting_as(user, reason):
        profile.save(update_fields=["vetted", "last_updated"])
        if approve:
            membership = RoleMembership.objects.filter(
                user=profile.user, role=Role.EXPERT, region_code="", industry="", scope_type=None
            ).first()
            if membership is None:
                RoleMembership.objects.create(user=profile.user, role=Role.EXPERT)
            elif not membership.active:
                membership.active = True
                membership.save(update_fields=["active", "last_updated"])
    forget_cached_roles(profile.user)
    notify(
        [profile.user],
        verb="expert_vetted",
        text_en="You are admitted to the expert directory."
        if approve
        else f"Your expert registration was not admitted: {reason.strip()}",
        text_zh="您已入选专家库。" if approve else f"您的专家注册未获通过：{reason.strip()}",
        obj=profile,
        link="/designation/experts/me/",
    )
    return profile


@transaction.atomic
def declare_conflict(user: Any, app: Application, conflicted: bool, note: str = "") -> ConflictDeclaration:
    _require(user, Role.EXPERT, _("Only experts declare conflicts of interest."))
    with acting_as(user):
        decl, _created = ConflictDeclaration.objects.update_or_create(
            expert=user, application=app, defaults={"conflicted": conflicted, "note": note.strip()}
        )
    if conflicted:
        for a in Assignment.objects.filter(application=app, expert=user, review__submitted_at__isnull=True):
            _close_review_deadline(a)  # nothing more is owed: no reminder, no overdue mark
            with acting_as(user, "conflict declared"):
                a.delete()
    return decl


CONFLICT = "conflict"
UNKNOWN = "unknown"
CLEAR = "clear"


@dataclasses.dataclass(frozen=True)
class ConflictCheck:
    status: str  # conflict | unknown | clear
    reasons: tuple[str, ...]


def check_conflict(
    profile: ExpertProfile | None,
    app: Application,
    declared: bool | None,
    year: int,
    index: CoApplicationIndex | None = None,
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
    for joint in getattr(profile, "collaborations", None) or []:
        until = joint.get("until") or year
        if joint.get("organisation") in orgs and year - int(until) <= app.call.conflict_years:
            reasons.append(_("collaborated with the applicant until %(year)s") % {"year": until})
    if profile.organisation_id and profile.organisation_id not in orgs:
        since = year - app.call.conflict_years
        for earlier in co_applied_with(profile.organisation_id, orgs, app, since, index):
            reasons.append(_("co-applied with the applicant in %(year)s") % {"year": earlier})
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


CoApplicationIndex = dict[int, list[tuple[int, int, frozenset[int]]]]


def co_application_index(since_year: int) -> CoApplicationIndex:
    """Organisation id -> (application id, year, organisations on it) for applications since a year."""
    index: CoApplicationIndex = {}
    rows = CoApplicant.objects.filter(application__created__year__gte=since_year).values_list(
        "application_id", "organisation_id"
    )
    partners: dict[int, set[int]] = {}
    for app_id, org_id in rows:
        partners.setdefault(app_id, set()).add(org_id)
    for app_id, inst_id, created in Application.objects.filter(created__year__gte=since_year).values_list(
        "pk", "institution_id", "created"
    ):
        members = frozenset({inst_id} | partners.get(app_id, set()))
        for org in members:
            index.setdefault(org, []).append((app_id, created.year, members))
    return index


def co_applied_with(
    org_id: int, orgs: set[int], app: Application, since_year: int, index: CoApplicationIndex | None = None
) -> list[int]:
    """Years of earlier applications (other than ``app``) in which ``org_id`` applied together with one
    of ``orgs``, as the supporting institution or a co-applicant, since ``since_year``."""
    index = index if index is not None else co_application_index(since_year)
    return sorted(
        {
            year
            for other, year, members in index.get(org_id, [])
            if other != app.pk and year >= since_year and members & orgs
        }
    )


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


def stage_applications(call: Call, stage: str, *, waiting: bool = False) -> Any:
    """The call's applications in review at ``stage``; ``waiting``: those still waiting for a panel."""
    if stage == Stage.ACCEPTANCE:
        qs = call.applications.filter(construction__status="acceptance")
        if waiting:
            qs = qs.exclude(
                pk__in=Assignment.objects.filter(stage=Stage.ACCEPTANCE, released=True).values("application")
            )
    else:
        qs = call.applications.filter(status__in=("accepted",) if waiting else ("accepted", "in_review"))
    return qs.prefetch_related("co_applicants", "fields")


def conflict_table(
    call: Call, applications: Sequence[Application] | None = None, stage: str = Stage.DESIGNATION
) -> ConflictTable:
    apps = list(applications if applications is not None else stage_applications(call, stage))
    experts = panel_experts(call)
    declared = {
        (d.application_id, d.expert_id): d.conflicted
        for d in ConflictDeclaration.objects.filter(application__in=apps)
    }
    year = timezone.localdate().year
    index = co_application_index(year - max((a.call.conflict_years for a in apps), default=0))
    checks = {}
    aff = np.zeros((len(apps), len(experts)))
    blocked = np.zeros((len(apps), len(experts)), dtype=bool)
    for i, app in enumerate(apps):
        fields = set(app.fields.values_list("pk", flat=True))
        parents = set(app.fields.exclude(parent=None).values_list("parent_id", flat=True))
        for j, e in enumerate(experts):
            check = check_conflict(e, app, declared.get((app.pk, e.user_id)), year, index)
            checks[(app.pk, e.user_id)] = check
            blocked[i, j] = check.status != CLEAR  # unknown pairs are never silently passed
            aff[i, j] = affinity_of(e, fields, parents)
    return ConflictTable(apps, experts, checks, aff, blocked)


def _check_stage(stage: str) -> None:
    if stage not in Stage.values:
        raise ValidationError(_("Unknown review stage “%(stage)s”.") % {"stage": stage})


@transaction.atomic
def propose_assignment(user: Any, call: Call, stage: str = Stage.DESIGNATION) -> tuple[list[Assignment], Any]:
    """Solve the assignment for the applications waiting for a panel at ``stage``; stored unreleased.

    The acceptance review of laboratories under construction uses the same solver, conflict rules
    and loads as the designation review."""
    _require(user, Role.OFFICE, _("Only the committee office assigns experts."))
    _check_stage(stage)
    table = conflict_table(call, list(stage_applications(call, stage, waiting=True)), stage)
    if not table.applications:
        raise ValidationError(_("No application waits for experts at this stage of the call."))
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
        Assignment.objects.filter(application__in=table.applications, stage=stage, released=False).delete()
        created = [
            Assignment.objects.create(
                application=table.applications[i],
                expert=table.experts[j].user,
                stage=stage,
                affinity=float(table.affinity[i, j]),
            )
            for i, j in result.pairs
        ]
    return created, result


@transaction.atomic
def add_assignment(user: Any, app: Application, expert: Any, stage: str = Stage.DESIGNATION) -> Assignment:
    """The office adds an expert by hand; conflicted or unknown pairs are refused."""
    _require(user, Role.OFFICE, _("Only the committee office assigns experts."))
    _check_stage(stage)
    if not stage_applications(app.call, stage).filter(pk=app.pk).exists():
        raise ValidationError(
            _("“%(app)s” is not waiting for or in the %(stage)s.") % {"app": app, "stage": Stage(stage).label}
        )
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
        assignment, _created = Assignment.objects.get_or_create(application=app, expert=expert, stage=stage)
    return assignment


@transaction.atomic
def remove_assignment(user: Any, assignment: Assignment) -> None:
    _require(user, Role.OFFICE, _("Only the committee office assigns experts."))
    if hasattr(assignment, "review") and assignment.review.submitted_at:
        raise ValidationError(_("This expert has already submitted a review."))
    _close_review_deadline(assignment)
    with acting_as(user):
        assignment.delete()


@transaction.atomic
def set_moderator(user: Any, assignment: Assignment) -> Assignment:
    """The office names the panel member who writes the consensus report (one per panel)."""
    _require(user, Role.OFFICE, _("Only the committee office names the moderator."))
    with acting_as(user):
        for other in Assignment.objects.filter(
            application=assignment.application, stage=assignment.stage, moderator=True
        ).exclude(pk=assignment.pk):
            other.moderator = False
            other.save(update_fields=["moderator", "last_updated"])
        assignment.moderator = True
        assignment.save(update_fields=["moderator", "last_updated"])
    return assignment


def _review_deadline(assignment: Assignment) -> None:
    """A reminder the daily job sends before ``due`` and an overdue mark after it (qslab.core.reminders)."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline

    Deadline.objects.create(
        content_type=ContentType.objects.get_for_model(Assignment),
        object_id=str(assignment.pk),
        label_en=f"Expert review of {assignment.application.name_en}",
        label_zh=f"专家评审：{assignment.application.name_zh}",
        due=assignment.due,
        assignee=assignment.expert,
    )


def _close_review_deadline(assignment: Assignment) -> None:
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline

    Deadline.objects.filter(
        content_type=ContentType.objects.get_for_model(Assignment),
        object_id=str(assignment.pk),
        done_at__isnull=True,
    ).update(done_at=timezone.now())


def review_due_date(call: Call, stage: str = Stage.DESIGNATION, today: dt.date | None = None) -> dt.date:
    """The review deadline of experts released today: the call's ``review_due_on`` for the designation
    review, unless it is unset or already past; else ``REVIEW_WORKING_DAYS`` working days from today
    (always so for the acceptance review, which comes years after the call's timetable)."""
    today = today or timezone.localdate()
    if stage == Stage.DESIGNATION and call.review_due_on is not None and call.review_due_on >= today:
        return call.review_due_on
    return add_days(today, REVIEW_WORKING_DAYS)


@transaction.atomic
def release_assignments(user: Any, call: Call, stage: str = Stage.DESIGNATION) -> int:
    """Release the proposed panels to the experts, each with a review deadline that the daily job
    reminds of and marks overdue; designation applications move into review."""
    from qslab.core.notifications import notify

    _require(user, Role.OFFICE, _("Only the committee office releases assignments."))
    _check_stage(stage)
    due = review_due_date(call, stage)
    apps = stage_applications(call, stage, waiting=True).filter(
        assignments__stage=stage, assignments__released=False
    )
    count = 0
    for app in apps.distinct():
        panel = app.assignments.filter(stage=stage)
        n = panel.count()
        if n < call.reviewers_per_application:
            raise ValidationError(
                _("“%(app)s” has %(n)d experts; the call needs %(k)d.")
                % {"app": app, "n": n, "k": call.reviewers_per_application}
            )
        with acting_as(user):
            if not panel.filter(moderator=True).exists():
                first = panel.order_by("-affinity", "pk").first()
                first.moderator = True
                first.save(update_fields=["moderator", "last_updated"])
            for a in panel.filter(released=False).select_related("application", "expert"):
                a.released, a.due = True, due
                a.save(update_fields=["released", "due", "last_updated"])
                _review_deadline(a)
                notify(
                    [a.expert],
                    verb="review_assigned",
                    text_en=f"Please review {app.name_en} by {due:%Y-%m-%d}.",
                    text_zh=f"请于 {due:%Y-%m-%d} 前完成评审：{app.name_zh}。",
                    obj=a,
                )
        if stage == Stage.DESIGNATION:
            apply_transition(app, "start_review", user)
        count += 1
    return count


def _criteria(app: Application, stage: str) -> list[Criterion]:
    return list(app.call.criteria.filter(stage=stage))


def _check_scores(criteria: Sequence[Criterion], scores: dict[str, Any]) -> dict[str, int]:
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
    return clean


@transaction.atomic
def submit_review(user: Any, assignment: Assignment, scores: dict[str, Any], comments: str) -> Review:
    """An assigned expert scores each criterion of the stage (0..highest) and comments; all errors at once."""
    if not Assignment.objects.editable_by(user).filter(pk=assignment.pk).exists():
        raise PermissionDenied(
            _("You may review only applications assigned to you while they are in review.")
        )
    criteria = _criteria(assignment.application, assignment.stage)
    if not criteria:
        raise ValidationError(_("The call has no criteria for this review stage; ask the office."))
    clean = _check_scores(criteria, scores)
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
    _close_review_deadline(assignment)
    return review


def review_status(app: Application, stage: str) -> dict[str, int]:
    panel = app.assignments.filter(stage=stage, released=True)
    return {
        "panel": panel.count(),
        "submitted": panel.filter(review__submitted_at__isnull=False).count(),
    }


# -- panel records: on-site inspection, meeting review, consensus -----------------------------------


def _is_moderator(user: Any, app: Application, stage: str) -> bool:
    return Assignment.objects.filter(
        application=app, stage=stage, expert=user, moderator=True, released=True
    ).exists()


@transaction.atomic
def submit_consensus(
    user: Any,
    app: Application,
    stage: str,
    *,
    scores: dict[str, Any],
    summary: str,
    recommendation: str,
    strengths: str = "",
    weaknesses: str = "",
) -> ConsensusReport:
    """The panel's moderator writes the consensus report once every individual review is in."""
    _check_stage(stage)
    if not _is_moderator(user, app, stage):
        raise PermissionDenied(_("Only the panel's moderator writes the consensus report."))
    counts = review_status(app, stage)
    if counts["submitted"] < counts["panel"]:
        raise ValidationError(
            _("%(done)d of %(n)d individual reviews are in; the consensus follows all of them.")
            % {"done": counts["submitted"], "n": counts["panel"]}
        )
    criteria = _criteria(app, stage)
    clean = _check_scores(criteria, scores)
    errors = {}
    if not summary.strip():
        errors["summary"] = _("Write the summary the applicant will receive.")
    if recommendation not in ConsensusReport.Recommendation.values:
        errors["recommendation"] = _("Choose a recommendation.")
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        report, _created = ConsensusReport.objects.update_or_create(
            application=app,
            stage=stage,
            defaults={
                "moderator": user,
                "scores": clean,
                "total": weighted_total(criteria, clean),
                "summary": summary.strip(),
                "strengths": strengths.strip(),
                "weaknesses": weaknesses.strip(),
                "recommendation": recommendation,
                "submitted_at": timezone.now(),
            },
        )
        if stage == Stage.ACCEPTANCE:
            report.document = _issue_acceptance_report(report, criteria)
            report.save(update_fields=["document", "last_updated"])
    from qslab.core.notifications import notify

    notify(
        _office_people(),
        verb="consensus_report",
        text_en=f"Consensus report in: {app.name_en}",
        text_zh=f"共识报告已提交：{app.name_zh}",
        obj=app,
    )
    return report


def _issue_acceptance_report(report: ConsensusReport, criteria: Sequence[Criterion]) -> Any:
    """The acceptance panel's consensus as a numbered document (zh + en) for the laboratory's managers.
    No reviewer or moderator is named: the applicant sees the panel's view, not who holds it."""
    from qslab.core.documents import issue_document

    app = report.application
    construction = getattr(app, "construction", None)
    recipients = _managers_of_lab(construction.laboratory) if construction is not None else []
    positive = report.recommendation == ConsensusReport.Recommendation.POSITIVE
    lines_zh = [f"{k.name_zh}：{report.scores.get(k.code, '—')} / {k.max_score}" for k in criteria]
    lines_en = [f"{k.name_en}: {report.scores.get(k.code, '—')} / {k.max_score}" for k in criteria]
    total = f"{report.total:.1f}" if report.total is not None else "—"
    body_zh = "\n".join(
        [
            f"{app.institution.name_zh}：",
            f"验收专家组对{app.name_zh}的验收评审共识意见如下。",
            *lines_zh,
            f"加权总分：{total} / 100",
            f"主要优势：{report.strengths or '—'}",
            f"存在不足：{report.weaknesses or '—'}",
            f"综合意见：{report.summary}",
            "结论：建议通过验收。" if positive else "结论：建议不予通过验收。",
        ]
    )
    body_en = "\n".join(
        [
            f"To {app.institution.name_en}:",
            f"The acceptance panel's consensus on the {app.name_en} is as follows.",
            *lines_en,
            f"Weighted total: {total} / 100",
            f"Strengths: {report.strengths or '—'}",
            f"Weaknesses: {report.weaknesses or '—'}",
            f"Summary: {report.summary}",
            "Conclusion: the panel recommends passing the acceptance."
            if positive
            else "Conclusion: the panel does not recommend passing the acceptance.",
        ]
    )
    return issue_document(
        kind_code="designation_acceptance",
        title_zh=f"{app.name_zh}验收评审共识意见",
        title_en=f"Acceptance review consensus on the {app.name_en}",
        body_zh=body_zh,
        body_en=body_en,
        public=False,
        subject=report,
        recipients=recipients,
    )


def _managers_of_lab(lab: Any) -> list[Any]:
    from qslab.labs.models import _managers_of

    return list(_managers_of(lab))


def _issue_minutes(meeting: CommitteeMeeting, user: Any) -> Any:
    """The committee meeting's minutes as a numbered document (zh + en): agenda, decisions, minutes."""
    from qslab.core.documents import issue_document

    items_zh, items_en = [], []
    for i, item in enumerate(meeting.agenda.select_related("application__institution"), start=1):
        app = item.application
        decision = app.decisions.filter(meeting=meeting).order_by("-pk").first()
        outcome = {"approve": "approved", "reject": "not approved", "defer": "deferred"}.get(
            getattr(decision, "outcome", ""), "—"
        )
        outcome_zh = {"approve": "批准", "reject": "不予批准", "defer": "暂缓"}.get(
            getattr(decision, "outcome", ""), "—"
        )
        items_zh.append(f"{i}. {app.name_zh}（{app.institution.name_zh}）：{outcome_zh}")
        items_en.append(f"{i}. {app.name_en} ({app.institution.name_en}): {outcome}")
    place_zh = f"，{meeting.location}" if meeting.location else ""
    place_en = f", {meeting.location}" if meeting.location else ""
    body_zh = "\n".join(
        [
            f"会议：{meeting.title}，{meeting.held_on:%Y-%m-%d}{place_zh}。",
            "议程及决定：",
            *items_zh,
            "会议纪要：",
            meeting.minutes,
        ]
    )
    body_en = "\n".join(
        [
            f"Meeting: {meeting.title}, {meeting.held_on:%Y-%m-%d}{place_en}.",
            "Agenda and decisions:",
            *items_en,
            "Minutes:",
            meeting.minutes,
        ]
    )
    return issue_document(
        kind_code="designation_minutes",
        title_zh=f"评审委员会会议纪要（{meeting.held_on:%Y-%m-%d}）",
        title_en=f"Minutes of the Review Committee meeting of {meeting.held_on:%Y-%m-%d}",
        body_zh=body_zh,
        body_en=body_en,
        issued_by=user,
        public=False,
        subject=meeting,
        recipients=[m.user for m in current_members(meeting.held_on)],
    )


def _office_people() -> list[Any]:
    from qslab.designation.models import _office_users

    return _office_users()


@transaction.atomic
def record_site_visit(
    user: Any,
    app: Application,
    *,
    stage: str,
    visited_on: dt.date,
    inspectors: Sequence[Any],
    findings: str,
    conclusion: str,
) -> SiteVisit:
    """The office, or an expert on the application's panel, records an on-site inspection."""
    _check_stage(stage)
    on_panel = Assignment.objects.filter(application=app, stage=stage, expert=user, released=True).exists()
    if not (has_role(user, Role.OFFICE) or on_panel):
        raise PermissionDenied(_("Only the office or an expert on the panel records an on-site inspection."))
    errors = {}
    if not findings.strip():
        errors["findings"] = _("Write down what the inspection found.")
    if conclusion not in SiteVisit.Conclusion.values:
        errors["conclusion"] = _("Choose a conclusion.")
    if visited_on and visited_on > timezone.localdate():
        errors["visited_on"] = _("An inspection is recorded after it took place.")
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        visit = SiteVisit.objects.create(
            application=app,
            stage=stage,
            visited_on=visited_on,
            findings=findings.strip(),
            conclusion=conclusion,
            recorded_by=user,
        )
        visit.inspectors.set(list(inspectors) or [user])
    return visit


@transaction.atomic
def record_review_meeting(
    user: Any,
    call: Call,
    *,
    stage: str,
    held_on: dt.date,
    applications: Sequence[Application],
    attendees: Sequence[Any],
    minutes: str,
    location: str = "",
) -> ReviewMeeting:
    """The office keeps the minutes of a meeting review of several applications of the call."""
    _require(user, Role.OFFICE, _("Only the committee office keeps the minutes of a meeting review."))
    _check_stage(stage)
    errors = {}
    if not minutes.strip():
        errors["minutes"] = _("The minutes are required.")
    if not applications:
        errors["applications"] = _("Name the applications heard.")
    if any(a.call_id != call.pk for a in applications):
        errors["applications"] = _("Every application heard must belong to this call.")
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        meeting = ReviewMeeting.objects.create(
            call=call,
            stage=stage,
            held_on=held_on,
            location=location.strip(),
            minutes=minutes.strip(),
            recorded_by=user,
        )
        meeting.applications.set(applications)
        meeting.attendees.set(attendees)
    return meeting


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
    consensus: float | None = None

    @property
    def score(self) -> float | None:
        return self.consensus if self.consensus is not None else self.mean


#: declared tie-break rules, in order
TIE_BREAKS = (
    "higher consensus score (the mean individual score where there is no consensus report)",
    "higher mean individual score",
    "higher lowest individual score",
    "earlier submission",
)


def ranking(call: Call) -> list[RankRow]:
    """The call's reviewed applications ranked by the rules in ``TIE_BREAKS``, in order."""
    rows = []
    far = timezone.now() + dt.timedelta(days=36500)
    consensus = dict(
        ConsensusReport.objects.filter(
            application__call=call, stage=Stage.DESIGNATION, submitted_at__isnull=False
        ).values_list("application_id", "total")
    )
    for app in call.applications.exclude(
        status__in=("draft", "submitted", "declined", "rejected", "withdrawn")
    ):
        totals = [
            r.total
            for r in Review.objects.filter(
                assignment__application=app, assignment__stage=Stage.DESIGNATION, submitted_at__isnull=False
            )
        ]
        mean = sum(totals) / len(totals) if totals else None
        rows.append(
            RankRow(0, app, mean, min(totals) if totals else None, len(totals), consensus.get(app.pk))
        )

    def neg(x: float | None) -> float:
        return -(x if x is not None else -1)

    rows.sort(key=lambda r: (neg(r.score), neg(r.mean), neg(r.lowest), r.application.submitted_at or far))
    return [dataclasses.replace(r, rank=i) for i, r in enumerate(rows, start=1)]


#: application states in which the designation review is closed (``close_review`` was taken)
REVIEW_CLOSED_STATES = frozenset(
    {"reviewed", "deferred", "not_approved", "approved", "public_notice", "designated"}
)


def review_closed(app: Application, stage: str = Stage.DESIGNATION) -> bool:
    """Is the review of ``stage`` closed, so that the applicant may read its evaluation? The designation
    review closes with ``close_review`` (every review and the consensus in); the acceptance review once
    the acceptance panel's moderator has submitted the consensus (or the construction has ended)."""
    if stage == Stage.ACCEPTANCE:
        construction = getattr(app, "construction", None)
        if construction is not None and construction.status in ("named", "terminated"):
            return True
        return app.consensus_reports.filter(stage=stage, submitted_at__isnull=False).exists()
    return app.status in REVIEW_CLOSED_STATES


def evaluation_for(user: Any, app: Application, stage: str = Stage.DESIGNATION) -> dict[str, Any]:
    """The evaluation summary as ``user`` may read it: the office and the committee always; the applicant
    (and, for the acceptance, the laboratory's managers) only once the review is closed — before that, no
    individual review or score, and ``closed`` is false."""
    closed = review_closed(app, stage)
    if closed or has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE):
        return {**evaluation_summary(app, stage), "closed": closed}
    return {"reviews": [], "consensus": None, "closed": False}


def evaluation_summary(app: Application, stage: str = Stage.DESIGNATION) -> dict[str, Any]:
    """What the applicant receives: the panel's consensus summary and each anonymous reviewer's scores and
    comments (no identities, not even the moderator's)."""
    reviews = []
    qs = Review.objects.filter(
        assignment__application=app, assignment__stage=stage, submitted_at__isnull=False
    ).order_by("pk")
    for n, r in enumerate(qs, start=1):
        reviews.append(
            {
                "reviewer": _("Reviewer %(n)d") % {"n": n},
                "total": r.total,
                "scores": r.scores,
                "comments": r.comments,
            }
        )
    report = app.consensus_reports.filter(stage=stage, submitted_at__isnull=False).first()
    consensus = None
    if report is not None:
        consensus = {
            "total": report.total,
            "summary": report.summary,
            "strengths": report.strengths,
            "weaknesses": report.weaknesses,
            "recommendation": report.get_recommendation_display(),
        }
    return {"reviews": reviews, "consensus": consensus}


# -- committee -------------------------------------------------------------------------------------


@transaction.atomic
def appoint_member(
    user: Any,
    member: Any,
    *,
    term_start: dt.date,
    term_end: dt.date,
    position: str = CommitteeMembership.Position.MEMBER,
    organisation: Organisation | None = None,
) -> CommitteeMembership:
    """The office records a seat on the Review Committee for a term (the member needs the committee role)."""
    _require(user, Role.OFFICE, _("Only the committee office keeps the committee's membership."))
    if not has_role(member, Role.COMMITTEE):
        raise ValidationError(_("%(who)s does not hold the committee role.") % {"who": member})
    if term_end < term_start:
        raise ValidationError({"term_end": _("The term must end after it starts.")})
    overlapping = CommitteeMembership.objects.filter(
        user=member, term_start__lte=term_end, term_end__gte=term_start
    )
    if overlapping.exists():
        raise ValidationError(_("%(who)s already has a term in this period.") % {"who": member})
    with acting_as(user):
        return CommitteeMembership.objects.create(
            user=member,
            position=position,
            organisation=organisation if organisation is not None else member.organisation,
            term_start=term_start,
            term_end=term_end,
        )


def current_term(member: Any, on: dt.date | None = None) -> CommitteeMembership | None:
    on = on or timezone.localdate()
    return CommitteeMembership.objects.filter(user=member, term_start__lte=on, term_end__gte=on).first()


def current_members(on: dt.date | None = None) -> list[CommitteeMembership]:
    on = on or timezone.localdate()
    return list(
        CommitteeMembership.objects.filter(term_start__lte=on, term_end__gte=on).select_related(
            "user", "organisation"
        )
    )


@transaction.atomic
def schedule_meeting(
    user: Any, *, title: str, held_on: dt.date, applications: Sequence[Application], location: str = ""
) -> CommitteeMeeting:
    """The office convenes the committee with an agenda of reviewed applications; members are told."""
    from qslab.core.notifications import notify

    _require(user, Role.OFFICE, _("Only the committee office convenes the committee."))
    errors = {}
    if not title.strip():
        errors["title"] = _("Give the meeting a title.")
    if not applications:
        errors["applications"] = _("Put at least one application on the agenda.")
    not_ready = [str(a) for a in applications if a.status not in ("reviewed", "deferred")]
    if not_ready:
        errors["applications"] = _("Not reviewed yet: %(apps)s.") % {"apps": "; ".join(not_ready)}
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        meeting = CommitteeMeeting.objects.create(
            title=title.strip(), held_on=held_on, location=location.strip(), created_by=user
        )
        for i, app in enumerate(applications):
            AgendaItem.objects.create(meeting=meeting, application=app, order=i)
    notify(
        [m.user for m in current_members(held_on)],
        verb="committee_meeting",
        text_en=f"Committee meeting {held_on:%Y-%m-%d}: {len(applications)} applications on the agenda.",
        text_zh=f"评审委员会会议 {held_on:%Y-%m-%d}：议程共 {len(applications)} 项申请。",
        obj=meeting,
    )
    return meeting


def current_agenda_item(app: Application) -> AgendaItem | None:
    return (
        AgendaItem.objects.filter(application=app, meeting__status=CommitteeMeeting.Status.SCHEDULED)
        .select_related("meeting")
        .order_by("-meeting__held_on", "-pk")
        .first()
    )


def member_conflict(member: Any, app: Application) -> str | None:
    """Why a committee member must recuse: their organisation applies or co-applies."""
    term = current_term(member)
    org_id = (term.organisation_id if term else None) or member.organisation_id
    if org_id is None:
        return None
    if org_id == app.institution_id:
        return _("the member's organisation is the applicant")
    if app.co_applicants.filter(organisation_id=org_id).exists():
        return _("the member's organisation is a co-applicant")
    return None


def _lock_application(app: Application) -> None:
    """Lock the application's row until the transaction ends and reload it. Votes and the decision on one
    application take this lock, so they are serialised: a decision counts every vote committed before it,
    and a vote arriving after it finds the application decided and is refused (never left uncounted)."""
    Application.objects.select_for_update().filter(pk=app.pk).values_list("pk", flat=True).first()
    app.refresh_from_db()


@transaction.atomic
def cast_vote(user: Any, app: Application, choice: str, reason: str = "") -> Vote:
    """A committee member in term votes on an application on the agenda of a scheduled meeting; a member
    whose organisation applies or co-applies may only recuse, and a recusal gives its reason."""
    _require(user, Role.COMMITTEE, _("Only committee members vote."))
    _lock_application(app)
    if app.status != "reviewed":
        raise ValidationError(_("Votes are taken only on reviewed applications."))
    if choice not in Vote.Choice.values:
        raise ValidationError({"choice": _("Unknown vote “%(choice)s”.") % {"choice": choice}})
    if current_term(user) is None:
        raise PermissionDenied(_("You have no current term on the Review Committee; you cannot vote."))
    item = current_agenda_item(app)
    if item is None:
        raise ValidationError(_("The application is not on the agenda of a scheduled committee meeting."))
    conflict = member_conflict(user, app)
    if conflict and choice != Vote.Choice.RECUSE:
        raise ValidationError(
            _("You must recuse yourself from this application: %(why)s.") % {"why": conflict}
        )
    reason = (reason or "").strip() or (conflict or "")
    if choice == Vote.Choice.RECUSE and not reason:
        raise ValidationError({"reason": _("Give the reason for your recusal.")})
    with acting_as(user):
        vote, _created = Vote.objects.update_or_create(
            application=app,
            member=user,
            defaults={"choice": choice, "meeting": item.meeting, "reason": reason[:300]},
        )
    return vote


@transaction.atomic
def record_decision(user: Any, app: Application, minutes: str, defer: bool = False) -> Decision:
    """The office records the committee's decision from the votes cast (quorum and majority from the call)."""
    _require(user, Role.OFFICE, _("Only the committee office records the committee's decision."))
    _lock_application(app)
    if app.status != "reviewed":
        raise ValidationError(_("Only a reviewed application goes before the committee."))
    item = current_agenda_item(app)
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
            meeting=item.meeting if item else None,
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


@transaction.atomic
def close_meeting(user: Any, meeting: CommitteeMeeting, minutes: str) -> CommitteeMeeting:
    """The office closes a meeting with its minutes once every agenda item has a decision."""
    _require(user, Role.OFFICE, _("Only the committee office keeps the committee's minutes."))
    if not minutes.strip():
        raise ValidationError({"minutes": _("The minutes are required.")})
    open_items = [
        str(i.application)
        for i in meeting.agenda.select_related("application")
        if i.application.status == "reviewed"
    ]
    if open_items:
        raise ValidationError(_("Still without a decision: %(apps)s.") % {"apps": "; ".join(open_items)})
    if meeting.status == CommitteeMeeting.Status.CLOSED:
        raise ValidationError(_("The meeting is already closed."))
    meeting.minutes = minutes.strip()
    meeting.status = CommitteeMeeting.Status.CLOSED
    meeting.document = _issue_minutes(meeting, user)
    with acting_as(user):
        meeting.save(update_fields=["minutes", "status", "document", "last_updated"])
    return meeting


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
    from qslab.designation.models import _applicants

    ct = ContentType.objects.get_for_model(lab)
    # the applicant (or, on the targeted route, the institution's own managers) manage the new lab
    for manager in sorted(_applicants(app), key=lambda u: (u.pk != app.created_by_id, u.pk)):
        RoleMembership.objects.get_or_create(
            user=manager,
            role=Role.LAB_MANAGER,
            region_code="",
            industry="",
            scope_type=ct,
            scope_id=str(lab.pk),
        )
    app.laboratory = lab
    app.last_document = lab.last_document
    app.save(update_fields=["laboratory", "last_document"])
    start_construction(app, lab, user)


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28) + dt.timedelta(days=1)


MILESTONE_LINE = re.compile(r"^\s*(\d{4}-\d{2}(?:-\d{2})?)\s*[|｜:：]\s*(.+?)\s*$")


def milestones_from_plan(plan: str, start: dt.date, years: int) -> list[tuple[dt.date, str]]:
    """Lines ``YYYY-MM[-DD] | milestone`` of the construction plan; otherwise one milestone a year."""
    found = []
    for line in plan.splitlines():
        m = MILESTONE_LINE.match(line)
        if not m:
            continue
        parts = [int(x) for x in m.group(1).split("-")]
        try:
            due = dt.date(parts[0], parts[1], parts[2] if len(parts) > 2 else 28)
        except ValueError:
            continue
        found.append((due, m.group(2)[:300]))
    if found:
        return sorted(found)
    return [
        (_add_years(start, n), f"第{n}年建设目标 / Construction targets of year {n}")
        for n in range(1, years + 1)
    ]


def _lab_manager_users(lab: Any) -> list[Any]:
    from qslab.labs.models import _managers_of

    return _managers_of(lab)


def start_construction(app: Application, lab: Any, user: Any) -> Construction:
    """The construction period opens: milestones from the plan, a progress report falls due every
    ``call.progress_report_months`` and the acceptance request at the end of the period (each reminded and
    marked overdue by the daily job)."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline

    start = timezone.localdate()
    years = app.call.construction_years
    with acting_as(user):
        c = Construction.objects.create(
            application=app, laboratory=lab, starts_on=start, ends_on=_add_years(start, years)
        )
        for due, title in milestones_from_plan(app.construction_plan, start, years):
            Milestone.objects.create(construction=c, title=title, due=due)
    Deadline.objects.create(
        content_type=ContentType.objects.get_for_model(Construction),
        object_id=str(c.pk),
        label_en=f"{ACCEPTANCE_LABEL_EN} {lab.name_en}",
        label_zh=f"申请{lab.name_zh}验收",
        due=c.ends_on,
        assignee=_construction_assignee(c),
    )
    _schedule_progress_report(c, user)
    return c


# -- construction, progress, acceptance ------------------------------------------------------------

#: how the two kinds of core ``Deadline`` on a construction are told apart
ACCEPTANCE_LABEL_EN = "Request the acceptance of the"
PROGRESS_LABEL_EN = "Progress report of the"


def _add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or the month's last day (31 January + 1 month = 28/29 February).

    >>> _add_months(dt.date(2026, 1, 31), 1), _add_months(dt.date(2026, 8, 15), 6)
    (datetime.date(2026, 2, 28), datetime.date(2027, 2, 15))
    """
    import calendar

    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_progress_due(construction: Construction, after: dt.date) -> dt.date | None:
    """The first date of the schedule (start + n × the call's ``progress_report_months``, n ≥ 1) later than
    ``after`` and before the end of the period; ``None`` once the acceptance request is the next step."""
    months = construction.application.call.progress_report_months
    n = 1
    while True:
        due = _add_months(construction.starts_on, n * months)
        if due >= construction.ends_on:
            return None
        if due > after:
            return due
        n += 1


def _construction_assignee(c: Construction) -> Any:
    return c.application.created_by or next(
        iter(sorted(_lab_manager_users(c.laboratory), key=lambda u: u.pk)), None
    )


def _construction_deadlines(c: Construction, label_en: str) -> Any:
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline

    return Deadline.objects.filter(
        content_type=ContentType.objects.get_for_model(Construction),
        object_id=str(c.pk),
        label_en__startswith=label_en,
        done_at__isnull=True,
    )


def _schedule_progress_report(c: Construction, user: Any, after: dt.date | None = None) -> None:
    """Close the open progress-report deadline and open the next one of the schedule (if any)."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline

    _construction_deadlines(c, PROGRESS_LABEL_EN).update(done_at=timezone.now())
    due = next_progress_due(c, after or c.starts_on) if c.status == "building" else None
    if due != c.next_report_due:
        c.next_report_due = due
        with acting_as(user):
            c.save(update_fields=["next_report_due", "last_updated"])
    if due is not None:
        lab = c.laboratory
        Deadline.objects.create(
            content_type=ContentType.objects.get_for_model(Construction),
            object_id=str(c.pk),
            label_en=f"{PROGRESS_LABEL_EN} {lab.name_en}",
            label_zh=f"{lab.name_zh}建设进展报告",
            due=due,
            assignee=_construction_assignee(c),
        )


# -- construction, progress, acceptance ------------------------------------------------------------


@transaction.atomic
def submit_progress_report(
    user: Any,
    construction: Construction,
    *,
    period: str,
    text: str,
    milestones_reached: Sequence[Milestone] = (),
    spent: Any = None,
) -> ProgressReport:
    """The laboratory's manager reports progress during construction and marks milestones reached."""
    if not Construction.objects.editable_by(user).filter(pk=construction.pk).exists():
        raise PermissionDenied(
            _("Only the laboratory's manager reports progress, while the laboratory is under construction.")
        )
    # one report at a time per construction: the next due date is computed from the one just answered
    Construction.objects.select_for_update().filter(pk=construction.pk).values_list("pk", flat=True).first()
    construction.refresh_from_db()
    errors = {}
    if not period.strip():
        errors["period"] = _("Name the period reported on (e.g. 2027 or 2027-H1).")
    if not text.strip():
        errors["text"] = _("Describe the progress.")
    if construction.progress_reports.filter(period=period.strip()).exists():
        errors["period"] = _("The period %(period)s has already been reported.") % {"period": period.strip()}
    foreign = [m for m in milestones_reached if m.construction_id != construction.pk]
    if foreign:
        errors["milestones"] = _("A milestone of another laboratory was given.")
    if errors:
        raise ValidationError(errors)
    today = timezone.localdate()
    with acting_as(user):
        report = ProgressReport.objects.create(
            construction=construction,
            period=period.strip(),
            text=text.strip(),
            spent=spent,
            submitted_by=user,
        )
        for m in milestones_reached:
            if m.done_on is None:
                m.done_on = today
                m.save(update_fields=["done_on", "last_updated"])
    # the report answers the one due (or overdue); the next falls due on the schedule after today
    _schedule_progress_report(construction, user, after=max(today, construction.next_report_due or today))
    from qslab.core.notifications import notify

    notify(
        _office_people(),
        verb="progress_report",
        text_en=f"Progress report {report.period}: {construction.laboratory.name_en}",
        text_zh=f"建设进展报告 {report.period}：{construction.laboratory.name_zh}",
        obj=construction,
    )
    return report


@transaction.atomic
def comment_progress_report(user: Any, report: ProgressReport, comment: str) -> ProgressReport:
    _require(user, Role.OFFICE, _("Only the committee office comments on progress reports."))
    if not comment.strip():
        raise ValidationError({"office_comment": _("Write the comment.")})
    report.office_comment = comment.strip()
    with acting_as(user):
        report.save(update_fields=["office_comment", "last_updated"])
    return report


@transaction.atomic
def request_acceptance(
    user: Any, construction: Construction, profile: dict[str, Any] | None = None
) -> Construction:
    """The manager completes the laboratory's profile in the registry (director, contact; through
    ``qslab.labs.services``) and requests the acceptance review, all or nothing."""
    from qslab.labs import services as labs

    data = {k: v for k, v in (profile or {}).items() if k in ("director_name", "contact_email") and v}
    if data:
        labs.edit_laboratory(user, construction.laboratory, data)
        construction.laboratory.refresh_from_db()
    return move_construction(user, construction, "request_acceptance")


@transaction.atomic
def move_construction(
    user: Any, construction: Construction, transition: str, reason: str = ""
) -> Construction:
    """Request acceptance, pass it (naming), extend once, or terminate; the registry follows through
    ``qslab.labs.services`` and issues its numbered documents."""
    if (
        transition == "request_acceptance"
        and not construction.application.call.criteria.filter(stage=Stage.ACCEPTANCE).exists()
    ):
        raise TransitionRefused(
            _("The call has no acceptance criteria yet; ask the office to set them."), TransitionRefused.GUARD
        )
    apply_transition(construction, transition, user, reason)
    construction.refresh_from_db()
    if transition == "extend":
        _reopen_acceptance(construction, user)
    _follow_construction_deadlines(construction, user)
    return construction


def _follow_construction_deadlines(c: Construction, user: Any) -> None:
    """Out of ``building`` nothing more is owed; back in it (an extension), the acceptance request falls due
    at the new end of the period and progress reports resume on the schedule."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline

    if c.status != "building":
        _construction_deadlines(c, ACCEPTANCE_LABEL_EN).update(done_at=timezone.now())
        _schedule_progress_report(c, user)
        return
    if not _construction_deadlines(c, ACCEPTANCE_LABEL_EN).filter(due=c.ends_on).exists():
        _construction_deadlines(c, ACCEPTANCE_LABEL_EN).update(done_at=timezone.now())
        Deadline.objects.create(
            content_type=ContentType.objects.get_for_model(Construction),
            object_id=str(c.pk),
            label_en=f"{ACCEPTANCE_LABEL_EN} {c.laboratory.name_en}",
            label_zh=f"申请{c.laboratory.name_zh}验收",
            due=c.ends_on,
            assignee=_construction_assignee(c),
        )
    _schedule_progress_report(c, user, after=timezone.localdate())


def _reopen_acceptance(construction: Construction, user: Any) -> None:
    """After an extension the next acceptance review starts afresh: a new panel, new reviews, a new
    consensus (the earlier ones stay in the change log)."""
    with acting_as(user, "extension: the acceptance review starts again"):
        Assignment.objects.filter(application=construction.application, stage=Stage.ACCEPTANCE).delete()
        construction.application.consensus_reports.filter(stage=Stage.ACCEPTANCE).delete()


def available_actions(app: Application, user: Any) -> list[Any]:
    return [
        t
        for t in APPLICATION_WORKFLOW.available(app, user)
        if t.name not in ("approve", "not_approve", "defer")
    ]


def _open_deadline_targets(user: Any) -> set[tuple[int, str]]:
    """(content type, object id) of the open core deadlines of assignments and constructions that the
    user's dashboard already lists (``qslab.core.dashboard``): the designation queue does not repeat them."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline

    types = ContentType.objects.get_for_models(Assignment, Construction).values()
    return set(
        Deadline.objects.visible_to(user)
        .filter(done_at__isnull=True, content_type__in=types)
        .values_list("content_type_id", "object_id")
    )


def queue_items(user: Any) -> list[Any]:
    """Dashboard: each step's queue for the role that owes it — only what no open core ``Deadline`` of
    the user already shows (an expert's review and a manager's construction appear once, as the
    deadline with its due date and overdue mark)."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.dashboard import QueueItem

    items: list[QueueItem] = []
    shown = _open_deadline_targets(user)
    assignment_type = ContentType.objects.get_for_model(Assignment).pk
    construction_type = ContentType.objects.get_for_model(Construction).pk
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
            Assignment.objects.editable_by(user)
            .exclude(review__submitted_at__isnull=False)
            .select_related("application")[:100]
        ):
            if (assignment_type, str(a.pk)) in shown:
                continue
            items.append(
                QueueItem(
                    label=(
                        _("Review: %(app)s")
                        if a.stage == Stage.DESIGNATION
                        else _("Acceptance review: %(app)s")
                    )
                    % {"app": a.application},
                    url=a.get_absolute_url(),
                    due=a.due,
                    kind="designation",
                )
            )
        for a in (
            Assignment.objects.editable_by(user).filter(moderator=True).select_related("application")[:100]
        ):
            if not a.application.consensus_reports.filter(stage=a.stage, submitted_at__isnull=False).exists():
                items.append(
                    QueueItem(
                        label=_("Consensus report (moderator): %(app)s") % {"app": a.application},
                        url=reverse_consensus(a),
                        due=a.due,
                        kind="designation",
                    )
                )
    if has_role(user, Role.OFFICE):
        labels = {
            "recommended": _("Formal check: %(app)s"),
            "accepted": _("Assign experts: %(app)s"),
            "in_review": _("Expert review under way: %(app)s"),
            "reviewed": _("Committee agenda and decision: %(app)s"),
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
        for c in Construction.objects.filter(status="acceptance").select_related("laboratory")[:100]:
            items.append(
                QueueItem(
                    label=_("Acceptance review: %(lab)s") % {"lab": c.laboratory},
                    url=c.get_absolute_url(),
                    kind="designation",
                )
            )
        for p in ExpertProfile.objects.filter(vetted=False)[:100]:
            items.append(
                QueueItem(
                    label=_("Vet the expert %(name)s") % {"name": p.name},
                    url="/designation/experts/",
                    kind="designation",
                )
            )
    if has_role(user, Role.LAB_MANAGER):
        for c in Construction.objects.editable_by(user).select_related("laboratory")[:100]:
            if (construction_type, str(c.pk)) in shown:
                continue
            items.append(
                QueueItem(
                    label=_("Construction: report progress or request acceptance: %(lab)s")
                    % {"lab": c.laboratory},
                    url=c.get_absolute_url(),
                    due=c.ends_on,
                    kind="designation",
                )
            )
    if has_role(user, Role.COMMITTEE) and current_term(user) is not None:
        for item in (
            AgendaItem.objects.filter(meeting__status="scheduled", application__status="reviewed")
            .exclude(application__votes__member=user)
            .select_related("application", "meeting")[:100]
        ):
            items.append(
                QueueItem(
                    label=_("Vote: %(app)s") % {"app": item.application},
                    url=item.application.get_absolute_url(),
                    due=item.meeting.held_on,
                    kind="designation",
                )
            )
    return items


def reverse_consensus(assignment: Assignment) -> str:
    from django.urls import reverse

    return reverse("designation:consensus", args=[assignment.application_id, assignment.stage])
