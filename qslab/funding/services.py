"""Operations of the funding app: every change of state goes through here.

Budgets move through their declared workflow (``apply_transition``); their lines are written only as
new immutable versions. Scoring and allocation are pure functions (:func:`achievement`,
:func:`largest_remainder`) that the services call and the tests check directly.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import itertools
import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from qslab.accounts.roles import Role, has_role
from qslab.core.context import acting_as
from qslab.core.services import apply_transition, watch
from qslab.core.uploads import IMAGES, MB, UploadValidator, safe_filename
from qslab.funding.models import (
    LEVEL1_OF,
    MONEY,
    Allocation,
    AllocationRun,
    Basis,
    Budget,
    BudgetLine,
    BudgetVersion,
    Comparator,
    EvidenceFile,
    Expenditure,
    FundingRules,
    Grade,
    Indicator,
    LabGrade,
    Level1,
    Level2,
    Line,
    MonitoringFlag,
    MonitoringRun,
    SelfEvaluation,
    Source,
    SubsidyEntry,
)
from qslab.labs.models import Laboratory

CENT = Decimal("0.01")
#: the roles that see budgets at all (each only those ``Budget.visible_q`` lets them see)
BUDGET_READERS = (Role.OFFICE, Role.COMMITTEE, Role.AUTHORITY, Role.LAB_MANAGER, Role.INSTITUTION)
GRADE_ORDER = (Grade.POOR, Grade.FAIR, Grade.GOOD, Grade.EXCELLENT)


def _editable(model: type, user: Any, obj: Any, message: str) -> None:
    if not model.objects.editable_by(user).filter(pk=obj.pk).exists():
        raise PermissionDenied(message)


def parse_money(value: str) -> Decimal:
    """A non-negative amount in yuan with at most two decimals; ``ValueError`` with a sentence if not."""
    text = (value or "").replace(",", "").replace("，", "").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(_("“%(v)s” is not an amount") % {"v": value}) from None
    if not amount.is_finite():
        raise ValueError(_("“%(v)s” is not an amount") % {"v": value})
    if amount < 0:
        raise ValueError(_("the amount may not be negative"))
    # Checked before quantizing: quantizing 1e30 to the fen overflows the decimal context (a 500).
    whole_digits = MONEY["max_digits"] - MONEY["decimal_places"]
    if amount >= Decimal(10) ** whole_digits:
        raise ValueError(
            _("the amount is too large (at most %(n)s digits before the decimal point)") % {"n": whole_digits}
        )
    if amount != amount.quantize(CENT):
        raise ValueError(_("at most two decimals (fen)"))
    return amount.quantize(CENT)


# ------------------------------------------------------------------------------------------- budgets


@transaction.atomic
def create_budget(user: Any, laboratory: Laboratory, year: int) -> Budget:
    if not (has_role(user, Role.OFFICE) or has_role(user, Role.LAB_MANAGER, scope=laboratory)):
        raise PermissionDenied(_("Only the laboratory's manager or the office may open its budget."))
    # The laboratory's row is locked so an allocation issued at the same moment either sees this
    # budget or is seen by it (see feed_subsidy).
    Laboratory.objects.select_for_update().filter(pk=laboratory.pk).first()
    if Budget.objects.filter(laboratory=laboratory, year=year).exists():
        raise ValidationError({"year": _("This laboratory already has a budget for %(y)s.") % {"y": year}})
    with acting_as(user):
        budget = Budget.objects.create(laboratory=laboratory, year=year)
    watch(budget, user)
    feed_subsidy(user, laboratory, year)
    return budget


@transaction.atomic
def save_budget_version(
    user: Any, budget: Budget, amounts: dict[tuple[str, str], Decimal], reason: str = ""
) -> BudgetVersion:
    """Write the lines as a new version. Versions are never changed; after an approval, a reason is due."""
    _editable(Budget, user, budget, _("You may not change this budget."))
    budget = Budget.objects.select_for_update().get(pk=budget.pk)
    return _write_version(user, budget, amounts, reason)


def _write_version(
    user: Any, budget: Budget, amounts: dict[tuple[str, str], Decimal], reason: str
) -> BudgetVersion:
    """The version itself, on a budget row the caller has locked (permission checked by the caller)."""
    if budget.status != "draft":
        raise ValidationError(_("Only a budget in draft can be changed; start an adjustment first."))
    reason = (reason or "").strip()
    if budget.approved_version_id and not reason:
        raise ValidationError({"reason": _("An adjustment of an approved budget needs a reason.")})
    problems = []
    for (line, source), amount in amounts.items():
        if line not in Line.values:
            problems.append(_("unknown line item “%(v)s”") % {"v": line})
        if source not in Source.values:
            problems.append(_("unknown source “%(v)s”") % {"v": source})
        if amount < 0:
            problems.append(_("negative amount for %(l)s / %(s)s") % {"l": line, "s": source})
    if problems:
        raise ValidationError(problems)
    last = budget.versions.aggregate(n=Max("number"))["n"] or 0
    version = BudgetVersion.objects.create(budget=budget, number=last + 1, reason=reason, created_by=user)
    BudgetLine.objects.bulk_create(
        [
            BudgetLine(version=version, line=line, source=source, amount=amount.quantize(CENT))
            for (line, source), amount in sorted(amounts.items())
            if amount
        ]
    )
    with acting_as(user, reason):
        budget.save(update_fields=["last_updated"])  # a change record marks the new version
    return version


def move_budget(user: Any, budget: Budget, transition: str, reason: str = "") -> Budget:
    apply_transition(budget, transition, user, reason=reason)
    budget.refresh_from_db()
    return budget


@dataclasses.dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return _("row %(row)d, column “%(column)s”: %(message)s") % dataclasses.asdict(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class ImportFailed(Exception):
    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} problem(s)")
        self.errors = errors


INDICATOR_COLUMNS = ("level2", "name_zh", "name_en", "comparator", "target", "unit", "basis", "weight")


def parse_indicators(text: str) -> list[dict[str, Any]]:
    """Indicators typed one per line: ``level2, name_zh, name_en, comparator, target, unit, basis, weight``.
    Every problem of every line is reported at once (``ImportFailed``)."""
    rows: list[dict[str, Any]] = []
    errors: list[RowError] = []
    for n, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not any(c.strip() for c in cells):
            continue
        cells = [c.strip() for c in cells] + [""] * len(INDICATOR_COLUMNS)
        data = dict(zip(INDICATOR_COLUMNS, cells, strict=False))
        row_errors = []
        if data["level2"] not in Level2.values:
            row_errors.append(
                RowError(n, "level2", _("must be one of %(v)s") % {"v": ", ".join(Level2.values)})
            )
        if not data["name_zh"]:
            row_errors.append(RowError(n, "name_zh", _("a name is required")))
        if data["comparator"] not in Comparator.values:
            row_errors.append(RowError(n, "comparator", _("must be >=, <= or =")))
        try:
            data["target"] = Decimal(data["target"])
            if not data["target"].is_finite():
                raise InvalidOperation
        except InvalidOperation:
            row_errors.append(RowError(n, "target", _("“%(v)s” is not a number") % {"v": data["target"]}))
        data["basis"] = data["basis"] or Basis.PLANNED
        if data["basis"] not in Basis.values:
            row_errors.append(
                RowError(n, "basis", _("must be one of %(v)s") % {"v": ", ".join(Basis.values)})
            )
        try:
            data["weight"] = Decimal(data["weight"] or "1")
            if not data["weight"].is_finite() or data["weight"] <= 0:
                raise InvalidOperation
        except InvalidOperation:
            row_errors.append(RowError(n, "weight", _("must be a positive number")))
        errors += row_errors
        if not row_errors:
            data["level1"] = LEVEL1_OF[data["level2"]]
            data["position"] = n
            rows.append(data)
    if errors:
        raise ImportFailed(errors)
    return rows


@transaction.atomic
def set_indicators(user: Any, budget: Budget, rows: list[dict[str, Any]]) -> list[Indicator]:
    """Replace the performance targets of a budget in draft."""
    _editable(Budget, user, budget, _("You may not change this budget."))
    if budget.status != "draft":
        raise ValidationError(_("Targets can be changed only while the budget is in draft."))
    keep = (
        "level1",
        "level2",
        "name_zh",
        "name_en",
        "comparator",
        "target",
        "unit",
        "basis",
        "weight",
        "position",
    )
    with acting_as(user):
        budget.indicators.all().delete()
        return [Indicator.objects.create(budget=budget, **{k: r[k] for k in keep if k in r}) for r in rows]


# ----------------------------------------------------------------------------------------- execution

EXPENDITURE_COLUMNS = ("date", "line", "source", "amount", "description", "reference")
#: an expenditure file (CSV or XLSX) is checked by content and size before it is parsed
IMPORT_MAX_BYTES = 10 * MB
EXPENDITURE_REQUIRED = ("date", "line", "source", "amount")


def read_table(filename: str, content: bytes) -> list[list[str]]:
    """Rows of a CSV (UTF-8) or XLSX file (the first sheet, read with ``qslab.labs.xlsx``); an XLSX is
    known by its content as well as its name."""
    if filename.lower().endswith(".xlsx") or content.startswith(b"PK\x03\x04"):
        from qslab.labs.xlsx import XlsxError, read_xlsx

        try:
            return read_xlsx(content)
        except XlsxError as exc:
            raise ImportFailed([RowError(0, "", str(exc))]) from exc
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed([RowError(0, "", _("The CSV file is not UTF-8 text."))]) from exc
    return list(csv.reader(io.StringIO(text)))


def _check_expenditure(budget: Budget, n: int, data: dict[str, str]) -> tuple[dict[str, Any], list[RowError]]:
    errors = []
    clean: dict[str, Any] = {
        "description": data.get("description", "")[:300],
        "reference": data.get("reference", "")[:60],
    }
    try:
        clean["date"] = dt.date.fromisoformat(data.get("date", ""))
        if clean["date"].year != budget.year:
            errors.append(RowError(n, "date", _("not in the budget year %(y)s") % {"y": budget.year}))
    except ValueError:
        errors.append(
            RowError(n, "date", _("“%(v)s” is not a date (YYYY-MM-DD)") % {"v": data.get("date", "")})
        )
    for col, choices in (("line", Line), ("source", Source)):
        value = data.get(col, "")
        if value not in choices.values:
            errors.append(
                RowError(
                    n, col, _("“%(v)s” is not one of %(c)s") % {"v": value, "c": ", ".join(choices.values)}
                )
            )
        clean[col] = value
    try:
        clean["amount"] = parse_money(data.get("amount", ""))
        if clean["amount"] == 0:
            errors.append(RowError(n, "amount", _("the amount must be more than zero")))
    except ValueError as exc:
        errors.append(RowError(n, "amount", str(exc)))
    return clean, errors


def _may_record(user: Any, budget: Budget) -> None:
    _editable(Budget, user, budget, _("You may not record expenditures of this budget."))
    if budget.status != "approved" and budget.approved_version_id is None:
        raise ValidationError(_("Expenditures are recorded against an approved budget."))


@transaction.atomic
def import_expenditures(user: Any, budget: Budget, table: list[list[str]], dry_run: bool = False) -> int:
    """All rows or none: every problem of every row is reported (``ImportFailed``) and nothing saved."""
    _may_record(user, budget)
    if not table:
        raise ImportFailed([RowError(1, "", _("The file is empty."))])
    header = [h.strip() for h in table[0]]
    errors = [
        RowError(1, c, _("this required column is missing")) for c in EXPENDITURE_REQUIRED if c not in header
    ]
    errors += [RowError(1, h, _("unknown column")) for h in header if h and h not in EXPENDITURE_COLUMNS]
    records = []
    for n, row in enumerate(table[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        data = {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header) if h}
        clean, row_errors = _check_expenditure(budget, n, data)
        errors += row_errors
        records.append(clean)
    if not records and not errors:
        errors.append(RowError(2, "", _("The file has a header but no rows.")))
    if errors:
        raise ImportFailed(errors)
    if dry_run:
        return len(records)
    with acting_as(user, "import"):
        for r in records:
            Expenditure.objects.create(budget=budget, created_by=user, **r)
    return len(records)


@transaction.atomic
def record_expenditure(user: Any, budget: Budget, data: dict[str, str]) -> Expenditure:
    _may_record(user, budget)
    clean, errors = _check_expenditure(budget, 1, {k: str(v) for k, v in data.items()})
    if errors:
        raise ValidationError({e.column: e.message for e in errors})
    with acting_as(user):
        return Expenditure.objects.create(budget=budget, created_by=user, **clean)


@dataclasses.dataclass(frozen=True)
class Execution:
    """Cumulative execution of one budget by month: spent and rate (%), per line, per source and overall."""

    year: int
    budgeted_total: Decimal
    budgeted_by_line: dict[str, Decimal]
    budgeted_by_source: dict[str, Decimal]
    cumulative: list[Decimal]  # 12 months, total
    cumulative_by_line: dict[str, list[Decimal]]
    cumulative_by_source: dict[str, list[Decimal]]

    @staticmethod
    def rate(spent: Decimal, budgeted: Decimal) -> Decimal | None:
        if not budgeted:
            return None
        return (spent * 100 / budgeted).quantize(CENT, ROUND_HALF_UP)

    def rates(self) -> list[Decimal | None]:
        return [self.rate(s, self.budgeted_total) for s in self.cumulative]

    def line_rates(self) -> dict[str, list[Decimal | None]]:
        return {
            k: [self.rate(s, self.budgeted_by_line.get(k, 0)) for s in v]
            for k, v in self.cumulative_by_line.items()
        }

    def source_rates(self) -> dict[str, list[Decimal | None]]:
        return {
            k: [self.rate(s, self.budgeted_by_source.get(k, 0)) for s in v]
            for k, v in self.cumulative_by_source.items()
        }


def execution_of(budget: Budget) -> Execution:
    version = budget.in_force
    lines = list(version.lines.all()) if version else []
    by_line: dict[str, Decimal] = defaultdict(Decimal)
    by_source: dict[str, Decimal] = defaultdict(Decimal)
    for ln in lines:
        by_line[ln.line] += ln.amount
        by_source[ln.source] += ln.amount
    monthly = [Decimal(0)] * 12
    m_line: dict[str, list[Decimal]] = {k: [Decimal(0)] * 12 for k in Line.values}
    m_source: dict[str, list[Decimal]] = {k: [Decimal(0)] * 12 for k in Source.values}
    for e in budget.expenditures.all():
        i = e.date.month - 1
        monthly[i] += e.amount
        m_line[e.line][i] += e.amount
        m_source[e.source][i] += e.amount

    def cum(xs: list[Decimal]) -> list[Decimal]:
        out, acc = [], Decimal(0)
        for x in xs:
            acc += x
            out.append(acc)
        return out

    return Execution(
        year=budget.year,
        budgeted_total=sum(by_line.values(), Decimal(0)),
        budgeted_by_line=dict(by_line),
        budgeted_by_source=dict(by_source),
        cumulative=cum(monthly),
        cumulative_by_line={k: cum(v) for k, v in m_line.items() if by_line.get(k) or any(v)},
        cumulative_by_source={k: cum(v) for k, v in m_source.items() if by_source.get(k) or any(v)},
    )


@dataclasses.dataclass(frozen=True)
class Lag:
    subject: str
    expected: Decimal
    actual: Decimal


def lags(budget: Budget, month: int, rules: FundingRules | None = None) -> list[Lag]:
    """Where cumulative execution at the end of ``month`` is below the expected curve minus the tolerance."""
    rules = rules or FundingRules.for_year(budget.year)
    ex = execution_of(budget)
    expected = rules.expected(month)
    floor = expected - rules.lag_tolerance
    found = []
    overall = ex.rates()[month - 1]
    if overall is not None and overall < floor:
        found.append(Lag(str(_("whole budget")), expected, overall))
    for line, rates in ex.line_rates().items():
        rate = rates[month - 1]
        if rate is not None and rate < floor:
            found.append(Lag(str(Line(line).label), expected, rate))
    return found


# ---------------------------------------------------------------------------------------- monitoring


def _monitor(
    year: int, month: int, rules: FundingRules, progress: Any = None
) -> tuple[int, list[MonitoringFlag]]:
    """Flag execution lags and targets off track for every approved budget of ``year`` on data up to
    ``month``; flags already raised for that month are not raised again. (budgets checked, new flags)."""
    pace = Decimal(month) / 12
    made = []
    # The budgets' rows are locked (in one order), so two runs at the same moment (the daily job and
    # the office) do not both raise the same flag.
    budgets = list(
        Budget.objects.select_for_update(of=("self",))
        .filter(year=year, approved_version__isnull=False)
        .select_related("laboratory")
        .order_by("pk")
    )
    if progress is not None:
        progress.row.total = len(budgets)
        progress.row.save(update_fields=["total", "updated"])
    for budget in budgets:
        existing = set(budget.flags.filter(month=month).values_list("kind", "subject"))
        found = [
            (MonitoringFlag.Kind.EXECUTION, lag.subject, lag.expected, lag.actual)
            for lag in lags(budget, month, rules)
        ]
        for ind in budget.indicators.filter(actual__isnull=False, comparator=Comparator.GE):
            if ind.target and ind.actual < ind.target * pace * (1 - Decimal(rules.lag_tolerance) / 100):
                found.append((MonitoringFlag.Kind.TARGET, ind.name[:200], ind.target * pace, ind.actual))
        for kind, subject, expected, actual in found:
            if (kind, subject) in existing:
                continue
            made.append(
                MonitoringFlag.objects.create(
                    budget=budget,
                    month=month,
                    kind=kind,
                    subject=subject,
                    expected=Decimal(expected).quantize(CENT),
                    actual=Decimal(actual).quantize(CENT),
                )
            )
        if progress is not None:
            progress.advance(message=str(budget.laboratory))
    return len(budgets), made


def _notify_monitoring(run: MonitoringRun, made: list[MonitoringFlag]) -> None:
    """Each flagged laboratory's managers learn what to answer; the office learns the outcome."""
    from qslab.core.notifications import notify
    from qslab.funding.models import _managers, _office

    by_budget: dict[int, list[MonitoringFlag]] = defaultdict(list)
    for flag in made:
        by_budget[flag.budget_id].append(flag)
    for flags in by_budget.values():
        budget = flags[0].budget
        notify(
            _managers(budget),
            verb="monitoring_flags",
            text_en=(
                f"In-year monitoring {run.year} (data to month {run.month}): {len(flags)} deviation(s) "
                f"flagged for {budget}. Give a cause and a corrective action for each."
            ),
            text_zh=(
                f"{run.year}年绩效运行监控（数据截至{run.month}月）：{budget}有{len(flags)}项偏差，"
                "请逐项说明原因并提出纠偏措施。"
            ),
            obj=budget,
        )
    notify(
        _office(run),
        verb="monitoring_run",
        text_en=(
            f"In-year monitoring {run.year} (data to month {run.month}) ran: {run.budgets} budget(s) "
            f"checked, {run.new_flags} new flag(s) in {len(by_budget)} laboratory(ies)."
        ),
        text_zh=(
            f"{run.year}年绩效运行监控（数据截至{run.month}月）已完成：检查预算{run.budgets}个，"
            f"新增偏差{run.new_flags}项，涉及实验室{len(by_budget)}个。"
        ),
        link=reverse("funding:monitoring"),
    )


def run_monitoring(user: Any, year: int, month: int | None = None) -> list[MonitoringFlag]:
    """The in-year "double monitoring" run by the office: flag execution lags and targets off track for
    every approved budget of ``year`` on data up to ``month`` (default: the rules' data month).
    Idempotent per month; the flagged laboratories' managers are notified."""
    return start_monitoring_run(user, year, month)[1]


@transaction.atomic
def start_monitoring_run(
    user: Any, year: int, month: int | None = None
) -> tuple[MonitoringRun, list[MonitoringFlag]]:
    """:func:`run_monitoring`, returning the recorded run as well as the new flags."""
    if not has_role(user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office runs the monitoring."))
    rules = FundingRules.for_year(year)
    month = month or rules.monitoring_data_month
    if not 1 <= month <= 12:
        raise ValidationError({"month": _("The month must be 1 to 12.")})
    with acting_as(user, f"monitoring {year}-{month:02d}"):
        checked, made = _monitor(year, month, rules)
    run = MonitoringRun.objects.create(
        year=year,
        month=month,
        trigger=MonitoringRun.Trigger.OFFICE,
        ran_by=user,
        budgets=checked,
        new_flags=len(made),
    )
    _notify_monitoring(run, made)
    return run, made


def scheduled_monitoring_due(today: dt.date | None = None) -> FundingRules | None:
    """The rules of this year if the scheduled monitoring is due (its date reached, not yet run)."""
    today = today or timezone.localdate()
    rules = FundingRules.for_year(today.year)
    if today < rules.monitoring_date():
        return None
    if MonitoringRun.objects.filter(year=today.year, trigger=MonitoringRun.Trigger.SCHEDULED).exists():
        return None
    return rules


def run_scheduled_monitoring(progress: Any = None, task_id: str = "") -> MonitoringRun | None:
    """The daily job's part: once the rules' monitoring date of this year is reached, run the monitoring
    on the rules' data month, once (a second run that day or later does nothing), flag, and notify the
    laboratories' managers and the office. ``None`` when not due or already done."""
    rules = scheduled_monitoring_due()
    if rules is None:
        return None
    try:
        with transaction.atomic():
            run = MonitoringRun.objects.create(
                year=rules.year,
                month=rules.monitoring_data_month,
                trigger=MonitoringRun.Trigger.SCHEDULED,
                task_id=task_id[:64],
            )
            with acting_as(None, f"scheduled monitoring {rules.year}-{rules.monitoring_data_month:02d}"):
                run.budgets, made = _monitor(rules.year, rules.monitoring_data_month, rules, progress)
            run.new_flags = len(made)
            run.save(update_fields=["budgets", "new_flags"])
            _notify_monitoring(run, made)
    except IntegrityError:
        return None  # another worker ran it at the same moment
    return run


@transaction.atomic
def answer_flag(user: Any, flag: MonitoringFlag, cause: str, corrective_action: str) -> MonitoringFlag:
    _editable(MonitoringFlag, user, flag, _("Only the laboratory's manager answers its flags."))
    cause, corrective_action = (cause or "").strip(), (corrective_action or "").strip()
    errors = {}
    if not cause:
        errors["cause"] = _("Say what caused the deviation.")
    if not corrective_action:
        errors["corrective_action"] = _("Say what will be done about it.")
    if errors:
        raise ValidationError(errors)
    flag.cause, flag.corrective_action, flag.answered_at = cause, corrective_action, timezone.now()
    with acting_as(user):
        flag.save(update_fields=["cause", "corrective_action", "answered_at", "last_updated"])
    return flag


@transaction.atomic
def hold_funding(user: Any, flag: MonitoringFlag, hold: bool, reason: str) -> MonitoringFlag:
    if not has_role(user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office holds back funding."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason.")})
    flag.hold_funding, flag.hold_reason = hold, reason
    with acting_as(user, reason):
        flag.save(update_fields=["hold_funding", "hold_reason", "last_updated"])
    return flag


# ----------------------------------------------------------------------------------- self-evaluation


def achievement(comparator: str, target: Decimal, actual: Decimal, proportional: bool = True) -> Decimal:
    """Share (0..1) of an indicator's weight earned, per 财预〔2020〕10号 practice.

    ``>=``: met if actual ≥ target, else actual ÷ target; ``<=``: met if actual ≤ target, else
    target ÷ actual; ``=``: met if equal, else 1 − |actual − target| ÷ |target| (not below 0). Without
    proportional credit an unmet target earns nothing.
    """
    target, actual = Decimal(target), Decimal(actual)
    if comparator == Comparator.GE:
        met = actual >= target
        part = actual / target if target > 0 else Decimal(0)
    elif comparator == Comparator.LE:
        met = actual <= target
        part = target / actual if actual > 0 else Decimal(0)
    elif comparator == Comparator.EQ:
        met = actual == target
        part = 1 - abs(actual - target) / abs(target) if target else Decimal(0)
    else:
        raise ValueError(f"unknown comparator {comparator!r}")
    if met:
        return Decimal(1)
    if not proportional:
        return Decimal(0)
    return min(max(part, Decimal(0)), Decimal(1))


def grade_for(score: Decimal, rules: FundingRules) -> str:
    if score >= rules.grade_excellent:
        return Grade.EXCELLENT
    if score >= rules.grade_good:
        return Grade.GOOD
    if score >= rules.grade_fair:
        return Grade.FAIR
    return Grade.POOR


@dataclasses.dataclass(frozen=True)
class Score:
    execution: Decimal
    output: Decimal
    effect: Decimal
    satisfaction: Decimal
    total: Decimal
    grade: str


def score_budget(budget: Budget, rules: FundingRules | None = None) -> Score:
    """Level-1 weights from the rules; within a level-1 indicator the weights of its level-3 indicators
    split it; execution earns its weight × the year's execution rate (capped at 100 %)."""
    rules = rules or FundingRules.for_year(budget.year)
    rate = execution_of(budget).rates()[11] or Decimal(0)
    execution = rules.weight_execution * min(rate, Decimal(100)) / 100
    level_weight = {
        Level1.OUTPUT: rules.weight_output,
        Level1.EFFECT: rules.weight_effect,
        Level1.SATISFACTION: rules.weight_satisfaction,
    }
    parts: dict[str, Decimal] = {}
    indicators = list(budget.indicators.all())
    for level, weight in level_weight.items():
        mine = [i for i in indicators if i.level1 == level]
        total_w = sum((i.weight for i in mine), Decimal(0))
        if not total_w:
            parts[level] = Decimal(0)
            continue
        earned = sum(
            (
                i.weight * achievement(i.comparator, i.target, i.actual, rules.proportional_credit)
                for i in mine
                if i.actual is not None
            ),
            Decimal(0),
        )
        parts[level] = weight * earned / total_w
    q = {k: v.quantize(CENT, ROUND_HALF_UP) for k, v in parts.items()}
    execution = execution.quantize(CENT, ROUND_HALF_UP)
    total = execution + q[Level1.OUTPUT] + q[Level1.EFFECT] + q[Level1.SATISFACTION]
    return Score(
        execution, q[Level1.OUTPUT], q[Level1.EFFECT], q[Level1.SATISFACTION], total, grade_for(total, rules)
    )


def score_evaluation(ev: SelfEvaluation) -> SelfEvaluation:
    s = score_budget(ev.budget)
    ev.score_execution, ev.score_output, ev.score_effect, ev.score_satisfaction = (
        s.execution,
        s.output,
        s.effect,
        s.satisfaction,
    )
    ev.total, ev.grade = s.total, s.grade
    ev.save(
        update_fields=[
            "score_execution",
            "score_output",
            "score_effect",
            "score_satisfaction",
            "total",
            "grade",
            "last_updated",
        ]
    )
    return ev


@transaction.atomic
def open_evaluation(user: Any, budget: Budget) -> SelfEvaluation:
    _editable(Budget, user, budget, _("You may not evaluate this budget."))
    if budget.approved_version_id is None:
        raise ValidationError(_("Only an approved budget is evaluated."))
    with acting_as(user):
        ev, _created = SelfEvaluation.objects.get_or_create(budget=budget)
    return ev


@transaction.atomic
def record_actuals(
    user: Any, ev: SelfEvaluation, actuals: dict[int, Decimal | None], summary: str
) -> SelfEvaluation:
    _editable(SelfEvaluation, user, ev, _("You may not change this self-evaluation."))
    if ev.status != "draft":
        raise ValidationError(_("A submitted self-evaluation cannot be changed."))
    with acting_as(user):
        for ind in ev.budget.indicators.filter(pk__in=list(actuals)):
            ind.actual = actuals[ind.pk]
            ind.save(update_fields=["actual", "last_updated"])
        ev.summary = summary
        ev.save(update_fields=["summary", "last_updated"])
    return ev


def move_evaluation(user: Any, ev: SelfEvaluation, transition: str, reason: str = "") -> SelfEvaluation:
    apply_transition(ev, transition, user, reason=reason)
    ev.refresh_from_db()
    return ev


#: what a self-evaluation's evidence may be: PDF, spreadsheets (XLSX) and images, checked by content
EVIDENCE_KINDS = ("pdf", "xlsx", *IMAGES)
EVIDENCE_MAX_BYTES = 20 * MB


@transaction.atomic
def attach_evidence(user: Any, ev: SelfEvaluation, upload: Any, description: str = "") -> EvidenceFile:
    """Attach a file (PDF, XLSX or image, by its content; at most 20 MB) to a self-evaluation in draft."""
    _editable(SelfEvaluation, user, ev, _("You may not change this self-evaluation."))
    if ev.status != "draft":
        raise ValidationError(_("A submitted self-evaluation cannot be changed."))
    try:
        # the one check of an evidence file, whether it came from the page's form or the API
        UploadValidator(EVIDENCE_KINDS, max_bytes=EVIDENCE_MAX_BYTES)(upload)
    except ValidationError as exc:
        raise ValidationError({"file": exc.messages}) from exc
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    name = safe_filename(upload.name or "evidence")[:200]
    with acting_as(user):
        return EvidenceFile.objects.create(
            evaluation=ev,
            file=upload,
            name=name,
            description=(description or "").strip()[:300],
            size=upload.size,
            sha256=digest.hexdigest(),
            uploaded_by=user,
        )


def expert_candidates() -> Any:
    """Users who may be assigned to review self-evaluations: active holders of the expert role."""
    from qslab.accounts.models import User

    return (
        User.objects.filter(is_active=True, role_memberships__role=Role.EXPERT, role_memberships__active=True)
        .distinct()
        .order_by("username")
    )


@transaction.atomic
def assign_evaluation_experts(user: Any, ev: SelfEvaluation, experts: list[Any]) -> SelfEvaluation:
    """The office names the experts who review a self-evaluation (they may then read its evidence)."""
    from qslab.core.notifications import notify

    if not has_role(user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office assigns experts."))
    allowed = set(expert_candidates().values_list("pk", flat=True))
    strangers = [str(e) for e in experts if e.pk not in allowed]
    if strangers:
        raise ValidationError({"experts": _("Not experts: %(names)s.") % {"names": ", ".join(strangers)}})
    before = set(ev.experts.values_list("pk", flat=True))
    ev.experts.set(experts)
    names = ", ".join(sorted(e.get_username() for e in experts)) or "-"
    with acting_as(user, f"experts: {names}"):
        ev.save(update_fields=["last_updated"])  # a change record names the experts
    notify(
        [e for e in experts if e.pk not in before],
        verb="evaluation_review_assigned",
        text_en=f"You are asked to review the self-evaluation {ev.budget} and its evidence.",
        text_zh=f"请审阅{ev.budget}的绩效自评及佐证材料。",
        link=reverse("funding:reviews"),
    )
    return ev


@transaction.atomic
def adjust_score(user: Any, ev: SelfEvaluation, score: Decimal, reason: str) -> SelfEvaluation:
    """The office's review may change the score, with a reason; the grade follows the new score."""
    if not has_role(user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office adjusts a self-evaluation score."))
    if ev.status not in ("submitted", "reviewed"):
        # reviewed too: an appeal upheld after the review changes the score (an issued allocation is
        # then corrected by an amendment, amend_allocation)
        raise ValidationError(_("Only a submitted or reviewed self-evaluation is adjusted."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("An adjustment needs a reason.")})
    if not Decimal(0) <= score <= Decimal(100):
        raise ValidationError({"score": _("The score is between 0 and 100.")})
    ev.adjusted_total = score.quantize(CENT, ROUND_HALF_UP)
    ev.adjustment_reason = reason
    ev.grade = grade_for(ev.adjusted_total, FundingRules.for_year(ev.budget.year))
    with acting_as(user, reason):
        ev.save(update_fields=["adjusted_total", "adjustment_reason", "grade", "last_updated"])
    return ev


# ----------------------------------------------------------------------------------------- subsidies


def check_expected_curve(curve: Any) -> list[Any]:
    """Twelve rising cumulative percentages between 0 and 100, or empty (an even pace)."""
    curve = curve or []
    if not isinstance(curve, list) or (
        curve
        and (
            len(curve) != 12
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 100 for v in curve)
            or any(b < a for a, b in itertools.pairwise(curve))
        )
    ):
        raise ValidationError(
            {"expected_curve": _("Give twelve rising percentages between 0 and 100, or leave it empty.")}
        )
    return curve


RULE_FIELDS = (
    "weight_execution",
    "weight_output",
    "weight_effect",
    "weight_satisfaction",
    "proportional_credit",
    "grade_excellent",
    "grade_good",
    "grade_fair",
    "monitoring_month",
    "monitoring_day",
    "monitoring_data_month",
    "expected_curve",
    "lag_tolerance",
)


@transaction.atomic
def save_rules(user: Any, year: int, data: dict[str, Any]) -> FundingRules:
    """The office sets the rules of a year (fields not given keep their value or default); every
    problem is reported at once and nothing is saved unless all are valid."""
    if not has_role(user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office edits the rules."))
    rules = FundingRules.objects.select_for_update().filter(year=year).first() or FundingRules(year=year)
    unknown = sorted(set(data) - set(RULE_FIELDS))
    if unknown:
        raise ValidationError({k: _("unknown field") for k in unknown})
    for field, value in data.items():
        setattr(rules, field, value)
    errors: dict[str, list[str]] = {}
    try:
        rules.expected_curve = check_expected_curve(rules.expected_curve)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    for name in ("monitoring_month", "monitoring_data_month"):
        if not 1 <= int(getattr(rules, name)) <= 12:
            errors[name] = [_("The month must be 1 to 12.")]
    if not rules.grade_excellent >= rules.grade_good >= rules.grade_fair:
        errors["grade_fair"] = [_("The grade thresholds must fall: excellent ≥ good ≥ fair.")]
    try:
        rules.full_clean(exclude=["year"])
    except ValidationError as exc:
        for k, v in exc.message_dict.items():
            errors.setdefault(k, []).extend(v)
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        if rules.pk is not None:
            rules.save()
            return rules
        try:
            with transaction.atomic():
                rules.save()
        except IntegrityError:
            # the first save of the year made at the same instant by another request won: this one
            # becomes an edit of the rules it made (locked and read again), not a 500
            return save_rules(user, year, data)
    return rules


@transaction.atomic
def record_lab_grade(
    user: Any,
    laboratory: Laboratory,
    year: int,
    grade: str,
    open_rectification: bool = False,
    source: str = "office",
) -> LabGrade:
    """The seam for the supervision app: record a laboratory's evaluation grade for eligibility."""
    if user is not None and not has_role(user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office records grades."))
    if grade not in Grade.values:
        raise ValidationError({"grade": _("Unknown grade “%(g)s”.") % {"g": grade}})
    with acting_as(user):
        row, _created = LabGrade.objects.update_or_create(
            laboratory=laboratory,
            year=year,
            defaults={"grade": grade, "open_rectification": open_rectification, "source": source},
        )
    return row


def largest_remainder(total: Decimal, weights: list[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """Split ``total`` (yuan) in proportion to ``weights`` into fen that add up to it exactly.

    Each share is floored to the fen; the fen left over go one each to the largest remainders, ties to
    the key that sorts first. Exact rational arithmetic, so the result is reproducible.

    >>> largest_remainder(Decimal("100.00"), [("a", Decimal(1)), ("b", Decimal(1)), ("c", Decimal(1))])
    {'a': Decimal('33.34'), 'b': Decimal('33.33'), 'c': Decimal('33.33')}
    """
    cents = int((Decimal(total) * 100).to_integral_value())
    if Decimal(cents) != Decimal(total) * 100:
        raise ValueError("the total must be in whole fen")
    positive = [(k, Fraction(w)) for k, w in weights if w > 0]
    whole = sum((w for _k, w in positive), Fraction(0))
    result = {k: 0 for k, _w in weights}
    if not positive:
        return {k: Decimal(0).quantize(CENT) for k in result}
    floors, remainders = {}, []
    for k, w in positive:
        quota = cents * w / whole
        floors[k] = quota.numerator // quota.denominator
        remainders.append((-(quota - floors[k]), k))
    left = cents - sum(floors.values())
    for _r, k in sorted(remainders)[:left]:
        floors[k] += 1
    result.update(floors)
    return {k: (Decimal(v) / 100).quantize(CENT) for k, v in result.items()}


@transaction.atomic
def create_allocation_run(user: Any, data: dict[str, Any]) -> AllocationRun:
    if not has_role(user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office allocates subsidies."))
    weights = {}
    for g in Grade.values:
        try:
            weights[g] = str(Decimal(str(data.get("grade_weights", {}).get(g, "0"))))
        except InvalidOperation:
            raise ValidationError(
                {"grade_weights": _("The weight of %(g)s is not a number.") % {"g": g}}
            ) from None
        if Decimal(weights[g]) < 0:
            raise ValidationError({"grade_weights": _("Weights may not be negative.")})
    fields = (
        "year",
        "title_zh",
        "title_en",
        "total",
        "formula",
        "require_named",
        "min_lab_grade",
        "exclude_open_rectification",
        "min_self_grade",
    )
    with acting_as(user):
        run = AllocationRun(
            created_by=user, grade_weights=weights, **{f: data[f] for f in fields if f in data}
        )
        try:
            run.total = parse_money(str(run.total))
        except ValueError as exc:
            raise ValidationError({"total": str(exc)}) from None
        run.full_clean(exclude=["created_by"])
        _refuse_second_issue(run)
        run.save()
    return run


def _refuse_second_issue(run: AllocationRun) -> None:
    """One issued allocation per evaluation year: the subsidy of a year is paid once."""
    issued = (
        AllocationRun.objects.filter(year=run.year, status=AllocationRun.Status.ISSUED)
        .exclude(pk=run.pk)
        .exclude(pk=run.amends_id or 0)
        .select_related("document")
        .first()
    )
    if issued is not None:
        number = issued.document.number if issued.document_id else str(issued.pk)
        raise ValidationError(
            _(
                "The %(year)s allocation is already issued (%(number)s): a second allocation of the "
                "same year would pay the subsidy twice."
            )
            % {"year": run.year, "number": number}
        )


def allocation_weight(run: AllocationRun, grade: str, score: Decimal | None) -> Decimal:
    """The weight a laboratory's share is proportional to, by the run's declared formula.

    *tiers*: the weight of its self-evaluation grade; *score*: the weight of its grade × its final
    score (the office's adjusted score where there is one), so a 95 earns more than an 81 of the same
    grade and the grade weights still separate the tiers (a weight of 0 still excludes a grade).
    """
    weight = Decimal(str(run.grade_weights.get(grade, "0")))
    if run.formula == AllocationRun.Formula.SCORE:
        return weight * (score if score is not None else Decimal(0))
    return weight


def _eligibility(run: AllocationRun) -> list[dict[str, Any]]:
    """Every laboratory with a reviewed self-evaluation for the run's year, with why it is (not) eligible."""
    rank = {g: i for i, g in enumerate(GRADE_ORDER)}
    grades = {}
    for g in LabGrade.objects.filter(year__lte=run.year).order_by("laboratory_id", "year"):
        grades[g.laboratory_id] = g  # the latest grade up to the run's year
    # Funding the office held back on an in-year monitoring flag (and has not released) bars the subsidy.
    held = set(
        MonitoringFlag.objects.filter(budget__year=run.year, hold_funding=True).values_list(
            "budget__laboratory_id", flat=True
        )
    )
    rows = []
    evaluations = (
        SelfEvaluation.objects.filter(budget__year=run.year, status="reviewed")
        .select_related("budget__laboratory")
        .order_by("budget__laboratory__code")
    )
    for ev in evaluations:
        lab = ev.budget.laboratory
        lab_grade = grades.get(lab.pk)
        reasons = []
        if run.require_named and lab.status != "named":
            reasons.append(_("not named (%(s)s)") % {"s": lab.status})
        if lab_grade is None:
            reasons.append(_("no evaluation grade"))
        elif rank[lab_grade.grade] < rank[run.min_lab_grade]:
            reasons.append(_("evaluation grade %(g)s") % {"g": lab_grade.grade})
        if run.exclude_open_rectification and (
            lab.status == "under_rectification" or (lab_grade is not None and lab_grade.open_rectification)
        ):
            reasons.append(_("open rectification"))
        if lab.pk in held:
            reasons.append(_("funding held back on a monitoring flag"))
        if rank[ev.grade] < rank[run.min_self_grade]:
            reasons.append(_("self-evaluation grade %(g)s") % {"g": ev.grade})
        weight = allocation_weight(run, ev.grade, ev.final_score)
        rows.append(
            {
                "laboratory": lab,
                "code": lab.code,
                "eligible": not reasons,
                "reason": "; ".join(str(r) for r in reasons),
                "lab_grade": lab_grade.grade if lab_grade else "",
                "self_grade": ev.grade,
                "self_score": ev.final_score,
                "weight": weight if not reasons else Decimal(0),
            }
        )
    return rows


@transaction.atomic
def compute_allocation(user: Any, run: AllocationRun) -> AllocationRun:
    """(Re)compute the list of a draft run. The same inputs always give the same list; the hash of the
    inputs is stored so the issued document can be checked against them."""
    if not AllocationRun.objects.editable_by(user).filter(pk=run.pk).exists():
        raise PermissionDenied(_("Only the committee office allocates subsidies."))
    run = AllocationRun.objects.select_for_update().get(pk=run.pk)
    if run.status != AllocationRun.Status.DRAFT:
        raise ValidationError(_("An issued allocation cannot be recomputed."))
    rows = _eligibility(run)
    amounts = largest_remainder(run.total, [(r["code"], r["weight"]) for r in rows])
    inputs = {
        "year": run.year,
        "total": str(run.total),
        "grade_weights": run.grade_weights,
        # the formula enters the checksum only when it is not the original one, so the checksums of
        # runs issued before formulas were offered stay valid
        **({"formula": run.formula} if run.formula != AllocationRun.Formula.TIERS else {}),
        "rules": [run.require_named, run.min_lab_grade, run.exclude_open_rectification, run.min_self_grade],
        "labs": [
            [r["code"], r["lab_grade"], r["self_grade"], str(r["self_score"]), r["eligible"]] for r in rows
        ],
    }
    run.allocations.all().delete()
    Allocation.objects.bulk_create(
        [
            Allocation(
                run=run,
                laboratory=r["laboratory"],
                eligible=r["eligible"],
                reason=r["reason"][:300],
                lab_grade=r["lab_grade"],
                self_grade=r["self_grade"],
                self_score=r["self_score"],
                weight=r["weight"].quantize(Decimal("0.0001"), ROUND_HALF_UP),
                amount=amounts[r["code"]],
            )
            for r in rows
        ]
    )
    run.inputs_sha256 = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    with acting_as(user, "compute allocation"):
        run.save(update_fields=["inputs_sha256", "last_updated"])
    return run


@transaction.atomic
def issue_allocation(user: Any, run: AllocationRun) -> AllocationRun:
    """Freeze the list and issue the numbered allocation document (PDF in both languages).

    An amendment is issued the same way: its own number, a body naming the document it amends and
    why; the run it amends is marked *superseded* (kept, with its document) in the same transaction,
    and next year's budgets follow the amended amounts.
    """
    from qslab.core.documents import issue_document

    if not AllocationRun.objects.editable_by(user).filter(pk=run.pk).exists():
        raise PermissionDenied(_("Only the committee office allocates subsidies."))
    # Lock every run of the year (in one order): two runs of one year issued at the same moment are
    # issued one after the other, and the second finds the first (the database constraint backs this).
    list(AllocationRun.objects.select_for_update().filter(year=run.year).order_by("pk").values_list("pk"))
    current = AllocationRun.objects.select_related("amends__document").get(pk=run.pk)
    original = current.amends
    if current.status == AllocationRun.Status.DRAFT:
        if original is not None and original.status != AllocationRun.Status.ISSUED:
            raise ValidationError(
                _("The allocation this amendment amends (%(number)s) is no longer in force.")
                % {"number": original.document.number if original.document_id else original.pk}
            )
        _refuse_second_issue(current)
    run = compute_allocation(user, run)
    allocations = list(run.allocations.select_related("laboratory"))
    if not any(a.amount for a in allocations):
        raise ValidationError(_("No laboratory is eligible: nothing to allocate."))
    body_zh = f"{run.year}年度质量标准实验室补助资金分配，总额{run.total}元。输入校验值：{run.inputs_sha256}"
    body_en = (
        f"Allocation of the {run.year} subsidy, total {run.total} yuan. Input checksum: {run.inputs_sha256}"
    )
    if original is not None:
        number = original.document.number if original.document_id else str(original.pk)
        body_zh += f"\n本文件更正并取代{number}（原文件保留）。更正理由：{run.amendment_reason}"
        body_en += (
            f"\nThis document amends and supersedes {number} (which is kept). Reason: {run.amendment_reason}"
        )
        # the original first: the database allows one issued allocation per year
        original.status = AllocationRun.Status.SUPERSEDED
        with acting_as(user, run.amendment_reason):
            original.save(update_fields=["status", "last_updated"])
    run.document = issue_document(
        kind_code="subsidy_allocation",
        title_zh=run.title_zh,
        title_en=run.title_en,
        body_zh=body_zh,
        body_en=body_en,
        issued_by=user,
        public=False,
        subject=run,
        template="funding/pdf/allocation.html",
        extra_context={"allocations": [a for a in allocations if a.eligible], "run": run},
    )
    run.status = AllocationRun.Status.ISSUED
    with acting_as(user, "issue amendment" if original is not None else "issue allocation"):
        run.save(update_fields=["document", "status", "last_updated"])
    # The issued amounts go into next year's budgets (those not opened yet get them when opened); an
    # amendment also reaches the laboratories the original paid and the amendment no longer does.
    labs = {a.laboratory.pk: a.laboratory for a in allocations if a.eligible and a.amount > 0}
    if original is not None:
        labs.update(
            {a.laboratory.pk: a.laboratory for a in original.allocations.select_related("laboratory")}
        )
    for lab in sorted(labs.values(), key=lambda lab: lab.code):
        feed_subsidy(user, lab, run.year + 1)
    return run


@transaction.atomic
def amend_allocation(
    user: Any, original: AllocationRun, reason: str, total: Decimal | None = None
) -> AllocationRun:
    """Open an amendment of an issued allocation (e.g. after an upheld appeal or error): a draft run
    with the original's rules and total (or a new declared total), computed on today's inputs, to be
    previewed and issued (``issue_allocation``) as a new numbered document that supersedes the original.
    """
    if not AllocationRun.objects.editable_by(user).filter(pk=original.pk).exists():
        raise PermissionDenied(_("Only the committee office allocates subsidies."))
    original = AllocationRun.objects.select_for_update().get(pk=original.pk)
    if original.status != AllocationRun.Status.ISSUED:
        raise ValidationError(_("Only the allocation in force (issued) can be amended."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("An amendment needs a reason.")})
    if total is not None:
        try:
            total = parse_money(str(total))
        except ValueError as exc:
            raise ValidationError({"total": str(exc)}) from None
        if total <= 0:
            raise ValidationError({"total": _("The total must be more than zero.")})
    with acting_as(user, reason):
        run = AllocationRun.objects.create(
            year=original.year,
            title_zh=f"{original.title_zh}（更正）"[:200],
            title_en=f"{original.title_en} (amendment)"[:200],
            total=original.total if total is None else total,
            formula=original.formula,
            grade_weights=original.grade_weights,
            require_named=original.require_named,
            min_lab_grade=original.min_lab_grade,
            exclude_open_rectification=original.exclude_open_rectification,
            min_self_grade=original.min_self_grade,
            amends=original,
            amendment_reason=reason,
            created_by=user,
        )
    return compute_allocation(user, run)


def _spread(total: Decimal, central: dict[str, Decimal]) -> dict[tuple[str, str], Decimal]:
    """The central-subsidy cells carrying ``total``: in proportion to the central cells the budget has
    (exactly, by largest remainder), or all on the line item "other" when it has none."""
    weights = [(line, amount) for line, amount in sorted(central.items()) if amount > 0]
    if not weights:
        return {(Line.OTHER, Source.CENTRAL): total}
    return {(line, Source.CENTRAL): amount for line, amount in largest_remainder(total, weights).items()}


@transaction.atomic
def feed_subsidy(user: Any, laboratory: Laboratory, year: int) -> list[SubsidyEntry]:
    """Write the subsidy issued to ``laboratory`` (allocations of evaluation year ``year - 1``) into
    its ``year`` budget as the central-subsidy source, once per allocation (idempotent).

    A draft budget gets a new version; an approved one is put into adjustment with the reason and gets
    the new version there (the approved version stays in force until the next approval); a submitted
    one is returned to draft with the reason first. Every version is kept and every step audited. When
    the budget already carries the amount, the allocation is only marked as entered.
    """
    Laboratory.objects.select_for_update().filter(pk=laboratory.pk).first()
    budget = Budget.objects.select_for_update().filter(laboratory=laboratory, year=year).first()
    if budget is None:
        return []  # written when the budget is opened (create_budget)
    unentered = Allocation.objects.filter(
        laboratory=laboratory,
        run__year=year - 1,
        run__status=AllocationRun.Status.ISSUED,
        budget_entry__isnull=True,
    )
    if not SubsidyEntry.objects.filter(budget=budget).exists():
        # nothing entered before: only a subsidy actually paid changes the budget; once a subsidy is
        # entered, an amendment that pays this laboratory less (or nothing) must reach the budget too
        unentered = unentered.filter(eligible=True, amount__gt=0)
    pending = list(unentered.select_related("run__document").order_by("run_id"))
    if not pending:
        return []
    target = allocated_subsidy(laboratory, year) or Decimal("0.00")
    current = budget.current_version
    amounts = current.amounts() if current else {}
    central = {line: a for (line, source), a in amounts.items() if source == Source.CENTRAL}
    version, adjustment = None, False
    if sum(central.values(), Decimal(0)) != target:
        numbers = "、".join(a.run.document.number for a in pending if a.run.document_id)
        reason = (
            f"中央补助资金{target}元（{numbers}）列入{year}年预算 / "
            f"central subsidy of {target} yuan issued ({numbers}) entered in the {year} budget"
        )
        if budget.status == "approved":
            apply_transition(budget, "adjust", user, reason=reason)
            adjustment = True
        elif budget.status == "submitted":
            apply_transition(budget, "return", user, reason=reason)
        budget.refresh_from_db()
        new_amounts = {k: v for k, v in amounts.items() if k[1] != Source.CENTRAL}
        new_amounts.update(_spread(target, central))
        version = _write_version(user, budget, new_amounts, reason)
        from qslab.core.notifications import notify
        from qslab.funding.models import _managers

        notify(
            _managers(budget),
            verb="subsidy_entered",
            text_en=(
                f"The central subsidy of {target} yuan is entered in {budget} (version {version.number}); "
                "check its line items and submit the budget."
            ),
            text_zh=f"中央补助资金{target}元已列入{budget}（第{version.number}版），请核对支出明细后提交预算。",
            obj=budget,
        )
    return [
        SubsidyEntry.objects.create(
            allocation=a, budget=budget, version=version, amount=a.amount, as_adjustment=adjustment
        )
        for a in pending
    ]


def allocated_subsidy(laboratory: Laboratory, year: int) -> Decimal | None:
    """The subsidy issued to ``laboratory`` by the allocations of evaluation year ``year - 1``: the
    amount meant for the central-subsidy source of its ``year`` budget (None if nothing was issued)."""
    from django.db.models import Sum

    from qslab.funding.models import Allocation

    total = Allocation.objects.filter(
        laboratory=laboratory, run__year=year - 1, run__status=AllocationRun.Status.ISSUED
    ).aggregate(total=Sum("amount"))["total"]
    return None if total is None else Decimal(total).quantize(CENT)


# ------------------------------------------------------------------------------------------ dashboard


def queue_items(user: Any) -> list[Any]:
    """Budget and self-evaluation due for a lab's managers; approvals and reviews for the office."""
    from qslab.core.dashboard import QueueItem

    if user is None or not user.is_authenticated:
        return []
    items: list[QueueItem] = []
    year = timezone.localdate().year
    if has_role(user, Role.OFFICE):
        rules = FundingRules.for_year(year)
        if (
            timezone.localdate().month == rules.monitoring_month
            and not MonitoringRun.objects.filter(year=year, month=rules.monitoring_data_month).exists()
        ):
            items.append(
                QueueItem(
                    _("Run the in-year monitoring of %(y)s (data to month %(m)s)")
                    % {"y": year, "m": rules.monitoring_data_month},
                    reverse("funding:monitoring"),
                    dt.date(year, rules.monitoring_month, 28),
                    "funding",
                )
            )
        for b in Budget.objects.filter(status="submitted").select_related("laboratory")[:100]:
            items.append(
                QueueItem(_("Approve budget: %(b)s") % {"b": b}, b.get_absolute_url(), kind="funding")
            )
        for ev in SelfEvaluation.objects.filter(status="submitted").select_related("budget__laboratory")[
            :100
        ]:
            items.append(
                QueueItem(
                    _("Review self-evaluation: %(b)s") % {"b": ev.budget},
                    ev.get_absolute_url(),
                    kind="funding",
                )
            )
    elif has_role(user, Role.LAB_MANAGER):
        labs = Laboratory.objects.editable_by(user).filter(
            status__in=("named", "under_rectification", "under_construction")
        )[:50]
        for lab in labs:
            budget = Budget.objects.filter(laboratory=lab, year=year).first()
            if budget is None or budget.status == "draft":
                url = budget.get_absolute_url() if budget else reverse("funding:budget_create")
                items.append(
                    QueueItem(
                        _("Budget %(y)s due: %(lab)s") % {"y": year, "lab": lab},
                        url,
                        dt.date(year, 1, 31),
                        "funding",
                    )
                )
            last = Budget.objects.filter(
                laboratory=lab, year=year - 1, approved_version__isnull=False
            ).first()
            if (
                last is not None
                and not SelfEvaluation.objects.filter(budget=last).exclude(status="draft").exists()
            ):
                items.append(
                    QueueItem(
                        _("Self-evaluation %(y)s due: %(lab)s") % {"y": year - 1, "lab": lab},
                        reverse("funding:evaluation", args=[last.pk]),
                        dt.date(year, 3, 31),
                        "funding",
                    )
                )
            for flag in MonitoringFlag.objects.filter(budget__laboratory=lab, answered_at__isnull=True)[:20]:
                items.append(
                    QueueItem(
                        _("Answer monitoring flag: %(f)s") % {"f": flag},
                        flag.budget.get_absolute_url(),
                        kind="funding",
                    )
                )
    return items
