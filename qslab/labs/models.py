"""Laboratory registry: the record and its lifecycle, the taxonomies it is classified by, its partners,
committee and yearly key figures, and the office's layout plans with their targets and revisions.

Guiding Opinions II.1 (plan and lay out, dynamic adjustment) and II.3 (entry and exit).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from qslab.accounts.models import Organisation
from qslab.accounts.roles import Role, authority_regions, has_role, scoped_ids
from qslab.core.models import ChangeLoggedModel, OfficialDocument, bilingual
from qslab.core.permissions import ALL, NONE
from qslab.core.regions import NATIONAL, region_choices, region_name, validate_region_code
from qslab.core.workflow import DeadlineRule, State, Transition, Workflow

# --------------------------------------------------------------------------------------------------
# Taxonomies (data, editable by the office, bilingual; every edit is in the change log = versions)
# --------------------------------------------------------------------------------------------------


class TaxonomyModel(ChangeLoggedModel):
    """A bilingual term with a code; the office edits them, the public reads them."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120)
    order = models.PositiveIntegerField(_("order"), default=0)
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        abstract = True
        ordering = ("order", "code")

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
        return ALL if has_role(user, Role.OFFICE) else NONE


class KeyField(TaxonomyModel):
    """A key field of the Opinions (high-end manufacturing, new materials, ...) or one of its sub-fields."""

    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent field"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )

    class Meta(TaxonomyModel.Meta):
        verbose_name = _("key field")
        verbose_name_plural = _("key fields")

    @property
    def top(self) -> KeyField:
        return self.parent if self.parent_id else self


class ResearchPriority(TaxonomyModel):
    """One of the research priorities of Opinions II.4."""

    description_zh = models.TextField(_("description (Chinese)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)

    class Meta(TaxonomyModel.Meta):
        verbose_name = _("research priority")
        verbose_name_plural = _("research priorities")


class IndustryChain(TaxonomyModel):
    """An industry chain a laboratory serves (e.g. new-energy vehicles)."""

    class Meta(TaxonomyModel.Meta):
        verbose_name = _("industry chain")
        verbose_name_plural = _("industry chains")


class Region(ChangeLoggedModel):
    """A GB/T 2260 administrative division: province level or prefecture level."""

    class Level(models.TextChoices):
        PROVINCE = "province", _("province level")
        PREFECTURE = "prefecture", _("prefecture level")

    code = models.CharField(_("GB/T 2260 code"), max_length=6, unique=True, validators=[validate_region_code])
    name_zh = models.CharField(_("name (Chinese)"), max_length=60)
    name_en = models.CharField(_("name (English)"), max_length=80)
    level = models.CharField(_("level"), max_length=12, choices=Level.choices)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("province"),
    )
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        ordering = ("code",)
        verbose_name = _("region")
        verbose_name_plural = _("regions")

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
        return ALL if has_role(user, Role.OFFICE) else NONE


# --------------------------------------------------------------------------------------------------
# Laboratory lifecycle
# --------------------------------------------------------------------------------------------------

# Which document kind each transition issues, and whether it is published (see migration 0003).
TRANSITION_DOCUMENTS: dict[str, tuple[str, str, str, bool]] = {
    # transition: (kind code, title zh pattern, title en pattern, public)
    "approve_construction": (
        "lab_construction",
        "关于同意筹建{name_zh}的批复",
        "Approval to build the {name_en}",
        True,
    ),
    "designate": ("designation", "关于命名{name_zh}的决定", "Decision naming the {name_en}", True),
    "order_rectification": (
        "rectification",
        "关于{name_zh}限期整改的通知",
        "Rectification order to the {name_en}",
        False,
    ),
    "suspend": ("lab_suspension", "关于暂停{name_zh}运行的决定", "Decision suspending the {name_en}", True),
    "reinstate": (
        "lab_reinstatement",
        "关于恢复{name_zh}运行的决定",
        "Decision reinstating the {name_en}",
        True,
    ),
    "revoke": (
        "revocation",
        "关于撤销{name_zh}命名的决定",
        "Decision revoking the name of the {name_en}",
        True,
    ),
    "withdraw": (
        "lab_withdrawal",
        "关于{name_zh}退出的决定",
        "Decision on the withdrawal of the {name_en}",
        True,
    ),
    "merge": (
        "lab_merger",
        "关于{name_zh}并入{into_zh}的决定",
        "Decision merging the {name_en} into the {into_en}",
        True,
    ),
}


def _managers_of(lab: Laboratory) -> list[Any]:
    from django.contrib.contenttypes.models import ContentType

    from qslab.accounts.models import User

    ct = ContentType.objects.get_for_model(Laboratory)
    return list(
        User.objects.filter(
            role_memberships__role=Role.LAB_MANAGER,
            role_memberships__active=True,
            role_memberships__scope_type=ct,
            role_memberships__scope_id=str(lab.pk),
        ).distinct()
    )


def _office_members(lab: Laboratory) -> list[Any]:
    from qslab.accounts.models import User

    return list(
        User.objects.filter(role_memberships__role=Role.OFFICE, role_memberships__active=True).distinct()
    )


def _first_manager(lab: Laboratory) -> Any:
    managers = _managers_of(lab)
    return managers[0] if managers else None


def _issue_transition_document(transition: str) -> Any:
    """An ``on_enter`` hook that issues the transition's numbered document about the lab."""

    def hook(lab: Laboratory, user: Any, reason: str) -> None:
        from django.utils import timezone

        from qslab.core.documents import issue_document

        kind, title_zh, title_en, public = TRANSITION_DOCUMENTS[transition]
        into = lab.merged_into
        names = {
            "name_zh": lab.name_zh,
            "name_en": lab.name_en,
            "into_zh": into.name_zh if into else "",
            "into_en": into.name_en if into else "",
        }
        body_zh = f"{lab.supporting_institution.name_zh}：\n" + (reason or "")
        body_en = f"To {lab.supporting_institution.name_en}:\n" + (reason or "")
        doc = issue_document(
            kind_code=kind,
            title_zh=title_zh.format(**names),
            title_en=title_en.format(**names),
            body_zh=body_zh,
            body_en=body_en,
            issued_by=user,
            public=public,
            subject=lab,
            recipients=_managers_of(lab),
        )
        fields = ["last_document"]
        lab.last_document = doc
        if transition == "designate":
            lab.named_on = timezone.localdate()
            fields.append("named_on")
        lab.save(update_fields=fields)

    return hook


def _merge_target_set(lab: Laboratory) -> str | None:
    if not lab.merged_into_id:
        return str(_("Choose the laboratory this one is merged into."))
    if lab.merged_into_id == lab.pk:
        return str(_("A laboratory cannot be merged into itself."))
    return None


#: supervision rectification-order states that are still open (rectification or revocation pending)
_OPEN_ORDER_STATES = ("issued", "responded", "failed", "revocation_proposed", "revocation_decided")


def _revocation_declined(lab: Laboratory) -> str | None:
    """The committee decided not to revoke (a supervision rectification order is ``kept``) and no other
    order is still open: the lab may return to named."""
    orders = lab.rectification_orders.all()  # type: ignore[attr-defined]
    if not orders.filter(status="kept").exists():
        return str(_("Only a committee decision not to revoke returns the laboratory to named this way."))
    if orders.filter(status__in=_OPEN_ORDER_STATES).exists():
        return str(_("Another rectification order of this laboratory is still open."))
    return None


def _ready_for_acceptance(lab: Laboratory) -> str | None:
    missing = [
        str(label)
        for label, ok in (
            (_("director"), bool(lab.director_name.strip())),
            (_("key fields"), lab.fields.exists()),
            (_("contact email"), bool(lab.contact_email.strip())),
        )
        if not ok
    ]
    if missing:
        return str(_("Acceptance needs: %(fields)s.") % {"fields": ", ".join(missing)})
    return None


OFFICE = (Role.OFFICE,)

LIFECYCLE = Workflow(
    state_field="status",
    states=(
        State("proposed", "proposed", "拟建"),
        State("under_construction", "under construction", "建设中"),
        State("acceptance", "acceptance", "验收中"),
        State("named", "named (operating)", "已命名（运行）"),
        State("under_rectification", "under rectification", "整改中"),
        State("suspended", "suspended", "暂停"),
        State("revoked", "revoked", "已撤销", terminal=True),
        State("withdrawn", "withdrawn", "已退出", terminal=True),
        State("merged", "merged", "已合并", terminal=True),
    ),
    transitions=(
        Transition(
            "approve_construction",
            ("proposed",),
            "under_construction",
            OFFICE,
            "approve construction",
            "批准筹建",
            on_enter=_issue_transition_document("approve_construction"),
            notify=_managers_of,
        ),
        Transition(
            "request_acceptance",
            ("under_construction",),
            "acceptance",
            (Role.LAB_MANAGER, Role.OFFICE),
            "request acceptance",
            "申请验收",
            guard=_ready_for_acceptance,
            notify=_office_members,
        ),
        Transition(
            "return_to_construction",
            ("acceptance",),
            "under_construction",
            OFFICE,
            "return to construction",
            "退回建设",
            requires_reason=True,
            notify=_managers_of,
        ),
        Transition(
            "designate",
            ("acceptance",),
            "named",
            OFFICE,
            "name the laboratory",
            "命名",
            on_enter=_issue_transition_document("designate"),
            notify=_managers_of,
        ),
        Transition(
            "order_rectification",
            ("named",),
            "under_rectification",
            OFFICE,
            "order rectification",
            "责令整改",
            requires_reason=True,
            on_enter=_issue_transition_document("order_rectification"),
            notify=_managers_of,
            deadline=DeadlineRule(60, "rectification report due", "整改报告截止", assignee=_first_manager),
        ),
        Transition(
            "close_rectification",
            ("under_rectification",),
            "named",
            OFFICE,
            "accept the rectification",
            "整改通过",
            requires_reason=True,
            notify=_managers_of,
        ),
        Transition(
            "decline_revocation",
            ("under_rectification",),
            "named",
            (Role.COMMITTEE,),
            "return to named: revocation declined",
            "不予撤销，恢复命名",
            requires_reason=True,
            guard=_revocation_declined,
            notify=_managers_of,
        ),
        Transition(
            "suspend",
            ("named", "under_rectification"),
            "suspended",
            OFFICE,
            "suspend",
            "暂停运行",
            requires_reason=True,
            on_enter=_issue_transition_document("suspend"),
            notify=_managers_of,
        ),
        Transition(
            "reinstate",
            ("suspended",),
            "named",
            OFFICE,
            "reinstate",
            "恢复运行",
            requires_reason=True,
            on_enter=_issue_transition_document("reinstate"),
            notify=_managers_of,
        ),
        Transition(
            "revoke",
            ("named", "under_rectification", "suspended"),
            "revoked",
            OFFICE,
            "revoke",
            "撤销命名",
            requires_reason=True,
            on_enter=_issue_transition_document("revoke"),
            notify=_managers_of,
        ),
        Transition(
            "withdraw",
            ("proposed", "under_construction", "acceptance", "named", "under_rectification", "suspended"),
            "withdrawn",
            OFFICE,
            "withdraw",
            "退出",
            requires_reason=True,
            on_enter=_issue_transition_document("withdraw"),
            notify=_managers_of,
        ),
        Transition(
            "merge",
            ("named", "under_rectification", "suspended"),
            "merged",
            OFFICE,
            "merge into another laboratory",
            "合并",
            requires_reason=True,
            guard=_merge_target_set,
            on_enter=_issue_transition_document("merge"),
            notify=_managers_of,
        ),
    ),
)

#: states in which a laboratory counts as covering its fields and region
OPERATING = ("named", "under_rectification")
#: states of laboratories on their way to being named (the pipeline)
PIPELINE = ("proposed", "under_construction", "acceptance")


class Laboratory(ChangeLoggedModel):
    """A national quality standards laboratory (国家XX质量标准实验室)."""

    workflow = LIFECYCLE

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    supporting_institution = models.ForeignKey(
        Organisation,
        verbose_name=_("supporting institution"),
        on_delete=models.PROTECT,
        related_name="laboratories",
    )
    region_code = models.CharField(
        _("region"), max_length=6, choices=region_choices(), validators=[validate_region_code]
    )
    status = models.CharField(_("status"), max_length=24, default="proposed", choices=LIFECYCLE.choices())

    # profile (the lab manager may edit these; see services.PROFILE_FIELDS)
    prefecture_code = models.CharField(
        _("prefecture"),
        max_length=6,
        blank=True,
        validators=[validate_region_code],
        help_text=_("GB/T 2260 code of the prefecture-level city, if known"),
    )
    summary_zh = models.TextField(_("summary (Chinese)"), blank=True)
    summary_en = models.TextField(_("summary (English)"), blank=True)
    director_name = models.CharField(_("director"), max_length=100, blank=True)
    director_title = models.CharField(_("director's title"), max_length=100, blank=True)
    contact_name = models.CharField(_("contact person"), max_length=100, blank=True)
    contact_email = models.EmailField(_("contact email"), blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=40, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    website = models.URLField(_("website"), blank=True)

    # classification (office)
    fields = models.ManyToManyField(
        KeyField, verbose_name=_("key fields"), blank=True, related_name="laboratories"
    )
    priorities = models.ManyToManyField(
        ResearchPriority, verbose_name=_("research priorities"), blank=True, related_name="laboratories"
    )
    industry_chains = models.ManyToManyField(
        IndustryChain, verbose_name=_("industry chains"), blank=True, related_name="laboratories"
    )
    direction = models.CharField(
        _("research direction"),
        max_length=200,
        blank=True,
        help_text=_(
            "short statement of the lab's direction; two labs with the same field, region and "
            "direction overlap"
        ),
    )

    # lifecycle facts, written by the workflow's hooks and services
    named_on = models.DateField(_("named on"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    last_document = models.ForeignKey(
        OfficialDocument, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )

    class Meta:
        ordering = ("code",)
        verbose_name = _("laboratory")
        verbose_name_plural = _("laboratories")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("labs:detail", args=[self.pk])

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    @property
    def summary(self) -> str:
        return bilingual(self.summary_zh, self.summary_en)

    @property
    def region_label(self) -> str:
        return region_name(self.region_code)

    @property
    def status_label(self) -> str:
        return LIFECYCLE.state(self.status).label

    @property
    def province_code(self) -> str:
        return self.region_code[:2] + "0000" if self.region_code != NATIONAL else NATIONAL

    def scope_matches(self, membership: Any) -> bool:
        """A region-scoped authority covers the laboratories of its province (GB/T 2260 prefix)."""
        if membership.region_code:
            prefix = membership.region_code.rstrip("0")[:2] or membership.region_code[:2]
            return self.region_code.startswith(prefix)
        return False

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL  # the registry is public

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return ALL
        ids = scoped_ids(user, Role.LAB_MANAGER, cls)
        if ids is None:
            return ALL
        return models.Q(pk__in=ids)

    @classmethod
    def jurisdiction_q(cls, user: Any) -> models.Q:
        """Laboratories in a competent authority's jurisdiction (all of them for the office)."""
        if has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE):
            return ALL
        if not has_role(user, Role.AUTHORITY):
            return NONE
        regions = authority_regions(user)
        if regions is None:
            return ALL
        q = NONE
        for code in regions:
            q |= models.Q(region_code__startswith=code[:2])
        return q


class PartnerRole(models.TextChoices):
    INDUSTRY = "industry", _("industry")
    ACADEMIA = "academia", _("academia")
    RESEARCH = "research", _("research")
    APPLICATION = "application", _("application")


class Partner(ChangeLoggedModel):
    """A partner institution of a laboratory with its role in the industry-academia-research alliance."""

    laboratory = models.ForeignKey(Laboratory, on_delete=models.CASCADE, related_name="partners")
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="+"
    )
    role = models.CharField(_("role"), max_length=16, choices=PartnerRole.choices)

    class Meta:
        ordering = ("role", "id")
        verbose_name = _("partner institution")
        verbose_name_plural = _("partner institutions")
        constraints = [
            models.UniqueConstraint(
                fields=["laboratory", "organisation"], name="one_partner_row_per_organisation"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organisation} ({self.get_role_display()})"

    def get_absolute_url(self) -> str:
        return reverse("labs:detail", args=[self.laboratory_id])

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return ALL

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return models.Q(laboratory__in=Laboratory.objects.editable_by(user))


class CommitteeMember(ChangeLoggedModel):
    """A member of the lab's academic / technical committee."""

    class Position(models.TextChoices):
        CHAIR = "chair", _("chair")
        VICE_CHAIR = "vice_chair", _("vice chair")
        MEMBER = "member", _("member")

    laboratory = models.ForeignKey(Laboratory, on_delete=models.CASCADE, related_name="committee")
    name = models.CharField(_("name"), max_length=100)
    affiliation = models.CharField(_("affiliation"), max_length=200, blank=True)
    title = models.CharField(_("title"), max_length=100, blank=True)
    position = models.CharField(
        _("position"), max_length=12, choices=Position.choices, default=Position.MEMBER
    )

    class Meta:
        ordering = ("position", "name")
        verbose_name = _("committee member")
        verbose_name_plural = _("committee members")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("labs:detail", args=[self.laboratory_id])

    visible_q = Partner.visible_q
    editable_q = Partner.editable_q


class KeyFigures(ChangeLoggedModel):
    """One year's key figures of a laboratory, reported by its manager."""

    laboratory = models.ForeignKey(Laboratory, on_delete=models.CASCADE, related_name="figures")
    year = models.PositiveIntegerField(_("year"), validators=[MinValueValidator(2000)])
    staff = models.PositiveIntegerField(_("staff"), default=0)
    instrument_value = models.DecimalField(
        _("instrument value (10k CNY)"),
        max_digits=12,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0)],
    )
    standards_drafted = models.PositiveIntegerField(_("standards drafted"), default=0)
    patents = models.PositiveIntegerField(_("patents"), default=0)
    services_delivered = models.PositiveIntegerField(_("services delivered"), default=0)

    class Meta:
        ordering = ("-year",)
        verbose_name = _("key figures")
        verbose_name_plural = _("key figures")
        constraints = [
            models.UniqueConstraint(fields=["laboratory", "year"], name="one_figures_row_per_lab_year")
        ]

    def __str__(self) -> str:
        return f"{self.laboratory} {self.year}"

    def get_absolute_url(self) -> str:
        return reverse("labs:detail", args=[self.laboratory_id])

    visible_q = Partner.visible_q
    editable_q = Partner.editable_q


# --------------------------------------------------------------------------------------------------
# Layout plans
# --------------------------------------------------------------------------------------------------


class LayoutPlan(ChangeLoggedModel):
    """A plan period (e.g. to 2025, to 2035) with targets per field x region; every revision is kept."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    start_year = models.PositiveIntegerField(_("from year"))
    end_year = models.PositiveIntegerField(_("to year"))
    notes_zh = models.TextField(_("notes (Chinese)"), blank=True)
    notes_en = models.TextField(_("notes (English)"), blank=True)
    revision = models.PositiveIntegerField(_("revision"), default=0, editable=False)

    class Meta:
        ordering = ("-end_year", "code")
        verbose_name = _("layout plan")
        verbose_name_plural = _("layout plans")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("labs:plan", args=[self.pk])

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if any(has_role(user, r) for r in (Role.OFFICE, Role.COMMITTEE, Role.AUTHORITY)):
            return ALL
        return NONE

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        return ALL if has_role(user, Role.OFFICE) else NONE


class PlanTarget(models.Model):
    """How many operating laboratories the plan wants in one field and region (or industry chain)."""

    plan = models.ForeignKey(LayoutPlan, on_delete=models.CASCADE, related_name="targets")
    field = models.ForeignKey(
        KeyField, verbose_name=_("key field"), on_delete=models.PROTECT, related_name="+"
    )
    region_code = models.CharField(
        _("region"), max_length=6, validators=[validate_region_code], help_text=_("000000 for national")
    )
    industry_chain = models.ForeignKey(
        IndustryChain,
        verbose_name=_("industry chain"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    target = models.PositiveIntegerField(_("target number of labs"), validators=[MinValueValidator(1)])
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=2, help_text=_("1 = highest, 3 = lowest; ranks the gaps to fill")
    )

    class Meta:
        ordering = ("priority", "field__order", "region_code")
        verbose_name = _("plan target")
        verbose_name_plural = _("plan targets")
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "field", "region_code", "industry_chain"], name="one_target_per_cell"
            )
        ]

    def __str__(self) -> str:
        return f"{self.field} × {region_name(self.region_code)}: {self.target}"

    @property
    def region_label(self) -> str:
        return region_name(self.region_code)

    def as_row(self) -> dict[str, Any]:
        return {
            "field": self.field.code,
            "region": self.region_code,
            "chain": self.industry_chain.code if self.industry_chain_id else "",
            "target": self.target,
            "priority": self.priority,
        }


class PlanRevision(models.Model):
    """A frozen copy of a plan's targets after each change: the record of "dynamic adjustment"."""

    plan = models.ForeignKey(LayoutPlan, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField(_("revision"))
    targets = models.JSONField(_("targets"), default=list)
    note = models.TextField(_("why it changed"), blank=True)
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("plan", "-number")
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="one_revision_number_per_plan")
        ]

    def __str__(self) -> str:
        return f"{self.plan} r{self.number}"
