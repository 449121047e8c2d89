"""Designation: calls, applications (open or targeted), recommendation by the competent authority,
formal check, experts and conflicts of interest, assignment, scoring, committee votes, public notice
with objections, and the hand-over to the laboratory registry.

Guiding Opinions II.3 (targeted designation and selective recommendation) and III.1 (the Review
Committee). Periods, quotas, panel sizes and voting thresholds are fields of the call, not constants:
the 2023 Measures' exact figures are unverified (docs/designation.md).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from qslab.accounts.models import Organisation
from qslab.accounts.roles import Role, has_role
from qslab.core.models import ChangeLoggedModel, OfficialDocument, bilingual
from qslab.core.permissions import ALL
from qslab.core.regions import region_choices, validate_region_code
from qslab.core.workflow import DeadlineRule, State, Transition, Workflow
from qslab.labs.models import KeyField

NONE = models.Q(pk__in=[])
OFFICE = (Role.OFFICE,)


def _staff(user: Any) -> bool:
    return has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE)


def _office_users(_obj: Any = None) -> list[Any]:
    from qslab.accounts.models import User

    return list(
        User.objects.filter(role_memberships__role=Role.OFFICE, role_memberships__active=True).distinct()
    )


# --------------------------------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------------------------------

CALL_WORKFLOW = Workflow(
    state_field="status",
    states=(
        State("draft", "draft", "草稿"),
        State("published", "published", "已发布"),
        State("closed", "closed", "已截止", terminal=True),
    ),
    transitions=(
        Transition("publish", ("draft",), "published", OFFICE, "publish the call", "发布指南"),
        Transition("close", ("published",), "closed", OFFICE, "close the call", "关闭指南"),
    ),
)


class Call(ChangeLoggedModel):
    """A call for applications (申报指南) with its rules, criteria and timetable."""

    workflow = CALL_WORKFLOW

    code = models.SlugField(_("code"), max_length=40, unique=True)
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200)
    description_zh = models.TextField(_("description (Chinese)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    eligibility_zh = models.TextField(_("eligibility rules (Chinese)"), blank=True)
    eligibility_en = models.TextField(_("eligibility rules (English)"), blank=True)
    fields = models.ManyToManyField(KeyField, verbose_name=_("priority fields"), blank=True, related_name="+")
    status = models.CharField(_("status"), max_length=16, default="draft", choices=CALL_WORKFLOW.choices())
    opens_on = models.DateField(_("opens on"), default=timezone.localdate)
    soft_deadline = models.DateTimeField(
        _("soft deadline"), help_text=_("submissions after this are accepted but marked late")
    )
    hard_deadline = models.DateTimeField(
        _("hard deadline"), help_text=_("submissions after this are refused")
    )
    recommendation_deadline = models.DateField(_("recommendations due"), null=True, blank=True)
    # the later milestones of the timetable, set by the office (shown on the public call page)
    review_due_on = models.DateField(
        _("expert reviews due"),
        null=True,
        blank=True,
        help_text=_(
            "the review deadline given to the experts of the designation review; without a date, "
            "15 working days from the release of the panels"
        ),
    )
    committee_meeting_on = models.DateField(_("Review Committee meeting"), null=True, blank=True)
    notice_starts_on = models.DateField(_("public notice starts"), null=True, blank=True)
    # configurable rules (⚠ not verified against the 2023 Measures; see docs/designation.md)
    recommendation_quota = models.PositiveIntegerField(
        _("recommendations per authority"), default=2, validators=[MinValueValidator(1)]
    )
    reviewers_per_application = models.PositiveIntegerField(
        _("experts per application"), default=3, validators=[MinValueValidator(1)]
    )
    min_load = models.PositiveIntegerField(_("minimum applications per expert"), default=0)
    max_load = models.PositiveIntegerField(
        _("maximum applications per expert"), default=5, validators=[MinValueValidator(1)]
    )
    conflict_same_region = models.BooleanField(
        _("experts from the applicant's province are conflicted"), default=False
    )
    conflict_years = models.PositiveIntegerField(
        _("years a former affiliation stays a conflict"), default=3, validators=[MaxValueValidator(50)]
    )
    quorum = models.PositiveIntegerField(_("committee quorum (members voting)"), default=5)
    majority = models.DecimalField(
        _("share of votes needed to approve"),
        max_digits=3,
        decimal_places=2,
        default=0.5,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text=_("approval needs more than this share of the votes cast"),
    )
    notice_working_days = models.PositiveIntegerField(_("public notice (working days)"), default=5)
    construction_years = models.PositiveIntegerField(_("construction period (years)"), default=3)
    progress_report_months = models.PositiveIntegerField(
        _("progress report every (months)"),
        default=6,
        validators=[MinValueValidator(1), MaxValueValidator(36)],
        help_text=_("during construction, a progress report falls due this many months apart from the start"),
    )
    extension_years = models.PositiveIntegerField(
        _("extension after a failed acceptance (years)"), default=1, validators=[MinValueValidator(1)]
    )

    class Meta:
        ordering = ("-opens_on", "code")
        verbose_name = _("call")
        verbose_name_plural = _("calls")

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("designation:call", args=[self.pk])

    @property
    def title(self) -> str:
        return bilingual(self.title_zh, self.title_en)

    @property
    def description(self) -> str:
        return bilingual(self.description_zh, self.description_en)

    @property
    def eligibility(self) -> str:
        return bilingual(self.eligibility_zh, self.eligibility_en)

    @property
    def is_open(self) -> bool:
        return self.status == "published" and timezone.now() <= self.hard_deadline

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL if _staff(user) else models.Q(status__in=("published", "closed"))

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return ALL if has_role(user, Role.OFFICE) else NONE


class Stage(models.TextChoices):
    """The two reviews a laboratory goes through on the same panel machinery."""

    DESIGNATION = "designation", _("designation review")
    ACCEPTANCE = "acceptance", _("acceptance review")


def template_path(instance: Any, filename: str) -> str:
    return f"designation/calls/{instance.call_id}/{filename}"


class CallTemplate(ChangeLoggedModel):
    """A template published with the call (application form, budget sheet, letter of support)."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(_("name"), max_length=200)
    file = models.FileField(_("file"), upload_to=template_path)
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ("call", "name")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q(call__in=Call.objects.visible_to(user))


class Criterion(ChangeLoggedModel):
    """One review criterion with its weight and an anchor text for each score level."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="criteria")
    stage = models.CharField(
        _("review stage"), max_length=12, choices=Stage.choices, default=Stage.DESIGNATION
    )
    code = models.SlugField(_("code"), max_length=40)
    name_zh = models.CharField(_("name (Chinese)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120)
    weight = models.DecimalField(
        _("weight"), max_digits=5, decimal_places=2, validators=[MinValueValidator(0)]
    )
    max_score = models.PositiveIntegerField(_("highest score"), default=5, validators=[MinValueValidator(1)])
    anchors = models.JSONField(
        _("anchor text per score level"), default=dict, blank=True, help_text=_('{"0": "...", "5": "..."}')
    )
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("call", "stage", "order", "code")
        constraints = [
            models.UniqueConstraint(fields=("call", "stage", "code"), name="designation_criterion_stage_code")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q(call__in=Call.objects.visible_to(user))

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return ALL if has_role(user, Role.OFFICE) else NONE


# --------------------------------------------------------------------------------------------------
# Industries: which key fields an industry-scoped competent authority covers
# --------------------------------------------------------------------------------------------------

#: a region scope of "000000" (or none) is nationwide
NATIONWIDE = "000000"


class IndustryScope(ChangeLoggedModel):
    """The key fields of an industry, as the office maps them: a competent authority whose role is scoped
    to this industry (``RoleMembership.industry``, compared without regard to case) sees and recommends
    the open-route applications with one of these fields or one of their sub-fields."""

    industry = models.CharField(
        _("industry"),
        max_length=100,
        unique=True,
        help_text=_("as written in the industry scope of the authority's role"),
    )
    name_zh = models.CharField(_("name (Chinese)"), max_length=120, blank=True)
    name_en = models.CharField(_("name (English)"), max_length=120, blank=True)
    fields = models.ManyToManyField(
        KeyField,
        verbose_name=_("key fields"),
        blank=True,
        related_name="+",
        help_text=_("a field covers its sub-fields"),
    )

    class Meta:
        ordering = ("industry",)
        verbose_name = _("industry and its fields")
        verbose_name_plural = _("industries and their fields")

    def __str__(self) -> str:
        return bilingual(self.name_zh, self.name_en) or self.industry

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE) or has_role(user, Role.AUTHORITY):
            return ALL
        return NONE

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return ALL if has_role(user, Role.OFFICE) else NONE


def industry_field_ids(industry: str) -> set[int]:
    """Key fields of ``industry`` (by the office's ``IndustryScope``), with the sub-fields of each."""
    direct = {
        pk
        for pk in IndustryScope.objects.filter(industry__iexact=industry.strip()).values_list(
            "fields", flat=True
        )
        if pk is not None
    }
    if not direct:
        return set()
    return direct | set(KeyField.objects.filter(parent_id__in=direct).values_list("pk", flat=True))


def authority_q(user: Any) -> models.Q:
    """Applications the user's competent-authority roles cover: each membership by its province and its
    industry (both if it names both; a membership naming neither is nationwide)."""
    from qslab.accounts.models import RoleMembership

    q = NONE
    for m in RoleMembership.objects.filter(user=user, role=Role.AUTHORITY, active=True):
        if m.scope_type_id:
            continue
        part = ALL
        if m.region_code and m.region_code != NATIONWIDE:
            part &= models.Q(region_code__startswith=m.region_code[:2])
        if m.industry:
            fields = industry_field_ids(m.industry)
            through = Application.fields.through.objects.filter(keyfield_id__in=fields)
            part &= models.Q(pk__in=through.values("application_id")) if fields else NONE
        q |= part
    return q


# --------------------------------------------------------------------------------------------------
# Applications
# --------------------------------------------------------------------------------------------------


def _applicants(app: Application) -> list[Any]:
    from qslab.accounts.models import User

    users = set(User.objects.filter(organisation=app.institution, role_memberships__role=Role.LAB_MANAGER))
    if app.created_by_id:
        users.add(app.created_by)
    return list(users)


def _authorities(app: Application) -> list[Any]:
    from qslab.accounts.models import RoleMembership

    return [
        m.user
        for m in RoleMembership.objects.filter(role=Role.AUTHORITY, active=True).select_related("user")
        if m.covers(app)
    ]


def _is_applicant(user: Any, app: Application) -> bool:
    if not has_role(user, Role.LAB_MANAGER):
        return False
    return app.created_by_id == user.pk or (
        user.organisation_id is not None and user.organisation_id == app.institution_id
    )


def _before_hard_deadline(app: Application) -> str | None:
    if timezone.now() > app.call.hard_deadline:
        return str(
            _("The hard deadline of this call (%(when)s) has passed: submissions are refused.")
            % {"when": timezone.localtime(app.call.hard_deadline).strftime("%Y-%m-%d %H:%M")}
        )
    if app.call.status != "published":
        return str(_("The call is not open for submissions."))
    return _complete(app)


def _complete(app: Application) -> str | None:
    missing = [
        str(label)
        for label, ok in (
            (_("directions"), bool(app.directions.strip())),
            (_("team"), bool(app.team.strip())),
            (_("construction plan"), bool(app.construction_plan.strip())),
            (_("key fields"), app.fields.exists()),
        )
        if not ok
    ]
    if missing:
        return str(_("The application is incomplete: %(fields)s.") % {"fields": ", ".join(missing)})
    return None


def _open_route(app: Application) -> str | None:
    if app.route != Application.Route.OPEN:
        return str(_("A targeted application goes straight to the office."))
    return _before_hard_deadline(app)


def _targeted_route(app: Application) -> str | None:
    if app.route != Application.Route.TARGETED:
        return str(_("An open application needs the competent authority's recommendation."))
    return _before_hard_deadline(app)


def _reviews_complete(app: Application) -> str | None:
    assignments = app.assignments.filter(released=True, stage=Stage.DESIGNATION)
    if not assignments.exists():
        return str(_("No expert has been assigned yet."))
    if (
        assignments.filter(review__submitted_at__isnull=True).exists()
        or assignments.filter(review__isnull=True).exists()
    ):
        return str(_("Not every assigned expert has submitted a review."))
    if not app.consensus_reports.filter(stage=Stage.DESIGNATION, submitted_at__isnull=False).exists():
        return str(_("The moderator's consensus report is not in yet."))
    return None


def _decided(outcome: str) -> Any:
    """Guard: the committee's latest recorded decision on the application is ``outcome``."""

    def guard(app: Application) -> str | None:
        latest = app.decisions.order_by("-pk").first()
        if latest is None or latest.outcome != outcome:
            return str(_("The committee's recorded decision does not say so."))
        return None

    return guard


def _notice_over(app: Application) -> str | None:
    notice = getattr(app, "public_notice", None)
    if notice is None:
        return str(_("The public notice has not been published."))
    if timezone.localdate() <= notice.ends_on:
        return str(_("The public notice runs until %(date)s.") % {"date": notice.ends_on.isoformat()})
    if notice.objections.filter(status=Objection.Status.OPEN).exists():
        return str(_("Every objection must be handled before the designation is final."))
    if notice.objections.filter(status=Objection.Status.UPHELD).exists():
        return str(_("An objection was upheld: the designation cannot be finalised."))
    return None


def _issue_rejection_letter(app: Application, user: Any, reason: str) -> None:
    from qslab.core.documents import issue_document

    doc = issue_document(
        kind_code="designation_rejection",
        title_zh=f"关于{app.name_zh}申请的形式审查意见",
        title_en=f"Formal check of the application for the {app.name_en}",
        body_zh=f"{app.institution.name_zh}：\n经形式审查，申请不予受理。理由：{reason}",
        body_en=(
            f"To {app.institution.name_en}:\n"
            f"The application is not admitted after the formal check. Reason: {reason}"
        ),
        issued_by=user,
        public=False,
        subject=app,
        recipients=_applicants(app),
    )
    app.last_document = doc
    app.save(update_fields=["last_document"])


def _open_notice(app: Application, user: Any, reason: str) -> None:
    from qslab.core.calendar import add_days

    start = timezone.localdate()
    notice = PublicNotice.objects.create(
        application=app,
        starts_on=start,
        ends_on=add_days(start, app.call.notice_working_days),
        opened_by=user,
    )
    notice.document = _issue_notice(notice, user)
    notice.save(update_fields=["document"])


def _issue_notice(notice: PublicNotice, user: Any) -> OfficialDocument:
    """The notice (公示) as a numbered public document (zh + en): who, what, the period, how to object."""
    from qslab.core.documents import issue_document

    app = notice.application
    fields_zh = "、".join(f.name_zh for f in app.fields.all())
    fields_en = ", ".join(f.name_en for f in app.fields.all())
    start, end = f"{notice.starts_on:%Y-%m-%d}", f"{notice.ends_on:%Y-%m-%d}"
    return issue_document(
        kind_code="designation_notice",
        title_zh=f"关于{app.name_zh}的公示",
        title_en=f"Public notice: {app.name_en}",
        body_zh=(
            f"经国家质量标准实验室评审委员会审议，拟批准{app.institution.name_zh}建设{app.name_zh}"
            f"（领域：{fields_zh}）。\n公示期：{start}至{end}（{app.call.notice_working_days}个工作日）。"
            f"\n对公示内容有异议的，请在公示期内实名提出：{notice.get_absolute_url()}"
        ),
        body_en=(
            "After review by the National Quality Standards Laboratory Review Committee, the construction "
            f"of the {app.name_en} supported by {app.institution.name_en} (fields: {fields_en}) is to be "
            f"approved.\nNotice period: {start} to {end} ({app.call.notice_working_days} working days)."
            f"\nObjections may be filed during the period, under the objector's real name: "
            f"{notice.get_absolute_url()}"
        ),
        issued_by=user,
        public=True,
        subject=notice,
    )


def _designate(app: Application, user: Any, reason: str) -> None:
    from qslab.designation.services import hand_over_to_registry

    hand_over_to_registry(app, user)


AUTHORITY = (Role.AUTHORITY,)

APPLICATION_WORKFLOW = Workflow(
    state_field="status",
    states=(
        State("draft", "draft", "草稿"),
        State("submitted", "awaiting recommendation", "待推荐"),
        State("recommended", "awaiting formal check", "待形式审查"),
        State("returned", "returned for correction", "退回修改"),
        State("declined", "not recommended", "未获推荐", terminal=True),
        State("rejected", "rejected at the formal check", "形式审查未通过", terminal=True),
        State("accepted", "accepted for review", "已受理"),
        State("in_review", "in expert review", "专家评审中"),
        State("reviewed", "reviewed", "评审完成"),
        State("deferred", "deferred by the committee", "暂缓"),
        State("not_approved", "not approved", "未通过", terminal=True),
        State("approved", "approved by the committee", "评审委员会通过"),
        State("public_notice", "in public notice", "公示中"),
        State("designated", "designated (construction approved)", "已批准筹建", terminal=True),
        State("withdrawn", "withdrawn", "已撤回", terminal=True),
    ),
    transitions=(
        Transition(
            "submit",
            ("draft", "returned"),
            "submitted",
            (Role.LAB_MANAGER,),
            "submit to the competent authority",
            "提交主管部门",
            allowed=_is_applicant,
            guard=_open_route,
            notify=_authorities,
        ),
        Transition(
            "submit_targeted",
            ("draft", "returned"),
            "recommended",
            (Role.LAB_MANAGER,),
            "submit to the office",
            "提交办公室",
            allowed=_is_applicant,
            guard=_targeted_route,
            notify=_office_users,
        ),
        Transition(
            "recommend",
            ("submitted",),
            "recommended",
            AUTHORITY,
            "recommend",
            "推荐",
            notify=lambda a: _applicants(a) + _office_users(),
        ),
        Transition(
            "decline",
            ("submitted",),
            "declined",
            AUTHORITY,
            "decline to recommend",
            "不予推荐",
            requires_reason=True,
            notify=_applicants,
        ),
        Transition(
            "accept",
            ("recommended",),
            "accepted",
            OFFICE,
            "accept after the formal check",
            "形式审查通过",
            notify=_applicants,
        ),
        Transition(
            "return_for_correction",
            ("recommended",),
            "returned",
            OFFICE,
            "return for correction",
            "退回修改",
            requires_reason=True,
            notify=_applicants,
            deadline=DeadlineRule(
                10, "corrected application due", "修改后申请截止", assignee=lambda a: a.created_by
            ),
        ),
        Transition(
            "reject",
            ("recommended",),
            "rejected",
            OFFICE,
            "reject at the formal check",
            "形式审查不予受理",
            requires_reason=True,
            on_enter=_issue_rejection_letter,
            notify=_applicants,
        ),
        Transition(
            "start_review", ("accepted",), "in_review", OFFICE, "release to the experts", "发送专家评审"
        ),
        Transition(
            "close_review",
            ("in_review",),
            "reviewed",
            OFFICE,
            "close the expert review",
            "结束专家评审",
            guard=_reviews_complete,
        ),
        Transition(
            "approve",
            ("reviewed",),
            "approved",
            OFFICE,
            "committee approves",
            "评审委员会通过",
            guard=_decided("approve"),
            notify=_applicants,
        ),
        Transition(
            "not_approve",
            ("reviewed",),
            "not_approved",
            OFFICE,
            "committee does not approve",
            "评审委员会不予通过",
            guard=_decided("reject"),
            notify=_applicants,
        ),
        Transition(
            "defer",
            ("reviewed",),
            "deferred",
            OFFICE,
            "committee defers",
            "评审委员会暂缓",
            guard=_decided("defer"),
            notify=_applicants,
        ),
        Transition(
            "resume_review",
            ("deferred",),
            "reviewed",
            OFFICE,
            "put before the committee again",
            "重新提交审议",
        ),
        Transition(
            "publish_notice",
            ("approved",),
            "public_notice",
            OFFICE,
            "publish the public notice",
            "发布公示",
            on_enter=_open_notice,
        ),
        Transition(
            "designate",
            ("public_notice",),
            "designated",
            OFFICE,
            "designate: approve construction",
            "批准筹建",
            guard=_notice_over,
            on_enter=_designate,
            notify=_applicants,
        ),
        Transition(
            "withdraw",
            ("draft", "submitted", "recommended", "returned", "accepted"),
            "withdrawn",
            (Role.LAB_MANAGER,),
            "withdraw the application",
            "撤回申请",
            allowed=_is_applicant,
        ),
    ),
)

#: transitions the committee decision takes (through services.record_decision, not by hand)
DECISION_TRANSITIONS = {"approve": "approved", "reject": "not_approved", "defer": "deferred"}


class Application(ChangeLoggedModel):
    """An application for a national quality standards laboratory, by a supporting institution."""

    workflow = APPLICATION_WORKFLOW

    class Route(models.TextChoices):
        OPEN = "open", _("open call, recommended by the competent authority")
        TARGETED = "targeted", _("targeted designation by the office")

    call = models.ForeignKey(
        Call, verbose_name=_("call"), on_delete=models.PROTECT, related_name="applications"
    )
    route = models.CharField(_("route"), max_length=10, choices=Route.choices, default=Route.OPEN)
    institution = models.ForeignKey(
        Organisation, verbose_name=_("supporting institution"), on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name_zh = models.CharField(_("proposed laboratory name (Chinese)"), max_length=200)
    name_en = models.CharField(_("proposed laboratory name (English)"), max_length=200)
    region_code = models.CharField(
        _("region"), max_length=6, choices=region_choices(), validators=[validate_region_code]
    )
    fields = models.ManyToManyField(KeyField, verbose_name=_("key fields"), blank=True, related_name="+")
    directions = models.TextField(_("research directions"), blank=True)
    team = models.TextField(_("team"), blank=True)
    resources = models.TextField(_("resources"), blank=True)
    construction_plan = models.TextField(_("construction plan with milestones"), blank=True)
    budget = models.DecimalField(
        _("budget (10k CNY)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    status = models.CharField(
        _("status"), max_length=16, default="draft", choices=APPLICATION_WORKFLOW.choices()
    )
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    late = models.BooleanField(_("after the soft deadline"), default=False)
    recommended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    checklist = models.JSONField(_("formal-check checklist"), default=dict, blank=True)
    laboratory = models.ForeignKey(
        "labs.Laboratory", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    last_document = models.ForeignKey(
        OfficialDocument, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )

    class Meta:
        ordering = ("call", "-created")
        verbose_name = _("application")
        verbose_name_plural = _("applications")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("designation:application", args=[self.pk])

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    @property
    def status_label(self) -> str:
        return APPLICATION_WORKFLOW.state(self.status).label

    def scope_matches(self, membership: Any) -> bool:
        """A region-scoped authority covers the applications of its province; an industry-scoped one those
        with a key field of its industry (``IndustryScope``); a membership scoped to both needs both."""
        if membership.scope_type_id:
            return False
        region = "" if membership.region_code in ("", NATIONWIDE) else membership.region_code
        if region and self.region_code[:2] != region[:2]:
            return False
        if membership.industry:
            fields = industry_field_ids(membership.industry)
            if not fields or not self.fields.filter(pk__in=fields).exists():
                return False
        return True  # every scope it names matches (region "000000" alone is nationwide)

    @classmethod
    def visible_q(cls, user: Any, *, conflicted_experts: bool = True) -> models.Q:
        if user is None or not getattr(user, "is_authenticated", False):
            return NONE
        if _staff(user):
            return ALL
        q = NONE
        if has_role(user, Role.LAB_MANAGER):
            q |= models.Q(created_by=user)
            if user.organisation_id:
                q |= models.Q(institution_id=user.organisation_id)
        if has_role(user, Role.AUTHORITY):
            q |= models.Q(route=cls.Route.OPEN) & ~models.Q(status="draft") & authority_q(user)
        if has_role(user, Role.EXPERT):
            panel = models.Q(assignments__expert=user, assignments__released=True)
            if not conflicted_experts:
                conflicted = ConflictDeclaration.objects.filter(expert=user, conflicted=True)
                panel &= ~models.Q(pk__in=conflicted.values("application_id"))
            q |= panel
        return q

    @classmethod
    def printable_q(cls, user: Any) -> models.Q:
        """Who may download the whole application as a PDF: whoever sees it, except an expert who declared
        a conflict on it (an assignment with a submitted review survives the declaration)."""
        return cls.visible_q(user, conflicted_experts=False)

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        """The applicant edits a draft or returned application; the office any open one."""
        if has_role(user, Role.OFFICE):
            return ALL
        if has_role(user, Role.LAB_MANAGER) and user.is_authenticated:
            own = models.Q(created_by=user)
            if user.organisation_id:
                own |= models.Q(institution_id=user.organisation_id)
            return own & models.Q(status__in=("draft", "returned"))
        return NONE


class CoApplicant(ChangeLoggedModel):
    class Role(models.TextChoices):
        INDUSTRY = "industry", _("industry")
        UNIVERSITY = "university", _("university")
        RESEARCH = "research", _("research institute")
        USER = "user", _("user / application side")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="co_applicants")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(_("role"), max_length=12, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("application", "organisation"), name="designation_coapplicant_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organisation} ({self.get_role_display()})"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q(application__in=Application.objects.visible_to(user))


def attachment_path(instance: Any, filename: str) -> str:
    return f"designation/applications/{instance.application_id}/{filename}"


class ApplicationFile(ChangeLoggedModel):
    """A PDF attached to an application (plan, budget, letters); type and size are checked on upload."""

    class Kind(models.TextChoices):
        PLAN = "plan", _("construction plan")
        BUDGET = "budget", _("budget")
        LETTER = "letter", _("letter of support")
        OTHER = "other", _("other")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="files")
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to=attachment_path)
    name = models.CharField(max_length=200)
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.name

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        apps = Application.objects.visible_to(user)
        return models.Q(application__in=apps)


class BudgetLine(ChangeLoggedModel):
    """One line of the construction plan's budget: a year, what the money is for, where it comes from and
    how much (10k CNY). The application's ``budget`` is the sum of its lines."""

    class Category(models.TextChoices):
        EQUIPMENT = "equipment", _("instruments and equipment")
        FACILITIES = "facilities", _("facilities and renovation")
        RESEARCH = "research", _("research and standards work")
        PERSONNEL = "personnel", _("personnel and training")
        OPERATIONS = "operations", _("operation and maintenance")
        OTHER = "other", _("other costs")

    class Source(models.TextChoices):
        CENTRAL = "central", _("central government funds")
        LOCAL = "local", _("local government funds")
        OWN = "own", _("the institution's own funds")
        ENTERPRISE = "enterprise", _("enterprise funds")
        OTHER = "other", _("other sources")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="budget_lines")
    year = models.PositiveSmallIntegerField(_("year"))
    category = models.CharField(_("budget line"), max_length=12, choices=Category.choices)
    source = models.CharField(_("source of funds"), max_length=12, choices=Source.choices)
    amount = models.DecimalField(
        _("amount (10k CNY)"), max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ("application", "year", "category", "source")
        verbose_name = _("budget line")
        verbose_name_plural = _("budget lines")
        constraints = [
            models.UniqueConstraint(
                fields=("application", "year", "category", "source"), name="designation_budget_line_once"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="designation_budget_line_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year} {self.get_category_display()} / {self.get_source_display()}: {self.amount}"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q(application__in=Application.objects.visible_to(user))


# --------------------------------------------------------------------------------------------------
# Experts, conflicts, assignment, reviews
# --------------------------------------------------------------------------------------------------


class ExpertProfile(ChangeLoggedModel):
    """An expert's directory entry: organisation, region, fields and former affiliations."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="expert_profile"
    )
    name = models.CharField(_("name"), max_length=100)
    title = models.CharField(_("title"), max_length=100, blank=True)
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("current organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    region_code = models.CharField(
        _("region"), max_length=6, blank=True, choices=region_choices(), validators=[validate_region_code]
    )
    fields = models.ManyToManyField(KeyField, verbose_name=_("expertise"), blank=True, related_name="+")
    former_affiliations = models.JSONField(
        _("former affiliations"),
        default=list,
        blank=True,
        help_text=_('[{"organisation": <id>, "until": <year>}]'),
    )
    collaborations = models.JSONField(
        _("recent collaborations (joint projects, papers, contracts)"),
        default=list,
        blank=True,
        help_text=_('[{"organisation": <id>, "until": <year>}]'),
    )
    vetted = models.BooleanField(_("vetted by the office"), default=False)

    class Meta:
        ordering = ("name",)
        verbose_name = _("expert")
        verbose_name_plural = _("experts")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _staff(user):
            return ALL
        if user is not None and getattr(user, "is_authenticated", False):
            return models.Q(user=user)
        return NONE

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return ALL
        if has_role(user, Role.EXPERT):
            return models.Q(user=user)
        return NONE


class ConflictDeclaration(ChangeLoggedModel):
    """An expert's own statement about one application: conflicted or not, with a note."""

    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="declarations")
    conflicted = models.BooleanField(_("I have a conflict of interest"))
    note = models.TextField(_("note"), blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("expert", "application"), name="designation_declaration_once")
        ]

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _staff(user):
            return ALL
        return models.Q(expert=user) if getattr(user, "is_authenticated", False) else NONE


class Assignment(ChangeLoggedModel):
    """An expert on an application's panel; proposed by the solver, edited and released by the office."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="assignments")
    stage = models.CharField(
        _("review stage"), max_length=12, choices=Stage.choices, default=Stage.DESIGNATION
    )
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    affinity = models.FloatField(_("affinity"), default=0)
    released = models.BooleanField(_("released to the expert"), default=False)
    moderator = models.BooleanField(_("moderator of the panel"), default=False)
    due = models.DateField(_("review due"), null=True, blank=True)

    class Meta:
        ordering = ("application", "stage", "expert")
        constraints = [
            models.UniqueConstraint(
                fields=("application", "expert", "stage"), name="designation_assign_once_per_stage"
            )
        ]

    @property
    def overdue(self) -> bool:
        submitted = hasattr(self, "review") and self.review.submitted_at is not None
        return bool(self.released and self.due and not submitted and self.due < timezone.localdate())

    def __str__(self) -> str:
        return f"{self.application} – {self.expert}"

    def get_absolute_url(self) -> str:
        return reverse("designation:review", args=[self.pk])

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _staff(user):
            return ALL
        if has_role(user, Role.EXPERT):
            return models.Q(expert=user, released=True)
        return NONE

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.EXPERT):
            return models.Q(expert=user, released=True) & (
                models.Q(stage=Stage.DESIGNATION, application__status="in_review")
                | models.Q(stage=Stage.ACCEPTANCE, application__construction__status="acceptance")
            )
        return NONE


class Review(ChangeLoggedModel):
    """One expert's scores per criterion (criterion code -> score) with comments."""

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="review")
    scores = models.JSONField(default=dict)
    comments = models.TextField(_("comments for the applicant"), blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    total = models.FloatField(_("weighted score"), null=True, blank=True)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q(assignment__in=Assignment.objects.visible_to(user))


# --------------------------------------------------------------------------------------------------
# Committee, public notice, objections
# --------------------------------------------------------------------------------------------------


class Vote(ChangeLoggedModel):
    class Choice(models.TextChoices):
        APPROVE = "approve", _("approve")
        REJECT = "reject", _("reject")
        ABSTAIN = "abstain", _("abstain")
        RECUSE = "recuse", _("recused (conflict)")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="votes")
    meeting = models.ForeignKey(
        "CommitteeMeeting", null=True, blank=True, on_delete=models.PROTECT, related_name="votes"
    )
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    choice = models.CharField(_("vote"), max_length=8, choices=Choice.choices)
    reason = models.CharField(_("reason for the recusal"), max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("application", "member"), name="designation_vote_once")
        ]

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL if _staff(user) else NONE


class Decision(ChangeLoggedModel):
    """The committee's decision on an application, with the vote count and minutes."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="decisions")
    outcome = models.CharField(max_length=8, choices=[(k, k) for k in DECISION_TRANSITIONS])
    approve = models.PositiveIntegerField(default=0)
    reject = models.PositiveIntegerField(default=0)
    abstain = models.PositiveIntegerField(default=0)
    recused = models.PositiveIntegerField(default=0)
    minutes = models.TextField(_("minutes"), blank=True)
    meeting = models.ForeignKey(
        "CommitteeMeeting", null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL if _staff(user) else NONE


class PublicNotice(ChangeLoggedModel):
    """The public notice (公示) of an approved application, with its period in working days."""

    application = models.OneToOneField(Application, on_delete=models.CASCADE, related_name="public_notice")
    starts_on = models.DateField()
    ends_on = models.DateField()
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    document = models.ForeignKey(
        OfficialDocument, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )

    class Meta:
        ordering = ("-starts_on",)

    def __str__(self) -> str:
        return str(self.application)

    def get_absolute_url(self) -> str:
        return reverse("designation:notice", args=[self.pk])

    @property
    def open(self) -> bool:
        return self.starts_on <= timezone.localdate() <= self.ends_on

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL


class Objection(ChangeLoggedModel):
    class Status(models.TextChoices):
        OPEN = "open", _("open")
        UPHELD = "upheld", _("upheld")
        DISMISSED = "dismissed", _("dismissed")

    notice = models.ForeignKey(PublicNotice, on_delete=models.CASCADE, related_name="objections")
    objector = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    contact = models.CharField(_("real name and contact"), max_length=200)
    text = models.TextField(_("objection"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    response = models.TextField(_("office's reasoned response"), blank=True)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return ALL
        return models.Q(objector=user) if getattr(user, "is_authenticated", False) else NONE


# --------------------------------------------------------------------------------------------------
# Panel records: on-site inspection, meeting review, the moderator's consensus report
# --------------------------------------------------------------------------------------------------


class SiteVisit(ChangeLoggedModel):
    """The record of an on-site inspection (现场考察) of an applicant or a laboratory under construction."""

    class Conclusion(models.TextChoices):
        CONFIRMED = "confirmed", _("the application is confirmed on site")
        MINOR = "minor", _("minor discrepancies")
        MAJOR = "major", _("major discrepancies")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="site_visits")
    stage = models.CharField(
        _("review stage"), max_length=12, choices=Stage.choices, default=Stage.DESIGNATION
    )
    visited_on = models.DateField(_("visited on"))
    inspectors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("inspectors"), related_name="+"
    )
    findings = models.TextField(_("findings"))
    conclusion = models.CharField(_("conclusion"), max_length=10, choices=Conclusion.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-visited_on",)
        verbose_name = _("on-site inspection")

    def __str__(self) -> str:
        return f"{self.application} {self.visited_on}"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _staff(user):
            return ALL
        if getattr(user, "is_authenticated", False):
            return models.Q(recorded_by=user)
        return NONE


class ReviewMeeting(ChangeLoggedModel):
    """A meeting review (会议评审): the panel hears the applicants and discusses; the minutes are kept."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="review_meetings")
    stage = models.CharField(
        _("review stage"), max_length=12, choices=Stage.choices, default=Stage.DESIGNATION
    )
    held_on = models.DateField(_("held on"))
    location = models.CharField(_("place or video link"), max_length=200, blank=True)
    applications = models.ManyToManyField(Application, verbose_name=_("applications heard"), related_name="+")
    attendees = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("experts present"), related_name="+"
    )
    minutes = models.TextField(_("minutes"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-held_on",)
        verbose_name = _("meeting review")

    def __str__(self) -> str:
        return f"{self.call} {self.held_on}"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL if _staff(user) else NONE


class ConsensusReport(ChangeLoggedModel):
    """The panel's agreed view of one application, written by its moderator after the individual reviews."""

    class Recommendation(models.TextChoices):
        POSITIVE = "positive", _("recommend (designation) / pass (acceptance)")
        NEGATIVE = "negative", _("do not recommend / fail")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="consensus_reports")
    stage = models.CharField(
        _("review stage"), max_length=12, choices=Stage.choices, default=Stage.DESIGNATION
    )
    moderator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    scores = models.JSONField(default=dict)
    total = models.FloatField(_("consensus score"), null=True, blank=True)
    strengths = models.TextField(_("strengths"), blank=True)
    weaknesses = models.TextField(_("weaknesses"), blank=True)
    summary = models.TextField(_("summary for the applicant"))
    recommendation = models.CharField(_("recommendation"), max_length=10, choices=Recommendation.choices)
    submitted_at = models.DateTimeField(null=True, blank=True)
    document = models.ForeignKey(
        OfficialDocument, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("application", "stage"), name="designation_consensus_once")
        ]

    def __str__(self) -> str:
        return f"{self.application} ({self.get_stage_display()})"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _staff(user):
            return ALL
        if getattr(user, "is_authenticated", False):
            return models.Q(moderator=user)
        return NONE


# --------------------------------------------------------------------------------------------------
# The Review Committee: members with terms, meetings with an agenda
# --------------------------------------------------------------------------------------------------


class CommitteeMembership(ChangeLoggedModel):
    """A seat on the National Quality Standards Laboratory Review Committee for a term."""

    class Position(models.TextChoices):
        CHAIR = "chair", _("chair")
        VICE_CHAIR = "vice_chair", _("vice-chair")
        MEMBER = "member", _("member")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="committee_terms"
    )
    position = models.CharField(
        _("position"), max_length=12, choices=Position.choices, default=Position.MEMBER
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    term_start = models.DateField(_("term starts"))
    term_end = models.DateField(_("term ends"))

    class Meta:
        ordering = ("-term_end", "position")
        verbose_name = _("committee member")

    def __str__(self) -> str:
        return f"{self.user} ({self.get_position_display()})"

    @property
    def current(self) -> bool:
        return self.term_start <= timezone.localdate() <= self.term_end

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL if _staff(user) else NONE

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return ALL if has_role(user, Role.OFFICE) else NONE


class CommitteeMeeting(ChangeLoggedModel):
    """A meeting of the Review Committee with its agenda (the applications it decides) and minutes."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("scheduled")
        CLOSED = "closed", _("closed")

    title = models.CharField(_("title"), max_length=200)
    held_on = models.DateField(_("held on"))
    location = models.CharField(_("place or video link"), max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    minutes = models.TextField(_("minutes"), blank=True)
    document = models.ForeignKey(
        OfficialDocument, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-held_on",)
        verbose_name = _("committee meeting")

    def __str__(self) -> str:
        return f"{self.title} ({self.held_on})"

    def get_absolute_url(self) -> str:
        return reverse("designation:meeting", args=[self.pk])

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL if _staff(user) else NONE


class AgendaItem(ChangeLoggedModel):
    meeting = models.ForeignKey(CommitteeMeeting, on_delete=models.CASCADE, related_name="agenda")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="agenda_items")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("meeting", "order", "pk")
        constraints = [
            models.UniqueConstraint(fields=("meeting", "application"), name="designation_agenda_once")
        ]

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL if _staff(user) else NONE


# --------------------------------------------------------------------------------------------------
# Construction, progress reports and acceptance
# --------------------------------------------------------------------------------------------------


def _lab_managers(c: Construction) -> list[Any]:
    from qslab.labs.models import _managers_of

    return _managers_of(c.laboratory)


def _manager_or_office(user: Any, c: Construction) -> bool:
    return has_role(user, Role.OFFICE) or has_role(user, Role.LAB_MANAGER, scope=c.laboratory)


def _progress_reported(c: Construction) -> str | None:
    if not c.progress_reports.exists():
        return str(_("Submit at least one progress report before requesting acceptance."))
    from qslab.labs.models import _ready_for_acceptance

    return _ready_for_acceptance(c.laboratory)


def _acceptance_consensus(c: Construction) -> Any:
    if hasattr(c, "listed_acceptance_consensus"):  # read for a whole page of constructions at once
        return c.listed_acceptance_consensus
    return c.application.consensus_reports.filter(stage=Stage.ACCEPTANCE, submitted_at__isnull=False).first()


def _acceptance_passed(c: Construction) -> str | None:
    report = _acceptance_consensus(c)
    if report is None:
        return str(_("The acceptance panel's consensus report is not in yet."))
    if report.recommendation != ConsensusReport.Recommendation.POSITIVE:
        return str(_("The acceptance panel did not recommend passing."))
    return None


def _may_extend(c: Construction) -> str | None:
    if c.extended:
        return str(_("The one extension has been used; the construction can only be terminated."))
    report = _acceptance_consensus(c)
    if report is None:
        return str(_("The acceptance panel's consensus report is not in yet."))
    if report.recommendation == ConsensusReport.Recommendation.POSITIVE:
        return str(_("The acceptance panel recommended passing."))
    return None


def _enter_acceptance(c: Construction, user: Any, reason: str) -> None:
    from qslab.labs import services as labs

    labs.move_laboratory(user, c.laboratory, "request_acceptance", reason)


def _enter_named(c: Construction, user: Any, reason: str) -> None:
    from qslab.labs import services as labs

    lab = labs.move_laboratory(
        user, c.laboratory, "designate", reason or str(_("Acceptance passed; the laboratory is named."))
    )
    c.application.last_document = lab.last_document
    c.application.save(update_fields=["last_document"])


def _enter_extension(c: Construction, user: Any, reason: str) -> None:
    import datetime as dt

    from qslab.labs import services as labs

    labs.move_laboratory(user, c.laboratory, "return_to_construction", reason)
    years = c.application.call.extension_years
    end = c.ends_on
    try:
        c.ends_on = end.replace(year=end.year + years)
    except ValueError:  # 29 February
        c.ends_on = end.replace(year=end.year + years, day=28) + dt.timedelta(days=1)
    c.extended = True
    c.save(update_fields=["ends_on", "extended"])  # apply_transition itself saves only the state


def _enter_termination(c: Construction, user: Any, reason: str) -> None:
    from qslab.labs import services as labs

    labs.move_laboratory(user, c.laboratory, "withdraw", reason)


CONSTRUCTION_WORKFLOW = Workflow(
    state_field="status",
    states=(
        State("building", "under construction", "建设中"),
        State("acceptance", "in acceptance review", "验收评审中"),
        State("named", "accepted and named", "验收通过并命名", terminal=True),
        State("terminated", "terminated", "终止建设", terminal=True),
    ),
    transitions=(
        Transition(
            "request_acceptance",
            ("building",),
            "acceptance",
            (Role.LAB_MANAGER, Role.OFFICE),
            "request acceptance",
            "申请验收",
            allowed=_manager_or_office,
            guard=_progress_reported,
            on_enter=_enter_acceptance,
            notify=_office_users,
        ),
        Transition(
            "pass_acceptance",
            ("acceptance",),
            "named",
            OFFICE,
            "acceptance passed: name the laboratory",
            "验收通过，予以命名",
            guard=_acceptance_passed,
            on_enter=_enter_named,
            notify=_lab_managers,
        ),
        Transition(
            "extend",
            ("acceptance",),
            "building",
            OFFICE,
            "acceptance failed: extend the construction once",
            "验收未通过，延期建设（一次）",
            requires_reason=True,
            guard=_may_extend,
            on_enter=_enter_extension,
            notify=_lab_managers,
        ),
        Transition(
            "terminate",
            ("building", "acceptance"),
            "terminated",
            OFFICE,
            "terminate the construction",
            "终止建设",
            requires_reason=True,
            on_enter=_enter_termination,
            notify=_lab_managers,
        ),
    ),
)


class Construction(ChangeLoggedModel):
    """A designated laboratory's construction period (default 3 years), its milestones and acceptance."""

    workflow = CONSTRUCTION_WORKFLOW

    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="construction")
    laboratory = models.OneToOneField("labs.Laboratory", on_delete=models.PROTECT, related_name="+")
    starts_on = models.DateField(_("construction starts"))
    ends_on = models.DateField(_("construction ends"))
    extended = models.BooleanField(_("extended once"), default=False)
    next_report_due = models.DateField(
        _("next progress report due"),
        null=True,
        blank=True,
        help_text=_("empty when no further periodic report falls due before the end of the period"),
    )
    status = models.CharField(
        _("status"), max_length=12, default="building", choices=CONSTRUCTION_WORKFLOW.choices()
    )

    class Meta:
        ordering = ("ends_on",)
        verbose_name = _("construction")

    def __str__(self) -> str:
        return str(self.laboratory)

    def get_absolute_url(self) -> str:
        return reverse("designation:construction", args=[self.pk])

    @property
    def status_label(self) -> str:
        return CONSTRUCTION_WORKFLOW.state(self.status).label

    @property
    def report_overdue(self) -> bool:
        return bool(
            self.status == "building" and self.next_report_due and self.next_report_due < timezone.localdate()
        )

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if _staff(user):
            return ALL
        if not getattr(user, "is_authenticated", False):
            return NONE
        from qslab.accounts.roles import scoped_ids
        from qslab.labs.models import Laboratory

        q = NONE
        labs = scoped_ids(user, Role.LAB_MANAGER, Laboratory)
        if labs:
            q |= models.Q(laboratory_id__in=[int(i) for i in labs])
        if has_role(user, Role.EXPERT):
            q |= models.Q(
                application__in=Assignment.objects.filter(
                    expert=user, released=True, stage=Stage.ACCEPTANCE
                ).values("application")
            )
        return q

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return ALL
        from qslab.accounts.roles import scoped_ids
        from qslab.labs.models import Laboratory

        labs = scoped_ids(user, Role.LAB_MANAGER, Laboratory)
        if labs:
            return models.Q(laboratory_id__in=[int(i) for i in labs], status="building")
        return NONE


class Milestone(ChangeLoggedModel):
    construction = models.ForeignKey(Construction, on_delete=models.CASCADE, related_name="milestones")
    title = models.CharField(_("milestone"), max_length=300)
    due = models.DateField(_("due"))
    done_on = models.DateField(_("reached on"), null=True, blank=True)

    class Meta:
        ordering = ("construction", "due", "pk")

    def __str__(self) -> str:
        return self.title

    @property
    def overdue(self) -> bool:
        return self.done_on is None and self.due < timezone.localdate()

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q(construction__in=Construction.objects.visible_to(user))


class ProgressReport(ChangeLoggedModel):
    """A progress report during construction: what was done, which milestones were reached."""

    construction = models.ForeignKey(Construction, on_delete=models.CASCADE, related_name="progress_reports")
    period = models.CharField(_("period"), max_length=20, help_text=_("e.g. 2027 or 2027-H1"))
    text = models.TextField(_("progress"))
    spent = models.DecimalField(
        _("budget spent (10k CNY)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    office_comment = models.TextField(_("office's comment"), blank=True)

    class Meta:
        ordering = ("construction", "created")
        constraints = [
            models.UniqueConstraint(fields=("construction", "period"), name="designation_progress_once")
        ]

    def __str__(self) -> str:
        return f"{self.construction} {self.period}"

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return models.Q(construction__in=Construction.objects.visible_to(user))
