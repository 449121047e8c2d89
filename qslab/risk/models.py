"""Product risk monitoring: taxonomies, public incident reports, defect patterns, bulk intake runs,
early-warning configurations and runs, and the signals analysts triage (issue 12).

Large monitoring data (hospital records, recalls, device reports) do not live here: they are in the
analytical store (``settings.DUCKDB_PATH``) and reached through :mod:`qslab.surveillance`. The
relational tables hold what people work on: reports, patterns, signals and their audit trail.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

from qslab.accounts.roles import Role, has_role
from qslab.core.models import ChangeLoggedModel, bilingual
from qslab.core.permissions import ALL, NONE
from qslab.core.uploads import MB, UploadValidator
from qslab.core.workflow import DeadlineRule, State, Transition, Workflow


def is_risk_staff(user: Any) -> bool:
    """Risk analysts and the committee office do the risk work (review, patterns, signals)."""
    return has_role(user, Role.ANALYST) or has_role(user, Role.OFFICE)


def _staff_q(user: Any) -> models.Q:
    return ALL if is_risk_staff(user) else models.Q(pk__in=[])


# ------------------------------------------------------------------------------------------------
# taxonomies


class Term(ChangeLoggedModel):
    """One entry of a coded taxonomy (product categories, hazards, diagnoses, body parts, dispositions).

    The taxonomies are data: CPSC NEISS code tables are loaded as a shipped example
    (``load_neiss_codes``) and the office adds its own codes beside them.
    """

    class Kind(models.TextChoices):
        PRODUCT = "product", _("product category")
        HAZARD = "hazard", _("hazard")
        DIAGNOSIS = "diagnosis", _("injury diagnosis")
        BODY_PART = "body_part", _("body part")
        DISPOSITION = "disposition", _("disposition")

    kind = models.CharField(_("taxonomy"), max_length=16, choices=Kind.choices)
    code = models.CharField(_("code"), max_length=40)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200, blank=True)
    name_en = models.CharField(_("name (English)"), max_length=200)
    parent = models.ForeignKey(
        "self", verbose_name=_("broader term"), null=True, blank=True, on_delete=models.PROTECT
    )
    source = models.CharField(
        _("source"), max_length=40, default="office", help_text=_("e.g. neiss for CPSC NEISS codes")
    )
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        ordering = ("kind", "code")
        constraints = [models.UniqueConstraint(fields=["kind", "code"], name="risk_one_term_per_code")]
        verbose_name = _("taxonomy term")
        verbose_name_plural = _("taxonomy terms")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _staff_q(user)


# ------------------------------------------------------------------------------------------------
# public incident reports


def _has_public_summary(report: IncidentReport) -> str | None:
    if not (report.public_summary_zh.strip() or report.public_summary_en.strip()):
        return str(_("Write the public summary (Chinese or English) before publishing the report."))
    if not report.consent_publish:
        return str(_("The reporter did not agree to publication."))
    return None


def _take_review(report: IncidentReport, user: Any, reason: str) -> None:
    report.reviewer = user
    report.save(update_fields=["reviewer"])


def _reporter(report: IncidentReport) -> list[Any]:
    return [report.reporter] if report.reporter_id else []


def photo_upload_path(instance: IncidentReport, filename: str) -> str:
    """A folder no one can guess: the file is served only through the permission-checked view."""
    import uuid

    return f"risk/reports/{uuid.uuid4().hex}/{filename}"


#: Photos of reports and alerts: JPEG, PNG or WebP by their content, at most 5 MB.
PHOTO_KINDS = ("jpeg", "png", "webp")
PHOTO_MAX_BYTES = 5 * MB


@deconstructible
class PhotoValidator(UploadValidator):
    """``UploadValidator`` for photos that closes a stored file it had to open to read its first bytes
    (a model's ``full_clean`` after the file was saved to storage)."""

    def __call__(self, upload: Any) -> None:
        opened_here = getattr(upload, "_file", True) is None
        try:
            super().__call__(upload)
        finally:
            if opened_here and getattr(upload, "_file", None) is not None:
                upload.close()


photo_validator = PhotoValidator(PHOTO_KINDS, max_bytes=PHOTO_MAX_BYTES)


class IncidentReport(ChangeLoggedModel):
    """A product incident reported by a member of the public, reviewed by an analyst before publication."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("submitted")
        UNDER_REVIEW = "under_review", _("under review")
        PUBLISHED = "published", _("published")
        REJECTED = "rejected", _("rejected")

    workflow = Workflow(
        state_field="status",
        states=(
            State("submitted", "submitted", "已提交"),
            State("under_review", "under review", "审核中"),
            State("published", "published", "已公开"),
            State("rejected", "rejected", "已驳回", terminal=True),
        ),
        transitions=(
            Transition(
                "review",
                ("submitted",),
                "under_review",
                (Role.ANALYST, Role.OFFICE),
                "start review",
                "开始审核",
                on_enter=_take_review,
                deadline=DeadlineRule(
                    5, "Finish reviewing the incident report", "完成事故报告审核", assignee_role=Role.ANALYST
                ),
            ),
            Transition(
                "publish",
                ("under_review",),
                "published",
                (Role.ANALYST, Role.OFFICE),
                "publish",
                "公开",
                guard=_has_public_summary,
                notify=_reporter,
            ),
            Transition(
                "reject",
                ("submitted", "under_review"),
                "rejected",
                (Role.ANALYST, Role.OFFICE),
                "reject",
                "驳回",
                requires_reason=True,
                notify=_reporter,
            ),
        ),
    )

    reference = models.CharField(_("reference"), max_length=20, unique=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reporter"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="risk_reports",
    )
    reporter_email = models.EmailField(_("contact e-mail"), blank=True)
    # product identity
    product_category = models.ForeignKey(
        Term,
        verbose_name=_("product category"),
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": Term.Kind.PRODUCT},
    )
    brand = models.CharField(_("brand"), max_length=120)
    model = models.CharField(_("model"), max_length=120, blank=True)
    batch = models.CharField(_("batch or lot"), max_length=80, blank=True)
    barcode = models.CharField(
        _("barcode (EAN/UPC/ISBN)"), max_length=20, blank=True, help_text=_("digits only, as printed")
    )
    # what happened
    incident_date = models.DateField(_("date of the incident"))
    hazard = models.ForeignKey(
        Term,
        verbose_name=_("hazard"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": Term.Kind.HAZARD},
    )
    description = models.TextField(_("what happened"))
    injured = models.BooleanField(_("someone was injured"), default=False)
    diagnosis = models.ForeignKey(
        Term,
        verbose_name=_("injury"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": Term.Kind.DIAGNOSIS},
    )
    body_part = models.ForeignKey(
        Term,
        verbose_name=_("body part"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": Term.Kind.BODY_PART},
    )
    disposition = models.ForeignKey(
        Term,
        verbose_name=_("treatment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": Term.Kind.DISPOSITION},
    )
    victim_age = models.PositiveSmallIntegerField(_("age of the injured person"), null=True, blank=True)
    photo = models.ImageField(
        _("photo"), upload_to=photo_upload_path, blank=True, validators=[photo_validator]
    )
    # consent
    consent_publish = models.BooleanField(_("consent to publish an anonymised summary"), default=False)
    consent_contact = models.BooleanField(_("consent to be contacted"), default=False)
    consent_text = models.TextField(_("consent wording agreed to"), blank=True)
    consent_at = models.DateTimeField(_("consent recorded"), null=True, blank=True)
    # analyst's review
    public_summary_zh = models.TextField(_("public summary (Chinese)"), blank=True)
    public_summary_en = models.TextField(_("public summary (English)"), blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ("-created", "-id")
        # the lists' default order, overall and within a status (the public see published reports only):
        # a page reads its rows from the index instead of sorting the table (docs/risk.md)
        indexes = (
            models.Index(fields=("-created", "-id"), name="risk_report_newest_idx"),
            models.Index(fields=("status", "-created", "-id"), name="risk_report_status_newest_idx"),
        )
        verbose_name = _("incident report")
        verbose_name_plural = _("incident reports")

    def __str__(self) -> str:
        return f"{self.reference} {self.brand} {self.model}".strip()

    def get_absolute_url(self) -> str:
        return reverse("risk:report", args=[self.pk])

    @property
    def public_summary(self) -> str:
        return bilingual(self.public_summary_zh, self.public_summary_en)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if is_risk_staff(user):
            return ALL
        published = models.Q(status=cls.Status.PUBLISHED)
        if user is not None and user.is_authenticated:
            return published | models.Q(reporter=user)
        return published

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if is_risk_staff(user):
            return models.Q(status__in=[cls.Status.SUBMITTED, cls.Status.UNDER_REVIEW])
        return models.Q(pk__in=[])


# ------------------------------------------------------------------------------------------------
# defect patterns


class DefectPattern(ChangeLoggedModel):
    """A typical defect pattern: product, hazard, failure mode, injury mechanism, and its evidence."""

    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200)
    product_category = models.ForeignKey(
        Term,
        verbose_name=_("product category"),
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": Term.Kind.PRODUCT},
    )
    hazard = models.ForeignKey(
        Term,
        verbose_name=_("hazard"),
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": Term.Kind.HAZARD},
    )
    failure_mode = models.TextField(_("failure mode"), blank=True)
    injury_mechanism = models.TextField(_("injury mechanism"), blank=True)
    scenario = models.TextField(_("typical scenario"), blank=True)
    detection_method = models.CharField(
        _("test method or standard clause that detects it"), max_length=200, blank=True
    )
    summary_zh = models.TextField(_("public summary (Chinese)"), blank=True)
    summary_en = models.TextField(_("public summary (English)"), blank=True)
    evidence = models.ManyToManyField(
        IncidentReport, verbose_name=_("evidence cases"), blank=True, related_name="patterns"
    )
    evidence_links = models.TextField(
        _("other evidence"),
        blank=True,
        help_text=_("one reference per line: recall numbers, NEISS cases, URLs"),
    )
    is_public = models.BooleanField(_("public"), default=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-last_updated", "-id")
        verbose_name = _("defect pattern")
        verbose_name_plural = _("defect patterns")

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("risk:pattern", args=[self.pk])

    @property
    def title(self) -> str:
        return bilingual(self.title_zh, self.title_en)

    @property
    def summary(self) -> str:
        return bilingual(self.summary_zh, self.summary_en)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL if is_risk_staff(user) else models.Q(is_public=True)

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return _staff_q(user)


# ------------------------------------------------------------------------------------------------
# bulk intake into the analytical store


def ingest_upload_path(instance: IngestRun, filename: str) -> str:
    import uuid

    return f"risk/ingest/{uuid.uuid4().hex}/{filename}"


class IngestRun(ChangeLoggedModel):
    """One file of monitoring data taken into the analytical store (all-or-nothing)."""

    class Source(models.TextChoices):
        NEISS = "neiss", _("CPSC NEISS injury records")
        FDA_ENFORCEMENT = "fda-enforcement", _("FDA drug enforcement (recalls)")
        CAERS = "caers", _("FDA CAERS adverse events")
        MAUDE = "maude", _("FDA MAUDE device reports")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        REJECTED = "rejected", _("rejected: nothing written")
        FAILED = "failed", _("failed")

    source = models.CharField(_("data source"), max_length=24, choices=Source.choices)
    file = models.FileField(_("file"), upload_to=ingest_upload_path)
    file_name = models.CharField(_("file name"), max_length=200)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("by")
    )
    task_id = models.CharField(max_length=64, blank=True)
    n_rows = models.PositiveIntegerField(_("rows"), default=0)
    n_inserted = models.PositiveIntegerField(_("inserted"), default=0)
    problems = models.JSONField(_("problems"), default=list, blank=True)
    message = models.TextField(_("message"), blank=True)

    class Meta:
        ordering = ("-created", "-id")
        verbose_name = _("data intake")
        verbose_name_plural = _("data intakes")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("risk:ingest", args=[self.pk])

    visible_q = classmethod(lambda cls, user: _staff_q(user))


# ------------------------------------------------------------------------------------------------
# early warning


class SeriesFamily(ChangeLoggedModel):
    """A configured family of series and the detector run over all of them (e.g. product x hazard)."""

    class Period(models.TextChoices):
        WEEK = "week", _("week")
        MONTH = "month", _("month")

    class Kind(models.TextChoices):
        DETECTOR = "detector", _("outbreak detector over time series")
        DISPROPORTIONALITY = "disproportionality", _("disproportionality over a report table")

    name = models.CharField(_("name"), max_length=120, unique=True)
    kind = models.CharField(
        _("analysis"),
        max_length=20,
        choices=Kind.choices,
        default=Kind.DETECTOR,
        help_text=_(
            "disproportionality: “grouped by” names the product and event columns; the settings give "
            'the statistic and threshold, e.g. {"statistic": "EB05", "threshold": 2, "min_count": 3}'
        ),
    )
    source = models.CharField(_("data source"), max_length=40, help_text=_("source in the analytical store"))
    by = models.CharField(
        _("grouped by"),
        max_length=200,
        default="product_code,hazard_code",
        help_text=_("canonical columns separated by commas, e.g. product_code,hazard_code"),
    )
    period = models.CharField(_("period"), max_length=8, choices=Period.choices, default=Period.WEEK)
    method = models.CharField(_("detector"), max_length=32, default="earsC", help_text=_("R method name"))
    control = models.JSONField(_("detector settings (R control names)"), default=dict, blank=True)
    score_last = models.PositiveIntegerField(
        _("periods scored per run"), default=8, help_text=_("the most recent periods the detector scores")
    )
    min_total = models.PositiveIntegerField(
        _("minimum records per series"), default=20, help_text=_("sparser series are not monitored")
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ("name",)
        verbose_name = _("series family")
        verbose_name_plural = _("series families")

    def __str__(self) -> str:
        return self.name

    @property
    def by_columns(self) -> list[str]:
        return [c.strip() for c in self.by.split(",") if c.strip()]

    visible_q = classmethod(lambda cls, user: _staff_q(user))
    editable_q = classmethod(lambda cls, user: _staff_q(user))


class EarlyWarningRun(ChangeLoggedModel):
    """One run of the early-warning job over every active series family.

    ``task_id`` is set when the run starts, so that the stale-task recovery can find and fail the run of a
    worker that died; ``status`` says whether it finished, is still running or failed (``error`` why)."""

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        FINISHED = "finished", _("completed")
        FAILED = "failed", _("failed")

    started = models.DateTimeField(_("started"), auto_now_add=True)
    finished = models.DateTimeField(_("finished"), null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    task_id = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RUNNING)
    error = models.TextField(_("error"), blank=True)
    n_series = models.PositiveIntegerField(_("series"), default=0)
    n_alarms = models.PositiveIntegerField(_("alarms"), default=0)
    n_new_alarms = models.PositiveIntegerField(_("new alarms"), default=0)
    n_new_signals = models.PositiveIntegerField(_("new signals"), default=0)
    report = models.TextField(_("report"), blank=True)

    class Meta:
        ordering = ("-started", "-id")
        verbose_name = _("early-warning run")
        verbose_name_plural = _("early-warning runs")

    def __str__(self) -> str:
        return f"{self.started:%Y-%m-%d %H:%M}: {self.n_new_signals} new signal(s)"

    visible_q = classmethod(lambda cls, user: _staff_q(user))


def _assign_signal(signal: Signal, user: Any, reason: str) -> None:
    from django.utils import timezone

    from qslab.core.calendar import add_days

    signal.assignee = user
    signal.due = add_days(timezone.localdate(), 10)
    signal.save(update_fields=["assignee", "due"])


class Signal(ChangeLoggedModel):
    """Alarms on one series, grouped while the signal is open, for an analyst to triage."""

    class Status(models.TextChoices):
        NEW = "new", _("new")
        TRIAGED = "triaged", _("under review")
        ESCALATED = "escalated", _("escalated to assessment")
        DISMISSED = "dismissed", _("dismissed")

    class Severity(models.TextChoices):
        LOW = "low", _("low")
        MEDIUM = "medium", _("medium")
        HIGH = "high", _("high")

    OPEN = (Status.NEW, Status.TRIAGED)

    workflow = Workflow(
        state_field="status",
        states=(
            State("new", "new", "新信号"),
            State("triaged", "under review", "研判中"),
            State("escalated", "escalated to assessment", "已转风险评估", terminal=True),
            State("dismissed", "dismissed", "已排除", terminal=True),
        ),
        transitions=(
            Transition(
                "triage",
                ("new",),
                "triaged",
                (Role.ANALYST, Role.OFFICE),
                "take for review",
                "开始研判",
                on_enter=_assign_signal,
                deadline=DeadlineRule(
                    10,
                    "Decide on the early-warning signal",
                    "对预警信号作出研判结论",
                    assignee_role=Role.ANALYST,
                ),
            ),
            Transition(
                "escalate",
                ("new", "triaged"),
                "escalated",
                (Role.ANALYST, Role.OFFICE),
                "escalate to risk assessment",
                "转入风险评估",
                requires_reason=True,
            ),
            Transition(
                "dismiss",
                ("new", "triaged"),
                "dismissed",
                (Role.ANALYST, Role.OFFICE),
                "dismiss",
                "排除",
                requires_reason=True,
            ),
        ),
    )

    family = models.ForeignKey(
        SeriesFamily, verbose_name=_("series family"), on_delete=models.PROTECT, related_name="signals"
    )
    unit = models.CharField(_("series"), max_length=300)
    unit_label = models.CharField(_("series label"), max_length=400, blank=True)
    first_period = models.DateField(_("first alarm"))
    last_period = models.DateField(_("latest alarm"))
    observed = models.FloatField(_("observed"))
    upperbound = models.FloatField(_("threshold"))
    method = models.CharField(_("detector"), max_length=32)
    config = models.JSONField(_("detector settings"), default=dict)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.NEW)
    severity = models.CharField(_("severity"), max_length=8, choices=Severity.choices, default=Severity.LOW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    due = models.DateField(_("due"), null=True, blank=True)
    run = models.ForeignKey(
        EarlyWarningRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-last_period", "-id")
        indexes = [models.Index(fields=["family", "unit", "status"])]
        verbose_name = _("signal")
        verbose_name_plural = _("signals")

    def __str__(self) -> str:
        return f"{self.family.name}: {self.unit_label or self.unit} ({self.last_period})"

    def get_absolute_url(self) -> str:
        return reverse("risk:signal", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    visible_q = classmethod(lambda cls, user: _staff_q(user))
    editable_q = classmethod(
        lambda cls, user: (
            models.Q(status__in=[s.value for s in cls.OPEN]) if is_risk_staff(user) else models.Q(pk__in=[])
        )
    )


class Alarm(models.Model):
    """One alarmed period of one series; stored once, whatever the number of runs."""

    signal = models.ForeignKey(Signal, on_delete=models.CASCADE, related_name="alarms")
    family = models.ForeignKey(SeriesFamily, on_delete=models.PROTECT, related_name="+")
    unit = models.CharField(max_length=300)
    period = models.DateField()
    observed = models.FloatField()
    upperbound = models.FloatField()
    run = models.ForeignKey(EarlyWarningRun, null=True, on_delete=models.SET_NULL, related_name="alarms")

    class Meta:
        ordering = ("period",)
        constraints = [
            models.UniqueConstraint(fields=["family", "unit", "period"], name="risk_one_alarm_per_period")
        ]

    def __str__(self) -> str:
        return f"{self.unit} {self.period}: {self.observed:g} > {self.upperbound:g}"


# ------------------------------------------------------------------------------------------------
# risk assessment by the injury-scenario method (issue 14 item 1)


class RiskLevel(models.TextChoices):
    SERIOUS = "serious", _("serious risk")
    HIGH = "high", _("high risk")
    MEDIUM = "medium", _("medium risk")
    LOW = "low", _("low risk")


#: Order of the risk levels, lowest first (used to pick the highest).
RISK_LEVEL_ORDER = ("low", "medium", "high", "serious")


class RiskMatrix(ChangeLoggedModel):
    """Reference data: probability bands x severity 1-4 -> risk level, and how scenarios combine.

    ``bands`` is a list, most probable first, of ``{"above": p, "levels": [l1, l2, l3, l4]}``: a
    scenario whose overall probability is greater than ``p`` (and not in an earlier band) gets
    ``levels[severity - 1]``. The last band should have ``"above": 0``. The shipped matrix is the EU
    Safety Gate table as recalled (not re-read), so it is marked unverified and can be edited.
    """

    class Combination(models.TextChoices):
        HIGHEST = "highest", _("the highest-risk scenario decides")
        FIRST = "first", _("the first scenario (intended user and use) decides")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200, blank=True)
    name_en = models.CharField(_("name (English)"), max_length=200)
    source = models.TextField(_("source"), blank=True)
    verified = models.BooleanField(
        _("verified against the legal text"),
        default=False,
        help_text=_("unverified matrices are flagged on every assessment that uses them"),
    )
    bands = models.JSONField(_("probability bands"), default=list)
    severities = models.JSONField(
        _("severity levels"),
        default=list,
        blank=True,
        help_text=_(
            'what severity 1 to 4 means, four entries {"zh": ..., "en": ...} shown when a scenario\'s '
            "severity is chosen; empty: the built-in short descriptions"
        ),
    )
    combination = models.CharField(
        _("how scenarios combine"), max_length=16, choices=Combination.choices, default=Combination.HIGHEST
    )
    is_default = models.BooleanField(_("default for new assessments"), default=False)
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        ordering = ("-is_default", "code")
        verbose_name = _("risk matrix")
        verbose_name_plural = _("risk matrices")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        problems = []
        previous = None
        if not isinstance(self.bands, list) or not self.bands:
            raise ValidationError({"bands": [_("Give at least one probability band.")]})
        for i, band in enumerate(self.bands, start=1):
            try:
                above = float(band["above"])
                levels = list(band["levels"])
            except (KeyError, TypeError, ValueError):
                problems.append(_("Band %(i)d needs “above” (a probability) and “levels”.") % {"i": i})
                continue
            if not 0 <= above < 1:
                problems.append(_("Band %(i)d: “above” must be from 0 to below 1.") % {"i": i})
            if previous is not None and above >= previous:
                problems.append(
                    _("Band %(i)d: bands must go from the most to the least probable.") % {"i": i}
                )
            previous = above
            if len(levels) != 4 or any(level not in RISK_LEVEL_ORDER for level in levels):
                problems.append(
                    _("Band %(i)d: give four levels (severity 1 to 4), each serious, high, medium or low.")
                    % {"i": i}
                )
        if problems:
            raise ValidationError({"bands": problems})
        if self.severities:
            ok = isinstance(self.severities, list) and len(self.severities) == 4
            ok = ok and all(
                isinstance(item, dict)
                and set(item) <= {"zh", "en"}
                and all(isinstance(v, str) for v in item.values())
                and any(str(v).strip() for v in item.values())
                for item in self.severities
            )
            if not ok:
                raise ValidationError(
                    {
                        "severities": [
                            _('Give four severity levels (1 to 4), each {"zh": ..., "en": ...}, or none.')
                        ]
                    }
                )

    def severity_choices(self) -> list[tuple[int, str]] | None:
        """``[(1, "1: ..."), ...]`` in the current language from ``severities``; None when not set."""
        from django.utils.translation import get_language

        if not self.severities:
            return None
        first, second = ("zh", "en") if (get_language() or "").startswith("zh") else ("en", "zh")
        out = []
        for n, item in enumerate(self.severities, start=1):
            text = (item.get(first) or item.get(second) or "").strip()
            out.append((n, f"{n}: {text}"))
        return out

    def level_for(self, probability: float, severity: int) -> str:
        """The risk level of one scenario; the band is the first whose ``above`` is exceeded."""
        for band in self.bands:
            if probability > float(band["above"]):
                return str(band["levels"][int(severity) - 1])
        return str(self.bands[-1]["levels"][int(severity) - 1])

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return ALL if has_role(user, Role.OFFICE) else models.Q(pk__in=[])


def _assessment_ready(assessment: RiskAssessment) -> str | None:
    from qslab.risk.assessment import readiness_problem

    return readiness_problem(assessment)


def _complete_assessment(assessment: RiskAssessment, user: Any, reason: str) -> None:
    from qslab.risk.services import finalise_assessment

    finalise_assessment(assessment, user)


class RiskAssessment(ChangeLoggedModel):
    """A risk assessment of one product and hazard by injury scenarios (EU Safety Gate method).

    Made standalone or from an escalated signal; completing it fixes the risk level and issues the
    numbered report (``document``).
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        COMPLETED = "completed", _("completed")
        WITHDRAWN = "withdrawn", _("withdrawn")

    workflow = Workflow(
        state_field="status",
        states=(
            State("draft", "draft", "草稿"),
            State("completed", "completed", "已完成"),
            State("withdrawn", "withdrawn", "已撤销", terminal=True),
        ),
        transitions=(
            Transition(
                "complete",
                ("draft",),
                "completed",
                (Role.ANALYST, Role.OFFICE),
                "complete and issue the report",
                "完成并出具报告",
                guard=_assessment_ready,
                on_enter=_complete_assessment,
            ),
            Transition(
                "withdraw",
                ("draft", "completed"),
                "withdrawn",
                (Role.ANALYST, Role.OFFICE),
                "withdraw",
                "撤销",
                requires_reason=True,
            ),
        ),
    )

    reference = models.CharField(_("reference"), max_length=20, unique=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    title_zh = models.CharField(_("title (Chinese)"), max_length=200, blank=True)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    product_category = models.ForeignKey(
        Term,
        verbose_name=_("product category"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": Term.Kind.PRODUCT},
    )
    hazard = models.ForeignKey(
        Term,
        verbose_name=_("hazard"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": Term.Kind.HAZARD},
    )
    product_name = models.CharField(_("product"), max_length=200, blank=True)
    brand = models.CharField(_("brand"), max_length=120, blank=True)
    model = models.CharField(_("model"), max_length=120, blank=True)
    batch = models.CharField(_("batch or lot"), max_length=80, blank=True)
    barcode = models.CharField(_("barcode (EAN/UPC/GTIN)"), max_length=20, blank=True)
    product_description = models.TextField(_("product description"), blank=True)
    signal = models.ForeignKey(
        Signal,
        verbose_name=_("from signal"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assessments",
    )
    matrix = models.ForeignKey(RiskMatrix, verbose_name=_("risk matrix"), on_delete=models.PROTECT)
    risk_level = models.CharField(_("risk level"), max_length=16, choices=RiskLevel.choices, blank=True)
    deciding_scenario = models.ForeignKey(
        "RiskScenario", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conclusion_zh = models.TextField(_("conclusion (Chinese)"), blank=True)
    conclusion_en = models.TextField(_("conclusion (English)"), blank=True)
    assessor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assessor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    document = models.ForeignKey(
        "core.OfficialDocument",
        verbose_name=_("report"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ("-created", "-id")
        verbose_name = _("risk assessment")
        verbose_name_plural = _("risk assessments")

    def __str__(self) -> str:
        return f"{self.reference} {self.title}".strip()

    def get_absolute_url(self) -> str:
        return reverse("risk:assessment", args=[self.pk])

    @property
    def title(self) -> str:
        return bilingual(self.title_zh, self.title_en) or self.product_name

    @property
    def conclusion(self) -> str:
        return bilingual(self.conclusion_zh, self.conclusion_en)

    visible_q = classmethod(lambda cls, user: _staff_q(user))
    editable_q = classmethod(
        lambda cls, user: models.Q(status=cls.Status.DRAFT) if is_risk_staff(user) else models.Q(pk__in=[])
    )


class RiskScenario(models.Model):
    """One injury scenario: who, how, the steps to harm (their probabilities multiply) and the severity."""

    assessment = models.ForeignKey(RiskAssessment, on_delete=models.CASCADE, related_name="scenarios")
    position = models.PositiveSmallIntegerField(_("order"), default=1)
    description_zh = models.TextField(_("scenario (Chinese)"), blank=True)
    description_en = models.TextField(_("scenario (English)"), blank=True)
    consumer = models.CharField(
        _("consumer"), max_length=200, blank=True, help_text=_("e.g. intended adult user; child 0-36 months")
    )
    injury = models.CharField(_("injury"), max_length=200, blank=True)
    severity = models.PositiveSmallIntegerField(
        _("severity (1-4)"), choices=[(1, "1"), (2, "2"), (3, "3"), (4, "4")]
    )
    probability = models.FloatField(_("overall probability"), null=True, blank=True)
    risk_level = models.CharField(_("risk level"), max_length=16, choices=RiskLevel.choices, blank=True)

    class Meta:
        ordering = ("assessment", "position", "id")
        verbose_name = _("injury scenario")
        verbose_name_plural = _("injury scenarios")

    def __str__(self) -> str:
        return bilingual(self.description_zh, self.description_en)[:80] or f"#{self.position}"

    @property
    def description(self) -> str:
        return bilingual(self.description_zh, self.description_en)


class ScenarioStep(models.Model):
    """One step of a scenario with its probability (0 < p <= 1)."""

    scenario = models.ForeignKey(RiskScenario, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("order"), default=1)
    description_zh = models.CharField(_("step (Chinese)"), max_length=300, blank=True)
    description_en = models.CharField(_("step (English)"), max_length=300, blank=True)
    probability = models.FloatField(_("probability"))
    probability_text = models.CharField(
        _("probability as entered"), max_length=40, blank=True, help_text=_("e.g. 1/50 or 0.02")
    )

    class Meta:
        ordering = ("scenario", "position", "id")
        verbose_name = _("scenario step")
        verbose_name_plural = _("scenario steps")

    def __str__(self) -> str:
        return f"{self.description} ({self.probability_text or self.probability:g})"

    @property
    def description(self) -> str:
        return bilingual(self.description_zh, self.description_en)


# ------------------------------------------------------------------------------------------------
# consumer alerts (issue 14 item 2)


def _alert_ready(alert: ConsumerAlert) -> str | None:
    from qslab.risk.alerts import readiness_problem

    return readiness_problem(alert)


def _publish_alert(alert: ConsumerAlert, user: Any, reason: str) -> None:
    from django.utils import timezone

    alert.approved_by = user
    alert.published_at = timezone.now()
    alert.save(update_fields=["approved_by", "published_at"])


def _alert_author(alert: ConsumerAlert) -> list[Any]:
    return [alert.author] if alert.author_id else []


def _office_users(alert: ConsumerAlert) -> list[Any]:
    from qslab.accounts.models import User

    return list(
        User.objects.filter(role_memberships__role=Role.OFFICE, role_memberships__active=True).distinct()
    )


class ConsumerAlert(ChangeLoggedModel):
    """A bilingual consumer alert: public fields (product, photos, hazard, risk, measures, advice) and
    confidential fields (operator, supply chain, sources, notes) that never leave the office.

    Drafted by analysts, approved and so published by the committee office.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        SUBMITTED = "submitted", _("awaiting approval")
        PUBLISHED = "published", _("published")
        WITHDRAWN = "withdrawn", _("withdrawn")

    class NotificationType(models.TextChoices):
        SERIOUS = "serious", _("serious risk")
        OTHER = "other", _("other risk")
        INFORMATION = "information", _("for information")

    workflow = Workflow(
        state_field="status",
        states=(
            State("draft", "draft", "草稿"),
            State("submitted", "awaiting approval", "待审批"),
            State("published", "published", "已发布"),
            State("withdrawn", "withdrawn", "已撤回", terminal=True),
        ),
        transitions=(
            Transition(
                "submit",
                ("draft",),
                "submitted",
                (Role.ANALYST, Role.OFFICE),
                "submit for approval",
                "提交审批",
                guard=_alert_ready,
                notify=_office_users,
            ),
            Transition(
                "return",
                ("submitted",),
                "draft",
                (Role.OFFICE,),
                "return for changes",
                "退回修改",
                requires_reason=True,
                notify=_alert_author,
            ),
            Transition(
                "approve",
                ("submitted",),
                "published",
                (Role.OFFICE,),
                "approve and publish",
                "批准并发布",
                guard=_alert_ready,
                on_enter=_publish_alert,
                notify=_alert_author,
            ),
            Transition(
                "withdraw",
                ("draft", "submitted", "published"),
                "withdrawn",
                (Role.OFFICE,),
                "withdraw",
                "撤回",
                requires_reason=True,
                notify=_alert_author,
            ),
        ),
    )

    #: Fields that may appear on the public page, in the feed, the digest and the public API.
    PUBLIC_FIELDS = (
        "reference",
        "notification_type",
        "title_zh",
        "title_en",
        "product_category",
        "product_name_zh",
        "product_name_en",
        "brand",
        "model",
        "batch",
        "barcode",
        "product_description_zh",
        "product_description_en",
        "country_of_origin",
        "hazard",
        "risk_level",
        "hazard_description_zh",
        "hazard_description_en",
        "measures_zh",
        "measures_en",
        "advice_zh",
        "advice_en",
        "published_at",
    )
    #: Fields kept by the office only.
    CONFIDENTIAL_FIELDS = (
        "operator_name",
        "operator_contact",
        "supply_chain",
        "information_source",
        "internal_notes",
    )

    reference = models.CharField(_("reference"), max_length=20, unique=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    notification_type = models.CharField(
        _("notification type"),
        max_length=16,
        choices=NotificationType.choices,
        default=NotificationType.SERIOUS,
    )
    assessment = models.ForeignKey(
        RiskAssessment,
        verbose_name=_("risk assessment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts",
    )
    # public: product identity
    title_zh = models.CharField(_("title (Chinese)"), max_length=200, blank=True)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    product_category = models.ForeignKey(
        Term,
        verbose_name=_("product category"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": Term.Kind.PRODUCT},
    )
    product_name_zh = models.CharField(_("product (Chinese)"), max_length=200, blank=True)
    product_name_en = models.CharField(_("product (English)"), max_length=200, blank=True)
    brand = models.CharField(_("brand"), max_length=120, blank=True)
    model = models.CharField(_("model or type"), max_length=120, blank=True)
    batch = models.CharField(_("batch or lot"), max_length=200, blank=True)
    barcode = models.CharField(_("barcode (EAN/UPC/GTIN)"), max_length=20, blank=True)
    product_description_zh = models.TextField(_("description (Chinese)"), blank=True)
    product_description_en = models.TextField(_("description (English)"), blank=True)
    country_of_origin = models.CharField(_("country of origin"), max_length=80, blank=True)
    # public: hazard, risk, measures, advice
    hazard = models.ForeignKey(
        Term,
        verbose_name=_("hazard"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": Term.Kind.HAZARD},
    )
    risk_level = models.CharField(_("risk level"), max_length=16, choices=RiskLevel.choices, blank=True)
    hazard_description_zh = models.TextField(_("the hazard (Chinese)"), blank=True)
    hazard_description_en = models.TextField(_("the hazard (English)"), blank=True)
    measures_zh = models.TextField(_("measures taken (Chinese)"), blank=True)
    measures_en = models.TextField(_("measures taken (English)"), blank=True)
    advice_zh = models.TextField(_("advice to consumers (Chinese)"), blank=True)
    advice_en = models.TextField(_("advice to consumers (English)"), blank=True)
    # confidential
    operator_name = models.CharField(_("economic operator (confidential)"), max_length=200, blank=True)
    operator_contact = models.TextField(_("operator contact (confidential)"), blank=True)
    supply_chain = models.TextField(_("supply chain and distribution (confidential)"), blank=True)
    information_source = models.TextField(_("source of the information (confidential)"), blank=True)
    internal_notes = models.TextField(_("internal notes (confidential)"), blank=True)
    # workflow
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    published_at = models.DateTimeField(_("published"), null=True, blank=True)

    class Meta:
        ordering = ("-published_at", "-created", "-id")
        verbose_name = _("consumer alert")
        verbose_name_plural = _("consumer alerts")

    def __str__(self) -> str:
        return f"{self.reference} {self.title}".strip()

    def get_absolute_url(self) -> str:
        return reverse("risk:alert", args=[self.pk])

    @property
    def title(self) -> str:
        return bilingual(self.title_zh, self.title_en)

    @property
    def product_name(self) -> str:
        return bilingual(self.product_name_zh, self.product_name_en)

    @property
    def is_public(self) -> bool:
        return self.status == self.Status.PUBLISHED

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL if is_risk_staff(user) else models.Q(status=cls.Status.PUBLISHED)

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return models.Q(status__in=[cls.Status.DRAFT, cls.Status.SUBMITTED])
        if has_role(user, Role.ANALYST):
            return models.Q(status=cls.Status.DRAFT)
        return models.Q(pk__in=[])


def alert_photo_path(instance: AlertPhoto, filename: str) -> str:
    return f"risk/alerts/{instance.alert.reference}/{filename}"


class AlertPhoto(models.Model):
    """A public photo of the alerted product."""

    alert = models.ForeignKey(ConsumerAlert, on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField(_("photo"), upload_to=alert_photo_path, validators=[photo_validator])
    caption_zh = models.CharField(_("caption (Chinese)"), max_length=200, blank=True)
    caption_en = models.CharField(_("caption (English)"), max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ("alert", "position", "id")
        verbose_name = _("alert photo")
        verbose_name_plural = _("alert photos")

    def __str__(self) -> str:
        return self.caption

    @property
    def caption(self) -> str:
        return bilingual(self.caption_zh, self.caption_en)


class AlertUpdate(ChangeLoggedModel):
    """A follow-up to a published alert (new batches, measures, recall progress), public or internal."""

    alert = models.ForeignKey(ConsumerAlert, on_delete=models.CASCADE, related_name="updates")
    date = models.DateField(_("date"))
    text_zh = models.TextField(_("update (Chinese)"), blank=True)
    text_en = models.TextField(_("update (English)"), blank=True)
    is_public = models.BooleanField(_("public"), default=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("alert", "date", "id")
        verbose_name = _("alert update")
        verbose_name_plural = _("alert updates")

    def __str__(self) -> str:
        return f"{self.date}: {self.text[:60]}"

    @property
    def text(self) -> str:
        return bilingual(self.text_zh, self.text_en)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if is_risk_staff(user):
            return ALL
        return models.Q(is_public=True, alert__status=ConsumerAlert.Status.PUBLISHED)

    editable_q = classmethod(lambda cls, user: _staff_q(user))


class AlertDigest(ChangeLoggedModel):
    """The weekly digest of alerts published in one ISO week (built by the weekly job)."""

    year = models.PositiveSmallIntegerField(_("year"))
    week = models.PositiveSmallIntegerField(_("week"))
    start = models.DateField(_("from"))
    end = models.DateField(_("to"))
    alerts = models.ManyToManyField(ConsumerAlert, blank=True, related_name="digests")
    built_at = models.DateTimeField(_("built"), auto_now=True)

    class Meta:
        ordering = ("-year", "-week")
        constraints = [models.UniqueConstraint(fields=["year", "week"], name="risk_one_digest_per_week")]
        verbose_name = _("weekly alert digest")
        verbose_name_plural = _("weekly alert digests")

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    def get_absolute_url(self) -> str:
        return reverse("risk:digest", args=[self.year, self.week])

    visible_q = classmethod(lambda cls, user: ALL)
    editable_q = classmethod(lambda cls, user: models.Q(pk__in=[]))


# ------------------------------------------------------------------------------------------------
# full-text search index (``qslab.risk.search``)


class SearchDocument(models.Model):
    """The searchable text of one defect pattern or incident report, kept in sync by signals.

    ``public_text`` holds what anyone who may see the object may search (coded names, titles, public
    summaries); ``private_text`` the confidential rest (narratives, brand, model), searched only by risk
    staff and, for a report, by its reporter. SQLite indexes both columns in the FTS5 table
    ``risk_search_fts`` (trigram tokenizer); PostgreSQL in GIN indexes (``simple`` text search and
    pg_trgm). Not a record of its own: no permissions, never shown.
    """

    class Kind(models.TextChoices):
        PATTERN = "pattern", _("defect pattern")
        REPORT = "report", _("incident report")
        ALERT = "alert", _("consumer alert")

    kind = models.CharField(max_length=8, choices=Kind.choices)
    object_id = models.PositiveBigIntegerField()
    public_text = models.TextField(blank=True)
    private_text = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="risk_searchdoc_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id}"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return NONE

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return NONE
