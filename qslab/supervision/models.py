"""Supervision of operating laboratories (Guiding Opinions II.3 and III.3): annual reports, double-random
spot checks (双随机、一公开), phased evaluations with grades, public notification and rectification orders
that end, if the lab fails, in revocation through the labs lifecycle.

Rules the governance notes mark as unverified (grade names and thresholds, spot-check proportions per
risk class, the publication period, the number of inspectors per lab) are data on the plan or campaign,
with defaults here, never constants in the code paths.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from qslab.accounts.roles import Role, has_role, scoped_ids
from qslab.core.models import ChangeLoggedModel, OfficialDocument, bilingual
from qslab.core.permissions import ALL
from qslab.core.workflow import DeadlineRule, State, Transition, Workflow
from qslab.labs.models import Laboratory

OFFICE = (Role.OFFICE,)


def _is_office(user: Any) -> bool:
    return has_role(user, Role.OFFICE)


def _oversees(user: Any) -> bool:
    return has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE)


def _own_lab_ids(user: Any) -> list[str] | None:
    """Ids of the labs the user manages; ``None`` for an unscoped manager; [] for non-managers."""
    if not has_role(user, Role.LAB_MANAGER):
        return []
    return scoped_ids(user, Role.LAB_MANAGER, Laboratory)


def _lab_q(user: Any, prefix: str = "laboratory") -> models.Q:
    """Rows about the user's own laboratories (a lab manager), nothing for anyone else."""
    ids = _own_lab_ids(user)
    if ids is None:
        return ALL
    return models.Q(**{f"{prefix}__in": ids}) if ids else models.Q(pk__in=[])


def _managers(obj: Any) -> list[Any]:
    from qslab.labs.models import _managers_of

    return _managers_of(obj.laboratory)


def _first_manager(obj: Any) -> Any:
    managers = _managers(obj)
    return managers[0] if managers else None


def _office(obj: Any) -> list[Any]:
    from qslab.accounts.models import User

    return list(
        User.objects.filter(role_memberships__role=Role.OFFICE, role_memberships__active=True).distinct()
    )


def _manages_lab(user: Any, obj: Any) -> bool:
    return has_role(user, Role.LAB_MANAGER, scope=obj.laboratory)


# --------------------------------------------------------------------------------------------------
# Annual reports
# --------------------------------------------------------------------------------------------------


class ReportTemplate(ChangeLoggedModel):
    """The annual report form of one year: sections with indicator fields, and the due window.

    ``sections`` is a list of ``{"key", "title_zh", "title_en", "fields": [{"key", "label_zh",
    "label_en", "type": "text"|"number", "source": ""|"key_figures.<field>"}]}``; a field with a
    ``source`` is filled from the registry when the report is opened.
    """

    year = models.PositiveIntegerField(_("year"), unique=True, validators=[MinValueValidator(2000)])
    sections = models.JSONField(_("sections"), default=list)
    opens_on = models.DateField(_("opens on"))
    due_on = models.DateField(_("due on"))
    opened = models.BooleanField(_("sent to the laboratories"), default=False, editable=False)

    class Meta:
        ordering = ("-year",)
        verbose_name = _("annual report template")
        verbose_name_plural = _("annual report templates")

    def __str__(self) -> str:
        return str(_("Annual report %(year)s") % {"year": self.year})

    def get_absolute_url(self) -> str:
        return reverse("supervision:template", args=[self.pk])

    def fields(self) -> list[dict[str, Any]]:
        return [f for s in self.sections for f in s.get("fields", [])]

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL if user is not None and user.is_authenticated else models.Q(pk__in=[])

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return ALL if _is_office(user) else models.Q(pk__in=[])


REPORT_WORKFLOW = Workflow(
    state_field="status",
    states=(
        State("open", "due", "待提交"),
        State("submitted", "submitted", "已提交"),
        State("returned", "returned for changes", "退回修改"),
        State("accepted", "accepted", "已通过", terminal=True),
    ),
    transitions=(
        Transition(
            "submit",
            ("open", "returned"),
            "submitted",
            (Role.LAB_MANAGER,),
            "submit the report",
            "提交报告",
            allowed=_manages_lab,
            notify=_office,
            deadline=DeadlineRule(15, "review the annual report", "审核年度报告", assignee_role=Role.OFFICE),
        ),
        Transition(
            "accept",
            ("submitted",),
            "accepted",
            OFFICE,
            "accept",
            "通过",
            notify=_managers,
        ),
        Transition(
            "return",
            ("submitted",),
            "returned",
            OFFICE,
            "return with reason",
            "退回",
            requires_reason=True,
            notify=_managers,
            deadline=DeadlineRule(
                10, "resubmit the annual report", "重新提交年度报告", assignee=_first_manager
            ),
        ),
    ),
)


class AnnualReport(ChangeLoggedModel):
    """One laboratory's report for one year: the values of the template's fields, reviewed by the office."""

    workflow = REPORT_WORKFLOW

    template = models.ForeignKey(ReportTemplate, on_delete=models.PROTECT, related_name="reports")
    laboratory = models.ForeignKey(Laboratory, on_delete=models.PROTECT, related_name="annual_reports")
    status = models.CharField(_("status"), max_length=16, default="open", choices=REPORT_WORKFLOW.choices())
    values = models.JSONField(_("values"), default=dict, blank=True)
    due_on = models.DateField(_("due on"))
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)

    class Meta:
        ordering = ("-template__year", "laboratory__code")
        verbose_name = _("annual report")
        verbose_name_plural = _("annual reports")
        constraints = [
            models.UniqueConstraint(fields=["template", "laboratory"], name="one_report_per_lab_year")
        ]

    def __str__(self) -> str:
        return f"{self.laboratory} · {self.template.year}"

    def get_absolute_url(self) -> str:
        return reverse("supervision:report", args=[self.pk])

    @property
    def status_label(self) -> str:
        return REPORT_WORKFLOW.state(self.status).label

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _oversees(user):
            return ALL
        return _lab_q(user)

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _lab_q(user) & models.Q(status__in=("open", "returned"))


# --------------------------------------------------------------------------------------------------
# Double-random spot checks (双随机、一公开)
# --------------------------------------------------------------------------------------------------


class SpotCheckItem(ChangeLoggedModel):
    """An item of the random-inspection list (抽查事项清单): legal basis, content and method. Public."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    legal_basis = models.CharField(_("legal basis"), max_length=300)
    inspecting_body = models.CharField(_("inspecting body"), max_length=200, blank=True)
    content = models.TextField(_("content"))
    method = models.CharField(_("method"), max_length=200)
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        ordering = ("code",)
        verbose_name = _("spot-check item")
        verbose_name_plural = _("spot-check items")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return ALL if _is_office(user) else models.Q(pk__in=[])


class Inspector(ChangeLoggedModel):
    """An entry of the inspector and expert directory (执法检查人员名录库 / 专家名录库)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="inspector_entry"
    )
    organisation = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    region_code = models.CharField(_("region"), max_length=6, blank=True)
    certificate = models.CharField(_("certificate number"), max_length=60, blank=True)
    active = models.BooleanField(_("in the directory"), default=True)

    class Meta:
        ordering = ("user__username",)
        verbose_name = _("inspector")
        verbose_name_plural = _("inspectors")

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.username

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL if _oversees(user) else models.Q(pk__in=[])

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return ALL if _is_office(user) else models.Q(pk__in=[])


DEFAULT_PROPORTIONS = {"high": 0.5, "normal": 0.2, "low": 0.05}
#: months in which a substantiated complaint makes a laboratory high risk (a plan may set its own)
DEFAULT_COMPLAINT_MONTHS = 12

#: the conflict rules a plan may use, with the label the office reads (English and Chinese via i18n)
CONFLICT_RULE_LABELS = {
    "same_organisation": _("inspector from the laboratory's supporting institution"),
    "same_province": _("inspector from the laboratory's province"),
    "same_region": _("inspector from the laboratory's region (same region code)"),
}
RISK_CLASS_LABELS = {"high": _("high"), "normal": _("normal"), "low": _("low")}


PLAN_WORKFLOW = Workflow(
    state_field="status",
    states=(
        State("draft", "draft", "草稿"),
        State("drawn", "drawn", "已抽取"),
        State("published", "results published", "结果已公开", terminal=True),
    ),
    transitions=(
        Transition("draw", ("draft",), "drawn", OFFICE, "draw", "抽取"),
        Transition(
            "publish",
            ("drawn",),
            "published",
            OFFICE,
            "publish the results",
            "公开结果",
            guard=lambda p: p.unentered_problem(),
        ),
    ),
)


class SpotCheckPlan(ChangeLoggedModel):
    """A year's spot-check plan: the items, the proportion to draw per risk class, and the draw rules."""

    year = models.PositiveIntegerField(_("year"), validators=[MinValueValidator(2000)])
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    items = models.ManyToManyField(SpotCheckItem, verbose_name=_("items"), related_name="plans")
    proportions = models.JSONField(
        _("proportion per risk class"),
        default=dict,
        help_text=_('share of the labs of each risk class to draw, e.g. {"high": 0.5, "normal": 0.2}'),
    )
    inspectors_per_lab = models.PositiveSmallIntegerField(
        _("inspectors per laboratory"), default=2, validators=[MinValueValidator(2)]
    )
    publication_days = models.PositiveSmallIntegerField(
        _("publish results within (working days)"), default=20, validators=[MinValueValidator(1)]
    )
    seed_source = models.CharField(
        _("published seed value"),
        max_length=200,
        blank=True,
        help_text=_(
            "a value published before the draw (e.g. a lottery result), from which the seed is derived"
        ),
    )
    conflict_rules = models.JSONField(
        _("conflict rules"),
        default=list,
        help_text=_('inspectors excluded for a lab: "same_organisation", "same_province", "same_region"'),
    )
    complaint_months = models.PositiveSmallIntegerField(
        _("substantiated complaints count for (months)"),
        default=12,
        help_text=_(
            "a laboratory with a substantiated complaint received in this many months before the draw is "
            "high risk; 0: complaints are not counted"
        ),
    )
    status = models.CharField(_("status"), max_length=12, default="draft", choices=PLAN_WORKFLOW.choices())
    workflow = PLAN_WORKFLOW
    result_document = models.ForeignKey(
        OfficialDocument, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )

    class Meta:
        ordering = ("-year", "-id")
        verbose_name = _("spot-check plan")
        verbose_name_plural = _("spot-check plans")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    def get_absolute_url(self) -> str:
        return reverse("supervision:plan", args=[self.pk])

    def unentered_problem(self) -> str | None:
        missing = [str(c.laboratory) for c in self.checks.filter(draw__superseded=False, outcome="")]
        if missing:
            return str(_("Results not yet entered for: %(labs)s.") % {"labs": ", ".join(missing)})
        return None

    @property
    def conflict_rule_labels(self) -> list[str]:
        return [str(CONFLICT_RULE_LABELS.get(r, r)) for r in self.conflict_rules]

    @property
    def proportion_labels(self) -> list[str]:
        return [f"{RISK_CLASS_LABELS.get(k, k)} {float(v):g}" for k, v in sorted(self.proportions.items())]

    @property
    def current_draw(self) -> SpotCheckDraw | None:
        return self.draws.filter(superseded=False).order_by("-number").first()

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _oversees(user):
            return ALL
        if has_role(user, Role.EXPERT):
            return ~models.Q(status="draft")
        return models.Q(status="published")

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return models.Q(status="draft") if _is_office(user) else models.Q(pk__in=[])


class SpotCheckDraw(models.Model):
    """One recorded draw: the seed and its published source, the full inputs, the algorithm and the result.

    Anyone can re-run :func:`qslab.supervision.services.run_draw` on ``inputs`` and ``seed`` and compare
    with ``result``; a redraw supersedes this row (never deletes it) and needs a reason.
    """

    plan = models.ForeignKey(SpotCheckPlan, on_delete=models.CASCADE, related_name="draws")
    number = models.PositiveIntegerField(_("draw number"))
    seed_source = models.CharField(_("published seed value"), max_length=200)
    seed = models.CharField(_("seed"), max_length=64)
    algorithm = models.CharField(_("algorithm"), max_length=200)
    inputs = models.JSONField(_("inputs"))
    result = models.JSONField(_("result"))
    reason = models.TextField(_("reason for a redraw"), blank=True)
    superseded = models.BooleanField(_("superseded"), default=False)
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("plan", "-number")
        constraints = [models.UniqueConstraint(fields=["plan", "number"], name="one_draw_number_per_plan")]

    def __str__(self) -> str:
        return f"{self.plan} #{self.number}"


class SpotCheck(ChangeLoggedModel):
    """One drawn laboratory with its inspectors and, later, the result and findings."""

    class Outcome(models.TextChoices):
        PENDING = "", _("not yet entered")
        NO_ISSUES = "no_issues", _("no problems found")
        MINOR = "minor", _("minor problems found")
        MAJOR = "major", _("major problems found")

    plan = models.ForeignKey(SpotCheckPlan, on_delete=models.CASCADE, related_name="checks")
    draw = models.ForeignKey(SpotCheckDraw, on_delete=models.CASCADE, related_name="checks")
    laboratory = models.ForeignKey(Laboratory, on_delete=models.PROTECT, related_name="spot_checks")
    inspectors = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="spot_checks")
    risk_class = models.CharField(_("risk class"), max_length=20)
    outcome = models.CharField(_("outcome"), max_length=12, choices=Outcome.choices, blank=True, default="")
    findings = models.TextField(_("findings"), blank=True)
    inspected_on = models.DateField(_("inspection ended on"), null=True, blank=True)
    publish_by = models.DateField(_("publish by"), null=True, blank=True)

    class Meta:
        ordering = ("plan", "laboratory__code")
        verbose_name = _("spot check")
        verbose_name_plural = _("spot checks")

    def __str__(self) -> str:
        return f"{self.plan}: {self.laboratory}"

    def get_absolute_url(self) -> str:
        return reverse("supervision:plan", args=[self.plan_id])

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _oversees(user):
            return ALL
        q = models.Q(plan__status="published")
        if user is not None and user.is_authenticated:
            q |= models.Q(inspectors=user) | _lab_q(user)
        return q

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if _is_office(user):
            return models.Q(plan__status="drawn")
        if user is not None and user.is_authenticated:
            return models.Q(plan__status="drawn", inspectors=user)
        return models.Q(pk__in=[])


# --------------------------------------------------------------------------------------------------
# Phased evaluations
# --------------------------------------------------------------------------------------------------

DEFAULT_GRADES = [
    {"code": "excellent", "label_zh": "优秀", "label_en": "excellent", "min": 90},
    {"code": "good", "label_zh": "良好", "label_en": "good", "min": 75},
    {"code": "pass", "label_zh": "合格", "label_en": "pass", "min": 60},
    {"code": "fail", "label_zh": "不合格", "label_en": "fail", "min": 0},
]


CAMPAIGN_WORKFLOW = Workflow(
    state_field="status",
    states=(
        State("preparing", "preparing", "准备中"),
        State("scoring", "expert scoring", "专家评分"),
        State("confirmed", "confirmed by the committee", "委员会确认"),
        State("published", "published", "已公布", terminal=True),
    ),
    transitions=(
        Transition("open_scoring", ("preparing",), "scoring", OFFICE, "open scoring", "开始评分"),
        Transition(
            "confirm",
            ("scoring",),
            "confirmed",
            (Role.OFFICE, Role.COMMITTEE),
            "confirm the grades",
            "确认等级",
            guard=lambda c: c.unscored_problem(),
        ),
        Transition("publish", ("confirmed",), "published", OFFICE, "publish the results", "公布结果"),
    ),
)


class EvaluationCampaign(ChangeLoggedModel):
    """A phased evaluation (e.g. the five-year cycle): labs, indicator tree (its own version), grades."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    year = models.PositiveIntegerField(_("year"))
    period_from = models.PositiveIntegerField(
        _("period starts in"),
        null=True,
        blank=True,
        help_text=_("first year the computed figures cover (default: the campaign year)"),
    )
    version = models.PositiveIntegerField(_("indicator version"), default=1)
    self_report_due = models.DateField(_("self-evaluation reports due"), null=True, blank=True)
    visits_from = models.DateField(_("on-site visits from"), null=True, blank=True)
    visits_to = models.DateField(_("on-site visits until"), null=True, blank=True)
    scoring_due = models.DateField(_("scoring due"), null=True, blank=True)
    confirmation_due = models.DateField(_("committee confirmation due"), null=True, blank=True)
    grades = models.JSONField(
        _("grades"), default=list, help_text=_("list of {code, label_zh, label_en, min}, highest first")
    )
    status = models.CharField(
        _("status"), max_length=12, default="preparing", choices=CAMPAIGN_WORKFLOW.choices()
    )
    workflow = CAMPAIGN_WORKFLOW

    class Meta:
        ordering = ("-year", "code")
        verbose_name = _("evaluation campaign")
        verbose_name_plural = _("evaluation campaigns")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    def get_absolute_url(self) -> str:
        return reverse("supervision:campaign", args=[self.pk])

    @property
    def period(self) -> tuple[int, int]:
        """The calendar years (first, last) the computed figures cover."""
        return (min(self.period_from or self.year, self.year), self.year)

    @property
    def period_years(self) -> list[int]:
        first, last = self.period
        return list(range(first, last + 1))

    def unscored_problem(self) -> str | None:
        missing = [str(e.laboratory) for e in self.entries.all() if e.total is None]
        if missing:
            return str(_("Not yet graded: %(labs)s.") % {"labs": ", ".join(missing)})
        return None

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _oversees(user) or has_role(user, Role.EXPERT):
            return ALL
        return models.Q(status="published") | _lab_q(user, "entries__laboratory")

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return models.Q(status="preparing") if _is_office(user) else models.Q(pk__in=[])


class Indicator(models.Model):
    """A node of a campaign's indicator tree. Leaves are scored: qualitative by experts (0–100) or
    quantitative from a figure computed from ``source`` (see ``qslab.supervision.figures``) and scaled
    against ``target`` by ``rule``: *at least* scores value / target × 100 (capped at 100); *at most*
    scores 100 up to the target and loses (value − target) / (target + 1) × 100 beyond it."""

    class Kind(models.TextChoices):
        GROUP = "group", _("group")
        QUALITATIVE = "qualitative", _("qualitative (expert-scored)")
        QUANTITATIVE = "quantitative", _("quantitative (computed)")

    class Rule(models.TextChoices):
        AT_LEAST = "at_least", _("at least the target (more is better)")
        AT_MOST = "at_most", _("at most the target (less is better)")

    campaign = models.ForeignKey(EvaluationCampaign, on_delete=models.CASCADE, related_name="indicators")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    code = models.SlugField(_("code"), max_length=40)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    kind = models.CharField(_("kind"), max_length=14, choices=Kind.choices)
    weight = models.DecimalField(
        _("weight"), max_digits=6, decimal_places=2, default=1, validators=[MinValueValidator(0)]
    )
    target = models.DecimalField(
        _("target value"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("quantitative only"),
    )
    source = models.CharField(
        _("computed from"),
        max_length=60,
        blank=True,
        help_text=_(
            "quantitative only: the source key of the computed figure, e.g. outputs.standards_published"
        ),
    )
    rule = models.CharField(_("scoring rule"), max_length=10, choices=Rule.choices, default=Rule.AT_LEAST)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("campaign", "order", "code")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "code"], name="one_indicator_code_per_campaign")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)


class EvaluationEntry(ChangeLoggedModel):
    """One laboratory in a campaign: its experts, quantitative figures, total score, grade and report."""

    campaign = models.ForeignKey(EvaluationCampaign, on_delete=models.CASCADE, related_name="entries")
    laboratory = models.ForeignKey(Laboratory, on_delete=models.PROTECT, related_name="evaluations")
    experts = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="evaluation_entries", blank=True)
    lead_expert = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("lead expert"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    self_report = models.TextField(_("self-evaluation report"), blank=True)
    self_report_submitted_at = models.DateTimeField(_("self-evaluation submitted at"), null=True, blank=True)
    self_report_late = models.BooleanField(_("self-evaluation submitted late"), default=False)
    figures = models.JSONField(_("quantitative figures"), default=dict, blank=True)
    figure_sources = models.JSONField(
        _("where the figures come from"),
        default=dict,
        blank=True,
        help_text=_("per indicator: the source key, the period and when the figure was computed"),
    )
    total = models.DecimalField(_("total score"), max_digits=6, decimal_places=2, null=True, blank=True)
    grade = models.CharField(_("grade"), max_length=20, blank=True)
    rank = models.PositiveIntegerField(_("rank"), null=True, blank=True)
    report = models.ForeignKey(
        OfficialDocument, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )

    class Meta:
        ordering = ("campaign", "rank", "laboratory__code")
        verbose_name = _("evaluated laboratory")
        verbose_name_plural = _("evaluated laboratories")
        constraints = [models.UniqueConstraint(fields=["campaign", "laboratory"], name="one_entry_per_lab")]

    def __str__(self) -> str:
        return f"{self.campaign}: {self.laboratory}"

    def get_absolute_url(self) -> str:
        return reverse("supervision:entry", args=[self.pk])

    @property
    def grade_label(self) -> str:
        for g in self.campaign.grades:
            if g["code"] == self.grade:
                return bilingual(g["label_zh"], g["label_en"])
        return ""

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _oversees(user):
            return ALL
        q = models.Q(campaign__status="published")
        if user is not None and user.is_authenticated:
            q |= models.Q(experts=user) | _lab_q(user)
        return q

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return (
            models.Q(campaign__status__in=("preparing", "scoring"))
            if _is_office(user)
            else models.Q(pk__in=[])
        )


class ScoreSheet(models.Model):
    """One expert's scores (0–100) for the qualitative leaves of an entry."""

    entry = models.ForeignKey(EvaluationEntry, on_delete=models.CASCADE, related_name="sheets")
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    scores = models.JSONField(_("scores"), default=dict)
    comment = models.TextField(_("comment"), blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entry", "expert"], name="one_sheet_per_expert")]

    def __str__(self) -> str:
        return f"{self.entry} / {self.expert}"


# --------------------------------------------------------------------------------------------------
# Public notification, rectification, revocation
# --------------------------------------------------------------------------------------------------


def _extension_unused(order: RectificationOrder) -> str | None:
    if order.extended:
        return str(_("The deadline has already been extended once."))
    return None


def _lapsed(order: RectificationOrder) -> str | None:
    from django.utils import timezone

    if order.due_on >= timezone.localdate():
        return str(_("The deadline has not passed yet."))
    return None


RECTIFICATION_WORKFLOW = Workflow(
    state_field="status",
    states=(
        State("issued", "issued", "已下达"),
        State("responded", "plan and evidence submitted", "已提交整改材料"),
        State("verified", "verified", "整改通过", terminal=True),
        State("failed", "failed", "整改不合格"),
        State("revocation_proposed", "revocation proposed", "拟撤销"),
        State("revocation_decided", "revocation decided", "决定撤销"),
        State("revoked", "revoked", "已撤销", terminal=True),
        State("kept", "revocation rejected", "不予撤销", terminal=True),
    ),
    transitions=(
        Transition(
            "respond",
            ("issued",),
            "responded",
            (Role.LAB_MANAGER,),
            "submit plan and evidence",
            "提交整改材料",
            allowed=_manages_lab,
            notify=_office,
            guard=lambda o: None if o.response.strip() else str(_("Write the plan and evidence first.")),
            deadline=DeadlineRule(10, "verify the rectification", "核查整改", assignee_role=Role.OFFICE),
        ),
        Transition(
            "verify", ("responded",), "verified", OFFICE, "verify and close", "核查通过", notify=_managers
        ),
        Transition(
            "reject",
            ("responded",),
            "failed",
            OFFICE,
            "reject the rectification",
            "核查不通过",
            requires_reason=True,
            notify=_managers,
        ),
        Transition(
            "lapse",
            ("issued",),
            "failed",
            OFFICE,
            "record that the deadline lapsed",
            "逾期未整改",
            guard=_lapsed,
            notify=_managers,
        ),
        Transition(
            "propose_revocation",
            ("failed",),
            "revocation_proposed",
            OFFICE,
            "propose revocation",
            "提出撤销建议",
            requires_reason=True,
        ),
        Transition(
            "decide_revoke",
            ("revocation_proposed",),
            "revocation_decided",
            (Role.COMMITTEE,),
            "committee: revoke",
            "委员会决定撤销",
            requires_reason=True,
        ),
        Transition(
            "decide_keep",
            ("revocation_proposed",),
            "kept",
            (Role.COMMITTEE,),
            "committee: do not revoke",
            "委员会决定不撤销",
            requires_reason=True,
        ),
        Transition(
            "revoke",
            ("revocation_decided",),
            "revoked",
            OFFICE,
            "issue the revocation",
            "发布撤销决定",
            requires_reason=True,
        ),
    ),
)


class RectificationOrder(ChangeLoggedModel):
    """A rectification order (限期整改) to a laboratory: deadline, the lab's response, verification,
    one extension, and on failure a revocation proposal decided by the committee."""

    workflow = RECTIFICATION_WORKFLOW

    laboratory = models.ForeignKey(Laboratory, on_delete=models.PROTECT, related_name="rectification_orders")
    grounds = models.TextField(_("grounds"))
    due_on = models.DateField(_("due on"))
    extended = models.BooleanField(_("extended once"), default=False)
    response = models.TextField(_("plan and evidence"), blank=True)
    status = models.CharField(
        _("status"), max_length=20, default="issued", choices=RECTIFICATION_WORKFLOW.choices()
    )
    document = models.ForeignKey(
        OfficialDocument, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    spot_check = models.ForeignKey(
        SpotCheck, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    evaluation = models.ForeignKey(
        EvaluationEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    inspection = models.ForeignKey(
        "supervision.Inspection", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created",)
        verbose_name = _("rectification order")
        verbose_name_plural = _("rectification orders")

    def __str__(self) -> str:
        return str(_("Rectification of %(lab)s") % {"lab": self.laboratory})

    def get_absolute_url(self) -> str:
        return reverse("supervision:order", args=[self.pk])

    @property
    def status_label(self) -> str:
        return RECTIFICATION_WORKFLOW.state(self.status).label

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _oversees(user):
            return ALL
        return _lab_q(user)

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _lab_q(user) & models.Q(status="issued")


class PublicNotification(models.Model):
    """A public notification (通报) naming laboratories that failed an evaluation or a check."""

    title_zh = models.CharField(_("title (Chinese)"), max_length=300)
    title_en = models.CharField(_("title (English)"), max_length=300)
    laboratories = models.ManyToManyField(Laboratory, related_name="+")
    document = models.ForeignKey(OfficialDocument, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created",)

    def __str__(self) -> str:
        return bilingual(self.title_zh, self.title_en)


# --------------------------------------------------------------------------------------------------
# Major-change reports (重大事项报告): director, supporting institution, direction
# --------------------------------------------------------------------------------------------------


MAJOR_CHANGE_WORKFLOW = Workflow(
    state_field="status",
    states=(
        State("submitted", "submitted", "已报告"),
        State("returned", "returned for changes", "退回修改"),
        State("approved", "approved", "已批准", terminal=True),
        State("rejected", "rejected", "不予批准", terminal=True),
    ),
    transitions=(
        Transition(
            "resubmit",
            ("returned",),
            "submitted",
            (Role.LAB_MANAGER,),
            "resubmit",
            "重新报告",
            allowed=_manages_lab,
            notify=_office,
            deadline=DeadlineRule(
                15, "decide on the major change", "审批重大事项", assignee_role=Role.OFFICE
            ),
        ),
        Transition(
            "approve",
            ("submitted",),
            "approved",
            OFFICE,
            "approve the change",
            "批准变更",
            notify=_managers,
        ),
        Transition(
            "return",
            ("submitted",),
            "returned",
            OFFICE,
            "return with reason",
            "退回",
            requires_reason=True,
            notify=_managers,
            deadline=DeadlineRule(
                10, "revise the major-change report", "修改重大事项报告", assignee=_first_manager
            ),
        ),
        Transition(
            "reject",
            ("submitted",),
            "rejected",
            OFFICE,
            "reject the change",
            "不予批准",
            requires_reason=True,
            notify=_managers,
        ),
    ),
)


class MajorChange(ChangeLoggedModel):
    """A laboratory's report of a major change (its director, supporting institution or direction) that
    the office approves before the registry changes; approval writes the change through the labs app."""

    class Kind(models.TextChoices):
        DIRECTOR = "director", _("director")
        INSTITUTION = "supporting_institution", _("supporting institution")
        DIRECTION = "direction", _("research direction")

    workflow = MAJOR_CHANGE_WORKFLOW

    laboratory = models.ForeignKey(Laboratory, on_delete=models.PROTECT, related_name="major_changes")
    kind = models.CharField(_("what changes"), max_length=24, choices=Kind.choices)
    current_value = models.CharField(_("current value"), max_length=300, blank=True, editable=False)
    new_value = models.CharField(
        _("new value"),
        max_length=200,
        blank=True,
        help_text=_("the new director's name, or the new direction"),
    )
    new_title = models.CharField(_("new director's title"), max_length=100, blank=True)
    new_institution = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("new supporting institution"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.TextField(_("reason for the change"))
    status = models.CharField(
        _("status"), max_length=12, default="submitted", choices=MAJOR_CHANGE_WORKFLOW.choices()
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created",)
        verbose_name = _("major-change report")
        verbose_name_plural = _("major-change reports")

    def __str__(self) -> str:
        return str(
            _("%(lab)s: change of %(kind)s") % {"lab": self.laboratory, "kind": self.get_kind_display()}
        )

    def get_absolute_url(self) -> str:
        return reverse("supervision:change", args=[self.pk])

    @property
    def status_label(self) -> str:
        return MAJOR_CHANGE_WORKFLOW.state(self.status).label

    @property
    def proposed(self) -> str:
        if self.kind == self.Kind.INSTITUTION:
            return str(self.new_institution) if self.new_institution_id else ""
        if self.kind == self.Kind.DIRECTOR and self.new_title:
            return f"{self.new_value} ({self.new_title})"
        return self.new_value

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _oversees(user):
            return ALL
        return _lab_q(user)

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _lab_q(user) & models.Q(status="returned")


# --------------------------------------------------------------------------------------------------
# Inspections (scheduled or for cause): findings, evidence, corrective-action requests
# --------------------------------------------------------------------------------------------------


def _office_or_inspector(user: Any, obj: Any) -> bool:
    if _is_office(user):
        return True
    inspection = getattr(obj, "inspection", obj)
    return bool(
        user is not None and user.is_authenticated and inspection.inspectors.filter(pk=user.pk).exists()
    )


def _actions_open(inspection: Inspection) -> str | None:
    open_ = CorrectiveAction.objects.filter(finding__inspection=inspection).exclude(status="verified").count()
    if open_:
        return str(_("%(n)d corrective actions are not yet verified.") % {"n": open_})
    return None


INSPECTION_WORKFLOW = Workflow(
    state_field="status",
    states=(
        State("planned", "planned", "已安排"),
        State("reported", "findings recorded", "已记录发现"),
        State("closed", "closed", "已关闭", terminal=True),
        State("cancelled", "cancelled", "已取消", terminal=True),
    ),
    transitions=(
        Transition(
            "record",
            ("planned",),
            "reported",
            (Role.OFFICE, Role.EXPERT),
            "record the findings",
            "提交检查发现",
            allowed=_office_or_inspector,
            notify=_managers,
        ),
        Transition(
            "close",
            ("reported",),
            "closed",
            OFFICE,
            "close the inspection",
            "关闭检查",
            guard=_actions_open,
            notify=_managers,
        ),
        Transition(
            "cancel",
            ("planned",),
            "cancelled",
            OFFICE,
            "cancel",
            "取消",
            requires_reason=True,
        ),
    ),
)


def _inspection_visible_q(user: Any, via: str = "") -> models.Q:
    """Rows of an inspection (reached through ``via``, e.g. ``"inspection__"``) the user sees: the
    office and committee all; its inspectors theirs; a lab its own once past "planned"."""
    if _oversees(user):
        return ALL
    q = _lab_q(user, f"{via}laboratory") & ~models.Q(**{f"{via}status": "planned"})
    if user is not None and user.is_authenticated:
        q |= models.Q(**{f"{via}inspectors": user})
    return q


class Inspection(ChangeLoggedModel):
    """An inspection of one laboratory: scheduled (e.g. after a spot-check draw) or for cause (a complaint,
    an incident, a failed report). Inspectors record findings; major and minor findings get corrective-
    action requests with deadlines, which the office verifies before it closes the inspection."""

    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", _("scheduled")
        FOR_CAUSE = "for_cause", _("for cause")

    workflow = INSPECTION_WORKFLOW

    laboratory = models.ForeignKey(Laboratory, on_delete=models.PROTECT, related_name="inspections")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.SCHEDULED)
    cause = models.TextField(_("cause"), blank=True, help_text=_("why an inspection for cause is held"))
    spot_check = models.ForeignKey(
        SpotCheck, null=True, blank=True, on_delete=models.SET_NULL, related_name="inspections"
    )
    planned_on = models.DateField(_("planned for"))
    conducted_on = models.DateField(_("conducted on"), null=True, blank=True)
    inspectors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("inspectors"), related_name="inspections", blank=True
    )
    summary = models.TextField(_("summary"), blank=True)
    status = models.CharField(
        _("status"), max_length=12, default="planned", choices=INSPECTION_WORKFLOW.choices()
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-planned_on", "-id")
        verbose_name = _("inspection")
        verbose_name_plural = _("inspections")

    def __str__(self) -> str:
        return str(
            _("Inspection of %(lab)s (%(kind)s, %(date)s)")
            % {"lab": self.laboratory, "kind": self.get_kind_display(), "date": f"{self.planned_on:%Y-%m-%d}"}
        )

    def get_absolute_url(self) -> str:
        return reverse("supervision:inspection", args=[self.pk])

    @property
    def status_label(self) -> str:
        return INSPECTION_WORKFLOW.state(self.status).label

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        """The office and committee see all; inspectors their own; a lab sees its inspections once the
        findings are recorded (an inspection for cause may be unannounced)."""
        return _inspection_visible_q(user)

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if _is_office(user):
            return models.Q(status__in=("planned", "reported"))
        if user is not None and user.is_authenticated:
            return models.Q(status="planned", inspectors=user)
        return models.Q(pk__in=[])


class Finding(ChangeLoggedModel):
    """A finding of an inspection, major or minor, with its evidence (text and attached files)."""

    class Severity(models.TextChoices):
        MAJOR = "major", _("major")
        MINOR = "minor", _("minor")

    inspection = models.ForeignKey(Inspection, on_delete=models.CASCADE, related_name="findings")
    severity = models.CharField(_("severity"), max_length=8, choices=Severity.choices)
    description = models.TextField(_("description"))
    evidence = models.TextField(_("evidence"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("inspection", "id")
        verbose_name = _("finding")
        verbose_name_plural = _("findings")

    def __str__(self) -> str:
        return f"{self.get_severity_display()}: {self.description[:60]}"

    @property
    def laboratory(self) -> Laboratory:
        return self.inspection.laboratory

    def get_absolute_url(self) -> str:
        return self.inspection.get_absolute_url()

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _inspection_visible_q(user, "inspection__")

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if _is_office(user):
            return models.Q(inspection__status="planned")
        if user is not None and user.is_authenticated:
            return models.Q(inspection__status="planned", inspection__inspectors=user)
        return models.Q(pk__in=[])


CORRECTIVE_WORKFLOW = Workflow(
    state_field="status",
    states=(
        State("requested", "requested", "已要求整改"),
        State("responded", "evidence submitted", "已提交整改证据"),
        State("verified", "verified", "已核实", terminal=True),
    ),
    transitions=(
        Transition(
            "respond",
            ("requested",),
            "responded",
            (Role.LAB_MANAGER,),
            "submit the corrective action",
            "提交整改措施",
            allowed=_manages_lab,
            notify=_office,
            guard=lambda a: None if a.response.strip() else str(_("Describe the action taken first.")),
            deadline=DeadlineRule(
                10, "verify the corrective action", "核实整改措施", assignee_role=Role.OFFICE
            ),
        ),
        Transition(
            "verify",
            ("responded",),
            "verified",
            OFFICE,
            "verify",
            "核实通过",
            notify=_managers,
        ),
        Transition(
            "return",
            ("responded",),
            "requested",
            OFFICE,
            "return: not sufficient",
            "退回：不充分",
            requires_reason=True,
            notify=_managers,
            deadline=DeadlineRule(
                10, "corrective action due again", "重新提交整改措施", assignee=_first_manager
            ),
        ),
    ),
)


class CorrectiveAction(ChangeLoggedModel):
    """A corrective-action request (整改要求) for one finding: what to do and by when, the lab's response
    and evidence, and the office's verification."""

    workflow = CORRECTIVE_WORKFLOW

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="actions")
    request = models.TextField(_("what must be corrected"))
    due_on = models.DateField(_("due on"))
    response = models.TextField(_("action taken and evidence"), blank=True)
    status = models.CharField(
        _("status"), max_length=12, default="requested", choices=CORRECTIVE_WORKFLOW.choices()
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("due_on", "id")
        verbose_name = _("corrective-action request")
        verbose_name_plural = _("corrective-action requests")

    def __str__(self) -> str:
        return str(_("Corrective action for %(lab)s") % {"lab": self.laboratory})

    @property
    def laboratory(self) -> Laboratory:
        return self.finding.inspection.laboratory

    @property
    def inspection(self) -> Inspection:
        return self.finding.inspection

    @property
    def status_label(self) -> str:
        return CORRECTIVE_WORKFLOW.state(self.status).label

    def get_absolute_url(self) -> str:
        return self.finding.inspection.get_absolute_url()

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _inspection_visible_q(user, "finding__inspection__")

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _lab_q(user, "finding__inspection__laboratory") & models.Q(status="requested")


# --------------------------------------------------------------------------------------------------
# On-site visit of a phased evaluation (现场评估)
# --------------------------------------------------------------------------------------------------


class EvaluationVisit(ChangeLoggedModel):
    """The record of the on-site visit of one evaluated laboratory: when and where, which experts were
    present, what was examined, the summary, and files (checked uploads, served by a checked view).

    Entered by the office or the entry's lead expert until the grades are confirmed. The office, the
    committee and the entry's experts read it at once; the laboratory once the results are published."""

    entry = models.OneToOneField(EvaluationEntry, on_delete=models.CASCADE, related_name="visit")
    visited_on = models.DateField(_("visited on"))
    place = models.CharField(_("place"), max_length=300)
    experts_present = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("experts present"), related_name="+"
    )
    agenda = models.TextField(_("agenda: what was examined"))
    summary = models.TextField(_("summary"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        verbose_name = _("on-site visit record")
        verbose_name_plural = _("on-site visit records")

    def __str__(self) -> str:
        return str(_("On-site visit to %(lab)s") % {"lab": self.entry.laboratory})

    @property
    def laboratory(self) -> Laboratory:
        return self.entry.laboratory

    def get_absolute_url(self) -> str:
        return reverse("supervision:entry_visit", args=[self.entry_id])

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _oversees(user):
            return ALL
        if user is None or not user.is_authenticated:
            return models.Q(pk__in=[])
        return models.Q(entry__experts=user) | (
            _lab_q(user, "entry__laboratory") & models.Q(entry__campaign__status="published")
        )

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        open_ = models.Q(entry__campaign__status__in=("preparing", "scoring"))
        if _is_office(user):
            return open_
        if user is not None and user.is_authenticated:
            return open_ & models.Q(entry__lead_expert=user)
        return models.Q(pk__in=[])


# --------------------------------------------------------------------------------------------------
# Complaints about laboratories (投诉举报)
# --------------------------------------------------------------------------------------------------


def _complainant(obj: Any) -> list[Any]:
    return [obj.filed_by] if obj.filed_by_id else []


COMPLAINT_WORKFLOW = Workflow(
    state_field="status",
    states=(
        State("received", "received", "已收到"),
        State("accepted", "accepted for handling", "已受理"),
        State("substantiated", "substantiated", "查证属实", terminal=True),
        State("dismissed", "dismissed", "不予受理或查证不实", terminal=True),
    ),
    transitions=(
        Transition(
            "accept",
            ("received",),
            "accepted",
            OFFICE,
            "accept for handling",
            "受理",
            notify=_complainant,
            closes_deadlines=False,  # the handling deadline runs until the answer (dismiss or substantiate)
        ),
        Transition(
            "dismiss",
            ("received", "accepted"),
            "dismissed",
            OFFICE,
            "dismiss with reason",
            "不予受理或查证不实",
            requires_reason=True,
            notify=_complainant,
        ),
        Transition(
            "substantiate",
            ("accepted",),
            "substantiated",
            OFFICE,
            "substantiated",
            "查证属实",
            requires_reason=True,
            notify=_complainant,
        ),
    ),
)


class Complaint(ChangeLoggedModel):
    """A complaint about a named laboratory. The complainant's identity is required (a real name and a
    way to reach them; ``filed_by`` when filed signed in). The office accepts it for handling or
    dismisses it with a reason, and after handling records it as substantiated or dismisses it. A
    substantiated complaint received within a plan's ``complaint_months`` makes the laboratory high
    risk for the spot-check draw. Only the office, the committee and the complainant see it (the
    laboratory does not learn who complained)."""

    class Channel(models.TextChoices):
        ONLINE = "online", _("online form")
        PHONE = "phone", _("telephone")
        LETTER = "letter", _("letter")
        EMAIL = "email", _("e-mail")
        VISIT = "visit", _("in person")
        REFERRAL = "referral", _("referred by another authority")

    workflow = COMPLAINT_WORKFLOW

    laboratory = models.ForeignKey(Laboratory, on_delete=models.PROTECT, related_name="complaints")
    complainant_name = models.CharField(_("complainant's real name"), max_length=100)
    complainant_contact = models.CharField(
        _("complainant's contact"), max_length=200, help_text=_("telephone, e-mail or postal address")
    )
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_on = models.DateField(_("received on"))
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.ONLINE)
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"))
    status = models.CharField(
        _("status"), max_length=14, default="received", choices=COMPLAINT_WORKFLOW.choices()
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-received_on", "-id")
        verbose_name = _("complaint")
        verbose_name_plural = _("complaints")

    def __str__(self) -> str:
        return str(
            _("Complaint about %(lab)s: %(subject)s") % {"lab": self.laboratory, "subject": self.subject}
        )

    def get_absolute_url(self) -> str:
        return reverse("supervision:complaint", args=[self.pk])

    @property
    def status_label(self) -> str:
        return COMPLAINT_WORKFLOW.state(self.status).label

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _oversees(user):
            return ALL
        if user is not None and user.is_authenticated:
            return models.Q(filed_by=user)
        return models.Q(pk__in=[])

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return models.Q(status__in=("received", "accepted")) if _is_office(user) else models.Q(pk__in=[])
