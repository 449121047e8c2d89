"""What the laboratories produce: standards they lead or join, tracked through the drafting lifecycle,
and their other outputs (methods, equipment, reference materials, patents, papers, software, reports,
technology transfers, talent and exchanges), each claimed by the lab and verified by the office.

Guiding Opinions I and II.4 items 1-2 (standards, certification methods, equipment, new technologies,
talent and academic exchanges, quality-policy research).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from qslab.accounts.roles import Role, has_role, scoped_ids
from qslab.core.models import ChangeLoggedModel, bilingual
from qslab.core.workflow import State, Transition, Workflow
from qslab.labs.models import Laboratory

# --------------------------------------------------------------------------------------------------
# Who may act: the manager of the record's own laboratory, or the office
# --------------------------------------------------------------------------------------------------


def _lab_or_office(user: Any, obj: Any) -> bool:
    return has_role(user, Role.OFFICE) or has_role(user, Role.LAB_MANAGER, scope=obj.laboratory)


def _office(user: Any, obj: Any) -> bool:
    return has_role(user, Role.OFFICE)


def _own_labs_q(user: Any, prefix: str = "laboratory") -> models.Q | None:
    """``None`` when the user's lab-manager role is unscoped (all labs); else a Q on the labs."""
    ids = scoped_ids(user, Role.LAB_MANAGER, Laboratory)
    if ids is None:
        return None
    return models.Q(**{f"{prefix}__in": ids})


ALL = models.Q(pk__isnull=False)  # "every row", safe to OR with (an empty Q() is dropped by |)


def _readers_q(user: Any) -> models.Q | None:
    """All rows for the office and committee; the labs of an authority's jurisdiction; else ``None``."""
    if has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE):
        return ALL
    q = None
    if has_role(user, Role.AUTHORITY):
        labs = Laboratory.objects.filter(Laboratory.jurisdiction_q(user)).values("pk")
        q = models.Q(laboratory__in=labs)
    if has_role(user, Role.LAB_MANAGER):
        own = _own_labs_q(user)
        own = ALL if own is None else own
        q = own if q is None else q | own
    return q


# --------------------------------------------------------------------------------------------------
# Standards
# --------------------------------------------------------------------------------------------------


class StandardLevel(models.TextChoices):
    NATIONAL = "national", _("national")
    INDUSTRY = "industry", _("industry")
    LOCAL = "local", _("local")
    GROUP = "group", _("group (association)")
    INTERNATIONAL = "international", _("international")


class StandardNature(models.TextChoices):
    MANDATORY = "mandatory", _("mandatory")
    RECOMMENDED = "recommended", _("recommended")
    GUIDANCE = "guidance", _("guidance")


VERIFICATION_WORKFLOW_STATES = (
    State("claimed", "claimed", "已申报"),
    State("verified", "verified", "已核实"),
    State("rejected", "rejected", "未予认定"),
)
VERIFICATION_STATES = [(s.value, s.label_en) for s in VERIFICATION_WORKFLOW_STATES]


def _needs_number(std: Standard) -> str | None:
    if not std.number:
        return str(_("A standard is published with its number: enter the standard number first."))
    return None


# Stage -> the date field recorded when the standard reaches it.
STAGE_DATES = {
    "proposal": "proposed_on",
    "project": "project_approved_on",
    "working_draft": "working_draft_on",
    "for_comments": "for_comments_on",
    "review": "review_on",
    "approved": "approved_on",
    "published": "published_on",
    "revised": "revised_on",
    "withdrawn": "withdrawn_on",
}

PUBLIC_STAGES = ("published", "revised")


def _stage_date(std: Standard, user: Any, reason: str) -> None:
    from django.utils import timezone

    field = STAGE_DATES[std.stage]
    if getattr(std, field) is None:
        setattr(std, field, timezone.localdate())
        std.save(update_fields=[field])


def _t(name: str, source: tuple[str, ...], target: str, en: str, zh: str, **kw: Any) -> Transition:
    return Transition(
        name,
        source,
        target,
        (Role.LAB_MANAGER, Role.OFFICE),
        en,
        zh,
        allowed=_lab_or_office,
        on_enter=_stage_date,
        **kw,
    )


class Standard(ChangeLoggedModel):
    """A standard a laboratory leads or takes part in drafting, from proposal to publication."""

    class DrafterRole(models.TextChoices):
        LEAD = "lead", _("lead drafter")
        PARTICIPANT = "participant", _("participating drafter")

    workflow = Workflow(
        state_field="stage",
        states=(
            State("proposal", "proposal", "提案"),
            State("project", "approved project", "立项"),
            State("working_draft", "working draft", "起草（工作组讨论稿）"),
            State("for_comments", "draft for comments", "征求意见稿"),
            State("review", "review", "审查（送审稿）"),
            State("approved", "approved", "批准（报批稿）"),
            State("published", "published", "发布"),
            State("revised", "revised (superseded)", "已修订（被代替）", terminal=True),
            State("withdrawn", "withdrawn", "废止/撤销", terminal=True),
        ),
        transitions=(
            _t("approve_project", ("proposal",), "project", "record project approval", "登记立项"),
            _t("start_drafting", ("project",), "working_draft", "start drafting", "开始起草"),
            _t("circulate", ("working_draft",), "for_comments", "circulate for comments", "征求意见"),
            _t("submit_review", ("for_comments",), "review", "submit for review", "提交审查"),
            _t(
                "send_back",
                ("for_comments", "review"),
                "working_draft",
                "send back to drafting",
                "退回起草",
                requires_reason=True,
            ),
            _t("approve", ("review",), "approved", "record approval", "登记批准"),
            _t("publish", ("approved",), "published", "record publication", "登记发布", guard=_needs_number),
            _t(
                "revise",
                ("published",),
                "revised",
                "record revision (superseded)",
                "登记修订",
                requires_reason=True,
            ),
            _t(
                "withdraw",
                ("proposal", "project", "working_draft", "for_comments", "review", "approved", "published"),
                "withdrawn",
                "withdraw",
                "废止/撤销",
                requires_reason=True,
            ),
        ),
    )

    laboratory = models.ForeignKey(
        Laboratory, verbose_name=_("laboratory"), on_delete=models.PROTECT, related_name="standards"
    )
    number = models.CharField(
        _("standard number"),
        max_length=60,
        blank=True,
        help_text=_(
            "As in GB/T 12345-2026, T/CAQI 123-2022 or ISO 5725-2:2019; may be empty until published."
        ),
    )
    project_number = models.CharField(_("project number"), max_length=60, blank=True)
    level = models.CharField(_("level"), max_length=16, choices=StandardLevel.choices)
    nature = models.CharField(_("nature"), max_length=16, choices=StandardNature.choices, blank=True)
    issuer = models.CharField(_("issuing body code"), max_length=20, blank=True)
    title_zh = models.CharField(_("title (Chinese)"), max_length=300)
    title_en = models.CharField(_("title (English)"), max_length=300, blank=True)
    role = models.CharField(_("role of the laboratory"), max_length=12, choices=DrafterRole.choices)
    stage = models.CharField(_("stage"), max_length=16, choices=workflow.choices(), default="proposal")
    proposed_on = models.DateField(_("proposed on"), null=True, blank=True)
    project_approved_on = models.DateField(_("project approved on"), null=True, blank=True)
    working_draft_on = models.DateField(_("drafting started on"), null=True, blank=True)
    for_comments_on = models.DateField(_("circulated for comments on"), null=True, blank=True)
    review_on = models.DateField(_("submitted for review on"), null=True, blank=True)
    approved_on = models.DateField(_("approved on"), null=True, blank=True)
    published_on = models.DateField(_("published on"), null=True, blank=True)
    implemented_on = models.DateField(_("in force from"), null=True, blank=True)
    revised_on = models.DateField(_("revised on"), null=True, blank=True)
    withdrawn_on = models.DateField(_("withdrawn on"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # The verification study that supports the standard (studies app), a loose reference so the two
    # apps stay independent.
    study_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    study_id = models.CharField(max_length=64, blank=True)
    study = GenericForeignKey("study_type", "study_id")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The office's verification of what the laboratory claims (its role, the number, the stage reached):
    # a second workflow, run through the proxy ``StandardClaim``.
    verification = models.CharField(
        _("verification"), max_length=12, choices=VERIFICATION_STATES, default="claimed"
    )
    verification_note = models.TextField(_("reason for rejection"), blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verified_on = models.DateField(_("verified on"), null=True, blank=True)

    class Meta:
        ordering = ("laboratory", "-published_on", "number", "pk")
        verbose_name = _("standard")
        verbose_name_plural = _("standards")
        constraints = [
            models.UniqueConstraint(
                fields=("laboratory", "number"),
                condition=~models.Q(number=""),
                name="outputs_standard_unique_number_per_lab",
            )
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}" if self.number else self.title

    @property
    def title(self) -> str:
        return bilingual(self.title_zh, self.title_en)

    @property
    def stage_label(self) -> str:
        return self.workflow.state(self.stage).label

    def get_absolute_url(self) -> str:
        return reverse("outputs:standard", args=[self.pk])

    @property
    def verification_label(self) -> str:
        return StandardClaim.workflow.state(self.verification).label

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        public = models.Q(stage__in=PUBLIC_STAGES, verification="verified")
        q = _readers_q(user)
        return public if q is None else q | public

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return models.Q()
        if has_role(user, Role.LAB_MANAGER):
            own = _own_labs_q(user)
            return ~models.Q(stage__in=("revised", "withdrawn")) & (models.Q() if own is None else own)
        return models.Q(pk__in=[])


def _claim_verified(std: Standard, user: Any, reason: str) -> None:
    from django.utils import timezone

    std.verification_note = ""
    std.verified_by = user
    std.verified_on = timezone.localdate()
    std.save(update_fields=["verification_note", "verified_by", "verified_on"])


def _claim_rejected(std: Standard, user: Any, reason: str) -> None:
    std.verification_note = reason
    std.verified_by = None
    std.verified_on = None
    std.save(update_fields=["verification_note", "verified_by", "verified_on"])


def _claim_reopened(std: Standard, user: Any, reason: str) -> None:
    std.verified_by = None
    std.verified_on = None
    std.save(update_fields=["verified_by", "verified_on"])


class StandardClaim(Standard):
    """The same row as :class:`Standard`, seen as a claim the office verifies: the workflow of the
    ``verification`` field (claimed -> verified or rejected with a reason). Its steps are audited in the
    standard's own history."""

    workflow = Workflow(
        state_field="verification",
        states=VERIFICATION_WORKFLOW_STATES,
        transitions=(
            Transition(
                "verify", ("claimed",), "verified", (Role.OFFICE,), "verify", "核实",
                allowed=_office, on_enter=_claim_verified,
            ),
            Transition(
                "reject", ("claimed",), "rejected", (Role.OFFICE,), "reject", "不予认定",
                allowed=_office, requires_reason=True, on_enter=_claim_rejected,
            ),
            Transition(
                "resubmit", ("rejected",), "claimed", (Role.LAB_MANAGER, Role.OFFICE), "claim again",
                "重新申报", allowed=_lab_or_office,
            ),
            Transition(
                "reopen", ("verified",), "claimed", (Role.OFFICE,), "reopen verification", "重新核实",
                allowed=_office, requires_reason=True, on_enter=_claim_reopened,
            ),
            Transition(
                "amend", ("verified",), "claimed", (Role.LAB_MANAGER, Role.OFFICE),
                "changed after verification", "核实后变更",
                allowed=_lab_or_office, requires_reason=True, on_enter=_claim_reopened,
            ),
        ),
    )  # fmt: skip

    class Meta:
        proxy = True
        verbose_name = _("standard claim")
        verbose_name_plural = _("standard claims")


# --------------------------------------------------------------------------------------------------
# Other outputs, talent and exchanges
# --------------------------------------------------------------------------------------------------


class OutputKind(models.TextChoices):
    TEST_METHOD = "test_method", _("test method")
    CERTIFICATION_METHOD = "certification_method", _("certification method")
    EQUIPMENT = "equipment", _("instrument or equipment developed")
    REFERENCE_MATERIAL = "reference_material", _("reference material")
    PATENT = "patent", _("patent")
    PAPER = "paper", _("paper")
    SOFTWARE = "software", _("software")
    POLICY_REPORT = "policy_report", _("policy or research report")
    IMPACT_REPORT = "impact_report", _("impact assessment report")
    TRANSFER = "transfer", _("technology transfer")
    TALENT = "talent", _("talent: title, programme or award")
    TRAINEE = "trainee", _("trainee")
    VISITOR = "visitor", _("visiting researcher")
    EVENT = "event", _("academic event hosted")
    EXCHANGE = "exchange", _("international exchange")


class PatentType(models.TextChoices):
    INVENTION = "invention", _("invention")
    UTILITY_MODEL = "utility_model", _("utility model")
    DESIGN = "design", _("design")


def _rejection(output: Output, user: Any, reason: str) -> None:
    output.rejection_reason = reason
    output.verified_by = None
    output.verified_on = None
    output.save(update_fields=["rejection_reason", "verified_by", "verified_on"])


def _verification(output: Output, user: Any, reason: str) -> None:
    from django.utils import timezone

    output.rejection_reason = ""
    output.verified_by = user
    output.verified_on = timezone.localdate()
    output.save(update_fields=["rejection_reason", "verified_by", "verified_on"])


def _clear_verification(output: Output, user: Any, reason: str) -> None:
    output.verified_by = None
    output.verified_on = None
    output.save(update_fields=["verified_by", "verified_on"])


class Output(ChangeLoggedModel):
    """One output a laboratory claims; the office verifies it (or rejects it, saying why)."""

    workflow = Workflow(
        state_field="status",
        states=(
            State("claimed", "claimed", "已申报"),
            State("verified", "verified", "已核实"),
            State("rejected", "rejected", "未予认定"),
        ),
        transitions=(
            Transition(
                "verify",
                ("claimed",),
                "verified",
                (Role.OFFICE,),
                "verify",
                "核实",
                allowed=_office,
                on_enter=_verification,
            ),
            Transition(
                "reject",
                ("claimed",),
                "rejected",
                (Role.OFFICE,),
                "reject",
                "不予认定",
                allowed=_office,
                requires_reason=True,
                on_enter=_rejection,
            ),
            Transition(
                "resubmit",
                ("rejected",),
                "claimed",
                (Role.LAB_MANAGER, Role.OFFICE),
                "claim again",
                "重新申报",
                allowed=_lab_or_office,
            ),
            Transition(
                "reopen",
                ("verified",),
                "claimed",
                (Role.OFFICE,),
                "reopen verification",
                "重新核实",
                allowed=_office,
                requires_reason=True,
                on_enter=_clear_verification,
            ),
        ),
    )

    laboratory = models.ForeignKey(
        Laboratory, verbose_name=_("laboratory"), on_delete=models.PROTECT, related_name="outputs"
    )
    kind = models.CharField(_("kind"), max_length=24, choices=OutputKind.choices)
    title_zh = models.CharField(_("title (Chinese)"), max_length=300)
    title_en = models.CharField(_("title (English)"), max_length=300, blank=True)
    year = models.PositiveIntegerField(_("year"))
    date = models.DateField(_("date"), null=True, blank=True)
    people = models.CharField(_("people (authors, inventors, the person)"), max_length=500, blank=True)
    description = models.TextField(_("description"), blank=True)
    doi = models.CharField(_("DOI"), max_length=200, blank=True)
    journal = models.CharField(_("journal"), max_length=200, blank=True)
    patent_type = models.CharField(_("patent type"), max_length=16, choices=PatentType.choices, blank=True)
    application_number = models.CharField(_("patent application number"), max_length=30, blank=True)
    grant_number = models.CharField(_("patent grant number"), max_length=30, blank=True)
    granted_on = models.DateField(_("granted on"), null=True, blank=True)
    value = models.DecimalField(_("value (10k CNY)"), max_digits=12, decimal_places=2, null=True, blank=True)
    participants = models.PositiveIntegerField(_("participants"), null=True, blank=True)
    counterpart = models.CharField(
        _("counterpart (partner, licensee, host or programme)"), max_length=300, blank=True
    )
    policy_question = models.TextField(_("policy question"), blank=True)
    impact_assessment = models.TextField(_("impact assessment"), blank=True)
    status = models.CharField(_("verification"), max_length=12, choices=workflow.choices(), default="claimed")
    rejection_reason = models.TextField(_("reason for rejection"), blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verified_on = models.DateField(_("verified on"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("laboratory", "-year", "kind", "pk")
        verbose_name = _("output")
        verbose_name_plural = _("outputs")
        constraints = [
            models.UniqueConstraint(
                fields=("doi",), condition=~models.Q(doi=""), name="outputs_output_unique_doi"
            ),
            models.UniqueConstraint(
                fields=("application_number",),
                condition=~models.Q(application_number=""),
                name="outputs_output_unique_application",
            ),
            models.UniqueConstraint(
                fields=("grant_number",),
                condition=~models.Q(grant_number=""),
                name="outputs_output_unique_grant",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        return bilingual(self.title_zh, self.title_en)

    @property
    def status_label(self) -> str:
        return self.workflow.state(self.status).label

    def get_absolute_url(self) -> str:
        return reverse("outputs:output", args=[self.pk])

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        public = models.Q(status="verified")
        q = _readers_q(user)
        return public if q is None else q | public

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return models.Q()
        if has_role(user, Role.LAB_MANAGER):
            own = _own_labs_q(user)
            return models.Q(status__in=("claimed", "rejected")) & (models.Q() if own is None else own)
        return models.Q(pk__in=[])


# --------------------------------------------------------------------------------------------------
# Staff register
# --------------------------------------------------------------------------------------------------


class StaffRole(models.TextChoices):
    DIRECTOR = "director", _("director")
    DEPUTY_DIRECTOR = "deputy_director", _("deputy director")
    CHIEF_EXPERT = "chief_expert", _("chief expert or academic leader")
    TECHNICAL_MANAGER = "technical_manager", _("technical manager")
    QUALITY_MANAGER = "quality_manager", _("quality manager")
    RESEARCHER = "researcher", _("researcher")
    ENGINEER = "engineer", _("engineer")
    TECHNICIAN = "technician", _("technician")
    POSTDOC = "postdoc", _("postdoctoral researcher")
    ADMINISTRATION = "administration", _("administrative staff")


class StaffMember(ChangeLoggedModel):
    """One person on a laboratory's staff register: role, professional title, qualifications, dates.
    Personal data: read by the laboratory's managers, the office, the committee and the authority of its
    region, never by the public."""

    class Employment(models.TextChoices):
        FULL_TIME = "full_time", _("full time")
        PART_TIME = "part_time", _("part time")
        SECONDED = "seconded", _("seconded from another institution")

    laboratory = models.ForeignKey(
        Laboratory, verbose_name=_("laboratory"), on_delete=models.PROTECT, related_name="staff"
    )
    name_zh = models.CharField(_("name (Chinese)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)
    role = models.CharField(_("role in the laboratory"), max_length=20, choices=StaffRole.choices)
    title = models.CharField(
        _("professional title"), max_length=100, blank=True, help_text=_("e.g. 研究员, 正高级工程师")
    )
    employment = models.CharField(
        _("employment"), max_length=12, choices=Employment.choices, default=Employment.FULL_TIME
    )
    degree = models.CharField(_("highest degree"), max_length=60, blank=True)
    qualifications = models.TextField(
        _("qualifications"),
        blank=True,
        help_text=_("certificates and registrations, one a line, e.g. CNAS assessor (2019), 一级注册计量师"),
    )
    starts_on = models.DateField(_("joined on"))
    ends_on = models.DateField(_("left on"), null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        ordering = ("laboratory", "ends_on", "role", "name_zh", "pk")
        verbose_name = _("staff member")
        verbose_name_plural = _("staff register")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True) | models.Q(ends_on__gte=models.F("starts_on")),
                name="outputs_staff_leaves_after_joining",
            )
        ]

    def __str__(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    def get_absolute_url(self) -> str:
        return reverse("outputs:staff", args=[self.laboratory_id])

    def on_staff(self, day: Any) -> bool:
        return self.starts_on <= day and (self.ends_on is None or self.ends_on >= day)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        q = _readers_q(user)
        return models.Q(pk__in=[]) if q is None else q

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return ALL
        if has_role(user, Role.LAB_MANAGER):
            own = _own_labs_q(user)
            return ALL if own is None else own
        return models.Q(pk__in=[])
