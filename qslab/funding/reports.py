"""Reports of a budget year by key field and by region: budget, execution, target attainment, scores.

Read-only: the rows are computed from the budgets the user may see (``Budget.objects.visible_to``), so a
laboratory's manager sees their own laboratory, an authority its jurisdiction and the office and
committee everything. Money is Decimal throughout; rates and means are rounded half up to 0.01.

* **Budget** is the total of the version in force (the approved one); budgets not yet approved count
  in ``budgets`` but add no money.
* **Execution** is the year's expenditure over the budget in force, in per cent.
* **Target attainment** is the share of indicators with an achieved value that meet their target.
* **Score** is the self-evaluation's final score (the office's adjustment where there is one), counted
  once the self-evaluation is submitted; the grades are counted likewise.

A laboratory counts once in each top-level key field it works in (so the rows by field may add up to
more than the laboratories), and in the province of its region code (``000000``: national).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Sum
from django.utils.translation import gettext as _

from qslab.core.regions import NATIONAL, province_of, region_name
from qslab.funding.models import Budget, BudgetLine, Expenditure, Grade, Indicator, SelfEvaluation
from qslab.funding.services import achievement

CENT = Decimal("0.01")
GROUPINGS = ("field", "region")
GRADES = (Grade.EXCELLENT, Grade.GOOD, Grade.FAIR, Grade.POOR)


def _money(value: Decimal | None) -> Decimal:
    """Sums come back from SQLite without their scale: always two decimals."""
    return Decimal(value or 0).quantize(CENT)


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(CENT, ROUND_HALF_UP)


@dataclasses.dataclass
class BudgetRow:
    """One laboratory's budget of the year, with its groups."""

    budget: Budget
    fields: list[tuple[str, str]]  # (code, name) of the top-level key fields
    region: tuple[str, str]  # (province code, name)
    budgeted: Decimal
    spent: Decimal
    targets_met: int
    targets_measured: int
    score: Decimal | None
    grade: str

    @property
    def execution(self) -> Decimal | None:
        return _pct(self.spent, self.budgeted)

    @property
    def attainment(self) -> Decimal | None:
        return _pct(Decimal(self.targets_met), Decimal(self.targets_measured))


@dataclasses.dataclass
class GroupRow:
    """The totals of one field or region."""

    code: str
    name: str
    laboratories: int = 0
    budgets: int = 0
    approved: int = 0
    budgeted: Decimal = Decimal("0.00")
    spent: Decimal = Decimal("0.00")
    targets_met: int = 0
    targets_measured: int = 0
    scores: list[Decimal] = dataclasses.field(default_factory=list)
    grades: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(GRADES, 0))

    @property
    def execution(self) -> Decimal | None:
        return _pct(self.spent, self.budgeted)

    @property
    def attainment(self) -> Decimal | None:
        return _pct(Decimal(self.targets_met), Decimal(self.targets_measured))

    @property
    def mean_score(self) -> Decimal | None:
        if not self.scores:
            return None
        return (sum(self.scores, Decimal(0)) / len(self.scores)).quantize(CENT, ROUND_HALF_UP)

    def add(self, row: BudgetRow) -> None:
        self.laboratories += 1
        self.budgets += 1
        self.approved += 1 if row.budget.approved_version_id else 0
        self.budgeted += row.budgeted
        self.spent += row.spent
        self.targets_met += row.targets_met
        self.targets_measured += row.targets_measured
        if row.score is not None:
            self.scores.append(row.score)
        if row.grade in self.grades:
            self.grades[row.grade] += 1


@dataclasses.dataclass
class Report:
    year: int
    by: str
    rows: list[GroupRow]
    budgets: list[BudgetRow]
    total: GroupRow


def budget_rows(user: Any, year: int) -> list[BudgetRow]:
    """Every budget of ``year`` the user may see, with its money, targets and score."""
    budgets = list(
        Budget.objects.visible_to(user)
        .filter(year=year)
        .select_related("laboratory")
        .prefetch_related("laboratory__fields__parent")
        .order_by("laboratory__code")
    )
    ids = [b.pk for b in budgets]
    version_ids = [b.approved_version_id for b in budgets if b.approved_version_id]
    budgeted = dict(
        BudgetLine.objects.filter(version_id__in=version_ids)
        .values_list("version_id")
        .annotate(total=Sum("amount"))
        .values_list("version_id", "total")
    )
    spent = dict(
        Expenditure.objects.filter(budget_id__in=ids)
        .values_list("budget_id")
        .annotate(total=Sum("amount"))
        .values_list("budget_id", "total")
    )
    met: dict[int, int] = defaultdict(int)
    measured: dict[int, int] = defaultdict(int)
    for ind in Indicator.objects.filter(budget_id__in=ids, actual__isnull=False):
        measured[ind.budget_id] += 1
        if achievement(ind.comparator, ind.target, ind.actual, proportional=False) == 1:
            met[ind.budget_id] += 1
    evaluations = {
        ev.budget_id: ev for ev in SelfEvaluation.objects.filter(budget_id__in=ids).exclude(status="draft")
    }
    rows = []
    for b in budgets:
        lab = b.laboratory
        tops = {f.top.code: f.top.name for f in lab.fields.all()}
        province = NATIONAL if lab.region_code == NATIONAL else province_of(lab.region_code)
        ev = evaluations.get(b.pk)
        rows.append(
            BudgetRow(
                budget=b,
                fields=sorted(tops.items()),
                region=(province, region_name(province)),
                budgeted=_money(budgeted.get(b.approved_version_id) if b.approved_version_id else None),
                spent=_money(spent.get(b.pk)),
                targets_met=met[b.pk],
                targets_measured=measured[b.pk],
                score=ev.final_score if ev else None,
                grade=ev.grade if ev else "",
            )
        )
    return rows


def _groups(row: BudgetRow, by: str) -> Iterable[tuple[str, str]]:
    if by == "region":
        return [row.region]
    return row.fields or [("", _("no key field"))]


def report(user: Any, year: int, by: str = "field") -> Report:
    """The year's budgets the user may see, grouped by top-level key field or by province."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    rows = budget_rows(user, year)
    groups: dict[str, GroupRow] = {}
    total = GroupRow("", _("All"))
    for row in rows:
        total.add(row)
        for code, name in _groups(row, by):
            groups.setdefault(code, GroupRow(code, name)).add(row)
    ordered = sorted(groups.values(), key=lambda g: (g.code == "", -g.budgeted, g.code))
    return Report(year, by, ordered, rows, total)


GROUP_COLUMNS = (
    "code",
    "name",
    "laboratories",
    "budgets",
    "approved",
    "budgeted",
    "spent",
    "execution_pct",
    "targets_measured",
    "targets_met",
    "attainment_pct",
    "evaluations",
    "mean_score",
    "excellent",
    "good",
    "fair",
    "poor",
)

BUDGET_COLUMNS = (
    "laboratory",
    "laboratory_name",
    "fields",
    "region",
    "year",
    "status",
    "budgeted",
    "spent",
    "execution_pct",
    "targets_measured",
    "targets_met",
    "attainment_pct",
    "score",
    "grade",
)


def _cell(value: Any) -> Any:
    return "" if value is None else value


def group_table(rep: Report) -> list[list[Any]]:
    """Rows for CSV/XLSX: one per group and a last one for all."""
    out = []
    for g in [*rep.rows, rep.total]:
        out.append(
            [
                g.code,
                g.name,
                g.laboratories,
                g.budgets,
                g.approved,
                g.budgeted,
                g.spent,
                _cell(g.execution),
                g.targets_measured,
                g.targets_met,
                _cell(g.attainment),
                len(g.scores),
                _cell(g.mean_score),
                *[g.grades[k] for k in GRADES],
            ]
        )
    return out


def budget_table(rep: Report) -> list[list[Any]]:
    """Rows for CSV/XLSX: one per budget."""
    return [
        [
            r.budget.laboratory.code,
            r.budget.laboratory.name,
            "; ".join(name for _code, name in r.fields),
            r.region[1],
            r.budget.year,
            r.budget.status,
            r.budgeted,
            r.spent,
            _cell(r.execution),
            r.targets_measured,
            r.targets_met,
            _cell(r.attainment),
            _cell(r.score),
            r.grade,
        ]
        for r in rep.budgets
    ]
