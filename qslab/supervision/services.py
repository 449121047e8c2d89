"""Supervision operations: every state change of the app, named as verbs of the domain.

Laboratory status changes (order rectification, close rectification, revoke) go through
``qslab.labs.services.move_laboratory``; this module never sets a laboratory's status.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from qslab.accounts.roles import Role, has_role
from qslab.core.calendar import add_days
from qslab.core.context import acting_as
from qslab.core.documents import issue_document
from qslab.core.models import Deadline
from qslab.core.notifications import notify
from qslab.core.services import add_attachment, apply_transition
from qslab.core.uploads import DOCUMENTS, MB, UploadValidator
from qslab.labs import services as lab_services
from qslab.labs.models import OPERATING, Laboratory, _managers_of
from qslab.supervision.models import (
    CONFLICT_RULE_LABELS,
    DEFAULT_COMPLAINT_MONTHS,
    DEFAULT_GRADES,
    DEFAULT_PROPORTIONS,
    AnnualReport,
    Complaint,
    CorrectiveAction,
    EvaluationCampaign,
    EvaluationEntry,
    EvaluationVisit,
    Finding,
    Indicator,
    Inspection,
    Inspector,
    MajorChange,
    PublicNotification,
    RectificationOrder,
    ReportTemplate,
    ScoreSheet,
    SpotCheck,
    SpotCheckDraw,
    SpotCheckItem,
    SpotCheckPlan,
)


def oversees(user: Any) -> bool:
    return has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE)


def _require_office(user: Any) -> None:
    if not has_role(user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office may do this."))


def _open_deadline(
    obj: Any, label_en: str, label_zh: str, due: Any, assignee: Any = None, role: str = ""
) -> None:
    Deadline.objects.create(
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        label_en=label_en,
        label_zh=label_zh,
        due=due,
        assignee=assignee,
        assignee_role="" if assignee else role,
    )


def _open_managers_deadline(obj: Any, managers: list[Any], label_en: str, label_zh: str, due: Any) -> None:
    """A deadline for the laboratory's first manager, or for the office while the laboratory has none."""
    _open_deadline(
        obj,
        label_en,
        label_zh,
        due,
        assignee=managers[0] if managers else None,
        role="" if managers else Role.OFFICE,
    )


def _close_deadlines(obj: Any, assignee: Any = None) -> None:
    qs = Deadline.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk), done_at__isnull=True
    )
    if assignee is not None:
        qs = qs.filter(assignee=assignee)
    qs.update(done_at=timezone.now())


#: evidence files of findings and corrective actions: documents, photos, and plain-text records
EVIDENCE_FILE = UploadValidator((*DOCUMENTS, "text"), max_bytes=20 * MB)


#: files sent with a complaint: documents and photos, at most a few, each checked by content and size
COMPLAINT_FILE = UploadValidator(DOCUMENTS, max_bytes=10 * MB)
COMPLAINT_MAX_FILES = 5


def _file_problems(files: Sequence[Any], validator: Any) -> list[str]:
    """Every problem ``validator`` finds in every file, prefixed with the file's name."""
    errors = []
    for upload in files:
        try:
            validator(upload)
        except ValidationError as exc:
            errors.extend(f"{getattr(upload, 'name', '')}: {m}" for m in exc.messages)
    return errors


def check_complaint_files(files: Sequence[Any]) -> None:
    """Every problem of every file sent with a complaint at once, by file name."""
    errors = []
    if len(files) > COMPLAINT_MAX_FILES:
        errors.append(_("Send at most %(n)d files with a complaint.") % {"n": COMPLAINT_MAX_FILES})
    errors.extend(_file_problems(files, COMPLAINT_FILE))
    if errors:
        raise ValidationError({"files": errors})


def check_evidence(files: Sequence[Any]) -> None:
    """Every problem of every evidence file at once, by file name (content and size are checked)."""
    errors = _file_problems(files, EVIDENCE_FILE)
    if errors:
        raise ValidationError({"files": errors})


# ==================================================================================================
# Annual reports
# ==================================================================================================

FIELD_TYPES = ("text", "number")


def _known_report_source(source: str) -> bool:
    """``key_figures.<field>`` of the registry's key figures, or a computed source (``figures.SOURCES``)."""
    from qslab.labs.services import FIGURE_FIELDS

    if source.startswith("key_figures."):
        return source.split(".", 1)[1] in FIGURE_FIELDS
    return source in figure_sources()


def figure_sources() -> list[str]:
    from qslab.supervision.figures import SOURCES

    return list(SOURCES)


def check_sections(sections: Any) -> None:
    """Raise one ValidationError listing every problem of a template's sections."""
    errors: list[str] = []
    if not isinstance(sections, list) or not sections:
        raise ValidationError(_("A template needs at least one section."))
    keys: set[str] = set()
    for i, section in enumerate(sections, 1):
        if not isinstance(section, dict) or not section.get("key") or not section.get("title_zh"):
            errors.append(_("Section %(n)d needs a key and a Chinese title.") % {"n": i})
            continue
        for field in section.get("fields", []):
            key = field.get("key", "")
            if not key:
                errors.append(_("A field of section “%(s)s” has no key.") % {"s": section["key"]})
            elif key in keys:
                errors.append(_("The field key “%(k)s” is used twice.") % {"k": key})
            keys.add(key)
            if field.get("type", "text") not in FIELD_TYPES:
                errors.append(_("Field “%(k)s”: type must be text or number.") % {"k": key})
            source = field.get("source", "")
            if source and not _known_report_source(source):
                errors.append(
                    _("Field “%(k)s”: unknown source “%(s)s”; use key_figures.<field> or one of: %(keys)s.")
                    % {"k": key, "s": source, "keys": ", ".join(figure_sources())}
                )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def create_template(user: Any, *, year: int, sections: list, opens_on: Any, due_on: Any) -> ReportTemplate:
    _require_office(user)
    check_sections(sections)
    if due_on <= opens_on:
        raise ValidationError({"due_on": _("The due date must be after the opening date.")})
    if ReportTemplate.objects.filter(year=year).exists():
        raise ValidationError({"year": _("There is already a template for %(year)d.") % {"year": year}})
    return ReportTemplate.objects.create(year=year, sections=sections, opens_on=opens_on, due_on=due_on)


def _prefill(template: ReportTemplate, lab: Laboratory) -> dict[str, Any]:
    """Values taken from other apps for the report year: ``key_figures.<field>`` (registry) and every
    computed source of ``figures.SOURCES`` for the year alone, the same functions that compute the
    evaluation indicators (e.g. ``sharing.machine_hours`` shared-instrument hours,
    ``funding.execution_rate`` budget execution, %). A source with no figure (no budget) stays empty."""
    from qslab.supervision import figures as computed

    key_figures = lab.figures.filter(year=template.year).first()
    cache: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for field in template.fields():
        source = field.get("source", "")
        value: Any = None
        if source.startswith("key_figures.") and key_figures is not None:
            value = getattr(key_figures, source.split(".", 1)[1], None)
        elif source in computed.SOURCES:
            value = computed.compute(source, lab, [template.year], cache)
        if value is not None:
            values[field["key"]] = float(value) if isinstance(value, Decimal) else value
    return values


@transaction.atomic
def open_reporting(user: Any, template: ReportTemplate) -> list[AnnualReport]:
    """Send the template to every operating laboratory: one report and one deadline per lab."""
    _require_office(user)
    if template.opened:
        raise ValidationError(_("This template has already been sent to the laboratories."))
    reports = []
    for lab in Laboratory.objects.filter(status__in=OPERATING).order_by("code"):
        report = AnnualReport.objects.create(
            template=template, laboratory=lab, due_on=template.due_on, values=_prefill(template, lab)
        )
        managers = _managers_of(lab)
        _open_managers_deadline(
            report,
            managers,
            f"Annual report {template.year} due",
            f"{template.year}年度报告截止",
            template.due_on,
        )
        notify(
            managers,
            verb="annual_report_opened",
            text_en=f"Annual report {template.year} of {lab.name_en} due on {template.due_on:%Y-%m-%d}.",
            text_zh=f"{lab.name_zh}{template.year}年度报告请于{template.due_on:%Y-%m-%d}前提交。",
            obj=report,
        )
        reports.append(report)
    template.opened = True
    template.save(update_fields=["opened", "last_updated"])
    return reports


def clean_values(template: ReportTemplate, data: dict[str, Any]) -> dict[str, Any]:
    """The report values typed by field; all errors at once."""
    out: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in template.fields():
        key = field["key"]
        raw = data.get(key, "")
        if raw in ("", None):
            continue
        if field.get("type") == "number":
            try:
                out[key] = float(raw)
            except (TypeError, ValueError):
                errors[key] = _("“%(v)s” is not a number.") % {"v": raw}
        else:
            out[key] = str(raw)
    if errors:
        raise ValidationError(errors)
    return out


@transaction.atomic
def save_report(user: Any, report: AnnualReport, data: dict[str, Any]) -> AnnualReport:
    if not AnnualReport.objects.editable_by(user).filter(pk=report.pk).exists():
        raise PermissionDenied(_("Only the laboratory's manager may edit a report that is due or returned."))
    report.values = {**report.values, **clean_values(report.template, data)}
    report.save(update_fields=["values", "last_updated"])
    return report


def _missing_fields(report: AnnualReport) -> list[str]:
    return [
        f.get("label_en") or f["key"]
        for f in report.template.fields()
        if f.get("required", True) and report.values.get(f["key"]) in (None, "")
    ]


@transaction.atomic
def move_report(user: Any, report: AnnualReport, transition: str, reason: str = "") -> AnnualReport:
    if transition == "submit":
        missing = _missing_fields(report)
        if missing and has_role(user, Role.LAB_MANAGER, scope=report.laboratory):
            raise ValidationError(
                _("Fill in before submitting: %(fields)s.") % {"fields": ", ".join(missing)}
            )
    apply_transition(report, transition, user, reason=reason)
    report.refresh_from_db()
    if transition == "submit":
        report.submitted_at = timezone.now()
        report.save(update_fields=["submitted_at", "last_updated"])
    return report


# ==================================================================================================
# Double-random spot checks
# ==================================================================================================

ALGORITHM = "sha256-seeded Python random.Random, sample per risk class, v1"


def months_before(day: Any, months: int) -> Any:
    """The same day ``months`` calendar months earlier (the month's last day where it is shorter)."""
    import calendar
    import datetime as dt

    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def substantiated_complaints(lab: Laboratory, today: Any, months: int) -> int:
    """Substantiated complaints about the lab received in the ``months`` before ``today`` (0: none count)."""
    return substantiated_complaint_counts([lab.pk], today, months).get(lab.pk, 0)


def substantiated_complaint_counts(lab_ids: Sequence[int], today: Any, months: int) -> dict[int, int]:
    """:func:`substantiated_complaints` for many labs in one grouped query (labs without any: absent)."""
    if months <= 0 or not lab_ids:
        return {}
    from django.db.models import Count

    rows = (
        Complaint.objects.filter(
            laboratory__in=lab_ids,
            status="substantiated",
            received_on__gt=months_before(today, months),
            received_on__lte=today,
        )
        .values("laboratory")
        .annotate(n=Count("pk"))
        .values_list("laboratory", "n")
    )
    return dict(rows)


OPEN_ORDER_EXCLUDED = ("verified", "kept", "revoked")


def open_order_counts(lab_ids: Sequence[int]) -> dict[int, int]:
    """Open rectification orders per lab, in one grouped query (labs without any: absent)."""
    from django.db.models import Count

    rows = (
        RectificationOrder.objects.filter(laboratory__in=lab_ids)
        .exclude(status__in=OPEN_ORDER_EXCLUDED)
        .values("laboratory")
        .annotate(n=Count("pk"))
        .values_list("laboratory", "n")
    )
    return dict(rows)


def risk_class(lab: Laboratory, today: Any = None, complaint_months: int = DEFAULT_COMPLAINT_MONTHS) -> str:
    """high: open rectification, last grade fail, an overdue annual report, or a substantiated complaint
    received in the last ``complaint_months`` months; low: last grade excellent."""
    return risk_classes([lab], today, complaint_months)[lab.pk]


def risk_classes(
    labs: Sequence[Laboratory],
    today: Any = None,
    complaint_months: int = DEFAULT_COMPLAINT_MONTHS,
    open_orders: dict[int, int] | None = None,
) -> dict[int, str]:
    """:func:`risk_class` of many labs with a fixed number of queries (one per criterion, not per lab),
    so the overview and the draw do not slow down with the number of laboratories. ``open_orders``
    (from :func:`open_order_counts`) saves that query when the caller has it."""
    today = today or timezone.localdate()
    ids = [lab.pk for lab in labs]
    if not ids:
        return {}
    complaints = substantiated_complaint_counts(ids, today, complaint_months)
    orders = open_orders if open_orders is not None else open_order_counts(ids)
    overdue = set(
        AnnualReport.objects.filter(
            laboratory__in=ids, status__in=("open", "returned"), due_on__lt=today
        ).values_list("laboratory", flat=True)
    )
    last_grade: dict[int, str] = {}
    for lab_id, grade in (
        EvaluationEntry.objects.filter(laboratory__in=ids, campaign__status__in=("confirmed", "published"))
        .exclude(grade="")
        .order_by("laboratory", "-campaign__year")
        .values_list("laboratory", "grade")
    ):
        last_grade.setdefault(lab_id, grade)  # the first row per lab is its latest campaign
    out = {}
    for lab in labs:
        if (
            complaints.get(lab.pk)
            or lab.status == "under_rectification"
            or orders.get(lab.pk)
            or lab.pk in overdue
            or last_grade.get(lab.pk) == "fail"
        ):
            out[lab.pk] = "high"
        elif last_grade.get(lab.pk) == "excellent":
            out[lab.pk] = "low"
        else:
            out[lab.pk] = "normal"
    return out


def seed_for(plan_id: int, seed_source: str, number: int) -> str:
    """The seed: a hash of the value published before the draw, the plan and the draw number."""
    return hashlib.sha256(f"{plan_id}|{seed_source}|{number}".encode()).hexdigest()[:32]


def _conflicted(lab: dict[str, Any], inspector: dict[str, Any], rules: Sequence[str]) -> bool:
    if "same_organisation" in rules and inspector.get("org") and inspector["org"] == lab.get("org"):
        return True
    li, ii = lab.get("region") or "", inspector.get("region") or ""
    if "same_region" in rules and ii and ii == li:
        return True
    return "same_province" in rules and bool(ii) and ii[:2] == li[:2]


@dataclass(frozen=True)
class DrawResult:
    """The labs drawn (in order) with their inspectors, and labs for which too few inspectors were free."""

    checks: list[dict[str, Any]]
    shortfall: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"checks": self.checks, "shortfall": self.shortfall}


def run_draw(inputs: dict[str, Any], seed: str) -> DrawResult:
    """The draw itself, a pure function of its inputs and seed, so anyone can re-run it.

    Labs are sorted by code within each risk class (classes sorted by name) and ``ceil(proportion × n)``
    are sampled; for each drawn lab (by code) the inspectors without a conflict, sorted by id, are
    sampled ``inspectors_per_lab`` at a time from the same generator.
    """
    rng = random.Random(int(seed, 16))
    proportions = inputs["proportions"]
    per_lab = int(inputs["inspectors_per_lab"])
    rules = inputs.get("conflict_rules", [])
    labs = sorted(inputs["labs"], key=lambda x: x["code"])
    chosen: list[dict[str, Any]] = []
    for klass in sorted(proportions):
        pool = [lab for lab in labs if lab["risk"] == klass]
        n = min(len(pool), math.ceil(float(proportions[klass]) * len(pool)))
        chosen.extend(rng.sample(pool, n))
    inspectors = sorted(inputs["inspectors"], key=lambda x: x["id"])
    checks, shortfall = [], []
    for lab in sorted(chosen, key=lambda x: x["code"]):
        free = [i for i in inspectors if not _conflicted(lab, i, rules)]
        if len(free) < per_lab:
            shortfall.append(lab["code"])
            picked: list[dict[str, Any]] = free
        else:
            picked = rng.sample(free, per_lab)
        checks.append(
            {
                "lab": lab["id"],
                "code": lab["code"],
                "risk": lab["risk"],
                "inspectors": sorted(i["id"] for i in picked),
            }
        )
    return DrawResult(checks=checks, shortfall=shortfall)


def draw_inputs(plan: SpotCheckPlan) -> dict[str, Any]:
    """The two directories and the rules, frozen as plain data."""
    today = timezone.localdate()
    operating = list(Laboratory.objects.filter(status__in=OPERATING).order_by("code"))
    risks = risk_classes(operating, today, plan.complaint_months)
    labs = [
        {
            "id": lab.pk,
            "code": lab.code,
            "org": lab.supporting_institution_id,
            "region": lab.region_code,
            "risk": risks[lab.pk],
        }
        for lab in operating
    ]
    inspectors = [
        {"id": i.user_id, "org": i.organisation_id or i.user.organisation_id, "region": i.region_code}
        for i in Inspector.objects.filter(active=True, user__is_active=True).select_related("user")
    ]
    return {
        "labs": labs,
        "inspectors": inspectors,
        "proportions": plan.proportions or DEFAULT_PROPORTIONS,
        "inspectors_per_lab": plan.inspectors_per_lab,
        "conflict_rules": plan.conflict_rules,
        "complaint_months": plan.complaint_months,
        "items": list(plan.items.order_by("code").values_list("code", flat=True)),
    }


RISK_CLASSES = ("high", "normal", "low")
CONFLICT_RULES = tuple(CONFLICT_RULE_LABELS)


@transaction.atomic
def create_plan(
    user: Any,
    *,
    year: int,
    name_zh: str,
    name_en: str,
    items: Sequence[SpotCheckItem],
    proportions: dict[str, Any],
    inspectors_per_lab: int = 2,
    publication_days: int = 20,
    conflict_rules: Sequence[str] = ("same_organisation",),
    seed_source: str = "",
    complaint_months: int = DEFAULT_COMPLAINT_MONTHS,
) -> SpotCheckPlan:
    """A year's plan: items, the share of each risk class to draw, and the draw and publication rules."""
    _require_office(user)
    errors: dict[str, str] = {}
    if not name_zh.strip() or not name_en.strip():
        errors["name_zh"] = _("Give the plan a Chinese and an English name.")
    if not items:
        errors["items"] = _("Choose at least one item of the spot-check list.")
    clean: dict[str, float] = {}
    for klass, value in proportions.items():
        if klass not in RISK_CLASSES:
            errors["proportions"] = _("Unknown risk class “%(k)s”.") % {"k": klass}
            continue
        try:
            share = float(value)
        except (TypeError, ValueError):
            errors["proportions"] = _("Proportions are numbers from 0 to 1.")
            continue
        if not 0 <= share <= 1:
            errors["proportions"] = _("Proportions are numbers from 0 to 1.")
        clean[klass] = share
    if not any(clean.values()):
        errors.setdefault("proportions", _("Draw a share of at least one risk class."))
    if inspectors_per_lab < 2:
        errors["inspectors_per_lab"] = _("At least two inspectors go to each laboratory.")
    if publication_days < 1:
        errors["publication_days"] = _("Results are published within at least one working day.")
    if not 0 <= complaint_months <= 120:
        errors["complaint_months"] = _("Complaints count for 0 to 120 months.")
    unknown = sorted(set(conflict_rules) - set(CONFLICT_RULES))
    if unknown:
        errors["conflict_rules"] = _("Unknown conflict rules: %(r)s.") % {"r": ", ".join(unknown)}
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        plan = SpotCheckPlan.objects.create(
            year=year,
            name_zh=name_zh.strip(),
            name_en=name_en.strip(),
            proportions=clean,
            inspectors_per_lab=inspectors_per_lab,
            publication_days=publication_days,
            conflict_rules=list(conflict_rules),
            seed_source=seed_source.strip(),
            complaint_months=complaint_months,
        )
        plan.items.set(items)
    return plan


@transaction.atomic
def set_seed_source(user: Any, plan: SpotCheckPlan, value: str) -> SpotCheckPlan:
    """Enter the value published before the draw (e.g. a lottery result); only before the first draw."""
    _require_office(user)
    if plan.status != "draft":
        raise ValidationError(_("The seed value is fixed once the draw has been made."))
    if not value.strip():
        raise ValidationError({"seed_source": _("Enter the published value.")})
    plan.seed_source = value.strip()[:200]
    with acting_as(user):
        plan.save(update_fields=["seed_source", "last_updated"])
    return plan


@transaction.atomic
def draw_spot_check(
    user: Any, plan: SpotCheckPlan, reason: str = "", after: int | None = None
) -> SpotCheckDraw:
    """Draw labs and inspectors (first draw, or a redraw with a reason); record seed, inputs and result.

    The plan row is locked, so simultaneous requests draw one after the other; ``after`` (the number of
    the draw the office saw, 0 for none) refuses a request made on a stale page, so two offices pressing
    *redraw* at the same instant record one redraw, not two."""
    _require_office(user)
    plan = SpotCheckPlan.objects.select_for_update().get(pk=plan.pk)
    if not plan.seed_source.strip():
        raise ValidationError({"seed_source": _("Publish a seed value before the draw and enter it here.")})
    previous = plan.current_draw
    if after is not None and (previous.number if previous else 0) != after:
        raise ValidationError(
            _("The plan has been drawn meanwhile (draw #%(n)d); reload the page before drawing again.")
            % {"n": previous.number if previous else 0}
        )
    if plan.status == "published":
        raise ValidationError(_("The results are published; the draw can no longer change."))
    if previous is not None:
        if not reason.strip():
            raise ValidationError({"reason": _("A redraw needs a reason.")})
        if plan.checks.exclude(outcome="").exists():
            raise ValidationError(_("Results have been entered; a redraw is no longer possible."))
    number = (previous.number + 1) if previous else 1
    inputs = draw_inputs(plan)
    seed = seed_for(plan.pk, plan.seed_source, number)
    result = run_draw(inputs, seed)
    if result.shortfall:
        raise ValidationError(
            _("Too few inspectors without a conflict for: %(labs)s. Add inspectors to the directory.")
            % {"labs": ", ".join(result.shortfall)}
        )
    if previous is not None:
        previous.superseded = True
        previous.save(update_fields=["superseded"])
        plan.checks.filter(draw=previous).delete()
    draw = SpotCheckDraw.objects.create(
        plan=plan,
        number=number,
        seed_source=plan.seed_source,
        seed=seed,
        algorithm=ALGORITHM,
        inputs=inputs,
        result=result.to_dict(),
        reason=reason.strip(),
        created_by=user,
    )
    for row in result.checks:
        check = SpotCheck.objects.create(
            plan=plan, draw=draw, laboratory_id=row["lab"], risk_class=row["risk"]
        )
        check.inspectors.set(row["inspectors"])
    if plan.status == "draft":
        apply_transition(plan, "draw", user, reason=reason)
    else:
        from qslab.core.services import write_journal

        write_journal(plan, user, _("Redraw #%(n)d: %(reason)s") % {"n": number, "reason": reason})
    return draw


@dataclass(frozen=True)
class DrawCheck:
    draw: SpotCheckDraw
    rerun: DrawResult
    matches: bool


def verify_draw(draw: SpotCheckDraw) -> DrawCheck:
    """Re-run a recorded draw from its stored seed and inputs; it must give the stored result."""
    rerun = run_draw(draw.inputs, draw.seed)
    recomputed_seed = seed_for(draw.plan_id, draw.seed_source, draw.number)
    return DrawCheck(
        draw=draw, rerun=rerun, matches=rerun.to_dict() == draw.result and recomputed_seed == draw.seed
    )


@transaction.atomic
def enter_result(user: Any, check: SpotCheck, *, outcome: str, findings: str, inspected_on: Any) -> SpotCheck:
    """The inspectors or the office enter the result; the publication clock starts.

    The plan row is locked first (publication locks it too), so a result is either entered before the
    results are published and is in them, or refused because the plan is no longer open."""
    plan = SpotCheckPlan.objects.select_for_update().get(pk=check.plan_id)
    if not SpotCheck.objects.editable_by(user).filter(pk=check.pk).exists():
        raise PermissionDenied(_("Only the drawn inspectors or the office enter this result."))
    errors: dict[str, list[str]] = {}
    if outcome not in SpotCheck.Outcome.values or not outcome:
        errors["outcome"] = [_("Choose an outcome.")]
    elif outcome != "no_issues" and not findings.strip():
        errors["findings"] = [_("Describe the problems found.")]
    if inspected_on > timezone.localdate():
        errors["inspected_on"] = [_("The inspection cannot end in the future.")]
    if errors:
        raise ValidationError(errors)
    check.outcome, check.findings, check.inspected_on = outcome, findings.strip(), inspected_on
    check.publish_by = add_days(inspected_on, plan.publication_days)
    check.save(update_fields=["outcome", "findings", "inspected_on", "publish_by", "last_updated"])
    _close_deadlines(check)
    _open_deadline(
        check,
        f"Publish the spot-check result of {check.laboratory.name_en}",
        f"公开{check.laboratory.name_zh}抽查结果",
        check.publish_by,
        role=Role.OFFICE,
    )
    return check


@transaction.atomic
def publish_spot_check_results(user: Any, plan: SpotCheckPlan) -> SpotCheckPlan:
    """Issue the numbered public results document (一公开) and close the publication deadlines."""
    _require_office(user)
    # locked before the results are read: a result entered meanwhile waits and is then refused
    SpotCheckPlan.objects.select_for_update().filter(pk=plan.pk).first()
    plan.refresh_from_db()
    problem = plan.unentered_problem()
    if problem:
        raise ValidationError(problem)
    checks = list(plan.checks.filter(draw__superseded=False).select_related("laboratory"))
    outcomes = dict(SpotCheck.Outcome.choices)
    lines_zh = [f"{c.laboratory.name_zh}：{outcomes[c.outcome]}" for c in checks]
    lines_en = [f"{c.laboratory.name_en}: {outcomes[c.outcome]}" for c in checks]
    draw = plan.current_draw
    seed_line = f"\n\nseed {draw.seed} ({draw.seed_source})" if draw else ""
    doc = issue_document(
        kind_code="spot_check",
        title_zh=f"{plan.name_zh}结果公告",
        title_en=f"Results of the {plan.name_en}",
        body_zh="\n".join(lines_zh) + seed_line,
        body_en="\n".join(lines_en) + seed_line,
        issued_by=user,
        public=True,
        subject=plan,
    )
    plan.result_document = doc
    plan.save(update_fields=["result_document", "last_updated"])
    apply_transition(plan, "publish", user)
    for c in checks:
        _close_deadlines(c)
    plan.refresh_from_db()
    return plan


# ==================================================================================================
# Phased evaluations
# ==================================================================================================


def check_grades(grades: Any) -> None:
    errors = []
    if not isinstance(grades, list) or not grades:
        raise ValidationError(_("Give at least one grade."))
    mins = []
    for g in grades:
        if not all(k in g for k in ("code", "label_zh", "label_en", "min")):
            errors.append(_("Each grade needs code, label_zh, label_en and min."))
            continue
        mins.append(float(g["min"]))
    if mins and mins != sorted(mins, reverse=True):
        errors.append(_("List grades from the highest threshold to the lowest."))
    if mins and mins[-1] != 0:
        errors.append(_("The lowest grade must start at 0, so that every score has a grade."))
    if errors:
        raise ValidationError(errors)


def grade_for(total: float, grades: Sequence[dict[str, Any]]) -> str:
    """The first grade (highest first) whose threshold the total reaches."""
    for g in grades:
        if total >= float(g["min"]):
            return g["code"]
    return grades[-1]["code"]


@transaction.atomic
def create_campaign(
    user: Any,
    *,
    code: str,
    name_zh: str,
    name_en: str,
    year: int,
    indicators: list,
    grades: list | None = None,
    scoring_due: Any = None,
    period_from: int | None = None,
    self_report_due: Any = None,
    visits_from: Any = None,
    visits_to: Any = None,
    confirmation_due: Any = None,
) -> EvaluationCampaign:
    """A campaign with its own indicator tree (version = count of earlier campaigns with the same tree root
    codes + 1). ``indicators``: nested dicts {code, name_zh, name_en, kind, weight, target, source, rule,
    children}; a quantitative indicator names the computed ``source`` of its figure (``figures.SOURCES``).
    The figures cover the years ``period_from`` to ``year`` (default: the year alone)."""
    from qslab.supervision.figures import SOURCES

    _require_office(user)
    grades = grades if grades is not None else DEFAULT_GRADES
    check_grades(grades)
    errors: list[str] = []
    if EvaluationCampaign.objects.filter(code=code).exists():
        errors.append(_("The code “%(c)s” is already used.") % {"c": code})
    seen: set[str] = set()

    def walk(nodes: list, depth: int) -> None:
        for n in nodes:
            code_ = n.get("code", "")
            if not code_ or code_ in seen:
                errors.append(_("Indicator code “%(c)s” is missing or used twice.") % {"c": code_})
            seen.add(code_)
            kind = n.get("kind", "group" if n.get("children") else "qualitative")
            if kind == "quantitative" and n.get("target") in (None, ""):
                errors.append(_("Quantitative indicator “%(c)s” needs a target value.") % {"c": code_})
            if kind == "quantitative" and n.get("source") not in SOURCES:
                errors.append(
                    _("Quantitative indicator “%(c)s” needs a computed source, one of: %(keys)s.")
                    % {"c": code_, "keys": ", ".join(SOURCES)}
                )
            if n.get("rule", "at_least") not in Indicator.Rule.values:
                errors.append(_("Indicator “%(c)s”: the rule is at_least or at_most.") % {"c": code_})
            if (
                kind == "quantitative"
                and n.get("rule", "at_least") == "at_least"
                and n.get("target") in (0, "0")
            ):
                errors.append(_("Indicator “%(c)s”: an at-least target must be above 0.") % {"c": code_})
            if kind == "group" and not n.get("children"):
                errors.append(_("Group “%(c)s” has no indicators under it.") % {"c": code_})
            walk(n.get("children", []), depth + 1)

    walk(indicators, 0)
    if not indicators:
        errors.append(_("The indicator tree is empty."))
    if period_from is not None and not 2000 <= period_from <= year:
        errors.append(_("The period starts in a year from 2000 to the campaign year."))
    timetable = {
        "self_report_due": self_report_due,
        "visits_from": visits_from,
        "visits_to": visits_to,
        "scoring_due": scoring_due,
        "confirmation_due": confirmation_due,
    }
    errors.extend(timetable_problems(timetable))
    if errors:
        raise ValidationError(errors)
    version = EvaluationCampaign.objects.count() + 1
    campaign = EvaluationCampaign.objects.create(
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        year=year,
        grades=grades,
        version=version,
        period_from=period_from,
        **timetable,
    )

    def create(nodes: list, parent: Indicator | None) -> None:
        for i, n in enumerate(nodes):
            node = Indicator.objects.create(
                campaign=campaign,
                parent=parent,
                code=n["code"],
                name_zh=n.get("name_zh", n["code"]),
                name_en=n.get("name_en", n["code"]),
                kind=n.get("kind", "group" if n.get("children") else "qualitative"),
                weight=Decimal(str(n.get("weight", 1))),
                target=Decimal(str(n["target"])) if n.get("target") not in (None, "") else None,
                source=n.get("source", "") if n.get("kind") == "quantitative" else "",
                rule=n.get("rule", Indicator.Rule.AT_LEAST),
                order=i,
            )
            create(n.get("children", []), node)

    create(indicators, None)
    return campaign


TIMETABLE_FIELDS = ("self_report_due", "visits_from", "visits_to", "scoring_due", "confirmation_due")


def timetable_problems(dates: dict[str, Any]) -> list[str]:
    """The phases must follow each other: self-evaluation due ≤ visits from ≤ visits until ≤ scoring due
    ≤ committee confirmation due (dates left empty are skipped); a visit window has both ends."""
    errors: list[str] = []
    if bool(dates.get("visits_from")) != bool(dates.get("visits_to")):
        errors.append(_("Give both ends of the on-site visit window, or neither."))
    labels = {
        "self_report_due": _("self-evaluation reports due"),
        "visits_from": _("on-site visits from"),
        "visits_to": _("on-site visits until"),
        "scoring_due": _("scoring due"),
        "confirmation_due": _("committee confirmation due"),
    }
    given = [(k, dates[k]) for k in TIMETABLE_FIELDS if dates.get(k)]
    for (k1, d1), (k2, d2) in itertools.pairwise(given):
        if d2 < d1:
            errors.append(
                _("“%(later)s” (%(d2)s) cannot be before “%(earlier)s” (%(d1)s).")
                % {"later": labels[k2], "d2": f"{d2:%Y-%m-%d}", "earlier": labels[k1], "d1": f"{d1:%Y-%m-%d}"}
            )
    return errors


def _open_entry_deadlines(campaign: EvaluationCampaign, entry: EvaluationEntry) -> None:
    """The lab manager's self-evaluation deadline (when the campaign has a due date and the report is
    not yet in), replacing any earlier one."""
    _close_deadlines_labelled(entry, "Self-evaluation report due")
    if campaign.self_report_due and not entry.self_report_submitted_at:
        managers = _managers_of(entry.laboratory)
        _open_managers_deadline(
            entry,
            managers,
            f"Self-evaluation report due: {campaign.name_en}",
            f"自评估报告截止：{campaign.name_zh}",
            campaign.self_report_due,
        )


def _close_deadlines_labelled(obj: Any, prefix: str, assignee: Any = None) -> None:
    qs = Deadline.objects.filter(
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        done_at__isnull=True,
        label_en__startswith=prefix,
    )
    if assignee is not None:
        qs = qs.filter(assignee=assignee)
    qs.update(done_at=timezone.now())


@transaction.atomic
def set_timetable(user: Any, campaign: EvaluationCampaign, **dates: Any) -> EvaluationCampaign:
    """Set the campaign's phase dates (self-evaluation due, on-site visit window, scoring due, committee
    confirmation due) before the grades are confirmed; the lab managers' self-evaluation deadlines
    follow the new date."""
    _require_office(user)
    campaign = EvaluationCampaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in ("preparing", "scoring"):
        raise ValidationError(_("The timetable is fixed once the grades are confirmed."))
    unknown = sorted(set(dates) - set(TIMETABLE_FIELDS))
    if unknown:
        raise ValidationError(_("Unknown dates: %(d)s.") % {"d": ", ".join(unknown)})
    merged = {k: dates.get(k, getattr(campaign, k)) for k in TIMETABLE_FIELDS}
    errors = timetable_problems(merged)
    if errors:
        raise ValidationError(errors)
    for k, v in merged.items():
        setattr(campaign, k, v)
    with acting_as(user):
        campaign.save(update_fields=[*TIMETABLE_FIELDS, "last_updated"])
    for entry in campaign.entries.select_related("laboratory"):
        _open_entry_deadlines(campaign, entry)
    if campaign.status == "scoring":
        Deadline.objects.filter(
            content_type=ContentType.objects.get_for_model(EvaluationEntry),
            object_id__in=[str(pk) for pk in campaign.entries.values_list("pk", flat=True)],
            done_at__isnull=True,
            label_en__startswith="Score ",
        ).update(due=campaign.scoring_due or add_days(timezone.localdate(), 20), overdue_at=None)
        if campaign.visits_to:
            Deadline.objects.filter(
                content_type=ContentType.objects.get_for_model(EvaluationEntry),
                object_id__in=[str(pk) for pk in campaign.entries.values_list("pk", flat=True)],
                done_at__isnull=True,
                label_en__startswith="Record the on-site visit",
            ).update(due=campaign.visits_to, overdue_at=None)
    return campaign


@transaction.atomic
def add_to_campaign(
    user: Any,
    campaign: EvaluationCampaign,
    lab: Laboratory,
    experts: Iterable[Any],
    lead_expert: Any = None,
) -> EvaluationEntry:
    """Add a laboratory with its experts; the lead expert (default: the first) records the on-site
    visit. The lab's manager gets a deadline for the self-evaluation report if the campaign has one."""
    _require_office(user)
    # locked (confirmation locks it too, before it reads the entries): a laboratory is added before the
    # grades are confirmed, and is then among them, or refused; never left in a confirmed campaign
    status = (
        EvaluationCampaign.objects.select_for_update().values_list("status", flat=True).get(pk=campaign.pk)
    )
    if status not in ("preparing", "scoring"):
        raise ValidationError(_("Laboratories can only be added before the grades are confirmed."))
    experts = list(experts)
    not_experts = [str(e) for e in experts if not has_role(e, Role.EXPERT)]
    if not_experts:
        raise ValidationError(_("Not experts: %(names)s.") % {"names": ", ".join(not_experts)})
    if lead_expert is not None and lead_expert not in experts:
        raise ValidationError({"lead_expert": _("The lead expert must be one of the laboratory's experts.")})
    entry, _created = EvaluationEntry.objects.get_or_create(campaign=campaign, laboratory=lab)
    entry.experts.set(experts)
    entry.lead_expert = lead_expert or (experts[0] if experts else None)
    entry.save(update_fields=["lead_expert", "last_updated"])
    _open_entry_deadlines(campaign, entry)
    return entry


@transaction.atomic
def move_campaign(
    user: Any, campaign: EvaluationCampaign, transition: str, reason: str = ""
) -> EvaluationCampaign:
    # locked before the entries are read, so none is added meanwhile (see add_to_campaign)
    EvaluationCampaign.objects.select_for_update().filter(pk=campaign.pk).first()
    if transition in ("open_scoring", "confirm"):
        _compute_figures(campaign)
    if transition == "confirm":
        compute_scores(campaign)
    apply_transition(campaign, transition, user, reason=reason)
    campaign.refresh_from_db()
    if transition == "publish":
        record_grades_for_funding(user, campaign)
    if transition == "confirm":
        _close_deadlines(campaign)
        # once confirmed, no self-evaluation, visit record or score sheet is taken: their deadlines end
        Deadline.objects.filter(
            content_type=ContentType.objects.get_for_model(EvaluationEntry),
            object_id__in=[str(pk) for pk in campaign.entries.values_list("pk", flat=True)],
            done_at__isnull=True,
        ).update(done_at=timezone.now())
    if transition == "open_scoring":
        if campaign.confirmation_due:
            _open_deadline(
                campaign,
                f"Confirm the grades of {campaign.name_en}",
                f"确认{campaign.name_zh}等级",
                campaign.confirmation_due,
                role=Role.COMMITTEE,
            )
        for entry in campaign.entries.select_related("lead_expert", "laboratory"):
            if campaign.visits_to and entry.lead_expert_id and not hasattr(entry, "visit"):
                _open_deadline(
                    entry,
                    f"Record the on-site visit to {entry.laboratory.name_en}",
                    f"提交{entry.laboratory.name_zh}现场评估记录",
                    campaign.visits_to,
                    assignee=entry.lead_expert,
                )
        due = campaign.scoring_due or add_days(timezone.localdate(), 20)
        for entry in campaign.entries.prefetch_related("experts"):
            for expert in entry.experts.all():
                _open_deadline(
                    entry,
                    f"Score {entry.laboratory.name_en}",
                    f"评分：{entry.laboratory.name_zh}",
                    due,
                    assignee=expert,
                )
    return campaign


FUNDING_GRADES = ("excellent", "good", "fair", "poor")
DEFAULT_FUNDING_MAP = {"excellent": "excellent", "good": "good", "pass": "fair", "fail": "poor"}


def funding_grade(code: str, grades: Sequence[dict[str, Any]]) -> str:
    """The funding app's grade (excellent/good/fair/poor) for a campaign grade: the grade's own
    ``funding`` key, else the default names, else by position (highest = excellent, lowest = poor)."""
    codes = [g["code"] for g in grades]
    grade = grades[codes.index(code)] if code in codes else {}
    if grade.get("funding") in FUNDING_GRADES:
        return grade["funding"]
    if code in DEFAULT_FUNDING_MAP:
        return DEFAULT_FUNDING_MAP[code]
    if len(codes) < 2 or code not in codes:
        return "fair"
    return FUNDING_GRADES[round(codes.index(code) * 3 / (len(codes) - 1))]


def record_grades_for_funding(user: Any, campaign: EvaluationCampaign) -> int:
    """Hand every published grade to the funding app (its eligibility rules read them)."""
    from qslab.funding.services import record_lab_grade

    n = 0
    for entry in campaign.entries.exclude(grade="").select_related("laboratory"):
        open_orders = entry.laboratory.rectification_orders.exclude(
            status__in=("verified", "kept", "revoked")
        )
        record_lab_grade(
            user,
            entry.laboratory,
            campaign.year,
            funding_grade(entry.grade, campaign.grades),
            open_rectification=open_orders.exists(),
            source=f"supervision:{campaign.code}"[:60],
        )
        n += 1
    return n


def qualitative_leaves(campaign: EvaluationCampaign) -> list[Indicator]:
    return [i for i in campaign.indicators.all() if i.kind == Indicator.Kind.QUALITATIVE]


@transaction.atomic
def submit_self_report(user: Any, entry: EvaluationEntry, text: str) -> EvaluationEntry:
    """The laboratory's self-evaluation report (自评估报告): its manager (or the office on its behalf)
    writes it while the campaign is preparing or scoring; the change log keeps every version."""
    lab = entry.laboratory
    if not (has_role(user, Role.OFFICE) or has_role(user, Role.LAB_MANAGER, scope=lab)):
        raise PermissionDenied(_("Only the laboratory's manager or the office writes the self-evaluation."))
    if entry.campaign.status not in ("preparing", "scoring"):
        raise ValidationError(_("The self-evaluation is closed: the grades are confirmed."))
    if not text.strip():
        raise ValidationError({"self_report": _("Write the self-evaluation report.")})
    due = entry.campaign.self_report_due
    entry.self_report = text.strip()
    fields = ["self_report", "last_updated"]
    if entry.self_report_submitted_at is None:
        # as with annual reports, a late report is taken and marked late (the first submission counts)
        entry.self_report_submitted_at = timezone.now()
        entry.self_report_late = bool(due and timezone.localdate() > due)
        fields += ["self_report_submitted_at", "self_report_late"]
    with acting_as(user):
        entry.save(update_fields=fields)
    _close_deadlines_labelled(entry, "Self-evaluation report due")
    return entry


@transaction.atomic
def submit_score_sheet(
    user: Any, entry: EvaluationEntry, scores: dict[str, Any], comment: str = ""
) -> ScoreSheet:
    if not entry.experts.filter(pk=user.pk).exists():
        raise PermissionDenied(_("Only the experts assigned to this laboratory score it."))
    if entry.campaign.status != "scoring":
        raise ValidationError(_("Scoring is not open for this campaign."))
    errors: dict[str, str] = {}
    clean: dict[str, float] = {}
    for ind in qualitative_leaves(entry.campaign):
        raw = scores.get(ind.code)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            errors[ind.code] = _("Give a score from 0 to 100 for “%(i)s”.") % {"i": ind.name}
            continue
        if not 0 <= value <= 100:
            errors[ind.code] = _("The score for “%(i)s” must be from 0 to 100.") % {"i": ind.name}
            continue
        clean[ind.code] = value
    if errors:
        raise ValidationError(errors)
    sheet, _created = ScoreSheet.objects.update_or_create(
        entry=entry,
        expert=user,
        defaults={"scores": clean, "comment": comment, "submitted_at": timezone.now()},
    )
    # the expert's scoring deadline only: a lead expert's visit-record deadline stays until the record
    _close_deadlines_labelled(entry, "Score ", assignee=user)
    return sheet


def _compute_figures(campaign: EvaluationCampaign, entries: Iterable[EvaluationEntry] | None = None) -> None:
    from qslab.supervision import figures

    indicators = [i for i in campaign.indicators.all() if i.kind == Indicator.Kind.QUANTITATIVE and i.source]
    years = campaign.period_years
    now = timezone.now().isoformat(timespec="seconds")
    cache: dict[str, Any] = {}
    rows = entries if entries is not None else campaign.entries.select_related("laboratory")
    for entry in rows:
        values: dict[str, Any] = {}
        sources: dict[str, Any] = {}
        for ind in indicators:
            value = figures.compute(ind.source, entry.laboratory, years, cache)
            values[ind.code] = value
            sources[ind.code] = {
                "source": ind.source,
                "from": years[0],
                "to": years[-1],
                "computed_at": now,
                "no_data": value is None,
            }
        entry.figures, entry.figure_sources = values, sources
        entry.save(update_fields=["figures", "figure_sources", "last_updated"])


@transaction.atomic
def compute_figures(
    user: Any, campaign: EvaluationCampaign, entry: EvaluationEntry | None = None
) -> EvaluationCampaign:
    """(Re)compute the quantitative figures of a campaign (or one entry) from the other apps, for the
    campaign's period. Done when scoring opens and again at confirmation; the office may refresh them
    before the grades are confirmed. Quantitative figures are never typed in."""
    _require_office(user)
    campaign = EvaluationCampaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in ("preparing", "scoring"):
        raise ValidationError(_("The figures are fixed once the grades are confirmed."))
    _compute_figures(campaign, [entry] if entry is not None else None)
    return campaign


def figure_rows(entry: EvaluationEntry) -> list[dict[str, Any]]:
    """The entry's quantitative indicators with their figure, source (label and key) and period."""
    from qslab.supervision.figures import source_label

    rows = []
    for ind in entry.campaign.indicators.all():
        if ind.kind != Indicator.Kind.QUANTITATIVE:
            continue
        meta = entry.figure_sources.get(ind.code, {})
        rows.append(
            {
                "indicator": ind,
                "value": entry.figures.get(ind.code),
                "source": source_label(ind.source) if ind.source else "",
                "period": f"{meta['from']}–{meta['to']}" if meta.get("from") else "",
                "computed_at": meta.get("computed_at", ""),
                "computed": bool(meta),
            }
        )
    return rows


def quantitative_score(ind: Indicator, figure: Any) -> float | None:
    """0–100 for a computed figure: *at least* value / target × 100 (capped); *at most* 100 up to the
    target, then 100 × (1 − (value − target) / (target + 1)), floored at 0. A computed indicator without
    data scores 0 (nothing to show); one never computed has no score yet."""
    if figure is None:
        return None
    value, target = float(figure), float(ind.target or 0)
    if ind.rule == Indicator.Rule.AT_MOST:
        if value <= target:
            return 100.0
        return max(0.0, 100.0 * (1 - (value - target) / (target + 1)))
    if target <= 0:
        return 100.0 if value > 0 else 0.0
    return max(0.0, min(100.0, 100.0 * value / target))


def entry_scores(
    entry: EvaluationEntry, indicators: list[Indicator] | None = None
) -> dict[str, float | None]:
    """Score 0–100 of every indicator of the entry (None where data are missing), and ``total``."""
    indicators = indicators if indicators is not None else list(entry.campaign.indicators.all())
    sheets = [s.scores for s in entry.sheets.filter(submitted_at__isnull=False)]
    children: dict[int | None, list[Indicator]] = {}
    for ind in indicators:
        children.setdefault(ind.parent_id, []).append(ind)
    out: dict[str, float | None] = {}

    def score(ind: Indicator) -> float | None:
        if ind.kind == Indicator.Kind.QUALITATIVE:
            values = [s[ind.code] for s in sheets if ind.code in s]
            value = sum(values) / len(values) if values else None
        elif ind.kind == Indicator.Kind.QUANTITATIVE:
            figure = entry.figures.get(ind.code)
            computed = ind.code in entry.figure_sources
            value = 0.0 if figure is None and computed else quantitative_score(ind, figure)
        else:
            value = aggregate(children.get(ind.pk, []))
        out[ind.code] = value
        return value

    def aggregate(nodes: list[Indicator]) -> float | None:
        parts = [(float(n.weight), score(n)) for n in nodes]
        if not parts or any(v is None for _w, v in parts):
            return None
        weight = sum(w for w, _v in parts)
        return sum(w * v for w, v in parts) / weight if weight else None  # type: ignore[operator]

    out["total"] = aggregate(children.get(None, []))
    return out


@transaction.atomic
def compute_scores(campaign: EvaluationCampaign) -> list[EvaluationEntry]:
    """Aggregate every entry to a total and grade, and rank the campaign (highest total first)."""
    indicators = list(campaign.indicators.all())
    entries = list(campaign.entries.select_related("laboratory"))
    for e in entries:
        total = entry_scores(e, indicators)["total"]
        e.total = None if total is None else Decimal(str(round(total, 2)))
        e.grade = "" if total is None else grade_for(total, campaign.grades)
    ranked = sorted([e for e in entries if e.total is not None], key=lambda e: (-e.total, e.laboratory.code))
    for i, e in enumerate(ranked, 1):
        e.rank = i
    for e in entries:
        if e.total is None:
            e.rank = None
        e.save(update_fields=["total", "grade", "rank", "last_updated"])
    return entries


@transaction.atomic
def issue_evaluation_report(user: Any, entry: EvaluationEntry) -> EvaluationEntry:
    """The numbered evaluation report PDF of one laboratory (after the committee confirmed the grades)."""
    _require_office(user)
    if entry.campaign.status not in ("confirmed", "published"):
        raise ValidationError(_("Issue reports after the committee has confirmed the grades."))
    scores = entry_scores(entry)
    lines_zh, lines_en = [], []
    for ind in entry.campaign.indicators.all():
        s = scores.get(ind.code)
        text = "—" if s is None else f"{s:.1f}"
        indent = "  " if ind.parent_id else ""
        lines_zh.append(f"{indent}{ind.name_zh}（权重 {ind.weight}）：{text}")
        lines_en.append(f"{indent}{ind.name_en} (weight {ind.weight}): {text}")
    grade = next((g for g in entry.campaign.grades if g["code"] == entry.grade), None)
    doc = issue_document(
        kind_code="evaluation",
        title_zh=f"{entry.laboratory.name_zh}{entry.campaign.name_zh}评估报告",
        title_en=f"Evaluation report: {entry.laboratory.name_en}, {entry.campaign.name_en}",
        body_zh="\n".join(lines_zh)
        + f"\n\n总分 {entry.total}，排名 {entry.rank}，等级：{grade['label_zh'] if grade else ''}",
        body_en="\n".join(lines_en)
        + f"\n\nTotal {entry.total}, rank {entry.rank}, grade: {grade['label_en'] if grade else ''}",
        issued_by=user,
        subject=entry,
        recipients=_managers_of(entry.laboratory),
    )
    entry.report = doc
    entry.save(update_fields=["report", "last_updated"])
    return entry


def campaign_results(campaign: EvaluationCampaign) -> dict[str, list[tuple[str, dict[str, int]]]]:
    """Graded labs of a campaign counted per key field (top level) and per province, by grade."""
    from qslab.core.models import bilingual
    from qslab.core.regions import region_name

    by_field: dict[str, dict[str, int]] = {}
    by_region: dict[str, dict[str, int]] = {}
    entries = (
        campaign.entries.exclude(grade="")
        .select_related("laboratory")
        .prefetch_related("laboratory__fields__parent")
    )
    for e in entries:
        names = {
            bilingual((f.parent or f).name_zh, (f.parent or f).name_en) for f in e.laboratory.fields.all()
        } or {_("no field")}
        for name in names:
            row = by_field.setdefault(name, {})
            row[e.grade] = row.get(e.grade, 0) + 1
        region = region_name(e.laboratory.region_code[:2] + "0000") if e.laboratory.region_code else "—"
        row = by_region.setdefault(region, {})
        row[e.grade] = row.get(e.grade, 0) + 1
    return {
        "field": sorted(by_field.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])),
        "region": sorted(by_region.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])),
    }


# ==================================================================================================
# Public notification, rectification, revocation
# ==================================================================================================


@transaction.atomic
def notify_publicly(
    user: Any, labs: Sequence[Laboratory], *, title_zh: str, title_en: str, body_zh: str, body_en: str
) -> PublicNotification:
    """A public notification (通报): a numbered public document naming the laboratories."""
    _require_office(user)
    if not labs:
        raise ValidationError(_("Name at least one laboratory."))
    missing = [
        str(label)
        for label, value in (
            (_("title (Chinese)"), title_zh),
            (_("title (English)"), title_en),
            (_("text (Chinese)"), body_zh),
        )
        if not value.strip()
    ]
    if missing:
        raise ValidationError(_("Fill in: %(fields)s.") % {"fields": ", ".join(missing)})
    title_zh, title_en, body_zh, body_en = (
        title_zh.strip(),
        title_en.strip(),
        body_zh.strip(),
        body_en.strip(),
    )
    names_zh = "、".join(lab.name_zh for lab in labs)
    names_en = "; ".join(lab.name_en for lab in labs)
    doc = issue_document(
        kind_code="public_notification",
        title_zh=title_zh,
        title_en=title_en,
        body_zh=f"{body_zh}\n\n{names_zh}",
        body_en=f"{body_en}\n\n{names_en}",
        issued_by=user,
        public=True,
        recipients=[m for lab in labs for m in _managers_of(lab)],
    )
    item = PublicNotification.objects.create(title_zh=title_zh, title_en=title_en, document=doc)
    item.laboratories.set(labs)
    return item


def public_notifications() -> Any:
    """Every public notification, newest first, with its numbered document and laboratories."""
    return (
        PublicNotification.objects.select_related("document")
        .prefetch_related("laboratories")
        .order_by("-created")
    )


@transaction.atomic
def order_rectification(
    user: Any,
    lab: Laboratory,
    *,
    grounds: str,
    working_days: int = 60,
    spot_check: Any = None,
    evaluation: Any = None,
    inspection: Any = None,
) -> RectificationOrder:
    """Order the lab to rectify by a deadline; the labs lifecycle issues the numbered order."""
    _require_office(user)
    if not grounds.strip():
        raise ValidationError({"grounds": _("State the grounds for the order.")})
    if working_days < 1:
        raise ValidationError({"working_days": _("The deadline must be at least one working day away.")})
    if lab.status != "named":
        raise ValidationError(
            _("A rectification order needs a named laboratory; this one is “%(s)s”.")
            % {"s": lab.status_label}
        )
    lab = lab_services.move_laboratory(user, lab, "order_rectification", grounds)
    order = RectificationOrder.objects.create(
        laboratory=lab,
        grounds=grounds.strip(),
        due_on=add_days(timezone.localdate(), working_days),
        document=lab.last_document,
        spot_check=spot_check,
        evaluation=evaluation,
        inspection=inspection,
    )
    lab_services.move_rectification_deadline(user, lab, order.due_on)
    managers = _managers_of(lab)
    _open_managers_deadline(
        order,
        managers,
        "Rectification plan and evidence due",
        "整改材料截止",
        order.due_on,
    )
    return order


@transaction.atomic
def respond_to_order(
    user: Any, order: RectificationOrder, response: str, files: Sequence[Any] = ()
) -> RectificationOrder:
    """The lab submits its rectification plan and evidence: text and files (checked like all evidence,
    attached to the audited ``respond`` step and served by the checked download view)."""
    if not RectificationOrder.objects.editable_by(user).filter(pk=order.pk).exists():
        raise PermissionDenied(_("Only the laboratory's manager answers an open order."))
    check_evidence(files)
    order.response = response.strip()
    order.save(update_fields=["response", "last_updated"])
    record = apply_transition(order, "respond", user)
    for upload in files:
        add_attachment(order, upload, user, change_record=record)
    lab_services.close_rectification_deadline(user, order.laboratory)  # the lab's report is in
    order.refresh_from_db()
    return order


@transaction.atomic
def extend_order(user: Any, order: RectificationOrder, working_days: int, reason: str) -> RectificationOrder:
    """Extend the deadline once, with a reason."""
    _require_office(user)
    if order.extended:
        raise ValidationError(_("The deadline has already been extended once."))
    if order.status != "issued":
        raise ValidationError(_("Only an open order can be extended."))
    if not reason.strip():
        raise ValidationError({"reason": _("An extension needs a reason.")})
    if working_days < 1:
        raise ValidationError({"working_days": _("Extend by at least one working day.")})
    order.due_on = add_days(order.due_on, working_days)
    order.extended = True
    with acting_as(user, reason):
        order.save(update_fields=["due_on", "extended", "last_updated"])
    Deadline.objects.filter(
        content_type=ContentType.objects.get_for_model(order), object_id=str(order.pk), done_at__isnull=True
    ).update(due=order.due_on, overdue_at=None)
    lab_services.move_rectification_deadline(user, order.laboratory, order.due_on)
    return order


@transaction.atomic
def move_order(user: Any, order: RectificationOrder, transition: str, reason: str = "") -> RectificationOrder:
    """Take an order's workflow action; verification closes and revocation revokes the laboratory."""
    if transition == "respond":
        return respond_to_order(user, order, order.response)
    apply_transition(order, transition, user, reason=reason)
    order.refresh_from_db()
    lab = order.laboratory
    if order.status not in ("issued", "responded"):
        # the order lapsed, failed or was closed: the registry's rectification deadline is over too
        lab_services.close_rectification_deadline(user, lab)
    if transition == "verify" and lab.status == "under_rectification":
        lab_services.move_laboratory(user, lab, "close_rectification", reason or _("Rectification verified."))
    if transition == "decide_keep" and lab.status == "under_rectification":
        # the committee declined revocation: the lab returns to named, audited with the decision as reason
        lab_services.move_laboratory(
            user,
            lab,
            "decline_revocation",
            str(_("The committee decided not to revoke: %(reason)s") % {"reason": reason.strip()}),
        )
    if transition == "revoke":
        lab = lab_services.move_laboratory(user, lab, "revoke", reason)
        order.document = lab.last_document
        order.save(update_fields=["document", "last_updated"])
    return order


# ==================================================================================================
# Suspension and restoration (暂停运行 / 恢复运行)
# ==================================================================================================

SUSPENDABLE = ("named", "under_rectification")
#: order states that keep a suspended lab from being restored (rectification or revocation still open)
ORDER_OPEN_STATES = ("issued", "responded", "failed", "revocation_proposed", "revocation_decided")


def _order_blocking_restore(lab: Laboratory) -> RectificationOrder | None:
    return lab.rectification_orders.filter(status__in=ORDER_OPEN_STATES).order_by("-created").first()


@transaction.atomic
def suspend_laboratory(user: Any, lab: Laboratory, reason: str) -> Laboratory:
    """Suspend a named laboratory (or one under rectification), with a reason: the labs lifecycle takes
    the audited ``suspend`` step and issues the public numbered decision (暂停运行决定); the public
    directory and the sanctions list show the lab as suspended."""
    _require_office(user)
    lab = Laboratory.objects.select_for_update().get(pk=lab.pk)
    if not reason.strip():
        raise ValidationError({"reason": _("A suspension needs a reason.")})
    if lab.status not in SUSPENDABLE:
        raise ValidationError(
            _("Only a named laboratory or one under rectification can be suspended; this one is “%(s)s”.")
            % {"s": lab.status_label}
        )
    lab = lab_services.move_laboratory(user, lab, "suspend", reason.strip())
    notify(
        [u for u in _office_users() if u != user],
        verb="lab_suspended",
        text_en=f"{lab.name_en} is suspended.",
        text_zh=f"{lab.name_zh}已暂停运行。",
        obj=lab,
    )
    return lab


@transaction.atomic
def restore_laboratory(user: Any, lab: Laboratory, reason: str) -> Laboratory:
    """Restore a suspended laboratory, with a reason (恢复运行决定, numbered and public); refused while one
    of its rectification orders is still open or heading for revocation."""
    _require_office(user)
    lab = Laboratory.objects.select_for_update().get(pk=lab.pk)
    if not reason.strip():
        raise ValidationError({"reason": _("A restoration needs a reason.")})
    if lab.status != "suspended":
        raise ValidationError(_("Only a suspended laboratory can be restored."))
    blocking = _order_blocking_restore(lab)
    if blocking is not None:
        raise ValidationError(
            _("The rectification order of %(date)s is still open (%(status)s): close it before restoring.")
            % {"date": f"{blocking.created:%Y-%m-%d}", "status": blocking.status_label}
        )
    return lab_services.move_laboratory(user, lab, "reinstate", reason.strip())


def suspension_history(lab: Laboratory) -> list[Any]:
    """The lab's suspensions and restorations (with reasons: for the office's page)."""
    return [
        e
        for e in lab_services.status_history(lab, with_reasons=True)
        if e.to_state == "suspended" or e.from_state == "suspended"
    ]


def sanctions() -> list[Laboratory]:
    """The public sanctions list: revoked and suspended laboratories with their last decision."""
    return list(
        Laboratory.objects.filter(status__in=("revoked", "suspended"))
        .select_related("last_document", "supporting_institution")
        .order_by("-last_updated")
    )


# ==================================================================================================
# Major-change reports
# ==================================================================================================

CLOSED_LAB_STATES = ("revoked", "withdrawn", "merged")


def _current_value(lab: Laboratory, kind: str) -> str:
    if kind == MajorChange.Kind.DIRECTOR:
        return f"{lab.director_name} ({lab.director_title})" if lab.director_title else lab.director_name
    if kind == MajorChange.Kind.INSTITUTION:
        return str(lab.supporting_institution)
    return lab.direction


def _check_change(lab: Laboratory, kind: str, new_value: str, new_institution: Any) -> dict[str, str]:
    errors: dict[str, str] = {}
    if kind == MajorChange.Kind.INSTITUTION:
        if new_institution is None:
            errors["new_institution"] = _("Choose the new supporting institution.")
        elif new_institution.pk == lab.supporting_institution_id:
            errors["new_institution"] = _("This is already the supporting institution.")
    elif kind in (MajorChange.Kind.DIRECTOR, MajorChange.Kind.DIRECTION):
        current = lab.director_name if kind == MajorChange.Kind.DIRECTOR else lab.direction
        if not new_value.strip():
            errors["new_value"] = _("Give the new value.")
        elif new_value.strip() == current.strip():
            errors["new_value"] = _("This is the current value.")
    else:
        errors["kind"] = _("Choose what changes: director, supporting institution or direction.")
    return errors


@transaction.atomic
def report_major_change(
    user: Any,
    lab: Laboratory,
    *,
    kind: str,
    reason: str,
    new_value: str = "",
    new_title: str = "",
    new_institution: Any = None,
) -> MajorChange:
    """The lab (or the office on its behalf) reports a change of director, supporting institution or
    direction; the office approves it before the registry changes."""
    if not (has_role(user, Role.LAB_MANAGER, scope=lab) or has_role(user, Role.OFFICE)):
        raise PermissionDenied(_("Only the laboratory's manager or the office reports a major change."))
    if lab.status in CLOSED_LAB_STATES:
        raise ValidationError(_("The laboratory is no longer in the registry's active list."))
    errors = _check_change(lab, kind, new_value, new_institution)
    if not reason.strip():
        errors["reason"] = _("Explain the change.")
    if errors:
        raise ValidationError(errors)
    if MajorChange.objects.filter(laboratory=lab, kind=kind, status__in=("submitted", "returned")).exists():
        raise ValidationError(_("A report of this kind is already open for the laboratory."))
    with acting_as(user):
        change = MajorChange.objects.create(
            laboratory=lab,
            kind=kind,
            current_value=_current_value(lab, kind)[:300],
            new_value=new_value.strip(),
            new_title=new_title.strip(),
            new_institution=new_institution if kind == MajorChange.Kind.INSTITUTION else None,
            reason=reason.strip(),
            submitted_by=user,
        )
    _open_deadline(
        change,
        f"Decide on the major change of {lab.name_en}",
        f"审批{lab.name_zh}重大事项变更",
        add_days(timezone.localdate(), 15),
        role=Role.OFFICE,
    )
    notify(
        [u for u in _office_users() if u != user],
        verb="major_change_reported",
        text_en=f"{lab.name_en} reports a change of {change.get_kind_display()}.",
        text_zh=f"{lab.name_zh}报告重大事项变更。",
        obj=change,
    )
    return change


def _office_users() -> list[Any]:
    from qslab.supervision.models import _office

    return _office(None)


@transaction.atomic
def revise_major_change(
    user: Any,
    change: MajorChange,
    *,
    reason: str,
    new_value: str = "",
    new_title: str = "",
    new_institution: Any = None,
) -> MajorChange:
    """The lab manager revises a returned report and submits it again."""
    if not MajorChange.objects.editable_by(user).filter(pk=change.pk).exists():
        raise PermissionDenied(_("Only the laboratory's manager revises a returned report."))
    errors = _check_change(change.laboratory, change.kind, new_value, new_institution)
    if not reason.strip():
        errors["reason"] = _("Explain the change.")
    if errors:
        raise ValidationError(errors)
    change.new_value, change.new_title, change.reason = new_value.strip(), new_title.strip(), reason.strip()
    change.new_institution = new_institution if change.kind == MajorChange.Kind.INSTITUTION else None
    with acting_as(user):
        change.save(update_fields=["new_value", "new_title", "new_institution", "reason", "last_updated"])
    apply_transition(change, "resubmit", user)
    change.refresh_from_db()
    return change


@transaction.atomic
def move_major_change(user: Any, change: MajorChange, transition: str, reason: str = "") -> MajorChange:
    """Approve (the registry changes through the labs app), return or reject a major-change report."""
    apply_transition(change, transition, user, reason=reason)
    change.refresh_from_db()
    if transition == "approve":
        lab = change.laboratory
        if change.kind == MajorChange.Kind.DIRECTOR:
            data: dict[str, Any] = {"director_name": change.new_value, "director_title": change.new_title}
        elif change.kind == MajorChange.Kind.INSTITUTION:
            data = {"supporting_institution": change.new_institution}
        else:
            data = {"direction": change.new_value}
        lab_services.apply_major_change(user, lab, data, change=change)
    return change


# ==================================================================================================
# Inspections (scheduled or for cause)
# ==================================================================================================


@transaction.atomic
def plan_inspection(
    user: Any,
    lab: Laboratory,
    *,
    kind: str,
    planned_on: Any,
    inspectors: Iterable[Any],
    cause: str = "",
    spot_check: SpotCheck | None = None,
) -> Inspection:
    """Schedule an inspection; one for cause states its cause. Inspectors come from the directory and
    must not share the laboratory's supporting institution."""
    _require_office(user)
    inspectors = list(inspectors)
    errors: dict[str, str] = {}
    if kind not in Inspection.Kind.values:
        errors["kind"] = _("Choose scheduled or for cause.")
    if kind == Inspection.Kind.FOR_CAUSE and not cause.strip():
        errors["cause"] = _("An inspection for cause states its cause.")
    if not inspectors:
        errors["inspectors"] = _("Name at least one inspector.")
    directory = set(Inspector.objects.filter(active=True).values_list("user_id", flat=True))
    outside = [str(i) for i in inspectors if i.pk not in directory]
    if outside:
        errors["inspectors"] = _("Not in the inspector directory: %(names)s.") % {"names": ", ".join(outside)}
    conflicted = [
        str(i)
        for i in inspectors
        if lab.supporting_institution_id
        and lab.supporting_institution_id
        in {
            getattr(i, "organisation_id", None),
            getattr(getattr(i, "inspector_entry", None), "organisation_id", None),
        }
    ]
    if conflicted:
        errors["inspectors"] = _("Conflict of interest (same institution as the laboratory): %(names)s.") % {
            "names": ", ".join(conflicted)
        }
    if lab.status in CLOSED_LAB_STATES:
        errors["laboratory"] = _("The laboratory is no longer in the registry's active list.")
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        inspection = Inspection.objects.create(
            laboratory=lab, kind=kind, cause=cause.strip(), planned_on=planned_on, spot_check=spot_check
        )
        inspection.inspectors.set(inspectors)
    due = add_days(planned_on, 10)
    for inspector in inspectors:
        _open_deadline(
            inspection,
            f"Record the findings of the inspection of {lab.name_en}",
            f"提交{lab.name_zh}检查发现",
            due,
            assignee=inspector,
        )
    notify(
        inspectors,
        verb="inspection_assigned",
        text_en=f"You inspect {lab.name_en} on {planned_on:%Y-%m-%d}.",
        text_zh=f"请于{planned_on:%Y-%m-%d}检查{lab.name_zh}。",
        obj=inspection,
    )
    return inspection


@transaction.atomic
def inspections_from_draw(user: Any, plan: SpotCheckPlan, planned_on: Any) -> list[Inspection]:
    """Schedule one inspection per drawn laboratory with the drawn inspectors (once per check)."""
    _require_office(user)
    plan.refresh_from_db()
    if plan.status == "draft":
        raise ValidationError(_("Draw the laboratories first."))
    made = []
    for check in plan.checks.filter(draw__superseded=False).select_related("laboratory"):
        if check.inspections.exists():
            continue
        made.append(
            plan_inspection(
                user,
                check.laboratory,
                kind=Inspection.Kind.SCHEDULED,
                planned_on=planned_on,
                inspectors=list(check.inspectors.all()),
                spot_check=check,
            )
        )
    return made


@transaction.atomic
def record_finding(
    user: Any,
    inspection: Inspection,
    *,
    severity: str,
    description: str,
    evidence: str = "",
    files: Sequence[Any] = (),
) -> Finding:
    """An inspector or the office records a finding (major or minor) with its evidence."""
    if not Inspection.objects.editable_by(user).filter(pk=inspection.pk, status="planned").exists():
        raise PermissionDenied(
            _("Only the inspection's inspectors or the office record findings before the report.")
        )
    check_evidence(files)
    errors: dict[str, str] = {}
    if severity not in Finding.Severity.values:
        errors["severity"] = _("Choose major or minor.")
    if not description.strip():
        errors["description"] = _("Describe the finding.")
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        finding = Finding.objects.create(
            inspection=inspection,
            severity=severity,
            description=description.strip(),
            evidence=evidence.strip(),
            recorded_by=user,
        )
    for upload in files:
        add_attachment(finding, upload, user)
    return finding


@transaction.atomic
def record_inspection(user: Any, inspection: Inspection, *, conducted_on: Any, summary: str) -> Inspection:
    """Close the fieldwork: the date and summary are saved and the findings go to the laboratory."""
    if conducted_on > timezone.localdate():
        raise ValidationError({"conducted_on": _("The inspection cannot end in the future.")})
    if not summary.strip():
        raise ValidationError({"summary": _("Write a short summary.")})
    inspection.workflow.check(inspection, inspection.workflow.transition("record"), user)
    inspection.conducted_on, inspection.summary = conducted_on, summary.strip()
    with acting_as(user):
        inspection.save(update_fields=["conducted_on", "summary", "last_updated"])
    apply_transition(inspection, "record", user)
    inspection.refresh_from_db()
    return inspection


@transaction.atomic
def request_correction(user: Any, finding: Finding, *, text: str, working_days: int = 20) -> CorrectiveAction:
    """The office asks the laboratory to correct a finding by a deadline (in working days)."""
    _require_office(user)
    if finding.inspection.status != "reported":
        raise ValidationError(_("Request corrections once the findings are recorded and before closure."))
    if not text.strip():
        raise ValidationError({"request": _("Say what must be corrected.")})
    if working_days < 1:
        raise ValidationError({"working_days": _("The deadline must be at least one working day away.")})
    lab = finding.inspection.laboratory
    with acting_as(user):
        action = CorrectiveAction.objects.create(
            finding=finding, request=text.strip(), due_on=add_days(timezone.localdate(), working_days)
        )
    managers = _managers_of(lab)
    _open_managers_deadline(
        action,
        managers,
        f"Corrective action of {lab.name_en} due",
        f"{lab.name_zh}整改措施截止",
        action.due_on,
    )
    notify(
        managers,
        verb="corrective_action_requested",
        text_en=f"Corrective action requested from {lab.name_en}, due {action.due_on:%Y-%m-%d}.",
        text_zh=f"{lab.name_zh}须于{action.due_on:%Y-%m-%d}前完成整改。",
        obj=action,
    )
    return action


@transaction.atomic
def respond_to_correction(
    user: Any, action: CorrectiveAction, response: str, files: Sequence[Any] = ()
) -> CorrectiveAction:
    """The laboratory describes the action taken, with evidence files, and submits it."""
    if not CorrectiveAction.objects.editable_by(user).filter(pk=action.pk).exists():
        raise PermissionDenied(_("Only the laboratory's manager answers an open corrective-action request."))
    check_evidence(files)
    action.response = response.strip()
    with acting_as(user):
        action.save(update_fields=["response", "last_updated"])
    record = apply_transition(action, "respond", user)
    for upload in files:
        add_attachment(action, upload, user, change_record=record)
    action.refresh_from_db()
    return action


@transaction.atomic
def move_correction(
    user: Any, action: CorrectiveAction, transition: str, reason: str = ""
) -> CorrectiveAction:
    if transition == "respond":
        return respond_to_correction(user, action, action.response)
    apply_transition(action, transition, user, reason=reason)
    action.refresh_from_db()
    return action


@transaction.atomic
def move_inspection(user: Any, inspection: Inspection, transition: str, reason: str = "") -> Inspection:
    apply_transition(inspection, transition, user, reason=reason)
    inspection.refresh_from_db()
    return inspection


# ==================================================================================================
# Overview and queues
# ==================================================================================================


@dataclass(frozen=True)
class LabStatusRow:
    lab: Laboratory
    report: str
    report_overdue: bool
    checks: int
    major_findings: int
    grade: str
    open_orders: int
    risk: str
    open_inspections: int = 0
    open_actions: int = 0
    overdue_actions: int = 0
    pending_changes: int = 0

    @property
    def attention(self) -> bool:
        return bool(self.report_overdue or self.open_orders or self.overdue_actions)


OVERVIEW_COLUMNS = (
    "code",
    "laboratory",
    "status",
    "region",
    "risk class",
    "annual report",
    "report overdue",
    "spot checks",
    "major findings",
    "open inspections",
    "open corrective actions",
    "overdue corrective actions",
    "pending major changes",
    "grade",
    "open rectifications",
)


def overview_table(rows: Sequence[LabStatusRow]) -> list[list[Any]]:
    """The overview as plain cells, in the order of ``OVERVIEW_COLUMNS`` (for CSV and XLSX)."""
    return [
        [
            r.lab.code,
            r.lab.name,
            r.lab.status,
            r.lab.region_code,
            r.risk,
            r.report,
            "yes" if r.report_overdue else "",
            r.checks,
            r.major_findings,
            r.open_inspections,
            r.open_actions,
            r.overdue_actions,
            r.pending_changes,
            r.grade,
            r.open_orders,
        ]
        for r in rows
    ]


def overview(
    status: str = "", region: str = "", risk: str = "", attention: bool = False, q: str = ""
) -> list[LabStatusRow]:
    """Every laboratory's supervision status at a glance: last annual report, spot checks, major findings
    (spot checks and inspections), inspections and corrective actions open, pending major changes, last
    confirmed grade, open rectifications and the risk class the next draw would use."""
    today = timezone.localdate()
    latest_plan = SpotCheckPlan.objects.order_by("-year", "-id").first()
    months = latest_plan.complaint_months if latest_plan is not None else DEFAULT_COMPLAINT_MONTHS
    labs = Laboratory.objects.filter(status__in=(*OPERATING, "suspended", "revoked")).order_by("code")
    if status:
        labs = labs.filter(status=status)
    if region:
        labs = labs.filter(region_code__startswith=region[:2])
    if q:
        from django.db.models import Q

        labs = labs.filter(Q(code__icontains=q) | Q(name_zh__icontains=q) | Q(name_en__icontains=q))
    labs = labs.prefetch_related(
        "annual_reports__template",
        "spot_checks",
        "evaluations__campaign",
        "inspections__findings__actions",
        "major_changes",
    )
    labs = list(labs)
    ids = [lab.pk for lab in labs]
    orders = open_order_counts(ids)
    risks = risk_classes(labs, today, months, open_orders=orders)
    rows = []
    for lab in labs:
        reports = sorted(lab.annual_reports.all(), key=lambda r: -r.template.year)
        last = reports[0] if reports else None
        graded = sorted(
            [e for e in lab.evaluations.all() if e.grade and e.campaign.status in ("confirmed", "published")],
            key=lambda e: -e.campaign.year,
        )
        inspections = list(lab.inspections.all())
        actions = [a for i in inspections for f in i.findings.all() for a in f.actions.all()]
        open_actions = [a for a in actions if a.status != "verified"]
        row = LabStatusRow(
            lab=lab,
            report=f"{last.template.year}: {last.status_label}" if last else "—",
            report_overdue=bool(last and last.status in ("open", "returned") and last.due_on < today),
            checks=len(lab.spot_checks.all()),
            major_findings=sum(1 for c in lab.spot_checks.all() if c.outcome == "major")
            + sum(
                1
                for i in inspections
                if i.status != "planned"
                for f in i.findings.all()
                if f.severity == "major"
            ),
            grade=graded[0].grade_label if graded else "—",
            open_orders=orders.get(lab.pk, 0),
            risk=risks[lab.pk],
            open_inspections=sum(1 for i in inspections if i.status in ("planned", "reported")),
            open_actions=len(open_actions),
            overdue_actions=sum(1 for a in open_actions if a.status == "requested" and a.due_on < today),
            pending_changes=sum(1 for c in lab.major_changes.all() if c.status in ("submitted", "returned")),
        )
        if risk and row.risk != risk:
            continue
        if attention and not row.attention:
            continue
        rows.append(row)
    return rows


def queue_items(user: Any) -> list[Any]:
    """Office: overdue annual reports (escalation) and revocation decisions to execute; committee:
    revocation proposals. Report, rectification and scoring deadlines reach their assignees through
    the core deadline queue."""
    from qslab.core.dashboard import QueueItem

    if user is None or not user.is_authenticated:
        return []
    items: list[QueueItem] = []
    today = timezone.localdate()
    if has_role(user, Role.OFFICE):
        for r in AnnualReport.objects.filter(
            status__in=("open", "returned"), due_on__lt=today
        ).select_related("laboratory", "template")[:100]:
            items.append(
                QueueItem(
                    label=_("Overdue annual report: %(r)s") % {"r": r},
                    url=r.get_absolute_url(),
                    due=r.due_on,
                    kind="supervision",
                )
            )
        for o in RectificationOrder.objects.filter(status="revocation_decided").select_related("laboratory"):
            items.append(
                QueueItem(
                    label=_("Issue the revocation: %(o)s") % {"o": o},
                    url=o.get_absolute_url(),
                    kind="supervision",
                )
            )
        for o in RectificationOrder.objects.filter(status="issued", due_on__lt=today).select_related(
            "laboratory"
        ):
            items.append(
                QueueItem(
                    label=_("Rectification deadline lapsed: %(o)s") % {"o": o},
                    url=o.get_absolute_url(),
                    due=o.due_on,
                    kind="supervision",
                )
            )
        for a in CorrectiveAction.objects.filter(status="requested", due_on__lt=today).select_related(
            "finding__inspection__laboratory"
        ):
            items.append(
                QueueItem(
                    label=_("Corrective action overdue: %(a)s") % {"a": a},
                    url=a.get_absolute_url(),
                    due=a.due_on,
                    kind="supervision",
                )
            )
    if has_role(user, Role.COMMITTEE):
        for o in RectificationOrder.objects.filter(status="revocation_proposed").select_related("laboratory"):
            items.append(
                QueueItem(
                    label=_("Decide on revocation: %(o)s") % {"o": o},
                    url=o.get_absolute_url(),
                    kind="supervision",
                )
            )
    return items


# ==================================================================================================
# On-site visit records of phased evaluations
# ==================================================================================================


def can_record_visit(user: Any, entry: EvaluationEntry) -> bool:
    """The office or the entry's lead expert, while the campaign is preparing or scoring."""
    if entry.campaign.status not in ("preparing", "scoring"):
        return False
    return has_role(user, Role.OFFICE) or bool(
        user is not None and user.is_authenticated and entry.lead_expert_id == user.pk
    )


@transaction.atomic
def record_visit(
    user: Any,
    entry: EvaluationEntry,
    *,
    visited_on: Any,
    place: str,
    experts: Iterable[Any],
    agenda: str,
    summary: str,
    files: Sequence[Any] = (),
) -> EvaluationVisit:
    """Record (or correct) the on-site visit of an evaluated laboratory: the date (within the campaign's
    visit window when it has one, never in the future), the place, the entry's experts present, what was
    examined, the summary, and files (checked as evidence). The lab reads it once the results are
    published."""
    if not (has_role(user, Role.OFFICE) or (user.is_authenticated and entry.lead_expert_id == user.pk)):
        raise PermissionDenied(_("Only the office or the lead expert records the on-site visit."))
    # the campaign, then the entry, locked: a confirmation waits for the record (or the record sees the
    # confirmed state), and a second record of the same visit waits, then corrects the first one
    campaign = EvaluationCampaign.objects.select_for_update().get(pk=entry.campaign_id)
    entry = EvaluationEntry.objects.select_for_update().get(pk=entry.pk)
    if campaign.status not in ("preparing", "scoring"):
        raise ValidationError(_("The on-site visit record is closed: the grades are confirmed."))
    check_evidence(files)
    experts = list(experts)
    errors: dict[str, str] = {}
    if visited_on is None:
        errors["visited_on"] = _("Give the date of the visit (YYYY-MM-DD).")
    elif visited_on > timezone.localdate():
        errors["visited_on"] = _("The visit cannot be in the future.")
    elif campaign.visits_from and not campaign.visits_from <= visited_on <= campaign.visits_to:
        errors["visited_on"] = _("The campaign's on-site visits run from %(a)s to %(b)s.") % {
            "a": f"{campaign.visits_from:%Y-%m-%d}",
            "b": f"{campaign.visits_to:%Y-%m-%d}",
        }
    if not place.strip():
        errors["place"] = _("Give the place of the visit.")
    assigned = set(entry.experts.values_list("pk", flat=True))
    if not experts:
        errors["experts"] = _("Name the experts present.")
    elif any(e.pk not in assigned for e in experts):
        errors["experts"] = _("Only the laboratory's assigned experts can be recorded as present: %(n)s.") % {
            "n": ", ".join(str(e) for e in experts if e.pk not in assigned)
        }
    if not agenda.strip():
        errors["agenda"] = _("Say what was examined.")
    if not summary.strip():
        errors["summary"] = _("Write the summary of the visit.")
    if errors:
        raise ValidationError(errors)
    values = {
        "visited_on": visited_on,
        "place": place.strip(),
        "agenda": agenda.strip(),
        "summary": summary.strip(),
    }
    with acting_as(user):
        visit = EvaluationVisit.objects.filter(entry=entry).first()
        if visit is None:
            visit = EvaluationVisit.objects.create(entry=entry, recorded_by=user, **values)
        else:
            for k, v in values.items():
                setattr(visit, k, v)
            visit.save(update_fields=[*values, "last_updated"])
        visit.experts_present.set(experts)
    for upload in files:
        add_attachment(visit, upload, user)
    _close_deadlines_labelled(entry, "Record the on-site visit")
    return visit


# ==================================================================================================
# Complaints (投诉举报) about laboratories
# ==================================================================================================

COMPLAINABLE = (*OPERATING, "suspended")


@transaction.atomic
def file_complaint(
    user: Any,
    lab: Laboratory,
    *,
    name: str,
    contact: str,
    subject: str,
    description: str,
    channel: str = Complaint.Channel.ONLINE,
    received_on: Any = None,
    files: Sequence[Any] = (),
) -> Complaint:
    """Anyone files a complaint about a laboratory under their real name with a way to reach them
    (signed in, the account is recorded too). The office also records complaints received by telephone,
    letter, e-mail, in person or by referral, with the date received; the public form is always
    *online*, dated today. Files (documents, photos) go with it; like the complainant's identity, only
    the office and the complainant can download them."""
    is_office = has_role(user, Role.OFFICE)
    today = timezone.localdate()
    if not is_office:
        channel, received_on = Complaint.Channel.ONLINE, today
    received_on = received_on or today
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = _("Give your real name: complaints are not taken anonymously.")
    if not contact.strip():
        errors["contact"] = _("Give a telephone number, e-mail or address where the office can reach you.")
    if not subject.strip():
        errors["subject"] = _("Give the subject of the complaint.")
    if not description.strip():
        errors["description"] = _("Describe what happened.")
    if channel not in Complaint.Channel.values:
        errors["channel"] = _("Unknown channel “%(c)s”.") % {"c": channel}
    if received_on > today:
        errors["received_on"] = _("A complaint cannot be received in the future.")
    if lab.status not in COMPLAINABLE:
        errors["laboratory"] = _("Complaints are taken about named laboratories only.")
    try:
        check_complaint_files(files)
    except ValidationError as exc:
        errors["files"] = " ".join(exc.messages)
    if errors:
        raise ValidationError(errors)
    authenticated = user is not None and user.is_authenticated
    with acting_as(user if authenticated else None):
        complaint = Complaint.objects.create(
            laboratory=lab,
            complainant_name=name.strip()[:100],
            complainant_contact=contact.strip()[:200],
            filed_by=user if authenticated and not is_office else None,
            received_on=received_on,
            channel=channel,
            subject=subject.strip()[:200],
            description=description.strip(),
        )
    for upload in files:
        add_attachment(complaint, upload, user if authenticated else None)
    _open_deadline(
        complaint,
        f"Handle the complaint about {lab.name_en}",
        f"处理对{lab.name_zh}的投诉",
        add_days(today, 15),
        role=Role.OFFICE,
    )
    notify(
        [u for u in _office_users() if u != user],
        verb="complaint_received",
        text_en=f"A complaint about {lab.name_en} was received.",
        text_zh=f"收到对{lab.name_zh}的投诉。",
        obj=complaint,
    )
    return complaint


@transaction.atomic
def move_complaint(user: Any, complaint: Complaint, transition: str, reason: str = "") -> Complaint:
    """Accept for handling, dismiss (with the reason) or record as substantiated (with the finding). A
    substantiated complaint counts in the laboratory's risk class for the next spot-check draw."""
    apply_transition(complaint, transition, user, reason=reason)
    complaint.refresh_from_db()
    if complaint.status in ("dismissed", "substantiated"):
        _close_deadlines(complaint)
    return complaint


def may_see_complainant(user: Any, complaint: Complaint) -> bool:
    """The complainant's identity and files: the office and the complainant only (not the committee,
    never the laboratory or the public)."""
    if has_role(user, Role.OFFICE):
        return True
    return user is not None and user.is_authenticated and complaint.filed_by_id == user.pk


def complaint_files(complaint: Complaint) -> Any:
    from qslab.core.models import Attachment

    return Attachment.objects.filter(
        content_type=ContentType.objects.get_for_model(Complaint), object_id=str(complaint.pk)
    ).order_by("pk")


def complaint_reason(complaint: Complaint) -> str:
    """The reason given with the complaint's last handling step (what the complainant is told)."""
    from qslab.core.services import history_of

    last = history_of(complaint).exclude(transition="").order_by("-time", "-pk").first()
    return last.reason if last is not None else ""


def complaint_reasons(complaints: list[Complaint]) -> dict[int, str]:
    """:func:`complaint_reason` of many complaints in one query, by complaint id."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import ChangeRecord

    steps = (
        ChangeRecord.objects.filter(
            content_type=ContentType.objects.get_for_model(Complaint),
            object_id__in=[str(c.pk) for c in complaints],
        )
        .exclude(transition="")
        .order_by("time", "pk")
        .values_list("object_id", "reason")
    )
    return {int(object_id): reason for object_id, reason in steps}  # the last step comes last and wins


# ==================================================================================================
# The spot-check item list (抽查事项清单)
# ==================================================================================================


ITEM_TEXT_FIELDS = ("code", "name_zh", "name_en", "legal_basis", "content", "method", "inspecting_body")


def _checked_item_fields(values: dict[str, Any], item: SpotCheckItem | None = None) -> dict[str, Any]:
    """The item's fields stripped and checked, every problem at once (a code is unique and slug-like)."""
    import re

    clean = {k: (values[k] or "").strip() for k in ITEM_TEXT_FIELDS if k in values}
    errors: dict[str, str] = {}
    if "code" in clean:
        code = clean["code"]
        taken = SpotCheckItem.objects.filter(code=code)
        if item is not None:
            taken = taken.exclude(pk=item.pk)
        # the model's SlugField rule (capitals allowed), not slugify(), which would lower-case "SC-01"
        if not re.fullmatch(r"[-a-zA-Z0-9_]+", code):
            errors["code"] = _("The code is letters, digits, - and _ only.")
        elif taken.exists():
            errors["code"] = _("The code “%(c)s” is already used.") % {"c": code}
    for field in ("name_zh", "name_en", "legal_basis", "content", "method"):
        if field in clean and not clean[field]:
            errors[field] = _("This field is required.")
    if errors:
        raise ValidationError(errors)
    if "active" in values and values["active"] is not None:
        clean["active"] = bool(values["active"])
    return clean


@transaction.atomic
def create_item(
    user: Any,
    *,
    code: str,
    name_zh: str,
    name_en: str,
    legal_basis: str,
    content: str,
    method: str,
    inspecting_body: str = "",
) -> SpotCheckItem:
    """Add an item to the public spot-check list: its legal basis, content and method."""
    from django.db import IntegrityError

    _require_office(user)
    clean = _checked_item_fields(
        {
            "code": code,
            "name_zh": name_zh,
            "name_en": name_en,
            "legal_basis": legal_basis,
            "content": content,
            "method": method,
            "inspecting_body": inspecting_body,
        }
    )
    with acting_as(user):
        try:
            with transaction.atomic():
                return SpotCheckItem.objects.create(**clean)
        except IntegrityError:
            # the same code added by another request at the same instant: refused, not a 500
            raise ValidationError(
                {"code": _("The code “%(c)s” is already used.") % {"c": clean["code"]}}
            ) from None


@transaction.atomic
def update_item(user: Any, item: SpotCheckItem, reason: str = "", **changes: Any) -> SpotCheckItem:
    """Change an item of the spot-check list (office), audited; ``active=False`` takes it out of use: it
    leaves the public list and new plans, and plans that already name it keep it."""
    _require_office(user)
    unknown = set(changes) - {*ITEM_TEXT_FIELDS, "active"}
    if unknown:
        raise ValueError(f"not fields of a spot-check item: {sorted(unknown)}")
    clean = _checked_item_fields(changes, item)
    changed = [k for k, v in clean.items() if getattr(item, k) != v]
    if not changed:
        return item
    for field in changed:
        setattr(item, field, clean[field])
    with acting_as(user, reason.strip()):
        item.save(update_fields=[*changed, "last_updated"])
    return item
