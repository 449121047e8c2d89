"""Lab studies run on the platform: proficiency-testing rounds (ISO 13528), standard-verification
precision experiments (ISO 5725-2), reference-material studies (ISO Guide 35), uncertainty budgets
(GUM / JCGM 101) and SPC quality monitors.

Statistics come from ``qslab.methods``; this module stores what the engine returned (``to_dict()``
with the engine's name and version) and never recomputes it silently. Who may see a row is declared
next to it (``visible_q`` / ``editable_q``): a study belongs to its organising laboratory, whose
managers run it; the committee office and members oversee all; a PT participant sees its own code,
results and report and nothing of the others.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from qslab.accounts.models import Organisation
from qslab.accounts.roles import Role, has_role, scoped_ids
from qslab.core.models import ChangeLoggedModel, OfficialDocument, bilingual
from qslab.core.workflow import State, Transition, Workflow
from qslab.labs.models import Laboratory

NOTHING = models.Q(pk__in=[])
EVERYTHING = models.Q(pk__isnull=False)  # unlike Q(), keeps its meaning when combined with |


# --------------------------------------------------------------------------- who is who


def is_overseer(user: Any) -> bool:
    """The committee office and committee members see every study (read-only oversight)."""
    return has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE)


def manages(user: Any, lab: Laboratory | None) -> bool:
    """``user`` is a manager of ``lab`` (a lab-manager membership scoped to it, or unscoped)."""
    return lab is not None and has_role(user, Role.LAB_MANAGER, scope=lab)


def managed_lab_q(user: Any, field: str = "laboratory") -> models.Q:
    """Rows whose ``field`` is a laboratory ``user`` manages."""
    ids = scoped_ids(user, Role.LAB_MANAGER, Laboratory)
    if ids is None:
        return models.Q(**{f"{field}__isnull": False})
    return models.Q(**{f"{field}__in": ids}) if ids else NOTHING


def _signed_in(user: Any) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


class StudyModel(ChangeLoggedModel):
    """A study owned by its organising laboratory: its managers edit, overseers read."""

    laboratory = models.ForeignKey(
        Laboratory, verbose_name=_("organising laboratory"), on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        abstract = True

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if not _signed_in(user):
            return NOTHING
        if is_overseer(user):
            return EVERYTHING
        return managed_lab_q(user)

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if not _signed_in(user):
            return NOTHING
        return managed_lab_q(user)

    def managed_by(self, user: Any) -> bool:
        return manages(user, self.laboratory)


def _organiser(user: Any, obj: Any) -> bool:
    return manages(user, obj.laboratory)


def _lab_managers(obj: Any) -> list[Any]:
    return lab_managers(obj.laboratory)


def lab_managers(lab: Laboratory) -> list[Any]:
    """Users holding a lab-manager membership scoped to ``lab``."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.accounts.models import User

    ct = ContentType.objects.get_for_model(Laboratory)
    return list(
        User.objects.filter(
            is_active=True,
            role_memberships__role=Role.LAB_MANAGER,
            role_memberships__active=True,
            role_memberships__scope_type=ct,
            role_memberships__scope_id=str(lab.pk),
        ).distinct()
    )


# --------------------------------------------------------------------------- proficiency testing


def _round_ready(rnd: PTRound) -> str | None:
    from django.utils.translation import gettext as _t

    problems = []
    measurands = list(rnd.measurands.all())
    if not measurands:
        problems.append(_t("add at least one measurand"))
    for m in measurands:
        problems.extend(m.setup_problems())
    if rnd.deadline < timezone.localdate():
        problems.append(_t("the submission deadline %(date)s has passed") % {"date": rnd.deadline})
    if problems:
        return _t("The round cannot open yet: %(problems)s.") % {"problems": "; ".join(problems)}
    return None


def _round_has_results(rnd: PTRound) -> str | None:
    from django.utils.translation import gettext as _t

    if not PTResult.objects.filter(participant__round=rnd).exists():
        return _t("No participant has submitted a result; there is nothing to score.")
    return None


def _score_round(rnd: PTRound, user: Any, reason: str) -> None:
    from qslab.studies.services import score_round

    score_round(rnd)


def _round_participants(rnd: PTRound) -> list[Any]:
    users: set[Any] = set()
    for p in rnd.participants.select_related("laboratory", "organisation", "contact"):
        users |= set(p.people())
    return list(users)


class PTRound(StudyModel):
    """A proficiency-testing round (ISO 13528) organised by a laboratory."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("in preparation")
        OPEN = "open", _("open for results")
        CLOSED = "closed", _("closed")
        SCORED = "scored", _("scored")
        REPORTED = "reported", _("reported")
        CANCELLED = "cancelled", _("cancelled")

    workflow = Workflow(
        state_field="status",
        states=(
            State("draft", "in preparation", "准备中"),
            State("open", "open for results", "接收结果"),
            State("closed", "closed", "已截止"),
            State("scored", "scored", "已评分"),
            State("reported", "reported", "已发布报告", terminal=True),
            State("cancelled", "cancelled", "已取消", terminal=True),
        ),
        transitions=(
            Transition(
                "open",
                ("draft",),
                "open",
                (Role.LAB_MANAGER,),
                "open the round",
                "开放能力验证",
                allowed=_organiser,
                guard=_round_ready,
            ),
            Transition(
                "close",
                ("open",),
                "closed",
                (Role.LAB_MANAGER,),
                "close submissions",
                "截止提交",
                allowed=_organiser,
            ),
            Transition(
                "reopen",
                ("closed",),
                "open",
                (Role.LAB_MANAGER,),
                "reopen submissions",
                "重新开放提交",
                allowed=_organiser,
                requires_reason=True,
                guard=_round_ready,
            ),
            Transition(
                "score",
                ("closed",),
                "scored",
                (Role.LAB_MANAGER,),
                "score the results",
                "计算评分",
                allowed=_organiser,
                guard=_round_has_results,
                on_enter=_score_round,
            ),
            Transition(
                "publish",
                ("scored",),
                "reported",
                (Role.LAB_MANAGER,),
                "publish the reports",
                "发布报告",
                allowed=_organiser,
                notify=_round_participants,
            ),
            Transition(
                "cancel",
                ("draft", "open", "closed"),
                "cancelled",
                (Role.LAB_MANAGER,),
                "cancel the round",
                "取消",
                allowed=_organiser,
                requires_reason=True,
                notify=_round_participants,
            ),
        ),
    )

    code = models.SlugField(_("code"), max_length=40, unique=True)
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    items_prepared = models.PositiveIntegerField(_("PT items prepared"), default=0)
    deadline = models.DateField(
        _("submission deadline"), help_text=_("Results are accepted until the end of this day.")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)

    class Meta:
        ordering = ("-created",)
        verbose_name = _("proficiency-testing round")
        verbose_name_plural = _("proficiency-testing rounds")

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    @property
    def title(self) -> str:
        return bilingual(self.title_zh, self.title_en)

    def get_absolute_url(self) -> str:
        return reverse("studies:pt_detail", args=[self.pk])

    def accepts_results(self, today: Any = None) -> bool:
        return self.status == self.Status.OPEN and (today or timezone.localdate()) <= self.deadline

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        # Announced rounds are listed for every signed-in user so that labs and organisations can
        # register; results stay protected by PTResult.visible_q.
        if not _signed_in(user):
            return NOTHING
        return super().visible_q(user) | ~models.Q(status=cls.Status.DRAFT)

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return super().editable_q(user) & models.Q(status__in=[cls.Status.DRAFT, cls.Status.OPEN])


class PTMeasurand(ChangeLoggedModel):
    """A measurand of a round with its assigned-value method, sigma_pt and item checks."""

    class AssignedMethod(models.TextChoices):
        CONSENSUS = "consensus", _("consensus of participants (Algorithm A)")
        FORMULATION = "formulation", _("formulation")
        CRM = "crm", _("certified reference material")

    class SigmaMethod(models.TextChoices):
        FIXED = "fixed", _("fixed value")
        HORWITZ = "horwitz", _("Horwitz-Thompson")
        ROBUST = "robust", _("robust SD of the results (s*)")

    round = models.ForeignKey(PTRound, on_delete=models.CASCADE, related_name="measurands")
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    unit = models.CharField(_("unit"), max_length=40)
    assigned_method = models.CharField(
        _("assigned value"), max_length=16, choices=AssignedMethod.choices, default=AssignedMethod.CONSENSUS
    )
    assigned_value = models.FloatField(_("assigned value x_pt"), null=True, blank=True)
    assigned_uncertainty = models.FloatField(_("standard uncertainty u(x_pt)"), null=True, blank=True)
    sigma_method = models.CharField(
        _("sigma_pt from"), max_length=16, choices=SigmaMethod.choices, default=SigmaMethod.FIXED
    )
    sigma_pt = models.FloatField(_("sigma_pt"), null=True, blank=True)
    mass_fraction_factor = models.FloatField(
        _("unit as mass fraction"),
        null=True,
        blank=True,
        help_text=_("For Horwitz: one unit as a mass fraction, e.g. 1e-6 for mg/kg."),
    )
    homogeneity_data = models.JSONField(
        _("homogeneity data"), default=list, blank=True, help_text=_("Replicates per item.")
    )
    stability_before = models.JSONField(_("stability: before"), default=list, blank=True)
    stability_after = models.JSONField(_("stability: after"), default=list, blank=True)
    homogeneity_check = models.JSONField(null=True, blank=True)
    stability_check = models.JSONField(null=True, blank=True)
    evaluation = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ("round", "id")
        verbose_name = _("measurand")
        verbose_name_plural = _("measurands")

    def __str__(self) -> str:
        return f"{self.name} ({self.unit})"

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    def get_absolute_url(self) -> str:
        return self.round.get_absolute_url()

    def setup_problems(self) -> list[str]:
        from django.utils.translation import gettext as _t

        out = []
        if self.assigned_method in ("formulation", "crm") and (
            self.assigned_value is None or self.assigned_uncertainty is None
        ):
            out.append(_t("%(m)s: give the assigned value and its uncertainty") % {"m": self.name})
        if self.sigma_method == "fixed" and not self.sigma_pt:
            out.append(_t("%(m)s: give sigma_pt") % {"m": self.name})
        if self.sigma_method == "horwitz" and not self.mass_fraction_factor:
            out.append(_t("%(m)s: Horwitz needs the unit as a mass fraction") % {"m": self.name})
        return out

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q(round__in=PTRound.objects.visible_to(user))

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return models.Q(round__in=PTRound.objects.editable_by(user).filter(status=PTRound.Status.DRAFT))


def _participant_q(user: Any, prefix: str = "") -> models.Q:
    """Participants ``user`` speaks for: their own labs, their organisation, or as the contact."""
    if not _signed_in(user):
        return NOTHING
    q = models.Q(**{f"{prefix}contact": user})
    ids = scoped_ids(user, Role.LAB_MANAGER, Laboratory)
    if ids is None:
        q |= models.Q(**{f"{prefix}laboratory__isnull": False})
    elif ids:
        q |= models.Q(**{f"{prefix}laboratory__in": ids})
    if getattr(user, "organisation_id", None):
        q |= models.Q(**{f"{prefix}organisation": user.organisation_id})
    return q


class PTParticipant(ChangeLoggedModel):
    """A laboratory or an outside organisation registered in a round, known to others by its code."""

    round = models.ForeignKey(PTRound, on_delete=models.CASCADE, related_name="participants")
    code = models.CharField(_("participant code"), max_length=12)
    laboratory = models.ForeignKey(
        Laboratory, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    contact = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    item_code = models.CharField(_("PT item sent"), max_length=40, blank=True)

    class Meta:
        ordering = ("round", "code")
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        constraints = [
            models.UniqueConstraint(fields=["round", "code"], name="studies_one_code_per_round"),
            models.UniqueConstraint(
                fields=["round", "laboratory"],
                condition=models.Q(laboratory__isnull=False),
                name="studies_lab_registers_once",
            ),
            models.UniqueConstraint(
                fields=["round", "organisation"],
                condition=models.Q(organisation__isnull=False),
                name="studies_org_registers_once",
            ),
            models.CheckConstraint(
                condition=models.Q(laboratory__isnull=True) ^ models.Q(organisation__isnull=True),
                name="studies_participant_is_lab_or_org",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.round.code} · {self.code}"

    @property
    def name(self) -> str:
        return str(self.laboratory or self.organisation)

    def get_absolute_url(self) -> str:
        return reverse("studies:pt_participant", args=[self.round_id, self.pk])

    def people(self) -> list[Any]:
        """Everyone who speaks for this participant (told of the round's news)."""
        users = set()
        if self.contact_id:
            users.add(self.contact)
        if self.laboratory_id:
            users |= set(lab_managers(self.laboratory))
        if self.organisation_id:
            users |= set(self.organisation.members.filter(is_active=True))
        return list(users)

    def spoken_for_by(self, user: Any) -> bool:
        return PTParticipant.objects.filter(pk=self.pk).filter(_participant_q(user)).exists()

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if not _signed_in(user):
            return NOTHING
        if is_overseer(user):
            return EVERYTHING
        return managed_lab_q(user, "round__laboratory") | _participant_q(user)

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _participant_q(user) & models.Q(round__status=PTRound.Status.OPEN)


class PTResult(ChangeLoggedModel):
    """A participant's result for one measurand, with its uncertainty and, once scored, its scores."""

    class Channel(models.TextChoices):
        FORM = "form", _("web form")
        FILE = "file", _("file upload")
        API = "api", _("API")

    participant = models.ForeignKey(PTParticipant, on_delete=models.CASCADE, related_name="results")
    measurand = models.ForeignKey(PTMeasurand, on_delete=models.CASCADE, related_name="results")
    value = models.FloatField(_("result"))
    standard_uncertainty = models.FloatField(_("standard uncertainty u(x)"), null=True, blank=True)
    expanded_uncertainty = models.FloatField(_("expanded uncertainty U(x)"), null=True, blank=True)
    method_note = models.CharField(_("method used"), max_length=200, blank=True)
    submitted_at = models.DateTimeField(_("submitted"), default=timezone.now)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices, default=Channel.FORM)
    scores = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ("participant__code", "measurand_id")
        verbose_name = _("PT result")
        verbose_name_plural = _("PT results")
        constraints = [
            models.UniqueConstraint(fields=["participant", "measurand"], name="studies_one_result_per_cell")
        ]

    def __str__(self) -> str:
        return f"{self.participant} {self.measurand}: {self.value:g}"

    def get_absolute_url(self) -> str:
        return self.participant.get_absolute_url()

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if not _signed_in(user):
            return NOTHING
        if is_overseer(user):
            return EVERYTHING
        return managed_lab_q(user, "participant__round__laboratory") | _participant_q(user, "participant__")

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _participant_q(user, "participant__") & models.Q(
            participant__round__status=PTRound.Status.OPEN
        )


# --------------------------------------------------------------------------- precision experiments


def _design_ready(study: PrecisionExperiment) -> str | None:
    from django.utils.translation import gettext as _t

    if not study.levels or study.n_labs < 2 or study.replicates < 2:
        return _t("The design needs at least one level, two laboratories and two replicates.")
    return None


def _has_data(study: PrecisionExperiment) -> str | None:
    from django.utils.translation import gettext as _t

    from qslab.studies.services import precision_design_gaps

    if not study.values.exists():
        return _t("No test results have been entered.")
    gaps = precision_design_gaps(study)
    if gaps:
        return _t("Levels with fewer than two laboratories: %(levels)s.") % {"levels": ", ".join(gaps)}
    return None


def _decisions_made(study: PrecisionExperiment) -> str | None:
    from django.utils.translation import gettext as _t

    pending = study.decisions.filter(decision=OutlierDecision.Decision.PENDING).count()
    if pending:
        return _t("%(n)d flagged cells still wait for a decision.") % {"n": pending}
    return None


def _analyse(study: PrecisionExperiment, user: Any, reason: str) -> None:
    from qslab.studies.services import analyse_precision

    analyse_precision(study)


def _finalise(study: PrecisionExperiment, user: Any, reason: str) -> None:
    from qslab.studies.services import finalise_precision

    finalise_precision(study)


class PrecisionExperiment(StudyModel):
    """An ISO 5725-2 precision experiment verifying a draft standard method (levels x labs x n)."""

    workflow = Workflow(
        state_field="status",
        states=(
            State("design", "design", "设计"),
            State("collecting", "collecting data", "数据收集"),
            State("analysed", "outliers under review", "离群值审议"),
            State("reported", "reported", "已出报告", terminal=True),
        ),
        transitions=(
            Transition(
                "collect",
                ("design",),
                "collecting",
                (Role.LAB_MANAGER,),
                "start data collection",
                "开始收集数据",
                allowed=_organiser,
                guard=_design_ready,
            ),
            Transition(
                "analyse",
                ("collecting",),
                "analysed",
                (Role.LAB_MANAGER,),
                "run the outlier tests",
                "进行离群值检验",
                allowed=_organiser,
                guard=_has_data,
                on_enter=_analyse,
            ),
            Transition(
                "reopen",
                ("analysed",),
                "collecting",
                (Role.LAB_MANAGER,),
                "reopen data entry",
                "重新录入数据",
                allowed=_organiser,
                requires_reason=True,
            ),
            Transition(
                "report",
                ("analysed",),
                "reported",
                (Role.LAB_MANAGER,),
                "estimate precision and report",
                "计算精密度并出具报告",
                allowed=_organiser,
                guard=_decisions_made,
                on_enter=_finalise,
            ),
        ),
    )

    code = models.SlugField(_("code"), max_length=40, unique=True)
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200)
    standard_reference = models.CharField(
        _("draft standard"), max_length=120, help_text=_("e.g. the draft standard's number and title")
    )
    unit = models.CharField(_("unit"), max_length=40, blank=True)
    levels = models.JSONField(_("levels"), default=list, help_text=_("Names of the levels (materials)."))
    n_labs = models.PositiveIntegerField(_("laboratories"), default=8)
    replicates = models.PositiveIntegerField(_("replicates per cell"), default=2)
    status = models.CharField(_("status"), max_length=16, choices=workflow.choices(), default="design")
    analysis = models.JSONField(null=True, blank=True)
    estimates = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ("-created",)
        verbose_name = _("precision experiment")
        verbose_name_plural = _("precision experiments")

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    @property
    def title(self) -> str:
        return bilingual(self.title_zh, self.title_en)

    def get_status_label(self) -> str:
        return self.workflow.state(self.status).label

    def get_absolute_url(self) -> str:
        return reverse("studies:precision_detail", args=[self.pk])


class PrecisionValue(models.Model):
    """One test result of a precision experiment (level, lab, replicate)."""

    experiment = models.ForeignKey(PrecisionExperiment, on_delete=models.CASCADE, related_name="values")
    level = models.CharField(_("level"), max_length=40)
    lab_code = models.CharField(_("laboratory"), max_length=40)
    replicate = models.PositiveIntegerField(_("replicate"))
    value = models.FloatField(_("value"))

    class Meta:
        ordering = ("level", "lab_code", "replicate")
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "level", "lab_code", "replicate"],
                name="studies_one_value_per_replicate",
            )
        ]

    def __str__(self) -> str:
        return f"{self.level}/{self.lab_code}/{self.replicate}: {self.value:g}"


class OutlierDecision(ChangeLoggedModel):
    """The study office's decision on a cell an outlier test flagged (audited by the change log)."""

    class Decision(models.TextChoices):
        PENDING = "pending", _("waiting for a decision")
        RETAIN = "retain", _("retain")
        EXCLUDE = "exclude", _("exclude from the estimates")

    experiment = models.ForeignKey(PrecisionExperiment, on_delete=models.CASCADE, related_name="decisions")
    level = models.CharField(_("level"), max_length=40)
    lab_code = models.CharField(_("laboratory"), max_length=40)
    test = models.CharField(_("test"), max_length=40)
    statistic = models.FloatField(_("statistic"), null=True)
    verdict = models.CharField(_("verdict"), max_length=16)
    decision = models.CharField(
        _("decision"), max_length=16, choices=Decision.choices, default=Decision.PENDING
    )
    reason = models.TextField(_("reason"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("level", "lab_code", "test")
        verbose_name = _("outlier decision")
        verbose_name_plural = _("outlier decisions")

    def __str__(self) -> str:
        return f"{self.level}/{self.lab_code} {self.test} {self.verdict}: {self.decision}"

    def get_absolute_url(self) -> str:
        return self.experiment.get_absolute_url()

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q(experiment__in=PrecisionExperiment.objects.visible_to(user))

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return models.Q(
            experiment__in=PrecisionExperiment.objects.editable_by(user).filter(status="analysed")
        )


# --------------------------------------------------------------------------- uncertainty budgets


class UncertaintyBudget(StudyModel):
    """A measurement model with its inputs (YAML budget file), versioned; evaluated by GUF or MCM."""

    class Method(models.TextChoices):
        GUF = "GUF", _("GUM uncertainty framework")
        MCM = "MCM", _("Monte Carlo (JCGM 101)")

    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    spec = models.TextField(_("budget (YAML)"))
    version = models.PositiveIntegerField(_("version"), default=1)
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("previous")
    )
    is_current = models.BooleanField(_("current version"), default=True)
    is_template = models.BooleanField(_("template"), default=False)
    method = models.CharField(_("method"), max_length=3, choices=Method.choices, default=Method.GUF)
    result = models.JSONField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    report_reference = models.CharField(_("attached to test report"), max_length=120, blank=True)

    class Meta:
        ordering = ("-created",)
        verbose_name = _("uncertainty budget")
        verbose_name_plural = _("uncertainty budgets")

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    def get_absolute_url(self) -> str:
        return reverse("studies:budget_detail", args=[self.pk])

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        # Templates are shared: every laboratory manager may reuse them.
        base = super().visible_q(user)
        if has_role(user, Role.LAB_MANAGER):
            base |= models.Q(is_template=True)
        return base

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return super().editable_q(user) & models.Q(is_current=True)


# --------------------------------------------------------------------------- reference materials


def _rm_ready(study: ReferenceMaterialStudy) -> str | None:
    from django.utils.translation import gettext as _t

    if len(study.characterisation_means or []) < 2:
        return _t("Characterisation needs at least two laboratory means.")
    return None


def _rm_evaluate(study: ReferenceMaterialStudy, user: Any, reason: str) -> None:
    from qslab.studies.services import evaluate_reference_material

    evaluate_reference_material(study)


def _rm_certify(study: ReferenceMaterialStudy, user: Any, reason: str) -> None:
    from qslab.studies.services import issue_rm_certificate

    issue_rm_certificate(study, user)


class ReferenceMaterialStudy(StudyModel):
    """Homogeneity, stability and characterisation of a candidate reference material (ISO Guide 35)."""

    workflow = Workflow(
        state_field="status",
        states=(
            State("draft", "data entry", "数据录入"),
            State("evaluated", "evaluated", "已评定"),
            State("certified", "certified", "已定值", terminal=True),
        ),
        transitions=(
            Transition(
                "evaluate",
                ("draft",),
                "evaluated",
                (Role.LAB_MANAGER,),
                "evaluate",
                "评定",
                allowed=_organiser,
                guard=_rm_ready,
                on_enter=_rm_evaluate,
            ),
            Transition(
                "revise",
                ("evaluated",),
                "draft",
                (Role.LAB_MANAGER,),
                "revise the data",
                "修改数据",
                allowed=_organiser,
                requires_reason=True,
            ),
            Transition(
                "certify",
                ("evaluated",),
                "certified",
                (Role.LAB_MANAGER,),
                "issue the certificate",
                "签发证书",
                allowed=_organiser,
                on_enter=_rm_certify,
            ),
        ),
    )

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    property_name = models.CharField(_("property"), max_length=120)
    unit = models.CharField(_("unit"), max_length=40)
    homogeneity_data = models.JSONField(_("homogeneity: replicates per unit"), default=list, blank=True)
    stability_times = models.JSONField(_("stability: times"), default=list, blank=True)
    stability_values = models.JSONField(_("stability: values"), default=list, blank=True)
    shelf_life = models.FloatField(_("shelf life (time unit of the stability study)"), null=True, blank=True)
    characterisation_means = models.JSONField(_("characterisation: laboratory means"), default=list)
    coverage_factor = models.FloatField(_("coverage factor k"), default=2.0)
    status = models.CharField(_("status"), max_length=16, choices=workflow.choices(), default="draft")
    result = models.JSONField(null=True, blank=True)
    certificate = models.ForeignKey(
        OfficialDocument, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ("-created",)
        verbose_name = _("reference-material study")
        verbose_name_plural = _("reference-material studies")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    def get_status_label(self) -> str:
        return self.workflow.state(self.status).label

    def get_absolute_url(self) -> str:
        return reverse("studies:rm_detail", args=[self.pk])

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return super().editable_q(user) & models.Q(status="draft")


# --------------------------------------------------------------------------- SPC monitors


class Monitor(StudyModel):
    """An SPC monitor on a characteristic of the lab's own or a client's production."""

    class Chart(models.TextChoices):
        I = "I", _("individuals (I)")  # noqa: E741
        XBAR = "xbar", _("subgroup means (X-bar)")

    class Rules(models.TextChoices):
        WE = "we", _("Western Electric")
        NELSON = "nelson", _("Nelson")

    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    client = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("client (if not the lab's own process)"),
    )
    characteristic = models.CharField(_("characteristic"), max_length=200)
    unit = models.CharField(_("unit"), max_length=40, blank=True)
    chart = models.CharField(_("chart"), max_length=8, choices=Chart.choices, default=Chart.I)
    subgroup_size = models.PositiveIntegerField(_("subgroup size"), default=1)
    rules = models.CharField(_("run rules"), max_length=8, choices=Rules.choices, default=Rules.WE)
    phase_one_points = models.PositiveIntegerField(_("points for phase I limits"), default=20)
    center = models.FloatField(_("centre line"), null=True, blank=True)
    sigma = models.FloatField(_("process sigma"), null=True, blank=True)
    lsl = models.FloatField(_("lower specification limit"), null=True, blank=True)
    usl = models.FloatField(_("upper specification limit"), null=True, blank=True)
    limits = models.JSONField(null=True, blank=True)
    limits_set_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ("laboratory", "name_en")
        verbose_name = _("quality monitor")
        verbose_name_plural = _("quality monitors")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    @property
    def has_limits(self) -> bool:
        return self.center is not None and self.sigma is not None

    def get_absolute_url(self) -> str:
        return reverse("studies:monitor_detail", args=[self.pk])


class MonitorPoint(models.Model):
    """One point of a monitor (a value or a subgroup), evaluated on arrival."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="points")
    seq = models.PositiveIntegerField()
    time = models.DateTimeField(default=timezone.now)
    values = models.JSONField()
    statistic = models.FloatField()
    signals = models.JSONField(default=list)
    source = models.CharField(max_length=8, default="form")

    class Meta:
        ordering = ("monitor", "seq")
        constraints = [models.UniqueConstraint(fields=["monitor", "seq"], name="studies_one_point_per_seq")]

    def __str__(self) -> str:
        return f"{self.monitor_id}#{self.seq}: {self.statistic:g}"


class Alarm(ChangeLoggedModel):
    """A signal of a monitor waiting in the triage queue: acknowledged, explained, closed."""

    workflow = Workflow(
        state_field="status",
        states=(
            State("open", "open", "待处理"),
            State("acknowledged", "acknowledged", "已确认"),
            State("actioned", "corrective action taken", "已纠正"),
            State("closed", "closed", "已关闭", terminal=True),
        ),
        transitions=(
            Transition(
                "acknowledge",
                ("open",),
                "acknowledged",
                (Role.LAB_MANAGER,),
                "acknowledge",
                "确认",
                allowed=lambda u, a: manages(u, a.monitor.laboratory),
            ),
            Transition(
                "action",
                ("acknowledged",),
                "actioned",
                (Role.LAB_MANAGER,),
                "record cause and corrective action",
                "记录原因和纠正措施",
                allowed=lambda u, a: manages(u, a.monitor.laboratory),
                guard=lambda a: (
                    None
                    if a.cause.strip() and a.corrective_action.strip()
                    else str(_("Record the assignable cause and the corrective action first."))
                ),
            ),
            Transition(
                "close",
                ("actioned",),
                "closed",
                (Role.LAB_MANAGER,),
                "close",
                "关闭",
                allowed=lambda u, a: manages(u, a.monitor.laboratory),
            ),
            Transition(
                "dismiss",
                ("open", "acknowledged"),
                "closed",
                (Role.LAB_MANAGER,),
                "dismiss as a false alarm",
                "作为误报关闭",
                allowed=lambda u, a: manages(u, a.monitor.laboratory),
                requires_reason=True,
            ),
        ),
    )

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="alarms")
    point = models.ForeignKey(MonitorPoint, on_delete=models.CASCADE, related_name="alarms")
    signals = models.JSONField(default=list)
    status = models.CharField(_("status"), max_length=16, choices=workflow.choices(), default="open")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cause = models.TextField(_("assignable cause"), blank=True)
    corrective_action = models.TextField(_("corrective action"), blank=True)

    class Meta:
        ordering = ("-created",)
        verbose_name = _("alarm")
        verbose_name_plural = _("alarms")

    def __str__(self) -> str:
        return f"{self.monitor} #{self.point.seq}: {', '.join(self.signals)}"

    def get_status_label(self) -> str:
        return self.workflow.state(self.status).label

    def get_absolute_url(self) -> str:
        return reverse("studies:alarm_detail", args=[self.pk])

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q(monitor__in=Monitor.objects.visible_to(user))

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return models.Q(monitor__in=Monitor.objects.editable_by(user)) & ~models.Q(status="closed")
