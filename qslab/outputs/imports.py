"""Bulk import of outputs from CSV or XLSX: every row is checked with the same rules as the form,
every problem is reported with its row and column at once, and either all rows are saved or none
(a dry run checks and saves nothing)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from qslab.accounts.roles import Role, has_role
from qslab.core.workflow import TransitionRefused
from qslab.labs.imports import ImportFailed, RowError, read_table
from qslab.labs.models import Laboratory
from qslab.outputs import services

REQUIRED = ("laboratory", "kind", "title_zh", "year")
OPTIONAL = tuple(f for f in services.OUTPUT_FIELDS if f not in REQUIRED)
UNIQUE_KEYS = ("doi", "application_number", "grant_number")


@dataclasses.dataclass(frozen=True)
class ImportResult:
    dry_run: bool
    rows: int
    created: list[int]


def import_outputs(user: Any, filename: str, content: bytes, dry_run: bool = False) -> ImportResult:
    """Check every row and save all of them, or raise :class:`ImportFailed` with every problem."""
    if not (has_role(user, Role.OFFICE) or has_role(user, Role.LAB_MANAGER)):
        raise PermissionDenied(_("Only the office and laboratory managers import outputs."))
    table = read_table(filename, content)
    if not table:
        raise ImportFailed([RowError(1, "", _("The file is empty."))])
    header = [h.strip() for h in table[0]]
    errors = [RowError(1, c, _("this required column is missing")) for c in REQUIRED if c not in header]
    errors += [RowError(1, h, _("unknown column")) for h in header if h and h not in (*REQUIRED, *OPTIONAL)]
    records = []
    for n, row in enumerate(table[1:], start=2):
        if any(cell.strip() for cell in row):
            records.append(
                (n, {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header) if h})
            )
    if not records and not errors:
        errors.append(RowError(2, "", _("The file has a header but no rows.")))
    if errors:
        raise ImportFailed(errors)
    labs = {
        lab.code: lab
        for lab in Laboratory.objects.filter(code__in={r.get("laboratory") for _n, r in records})
    }
    seen: dict[tuple[str, str], int] = {}
    checked = []
    for n, rec in records:
        row_errors = []
        lab = labs.get(rec.get("laboratory", ""))
        if lab is None:
            row_errors.append(
                RowError(
                    n,
                    "laboratory",
                    _("no laboratory has the code “%(code)s”") % {"code": rec.get("laboratory", "")},
                )
            )
        elif not services.may_record_for(user, lab):
            row_errors.append(
                RowError(n, "laboratory", _("you may record outputs only for your own laboratory"))
            )
        data = {k: v for k, v in rec.items() if k != "laboratory"}
        values: dict[str, Any] = {}
        try:
            values = services.clean_output(data)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                row_errors.append(RowError(n, field, " ".join(messages)))
        for key in UNIQUE_KEYS:
            value = values.get(key)
            if value:
                if (key, value) in seen:
                    row_errors.append(
                        RowError(n, key, _("the same value is on row %(row)d") % {"row": seen[(key, value)]})
                    )
                seen.setdefault((key, value), n)
        if row_errors:
            errors += row_errors
        else:
            checked.append((lab, data))
    if errors:
        raise ImportFailed(errors)
    if dry_run:
        return ImportResult(True, len(checked), [])
    with transaction.atomic():
        created = [services.record_output(user, lab, data).pk for lab, data in checked]
    return ImportResult(False, len(created), created)


# --------------------------------------------------------------------------------------------------
# Standards
# --------------------------------------------------------------------------------------------------

STANDARD_REQUIRED = ("laboratory", "title_zh", "role")
STANDARD_DATES = (
    "proposed_on", "project_approved_on", "working_draft_on", "for_comments_on", "review_on", "approved_on",
    "published_on", "revised_on", "withdrawn_on",
)  # fmt: skip
STANDARD_OPTIONAL = (
    "number", "project_number", "level", "title_en", "stage", *STANDARD_DATES, "implemented_on", "notes",
    "reason",
)  # fmt: skip
#: the lifecycle path to each stage: (stage, transition that reaches it)
PATH = (
    ("proposal", ""),
    ("project", "approve_project"),
    ("working_draft", "start_drafting"),
    ("for_comments", "circulate"),
    ("review", "submit_review"),
    ("approved", "approve"),
    ("published", "publish"),
    ("revised", "revise"),
)


def _steps_to(stage: str, dates: dict[str, Any]) -> list[tuple[str, str]]:
    """(stage, transition) from the proposal to ``stage``; a withdrawal follows the last stage with a date."""
    from qslab.outputs.models import STAGE_DATES

    if stage == "withdrawn":
        reached = [s for s, _t in PATH[:-1] if dates.get(STAGE_DATES[s])]
        last = reached[-1] if reached else "proposal"
        path = list(PATH[: [s for s, _t in PATH].index(last) + 1])
        return [*path, ("withdrawn", "withdraw")]
    return list(PATH[: [s for s, _t in PATH].index(stage) + 1])


def _check_standard_row(
    user: Any, n: int, rec: dict[str, str], labs: dict[str, Laboratory]
) -> tuple[list[RowError], Any]:
    from qslab.outputs.models import STAGE_DATES, Standard

    errors: list[RowError] = []
    lab = labs.get(rec.get("laboratory", ""))
    if lab is None:
        errors.append(
            RowError(
                n,
                "laboratory",
                _("no laboratory has the code “%(code)s”") % {"code": rec.get("laboratory", "")},
            )
        )
    elif not services.may_record_for(user, lab):
        errors.append(RowError(n, "laboratory", _("you may record standards only for your own laboratory")))
    stage = rec.get("stage") or "proposal"
    if stage not in {s.value for s in Standard.workflow.states}:
        errors.append(
            RowError(
                n,
                "stage",
                _("unknown stage “%(stage)s”: write one of %(stages)s")
                % {"stage": stage, "stages": ", ".join(s.value for s in Standard.workflow.states)},
            )
        )
        stage = "proposal"
    dates: dict[str, Any] = {}
    today = timezone.localdate()
    for column in (*STANDARD_DATES, "implemented_on"):
        text = rec.get(column, "")
        if not text:
            continue
        try:
            dates[column] = dt.date.fromisoformat(text)
        except ValueError:
            errors.append(RowError(n, column, _("write the date as YYYY-MM-DD")))
            continue
        if column != "implemented_on" and dates[column] > today:
            errors.append(RowError(n, column, _("the date of a stage cannot be in the future")))
    steps = _steps_to(stage, dates)
    reached = {STAGE_DATES[s] for s, _t in steps}
    for column in STANDARD_DATES:
        if column in dates and column not in reached:
            errors.append(
                RowError(
                    n,
                    column,
                    _("the standard has not reached this stage (stage “%(stage)s”)") % {"stage": stage},
                )
            )
    previous = None
    for s, _t in steps:
        day = dates.get(STAGE_DATES[s])
        if day is None:
            continue
        if previous is not None and day < previous[1]:
            errors.append(
                RowError(
                    n,
                    STAGE_DATES[s],
                    _("the date is before that of the previous stage (%(column)s, %(date)s)")
                    % {"column": previous[0], "date": previous[1]},
                )
            )
        previous = (STAGE_DATES[s], day)
    if stage in ("revised", "withdrawn") and not rec.get("reason"):
        errors.append(RowError(n, "reason", _("a revised or withdrawn standard needs the reason")))
    if stage in ("published", "revised") and not rec.get("number"):
        errors.append(RowError(n, "number", _("a published standard needs its number")))
    data = {
        f: rec[f]
        for f in ("number", "project_number", "level", "title_zh", "title_en", "role", "notes")
        if f in rec
    }
    if "implemented_on" in dates:
        data["implemented_on"] = dates["implemented_on"]
    values: dict[str, Any] = {}
    try:
        values = services.clean_standard(data, lab)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.append(RowError(n, field, " ".join(messages)))
    # a stage without a date takes the date of the next stage given (or today)
    carry = today
    stage_dates: list[tuple[str, str, dt.date]] = []
    for s, t in reversed(steps):
        day = dates.get(STAGE_DATES[s]) or carry
        carry = day
        stage_dates.append((s, t, day))
    stage_dates.reverse()
    return errors, (lab, data, values, stage_dates, rec.get("reason", ""))


def import_standards(user: Any, filename: str, content: bytes, dry_run: bool = False) -> ImportResult:
    """Check every row of a standards file and record all of them, each taken through its lifecycle to
    the stage given (every step audited, with its date), or raise :class:`ImportFailed` with every
    problem, row by row; nothing is saved unless every row is right."""
    if not (has_role(user, Role.OFFICE) or has_role(user, Role.LAB_MANAGER)):
        raise PermissionDenied(_("Only the office and laboratory managers import standards."))
    table = read_table(filename, content)
    if not table:
        raise ImportFailed([RowError(1, "", _("The file is empty."))])
    header = [h.strip() for h in table[0]]
    known = (*STANDARD_REQUIRED, *STANDARD_OPTIONAL)
    errors = [
        RowError(1, c, _("this required column is missing")) for c in STANDARD_REQUIRED if c not in header
    ]
    errors += [RowError(1, h, _("unknown column")) for h in header if h and h not in known]
    records = [
        (n, {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header) if h})
        for n, row in enumerate(table[1:], start=2)
        if any(cell.strip() for cell in row)
    ]
    if not records and not errors:
        errors.append(RowError(2, "", _("The file has a header but no rows.")))
    if errors:
        raise ImportFailed(errors)
    labs = {
        lab.code: lab
        for lab in Laboratory.objects.filter(code__in={r.get("laboratory") for _n, r in records})
    }
    checked = []
    same_number: dict[tuple[str, str], int] = {}
    lead_of: dict[str, int] = {}
    for n, rec in records:
        row_errors, parsed = _check_standard_row(user, n, rec, labs)
        lab, _data, values, _stages, _reason = parsed
        number = values.get("number")
        if number and lab is not None:
            if (lab.code, number) in same_number:
                row_errors.append(
                    RowError(
                        n,
                        "number",
                        _("the same value is on row %(row)d") % {"row": same_number[(lab.code, number)]},
                    )
                )
            same_number.setdefault((lab.code, number), n)
            if values.get("role") == "lead":
                if number in lead_of:
                    row_errors.append(
                        RowError(
                            n, "role", _("row %(row)d already leads this standard") % {"row": lead_of[number]}
                        )
                    )
                lead_of.setdefault(number, n)
        errors += row_errors
        if not row_errors:
            checked.append((n, parsed))
    if errors:
        raise ImportFailed(errors)
    if dry_run:
        return ImportResult(True, len(checked), [])
    created = []
    current = 0
    try:
        with transaction.atomic():
            for n, (lab, data, _values, stages, reason) in checked:
                current = n
                std = services.record_standard(user, lab, {**data, "proposed_on": stages[0][2]})
                for _stage, transition, day in stages[1:]:
                    std = services.move_standard(
                        user, std, transition, reason if transition in ("revise", "withdraw") else "", on=day
                    )
                created.append(std.pk)
    except (ValidationError, TransitionRefused, PermissionDenied) as exc:
        message = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        raise ImportFailed([RowError(current, "", message)]) from exc
    return ImportResult(False, len(created), created)
