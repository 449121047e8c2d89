"""Budget performance management (预算绩效管理) of the laboratories: yearly budgets with immutable
versions, three-level performance targets, expenditures and their execution, in-year monitoring
flags, the year-end self-evaluation, and grade-linked subsidy allocation.

Money is ``Decimal`` everywhere (yuan, two places). Rules that the research notes mark unverified
(self-evaluation weights, grade thresholds, the monitoring month, the expected execution curve) are
rows of :class:`FundingRules`, one per year, edited by the office; nothing here hard-codes them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from qslab.accounts.roles import Role, has_role, scoped_ids
from qslab.core.models import ChangeLoggedModel, OfficialDocument, bilingual
from qslab.core.workflow import State, Transition, Workflow
from qslab.labs.models import Laboratory

MONEY = {"max_digits": 14, "decimal_places": 2}


class Line(models.TextChoices):
    EQUIPMENT = "equipment", _("equipment")
    MATERIALS = "materials", _("materials")
    TESTING = "testing", _("testing")
    PERSONNEL = "personnel", _("personnel")
    TRAVEL = "travel", _("travel")
    COOPERATION = "cooperation", _("cooperation")
    OTHER = "other", _("other")


class Source(models.TextChoices):
    SUPPORTING = "supporting", _("supporting institution")
    PARTNERS = "partners", _("partners")
    CENTRAL = "central", _("central subsidy")
    LOCAL = "local", _("local government")
    SERVICE = "service", _("service income")


class Level1(models.TextChoices):
    OUTPUT = "output", _("output")
    EFFECT = "effect", _("effect")
    SATISFACTION = "satisfaction", _("satisfaction")


class Level2(models.TextChoices):
    QUANTITY = "quantity", _("quantity")
    QUALITY = "quality", _("quality")
    TIMELINESS = "timeliness", _("timeliness")
    COST = "cost", _("cost")
    ECONOMIC = "economic", _("economic")
    SOCIAL = "social", _("social")
    ECOLOGICAL = "ecological", _("ecological")
    SUSTAINABILITY = "sustainability", _("sustainability")
    SERVED = "served", _("satisfaction of those served")


#: the standard level-2 indicators under each level-1 indicator (财预〔2020〕10号 practice)
TREE: dict[str, tuple[str, ...]] = {
    Level1.OUTPUT: (Level2.QUANTITY, Level2.QUALITY, Level2.TIMELINESS, Level2.COST),
    Level1.EFFECT: (Level2.ECONOMIC, Level2.SOCIAL, Level2.ECOLOGICAL, Level2.SUSTAINABILITY),
    Level1.SATISFACTION: (Level2.SERVED,),
}
LEVEL1_OF = {l2: l1 for l1, l2s in TREE.items() for l2 in l2s}


class Comparator(models.TextChoices):
    GE = ">=", "≥"
    LE = "<=", "≤"
    EQ = "=", "="


class Basis(models.TextChoices):
    PLANNED = "planned", _("planned standard")
    INDUSTRY = "industry", _("industry standard")
    HISTORICAL = "historical", _("historical standard")
    BUDGET = "budget", _("budget-expenditure standard")
    OTHER = "other", _("other")


def _office_or_committee(user: Any) -> bool:
    return has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE)


def _lab_q(user: Any, prefix: str) -> models.Q:
    """Rows of laboratories the user may see money of: office and committee all, an authority its
    jurisdiction, a lab manager only their own laboratory, a supporting institution the laboratories it
    supports; nobody else."""
    if _office_or_committee(user):
        return models.Q()
    q = models.Q(pk__in=[])
    if has_role(user, Role.AUTHORITY):
        lab_ids = Laboratory.objects.filter(Laboratory.jurisdiction_q(user)).values("pk")
        q |= models.Q(**{f"{prefix}__in": lab_ids})
    if has_role(user, Role.LAB_MANAGER):
        ids = scoped_ids(user, Role.LAB_MANAGER, Laboratory)
        q |= models.Q() if ids is None else models.Q(**{f"{prefix}__in": ids})
    if has_role(user, Role.INSTITUTION):
        # a supporting institution's staff: the laboratories it supports (membership scoped to the
        # organisation; an unscoped membership covers nothing), read only (not in _own_lab_q)
        from qslab.accounts.models import Organisation

        orgs = scoped_ids(user, Role.INSTITUTION, Organisation) or []
        q |= models.Q(**{f"{prefix}__supporting_institution_id__in": orgs})
    return q


def _own_lab_q(user: Any, prefix: str) -> models.Q:
    if has_role(user, Role.OFFICE):
        return models.Q()
    if has_role(user, Role.LAB_MANAGER):
        ids = scoped_ids(user, Role.LAB_MANAGER, Laboratory)
        return models.Q() if ids is None else models.Q(**{f"{prefix}__in": ids})
    return models.Q(pk__in=[])


class FundingRules(ChangeLoggedModel):
    """The configurable rules of one budget year (defaults follow 财预〔2020〕10号 as remembered;
    ⚠ unverified, so they are data)."""

    year = models.PositiveIntegerField(_("year"), unique=True)
    weight_execution = models.DecimalField(
        _("weight: budget execution"), max_digits=5, decimal_places=2, default=10
    )
    weight_output = models.DecimalField(_("weight: output"), max_digits=5, decimal_places=2, default=50)
    weight_effect = models.DecimalField(_("weight: effect"), max_digits=5, decimal_places=2, default=30)
    weight_satisfaction = models.DecimalField(
        _("weight: satisfaction"), max_digits=5, decimal_places=2, default=10
    )
    proportional_credit = models.BooleanField(_("proportional credit for partly met targets"), default=True)
    grade_excellent = models.DecimalField(_("excellent from"), max_digits=5, decimal_places=2, default=90)
    grade_good = models.DecimalField(_("good from"), max_digits=5, decimal_places=2, default=80)
    grade_fair = models.DecimalField(_("fair from"), max_digits=5, decimal_places=2, default=60)
    monitoring_month = models.PositiveSmallIntegerField(
        _("monitoring month"), default=8, help_text=_("the in-year monitoring runs in this month")
    )
    monitoring_data_month = models.PositiveSmallIntegerField(
        _("monitoring data up to month"), default=7, help_text=_("expenditures up to the end of this month")
    )
    monitoring_day = models.PositiveSmallIntegerField(
        _("monitoring day"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(28)],
        help_text=_("the daily job runs the monitoring once from this day of the monitoring month on"),
    )
    expected_curve = models.JSONField(
        _("expected cumulative execution (%) by month"),
        default=list,
        blank=True,
        help_text=_("twelve cumulative percentages, January to December; empty means an even pace"),
    )
    lag_tolerance = models.DecimalField(
        _("tolerated lag (percentage points)"), max_digits=5, decimal_places=2, default=10
    )

    class Meta:
        ordering = ("-year",)
        verbose_name = _("funding rules")
        verbose_name_plural = _("funding rules")

    def __str__(self) -> str:
        return str(self.year)

    def monitoring_date(self) -> dt.date:
        """The day from which the scheduled job runs the year's in-year monitoring."""
        return dt.date(self.year, self.monitoring_month, self.monitoring_day)

    def expected(self, month: int) -> Decimal:
        """Expected cumulative execution (%) at the end of ``month``."""
        curve = self.expected_curve or []
        if len(curve) == 12:
            return Decimal(str(curve[month - 1]))
        return (Decimal(100) * month / 12).quantize(Decimal("0.01"))

    @classmethod
    def for_year(cls, year: int) -> FundingRules:
        rules = cls.objects.filter(year=year).first()
        if rules is None:
            rules = cls(year=year)
            for field in cls._meta.concrete_fields:
                if isinstance(field, models.DecimalField):
                    setattr(rules, field.attname, Decimal(str(getattr(rules, field.attname))))
        return rules

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q() if getattr(user, "is_authenticated", False) else models.Q(pk__in=[])

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return models.Q() if has_role(user, Role.OFFICE) else models.Q(pk__in=[])


def _lab_of(obj: Any) -> Laboratory:
    return obj.laboratory if hasattr(obj, "laboratory_id") else obj.budget.laboratory


def office_or_manager(user: Any, obj: Any) -> bool:
    """The office, or a manager of the laboratory the budget (or its self-evaluation) belongs to."""
    return has_role(user, Role.OFFICE) or has_role(user, Role.LAB_MANAGER, scope=_lab_of(obj))


def _has_lines(budget: Budget) -> str | None:
    version = budget.current_version
    if version is None or not version.lines.exists():
        return str(_("Enter the budget lines before submitting."))
    if not budget.indicators.exists():
        return str(_("Enter at least one performance target before submitting."))
    return None


def _approve_version(budget: Budget, user: Any, reason: str) -> None:
    budget.approved_version = budget.current_version
    budget.save(update_fields=["approved_version"])


def _managers(budget: Budget) -> list[Any]:
    from qslab.accounts.models import RoleMembership

    lab = budget.laboratory
    return [
        m.user
        for m in RoleMembership.objects.filter(role=Role.LAB_MANAGER, active=True).select_related("user")
        if m.covers(lab)
    ]


def _office(_obj: Any) -> list[Any]:
    from qslab.accounts.models import User

    return list(User.objects.filter(role_memberships__role=Role.OFFICE, role_memberships__active=True))


class Budget(ChangeLoggedModel):
    """One laboratory's budget of one year. Its lines live in immutable :class:`BudgetVersion`s."""

    workflow = Workflow(
        state_field="status",
        states=(
            State("draft", "draft", "编制中"),
            State("submitted", "submitted", "已提交"),
            State("approved", "approved", "已批复"),
        ),
        transitions=(
            Transition(
                "submit",
                ("draft",),
                "submitted",
                (Role.LAB_MANAGER, Role.OFFICE),
                "submit for approval",
                "提交审批",
                allowed=office_or_manager,
                guard=_has_lines,
                notify=_office,
            ),
            Transition(
                "return",
                ("submitted",),
                "draft",
                (Role.OFFICE,),
                "return for changes",
                "退回修改",
                requires_reason=True,
                notify=_managers,
            ),
            Transition(
                "approve",
                ("submitted",),
                "approved",
                (Role.OFFICE,),
                "approve",
                "批复",
                on_enter=_approve_version,
                notify=_managers,
            ),
            Transition(
                "adjust",
                ("approved",),
                "draft",
                (Role.LAB_MANAGER, Role.OFFICE),
                "start an adjustment",
                "申请调整",
                allowed=office_or_manager,
                requires_reason=True,
            ),
        ),
    )

    laboratory = models.ForeignKey(
        Laboratory, verbose_name=_("laboratory"), on_delete=models.PROTECT, related_name="budgets"
    )
    year = models.PositiveIntegerField(_("year"))
    status = models.CharField(_("status"), max_length=16, default="draft", choices=workflow.choices())
    approved_version = models.ForeignKey(
        "BudgetVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )

    class Meta:
        ordering = ("-year", "laboratory__code")
        constraints = [
            models.UniqueConstraint(fields=("laboratory", "year"), name="funding_one_budget_a_year")
        ]
        verbose_name = _("budget")
        verbose_name_plural = _("budgets")

    def __str__(self) -> str:
        return f"{self.laboratory} {self.year}"

    def get_absolute_url(self) -> str:
        return reverse("funding:budget", args=[self.pk])

    @property
    def status_label(self) -> str:
        return self.workflow.state(self.status).label

    @property
    def current_version(self) -> BudgetVersion | None:
        return self.versions.order_by("-number").first()

    @property
    def in_force(self) -> BudgetVersion | None:
        """The approved version (what expenditures are measured against), else the latest draft."""
        return self.approved_version or self.current_version

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _lab_q(user, "laboratory")

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _own_lab_q(user, "laboratory")


class BudgetVersion(models.Model):
    """A frozen set of budget lines. Never changed after it is written; an adjustment adds a version."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    reason = models.TextField(_("reason"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("budget", "number")
        constraints = [models.UniqueConstraint(fields=("budget", "number"), name="funding_version_number")]

    def __str__(self) -> str:
        return f"{self.budget} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("budget versions are immutable")
        super().save(*args, **kwargs)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines.all()), Decimal("0.00"))

    def amounts(self) -> dict[tuple[str, str], Decimal]:
        return {(ln.line, ln.source): ln.amount for ln in self.lines.all()}

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _lab_q(user, "budget__laboratory")


class BudgetLine(models.Model):
    version = models.ForeignKey(BudgetVersion, on_delete=models.CASCADE, related_name="lines")
    line = models.CharField(_("line item"), max_length=16, choices=Line.choices)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    amount = models.DecimalField(_("amount (yuan)"), **MONEY)

    class Meta:
        ordering = ("version", "line", "source")
        constraints = [
            models.UniqueConstraint(fields=("version", "line", "source"), name="funding_line_once")
        ]

    def __str__(self) -> str:
        return f"{self.line}/{self.source}: {self.amount}"


class Indicator(ChangeLoggedModel):
    """A level-3 performance indicator under a standard level-1 / level-2 indicator."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="indicators")
    level1 = models.CharField(_("level 1"), max_length=16, choices=Level1.choices)
    level2 = models.CharField(_("level 2"), max_length=16, choices=Level2.choices)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    comparator = models.CharField(_("comparator"), max_length=2, choices=Comparator.choices)
    target = models.DecimalField(_("target value"), max_digits=14, decimal_places=4)
    unit = models.CharField(_("unit"), max_length=40, blank=True)
    basis = models.CharField(_("basis"), max_length=16, choices=Basis.choices, default=Basis.PLANNED)
    weight = models.DecimalField(
        _("weight within its level-1 indicator"), max_digits=6, decimal_places=2, default=1
    )
    actual = models.DecimalField(_("achieved value"), max_digits=14, decimal_places=4, null=True, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("budget", "level1", "level2", "position", "pk")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _lab_q(user, "budget__laboratory")

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _own_lab_q(user, "budget__laboratory")


class Expenditure(ChangeLoggedModel):
    budget = models.ForeignKey(Budget, on_delete=models.PROTECT, related_name="expenditures")
    date = models.DateField(_("date"))
    line = models.CharField(_("line item"), max_length=16, choices=Line.choices)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    amount = models.DecimalField(_("amount (yuan)"), **MONEY)
    description = models.CharField(_("description"), max_length=300, blank=True)
    reference = models.CharField(_("voucher"), max_length=60, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("budget", "date", "pk")

    def __str__(self) -> str:
        return f"{self.date} {self.line}/{self.source} {self.amount}"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _lab_q(user, "budget__laboratory")

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _own_lab_q(user, "budget__laboratory")


class MonitoringFlag(ChangeLoggedModel):
    """A deviation found by the in-year monitoring (绩效运行监控): the lab owes a cause and a correction."""

    class Kind(models.TextChoices):
        EXECUTION = "execution", _("execution lags the expected pace")
        TARGET = "target", _("target not on track")

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="flags")
    month = models.PositiveSmallIntegerField(_("data up to month"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    subject = models.CharField(_("subject"), max_length=200)
    expected = models.DecimalField(_("expected"), max_digits=14, decimal_places=2)
    actual = models.DecimalField(_("actual"), max_digits=14, decimal_places=2)
    cause = models.TextField(_("cause"), blank=True)
    corrective_action = models.TextField(_("corrective action"), blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    hold_funding = models.BooleanField(_("funding held back"), default=False)
    hold_reason = models.TextField(_("reason for holding back"), blank=True)

    class Meta:
        ordering = ("budget", "month", "kind", "subject")

    def __str__(self) -> str:
        return f"{self.budget}: {self.subject}"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _lab_q(user, "budget__laboratory")

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _own_lab_q(user, "budget__laboratory")


class MonitoringRun(models.Model):
    """One run of the in-year monitoring: by the office (any number) or by the daily job (once a year).

    The unique constraint on the scheduled run of a year makes the daily job idempotent even when two
    workers start it at once.
    """

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", _("by the daily job")
        OFFICE = "office", _("by the office")

    year = models.PositiveIntegerField(_("year"))
    month = models.PositiveSmallIntegerField(_("data up to month"))
    trigger = models.CharField(_("started by"), max_length=16, choices=Trigger.choices)
    ran_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ran_at = models.DateTimeField(_("run at"), auto_now_add=True)
    budgets = models.PositiveIntegerField(_("budgets checked"), default=0)
    new_flags = models.PositiveIntegerField(_("new flags"), default=0)
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ("-ran_at", "-pk")
        constraints = [
            models.UniqueConstraint(
                fields=("year",), condition=models.Q(trigger="scheduled"), name="funding_one_scheduled_run"
            )
        ]

    def __str__(self) -> str:
        return f"{self.year}-{self.month:02d} ({self.trigger})"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q() if _office_or_committee(user) else models.Q(pk__in=[])


def _evaluation_ready(ev: SelfEvaluation) -> str | None:
    missing = [i.name for i in ev.budget.indicators.all() if i.actual is None]
    if missing:
        return str(_("Enter the achieved value of: %(names)s.") % {"names": ", ".join(missing)})
    return None


def _score_on_submit(ev: SelfEvaluation, user: Any, reason: str) -> None:
    from qslab.funding.services import score_evaluation

    score_evaluation(ev)


class SelfEvaluation(ChangeLoggedModel):
    """The year-end unit self-evaluation (单位自评): achieved values, a score by rule, the office's review."""

    workflow = Workflow(
        state_field="status",
        states=(
            State("draft", "draft", "自评中"),
            State("submitted", "submitted", "已提交"),
            State("reviewed", "reviewed", "已审核"),
        ),
        transitions=(
            Transition(
                "submit",
                ("draft",),
                "submitted",
                (Role.LAB_MANAGER, Role.OFFICE),
                "submit the self-evaluation",
                "提交自评",
                allowed=office_or_manager,
                guard=_evaluation_ready,
                on_enter=_score_on_submit,
                notify=_office,
            ),
            Transition(
                "return",
                ("submitted",),
                "draft",
                (Role.OFFICE,),
                "return for changes",
                "退回修改",
                requires_reason=True,
                notify=lambda ev: _managers(ev.budget),
            ),
            Transition(
                "accept",
                ("submitted",),
                "reviewed",
                (Role.OFFICE,),
                "accept the review",
                "审核通过",
                notify=lambda ev: _managers(ev.budget),
            ),
        ),
    )

    budget = models.OneToOneField(Budget, on_delete=models.PROTECT, related_name="evaluation")
    status = models.CharField(_("status"), max_length=16, default="draft", choices=workflow.choices())
    summary = models.TextField(_("summary and evidence"), blank=True)
    score_execution = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    score_output = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    score_effect = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    score_satisfaction = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    total = models.DecimalField(
        _("self-evaluation score"), max_digits=6, decimal_places=2, null=True, blank=True
    )
    adjusted_total = models.DecimalField(
        _("score after office review"), max_digits=6, decimal_places=2, null=True, blank=True
    )
    adjustment_reason = models.TextField(_("reason for the adjustment"), blank=True)
    grade = models.CharField(_("grade"), max_length=16, blank=True)
    experts = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("experts assigned to review"),
        blank=True,
        related_name="funding_evaluations",
    )

    class Meta:
        ordering = ("-budget__year",)

    def __str__(self) -> str:
        return f"{self.budget} self-evaluation"

    def get_absolute_url(self) -> str:
        return reverse("funding:evaluation", args=[self.budget_id])

    @property
    def final_score(self) -> Decimal | None:
        return self.adjusted_total if self.adjusted_total is not None else self.total

    @property
    def status_label(self) -> str:
        return self.workflow.state(self.status).label

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _lab_q(user, "budget__laboratory")

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _own_lab_q(user, "budget__laboratory")

    @classmethod
    def evidence_readers_q(cls, user: Any) -> models.Q:
        """Self-evaluations whose evidence ``user`` may read: the laboratory's managers, the office and
        the experts assigned to it (the same people as :meth:`EvidenceFile.visible_q`)."""
        if not getattr(user, "is_authenticated", False):
            return models.Q(pk__in=[])
        own = _own_lab_q(user, "budget__laboratory")
        if not own:
            return own  # everything
        assigned = cls.experts.through.objects.filter(user=user).values("selfevaluation_id")
        return own | models.Q(pk__in=assigned)


def evidence_upload_path(instance: EvidenceFile, filename: str) -> str:
    return f"funding/evidence/{instance.evaluation_id}/{filename}"


class EvidenceFile(ChangeLoggedModel):
    """A file supporting a self-evaluation (PDF, XLSX or an image), checked by content and size on upload.

    Read by the laboratory's managers, the office and the experts assigned to the self-evaluation only.
    """

    evaluation = models.ForeignKey(SelfEvaluation, on_delete=models.CASCADE, related_name="evidence")
    file = models.FileField(_("file"), upload_to=evidence_upload_path)
    name = models.CharField(_("name"), max_length=200)
    description = models.CharField(_("description"), max_length=300, blank=True)
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        ordering = ("evaluation", "uploaded_at", "pk")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("funding:evidence", args=[self.pk])

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if not getattr(user, "is_authenticated", False):
            return models.Q(pk__in=[])
        own = _own_lab_q(user, "evaluation__budget__laboratory")
        if not own:
            return own  # everything (Q() | x would narrow it to x)
        assigned = SelfEvaluation.experts.through.objects.filter(user=user).values("selfevaluation_id")
        return own | models.Q(evaluation__in=assigned)

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _own_lab_q(user, "evaluation__budget__laboratory")


class Grade(models.TextChoices):
    EXCELLENT = "excellent", _("excellent (优)")
    GOOD = "good", _("good (良)")
    FAIR = "fair", _("fair (中)")
    POOR = "poor", _("poor (差)")


class LabGrade(ChangeLoggedModel):
    """The last supervision (evaluation) grade of a laboratory, as the office records it.

    This is the seam with the supervision app: until it writes here (``services.record_lab_grade``),
    the office fills the table by hand.
    """

    laboratory = models.ForeignKey(Laboratory, on_delete=models.CASCADE, related_name="funding_grades")
    year = models.PositiveIntegerField(_("year"))
    grade = models.CharField(_("evaluation grade"), max_length=16, choices=Grade.choices)
    open_rectification = models.BooleanField(_("open rectification"), default=False)
    source = models.CharField(_("source"), max_length=60, blank=True, default="office")

    class Meta:
        ordering = ("-year", "laboratory__code")
        constraints = [models.UniqueConstraint(fields=("laboratory", "year"), name="funding_grade_once")]

    def __str__(self) -> str:
        return f"{self.laboratory} {self.year}: {self.grade}"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _lab_q(user, "laboratory")

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return models.Q() if has_role(user, Role.OFFICE) else models.Q(pk__in=[])


def _default_weights() -> dict[str, str]:
    return {"excellent": "3", "good": "2", "fair": "1", "poor": "0"}


class AllocationRun(ChangeLoggedModel):
    """Distribute a total subsidy over the eligible laboratories by a declared formula (largest remainder).

    An issued run may be *amended*: a new run (``amends`` the issued one, with a reason) is computed,
    previewed and issued as a new numbered document; the original is kept, marked *superseded*.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        ISSUED = "issued", _("issued")
        SUPERSEDED = "superseded", _("superseded by an amendment")

    class Formula(models.TextChoices):
        TIERS = "tiers", _("tiers by grade: amount in proportion to the weight of the grade")
        SCORE = "score", _("score-weighted: amount in proportion to weight of the grade × score")

    year = models.PositiveIntegerField(_("year"))
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200)
    total = models.DecimalField(_("total amount (yuan)"), **MONEY)
    grade_weights = models.JSONField(_("weight per grade"), default=_default_weights)
    require_named = models.BooleanField(_("only named laboratories"), default=True)
    min_lab_grade = models.CharField(
        _("lowest evaluation grade"), max_length=16, choices=Grade.choices, default=Grade.FAIR
    )
    exclude_open_rectification = models.BooleanField(_("exclude open rectification"), default=True)
    min_self_grade = models.CharField(
        _("lowest self-evaluation grade"), max_length=16, choices=Grade.choices, default=Grade.FAIR
    )
    formula = models.CharField(_("formula"), max_length=16, choices=Formula.choices, default=Formula.TIERS)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    amends = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="amendments",
        editable=False,
        verbose_name=_("amends"),
    )
    amendment_reason = models.TextField(_("reason for the amendment"), blank=True, editable=False)
    inputs_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    document = models.OneToOneField(
        OfficialDocument, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-year", "-pk")
        constraints = [
            # One issued allocation per evaluation year: a second one would pay the subsidy twice.
            models.UniqueConstraint(
                fields=("year",),
                condition=models.Q(status="issued"),
                name="funding_one_issued_allocation_per_year",
            )
        ]

    def __str__(self) -> str:
        return bilingual(self.title_zh, self.title_en)

    def get_absolute_url(self) -> str:
        return reverse("funding:allocation", args=[self.pk])

    @property
    def superseded_by(self) -> AllocationRun | None:
        """The issued amendment that replaced this run, if any."""
        return self.amendments.exclude(status=self.Status.DRAFT).order_by("pk").first()

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q() if _office_or_committee(user) else models.Q(pk__in=[])

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return models.Q() if has_role(user, Role.OFFICE) else models.Q(pk__in=[])


class Allocation(models.Model):
    run = models.ForeignKey(AllocationRun, on_delete=models.CASCADE, related_name="allocations")
    laboratory = models.ForeignKey(Laboratory, on_delete=models.PROTECT, related_name="+")
    eligible = models.BooleanField()
    reason = models.CharField(max_length=300, blank=True)
    lab_grade = models.CharField(max_length=16, blank=True)
    self_grade = models.CharField(max_length=16, blank=True)
    self_score = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    weight = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    amount = models.DecimalField(**MONEY, default=Decimal("0.00"))

    class Meta:
        ordering = ("run", "-amount", "laboratory__code")
        constraints = [
            models.UniqueConstraint(fields=("run", "laboratory"), name="funding_allocation_once_per_run")
        ]

    def __str__(self) -> str:
        return f"{self.run}: {self.laboratory_id} {self.amount}"


class SubsidyEntry(models.Model):
    """An issued allocation written into the laboratory's budget of the following year (once).

    The unique allocation makes the feed idempotent; ``version`` is the budget version that carries the
    subsidy on the central-subsidy source (``None`` when the budget already carried that amount).
    """

    allocation = models.OneToOneField(Allocation, on_delete=models.PROTECT, related_name="budget_entry")
    budget = models.ForeignKey(Budget, on_delete=models.PROTECT, related_name="subsidy_entries")
    version = models.ForeignKey(
        BudgetVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    amount = models.DecimalField(_("amount (yuan)"), **MONEY)
    as_adjustment = models.BooleanField(_("written as an adjustment"), default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("budget", "created", "pk")

    def __str__(self) -> str:
        return f"{self.budget}: {self.amount}"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _lab_q(user, "budget__laboratory")
