"""Traceability of durable consumer goods and recalls (issue 14, items 3 to 5).

The relational tables hold what people work on: the identity of a product (GTIN, model, batches or
lots with production dates and serial ranges), the recall plan and its workflow, progress reports and
the uploads of supply-chain data. The supply-chain units and events themselves (millions of rows) live
in the analytical store (``settings.DUCKDB_PATH``) and are reached through
:mod:`qslab.surveillance.trace`.

Who sees what:

* a recall's public fields (product identity, defect, hazard, remedy, notice, advice to consumers,
  effectiveness) are public once the office has published its notice;
* its confidential fields (how the defect was found, sales channels, contacts, the office's notes,
  the supply-chain parties) are seen only by the risk staff (office, analysts), the competent
  authorities of the company's region and the responsible company itself;
* a company user (industry client) sees only the recalls, products and uploads of its own
  organisation: the organisation named on its client membership, else the one on its account.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from qslab.accounts.models import Organisation
from qslab.accounts.roles import Role, authority_regions, has_role
from qslab.core.models import ChangeLoggedModel, bilingual
from qslab.core.permissions import ALL, NONE
from qslab.core.uploads import UploadValidator
from qslab.core.validators import validate_gtin
from qslab.core.workflow import DeadlineRule, State, Transition, Workflow
from qslab.risk.models import RiskLevel

# ------------------------------------------------------------------------------------------------
# who is who


def is_recall_staff(user: Any) -> bool:
    """The committee office and risk analysts work on every recall."""
    return has_role(user, Role.OFFICE) or has_role(user, Role.ANALYST)


def company_ids(user: Any) -> set[int]:
    """Organisations the user answers for as a company (industry client memberships).

    A client membership naming an organisation (or scoped to one) covers that organisation; an
    unnamed one covers the organisation on the user's account. Cached on the user for the request.
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    cached = getattr(user, "_qslab_recall_companies", None)
    if cached is not None:
        return cached
    from django.contrib.contenttypes.models import ContentType

    org_type = ContentType.objects.get_for_model(Organisation).pk
    ids: set[int] = set()
    for org_id, scope_type, scope_id in user.role_memberships.filter(
        role=Role.CLIENT, active=True
    ).values_list("organisation_id", "scope_type_id", "scope_id"):
        if org_id:
            ids.add(org_id)
        elif scope_type == org_type and scope_id.isdigit():
            ids.add(int(scope_id))
        elif user.organisation_id:
            ids.add(user.organisation_id)
    user._qslab_recall_companies = ids
    return ids


def _confidential_q(user: Any, company_field: str) -> models.Q:
    """Rows whose confidential fields ``user`` may read: staff, the company, its region's authority."""
    if is_recall_staff(user):
        return ALL
    q = NONE
    companies = company_ids(user)
    if companies:
        q = q | models.Q(**{f"{company_field}__in": companies})
    if has_role(user, Role.AUTHORITY):
        regions = authority_regions(user)
        if regions is None:
            return ALL
        for code in regions:
            # a provincial code (320000) covers its cities and counties (3201xx, 320102...)
            prefix = code.rstrip("0") or code
            if len(prefix) % 2:
                prefix += "0"
            q = q | models.Q(**{f"{company_field}__region_code__startswith": prefix})
    return q


# ------------------------------------------------------------------------------------------------
# product identity


SERIAL_RE = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)$")
SERIAL_CHARS = re.compile(r"^[A-Za-z0-9\-_./]+$")
SERIAL_MAX_LENGTH = 40


def split_serial(value: str) -> tuple[str, int, int]:
    """A serial number as (prefix, number, width): letters, digits, ``- _ . /``, ending in digits.

    ``"KX-000120"`` is ``("KX-", 120, 6)`` and ``"SN-A000100"`` is ``("SN-A", 100, 6)``; the prefix is
    compared without regard to case (``"sn-a000100"`` is the same serial).
    """
    text = (value or "").strip()
    if not text:
        raise ValidationError(_("Give a serial number."), code="serial")
    if len(text) > SERIAL_MAX_LENGTH:
        raise ValidationError(
            _("“%(value)s” is longer than %(n)d characters."),
            code="serial",
            params={"value": text, "n": SERIAL_MAX_LENGTH},
        )
    if not SERIAL_CHARS.match(text):
        raise ValidationError(
            _("“%(value)s” has a character a serial number cannot have (letters, digits and - _ . / only)."),
            code="serial",
            params={"value": text},
        )
    match = SERIAL_RE.match(text)
    if not match:
        raise ValidationError(
            _("A serial number must end in digits: “%(value)s”."), code="serial", params={"value": text}
        )
    return match["prefix"].upper(), int(match["number"]), len(match["number"])


def validate_serial_range(first: str, last: str) -> int:
    """Check that ``first``..``last`` is a range of one series; return the number of serials in it.

    Both ends have the same prefix (letters and all, e.g. ``SN-A``) and a numeric tail of the same
    width (``SN-A000100`` to ``SN-A000250``: 151 serials).
    """
    p1, n1, w1 = split_serial(first)
    p2, n2, w2 = split_serial(last)
    if p1 != p2:
        raise ValidationError(
            _(
                "“%(first)s” and “%(last)s” have different prefixes (“%(p1)s” and “%(p2)s”): "
                "a range covers one series."
            ),
            code="serial_range",
            params={"first": first, "last": last, "p1": p1, "p2": p2},
        )
    if w1 != w2:
        raise ValidationError(
            _(
                "The numbers of “%(first)s” and “%(last)s” have %(w1)d and %(w2)d digits: "
                "write both with the same number of digits (leading zeros)."
            ),
            code="serial_range",
            params={"first": first, "last": last, "w1": w1, "w2": w2},
        )
    if n2 < n1:
        raise ValidationError(
            _("The range “%(first)s” to “%(last)s” ends before it starts."),
            code="serial_range",
            params={"first": first, "last": last},
        )
    return n2 - n1 + 1


def serial_in_range(serial: str, first: str, last: str) -> bool:
    """Whether ``serial`` lies in ``first``..``last`` (same prefix and width, number between)."""
    try:
        prefix, number, width = split_serial(serial)
        p1, n1, w1 = split_serial(first)
        p2, n2, w2 = split_serial(last)
    except ValidationError:
        return False
    return prefix == p1 == p2 and width == w1 == w2 and n1 <= number <= n2


class Product(ChangeLoggedModel):
    """A durable consumer product model as its producer identifies it."""

    company = models.ForeignKey(
        Organisation, verbose_name=_("producer"), on_delete=models.PROTECT, related_name="+"
    )
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    brand = models.CharField(_("brand"), max_length=120)
    model = models.CharField(_("model"), max_length=120)
    gtin = models.CharField(
        _("GTIN (EAN/UPC)"),
        max_length=14,
        blank=True,
        validators=[validate_gtin],
        help_text=_("the barcode digits, checked by the check digit"),
    )
    category = models.ForeignKey(
        "risk.Term",
        verbose_name=_("product category"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": "product"},
    )

    class Meta:
        ordering = ("brand", "model", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["company", "brand", "model"], name="recalls_one_product_per_model"
            )
        ]
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self) -> str:
        return f"{self.brand} {self.model}"

    def get_absolute_url(self) -> str:
        return reverse("recalls:product", args=[self.pk])

    @property
    def name(self) -> str:
        return bilingual(self.name_zh, self.name_en)

    def clean(self) -> None:
        if self.gtin:
            from stdnum import ean

            self.gtin = ean.compact(self.gtin)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _confidential_q(user, "company")

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return ALL
        companies = company_ids(user)
        return models.Q(company__in=companies) if companies else NONE


class Batch(ChangeLoggedModel):
    """A batch or lot of one product: production dates, quantity and the serial range it carries."""

    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="batches"
    )
    lot = models.CharField(_("batch or lot"), max_length=80)
    produced_from = models.DateField(_("produced from"))
    produced_to = models.DateField(_("produced to"))
    quantity = models.PositiveIntegerField(_("units made"), null=True, blank=True)
    serial_first = models.CharField(_("first serial number"), max_length=40, blank=True)
    serial_last = models.CharField(_("last serial number"), max_length=40, blank=True)

    class Meta:
        ordering = ("product", "produced_from", "lot")
        constraints = [models.UniqueConstraint(fields=["product", "lot"], name="recalls_one_lot_per_product")]
        verbose_name = _("batch")
        verbose_name_plural = _("batches")

    def __str__(self) -> str:
        return f"{self.product} · {self.lot}"

    def clean(self) -> None:
        errors: dict[str, list[Any]] = {}
        if self.produced_from and self.produced_to and self.produced_to < self.produced_from:
            errors["produced_to"] = [_("The production period ends before it starts.")]
        if bool(self.serial_first) != bool(self.serial_last):
            errors["serial_last"] = [_("Give both the first and the last serial number, or neither.")]
        elif self.serial_first:
            try:
                n = validate_serial_range(self.serial_first, self.serial_last)
            except ValidationError as error:
                errors["serial_last"] = error.messages
            else:
                if self.quantity is not None and n < self.quantity:
                    errors["quantity"] = [
                        _("%(q)d units cannot carry %(n)d serial numbers.") % {"q": self.quantity, "n": n}
                    ]
        if errors:
            raise ValidationError(errors)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _confidential_q(user, "product__company")

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return ALL
        companies = company_ids(user)
        return models.Q(product__company__in=companies) if companies else NONE


# ------------------------------------------------------------------------------------------------
# recalls


def _company_users(obj: Recall | ProducerReport) -> list[Any]:
    """The producer's client accounts (by role membership or by organisation) of a recall or a report."""
    from qslab.accounts.models import User

    return list(
        User.objects.filter(is_active=True)
        .filter(
            models.Q(role_memberships__role=Role.CLIENT, role_memberships__organisation=obj.company)
            | models.Q(role_memberships__role=Role.CLIENT, organisation=obj.company)
        )
        .distinct()
    )


def _may_act_for_company(user: Any, obj: Recall | ProducerReport) -> bool:
    return obj.company_id in company_ids(user) or has_role(user, Role.OFFICE)


def _plan_complete(recall: Recall) -> str | None:
    missing = []
    if not (recall.defect_zh.strip() or recall.defect_en.strip()):
        missing.append(str(_("the defect")))
    if not (recall.remedy_text_zh.strip() or recall.remedy_text_en.strip()):
        missing.append(str(_("the remedy")))
    if not (recall.notice_zh.strip() or recall.notice_en.strip()):
        missing.append(str(_("the public notice")))
    if not recall.start_date or not recall.planned_end:
        missing.append(str(_("the timetable")))
    if not recall.batches.exists() and not recall.serial_ranges:
        missing.append(str(_("the scope (batches or serial ranges)")))
    if missing:
        return str(_("The recall plan is missing: %(items)s.")) % {"items": ", ".join(missing)}
    return None


def _mark_published(recall: Recall, user: Any, reason: str) -> None:
    """Publish the notice: date it and issue it as a numbered public document (zh-Hans and English)."""
    from django.utils import timezone

    from qslab.recalls.services import issue_notice_document

    recall.notice_published_at = timezone.now()
    recall.notice_document = issue_notice_document(recall, user)
    recall.save(update_fields=["notice_published_at", "notice_document"])


def _has_final_report(recall: Recall) -> str | None:
    if not recall.progress_reports.filter(is_final=True).exists():
        return str(_("Record the final progress report (summary) before closing the recall."))
    return None


def _mark_closed(recall: Recall, user: Any, reason: str) -> None:
    """Close: date it and issue the closing summary as a numbered public document (zh-Hans and English)."""
    from django.utils import timezone

    from qslab.recalls.services import issue_closing_document

    recall.closed_on = timezone.localdate()
    recall.closing_document = issue_closing_document(recall, user)
    recall.save(update_fields=["closed_on", "closing_document"])


def default_report_period() -> int:
    """Days between periodic progress reports of a new plan (setting ``QSLAB_RECALL_REPORT_EVERY_DAYS``,
    default 90: every three months)."""
    return int(getattr(settings, "QSLAB_RECALL_REPORT_EVERY_DAYS", 90))


class Recall(ChangeLoggedModel):
    """A recall of a defective consumer product: the plan, its public notice, progress and closure.

    The producer drafts and submits the plan; the committee office (for the market regulator)
    approves it and publishes the notice; the producer carries it out, reporting progress
    periodically; the office closes it on the final report.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        SUBMITTED = "submitted", _("submitted")
        APPROVED = "approved", _("approved")
        PUBLIC = "public", _("notice published")
        IN_PROGRESS = "in_progress", _("in progress")
        CLOSED = "closed", _("closed")

    PUBLISHED = (Status.PUBLIC, Status.IN_PROGRESS, Status.CLOSED)

    class Remedy(models.TextChoices):
        REPAIR = "repair", _("repair")
        REPLACE = "replace", _("replacement")
        REFUND = "refund", _("refund")
        WARNING = "warning", _("warning or added instructions")
        OTHER = "other", _("other")

    #: The risk levels of the risk app (one definition: ``qslab.risk.models.RiskLevel``).
    RiskLevel = RiskLevel

    workflow = Workflow(
        state_field="status",
        states=(
            State("draft", "draft", "草稿"),
            State("submitted", "submitted", "已提交"),
            State("approved", "approved", "已批准"),
            State("public", "notice published", "已发布召回公告"),
            State("in_progress", "in progress", "实施中"),
            State("closed", "closed", "已结束", terminal=True),
        ),
        transitions=(
            Transition(
                "submit",
                ("draft",),
                "submitted",
                (Role.CLIENT, Role.OFFICE),
                "submit the recall plan",
                "提交召回计划",
                allowed=_may_act_for_company,
                guard=_plan_complete,
                deadline=DeadlineRule(
                    10, "Decide on the recall plan", "审核召回计划", assignee_role=Role.OFFICE
                ),
            ),
            Transition(
                "return",
                ("submitted",),
                "draft",
                (Role.OFFICE,),
                "return for changes",
                "退回修改",
                requires_reason=True,
                notify=_company_users,
            ),
            Transition(
                "approve",
                ("submitted",),
                "approved",
                (Role.OFFICE,),
                "approve the plan",
                "批准召回计划",
                guard=_plan_complete,
                notify=_company_users,
                deadline=DeadlineRule(
                    3, "Publish the recall notice", "发布召回公告", assignee_role=Role.OFFICE
                ),
            ),
            Transition(
                "publish",
                ("approved",),
                "public",
                (Role.OFFICE,),
                "publish the notice",
                "发布召回公告",
                guard=_plan_complete,
                on_enter=_mark_published,
                notify=_company_users,
            ),
            Transition(
                "start",
                ("public",),
                "in_progress",
                (Role.CLIENT, Role.OFFICE),
                "start carrying out the recall",
                "开始实施召回",
                allowed=_may_act_for_company,
            ),
            Transition(
                "close",
                ("in_progress",),
                "closed",
                (Role.OFFICE,),
                "close the recall",
                "结束召回",
                requires_reason=True,
                guard=_has_final_report,
                on_enter=_mark_closed,
                notify=_company_users,
            ),
        ),
    )

    reference = models.CharField(_("reference"), max_length=20, unique=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    company = models.ForeignKey(
        Organisation, verbose_name=_("responsible company"), on_delete=models.PROTECT, related_name="+"
    )
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="recalls"
    )
    # public fields
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    hazard = models.ForeignKey(
        "risk.Term",
        verbose_name=_("hazard"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": "hazard"},
    )
    risk_level = models.CharField(_("risk level"), max_length=8, choices=RiskLevel.choices, blank=True)
    defect_zh = models.TextField(_("defect (Chinese)"), blank=True)
    defect_en = models.TextField(_("defect (English)"), blank=True)
    batches = models.ManyToManyField(
        Batch, verbose_name=_("batches in scope"), blank=True, related_name="recalls"
    )
    serial_ranges = models.JSONField(
        _("serial ranges in scope"), default=list, blank=True, help_text=_("[[first, last], ...]")
    )
    units_planned = models.PositiveIntegerField(
        _("units to recall (plan)"), default=0, help_text=_("as declared in the plan")
    )
    remedy = models.CharField(_("remedy"), max_length=10, choices=Remedy.choices, default=Remedy.REPAIR)
    remedy_text_zh = models.TextField(_("remedy (Chinese)"), blank=True)
    remedy_text_en = models.TextField(_("remedy (English)"), blank=True)
    advice_zh = models.TextField(_("advice to consumers (Chinese)"), blank=True)
    advice_en = models.TextField(_("advice to consumers (English)"), blank=True)
    start_date = models.DateField(_("recall starts"), null=True, blank=True)
    planned_end = models.DateField(_("planned end"), null=True, blank=True)
    report_every_days = models.PositiveSmallIntegerField(
        _("progress report every (days)"),
        default=default_report_period,
        validators=[MinValueValidator(7), MaxValueValidator(366)],
        help_text=_("periodic progress reports: each one is due this many days after the last"),
    )
    notice_zh = models.TextField(_("public notice (Chinese)"), blank=True)
    notice_en = models.TextField(_("public notice (English)"), blank=True)
    notice_published_at = models.DateTimeField(_("notice published"), null=True, blank=True)
    notice_document = models.ForeignKey(
        "core.OfficialDocument",
        verbose_name=_("notice document"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    closing_document = models.ForeignKey(
        "core.OfficialDocument",
        verbose_name=_("closing summary"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    units_affected = models.PositiveIntegerField(
        _("units affected"), default=0, help_text=_("from the latest recall scope query")
    )
    units_remedied = models.PositiveIntegerField(_("units remedied"), default=0)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    # confidential fields: never on public pages, feeds or the public API
    investigation = models.TextField(
        _("how the defect was found (confidential)"),
        blank=True,
        help_text=_("tests, complaints, accidents, part suppliers"),
    )
    sales_channels = models.TextField(_("sales channels (confidential)"), blank=True)
    contact_name = models.CharField(_("contact person (confidential)"), max_length=100, blank=True)
    contact_phone = models.CharField(_("contact telephone (confidential)"), max_length=40, blank=True)
    office_notes = models.TextField(_("office notes (confidential)"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # links to the risk app
    risk_assessment = models.ForeignKey(
        "risk.RiskAssessment",
        verbose_name=_("risk assessment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recalls",
    )
    alert = models.ForeignKey(
        "risk.ConsumerAlert",
        verbose_name=_("consumer alert"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recalls",
    )

    #: Fields that may be shown to anyone once the notice is published (pages, feed, public API).
    PUBLIC_FIELDS = (
        "reference",
        "status",
        "title_zh",
        "title_en",
        "hazard",
        "risk_level",
        "defect_zh",
        "defect_en",
        "remedy",
        "remedy_text_zh",
        "remedy_text_en",
        "advice_zh",
        "advice_en",
        "start_date",
        "planned_end",
        "notice_zh",
        "notice_en",
        "notice_published_at",
        "notice_document",
        "closing_document",
        "units_affected",
        "units_remedied",
        "closed_on",
    )
    CONFIDENTIAL_FIELDS = ("investigation", "sales_channels", "contact_name", "contact_phone", "office_notes")

    class Meta:
        ordering = ("-created", "-id")
        verbose_name = _("recall")
        verbose_name_plural = _("recalls")

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("recalls:recall", args=[self.pk])

    def get_public_url(self) -> str:
        return reverse("recalls:public_recall", args=[self.pk])

    @property
    def title(self) -> str:
        return bilingual(self.title_zh, self.title_en)

    @property
    def defect(self) -> str:
        return bilingual(self.defect_zh, self.defect_en)

    @property
    def remedy_text(self) -> str:
        return bilingual(self.remedy_text_zh, self.remedy_text_en)

    @property
    def advice(self) -> str:
        return bilingual(self.advice_zh, self.advice_en)

    @property
    def notice(self) -> str:
        return bilingual(self.notice_zh, self.notice_en)

    @property
    def is_published(self) -> bool:
        return self.status in self.PUBLISHED

    @property
    def effectiveness(self) -> float | None:
        """Units remedied against units affected (0..1), or None while nothing is known affected."""
        if not self.units_affected:
            return None
        return min(1.0, self.units_remedied / self.units_affected)

    @property
    def effectiveness_percent(self) -> str:
        value = self.effectiveness
        return "—" if value is None else f"{value * 100:.1f} %"

    @classmethod
    def confidential_q(cls, user: Any) -> models.Q:
        """Recalls whose confidential fields and supply chain ``user`` may see."""
        return _confidential_q(user, "company")

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return cls.confidential_q(user) | models.Q(status__in=[s.value for s in cls.PUBLISHED])

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        """The company edits its draft; the office edits any plan not yet closed."""
        if has_role(user, Role.OFFICE):
            return ~models.Q(status=cls.Status.CLOSED)
        companies = company_ids(user)
        if companies:
            return models.Q(company__in=companies, status=cls.Status.DRAFT)
        return NONE


class ProgressReport(ChangeLoggedModel):
    """A periodic report of how far the recall has got (cumulative counts at the end of a period)."""

    recall = models.ForeignKey(Recall, on_delete=models.CASCADE, related_name="progress_reports")
    period_end = models.DateField(_("up to"))
    units_notified = models.PositiveIntegerField(_("owners and sellers notified"), default=0)
    units_remedied = models.PositiveIntegerField(_("units remedied (cumulative)"))
    summary_zh = models.TextField(_("summary (Chinese)"), blank=True)
    summary_en = models.TextField(_("summary (English)"), blank=True)
    notes = models.TextField(_("notes to the office (confidential)"), blank=True)
    is_final = models.BooleanField(_("final report (summary of the recall)"), default=False)
    from_trace = models.BooleanField(_("counted from the supply-chain records"), default=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("recall", "period_end", "id")
        constraints = [
            models.UniqueConstraint(fields=["recall", "period_end"], name="recalls_one_report_per_period")
        ]
        verbose_name = _("progress report")
        verbose_name_plural = _("progress reports")

    def __str__(self) -> str:
        return f"{self.recall.reference} {self.period_end}: {self.units_remedied}"

    @property
    def summary(self) -> str:
        return bilingual(self.summary_zh, self.summary_en)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _confidential_q(user, "recall__company") | models.Q(
            recall__status__in=[s.value for s in Recall.PUBLISHED]
        )


# ------------------------------------------------------------------------------------------------
# supply-chain data uploads


def trace_upload_path(instance: TraceUpload, filename: str) -> str:
    import uuid

    return f"recalls/trace/{uuid.uuid4().hex}/{filename}"


class TraceUpload(ChangeLoggedModel):
    """One file of serialised units or supply-chain events taken into the analytical store, all or nothing."""

    class Kind(models.TextChoices):
        UNITS = "units", _("units (serial numbers, batches)")
        EVENTS = "events", _("supply-chain events")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("being checked and loaded")
        DONE = "done", _("loaded")
        REJECTED = "rejected", _("rejected: nothing written")
        FAILED = "failed", _("failed")

    company = models.ForeignKey(
        Organisation, verbose_name=_("company"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("contents"), max_length=8, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to=trace_upload_path)
    file_name = models.CharField(_("file name"), max_length=200)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    task_id = models.CharField(_("background task"), max_length=64, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("by")
    )
    n_rows = models.PositiveIntegerField(_("rows"), default=0)
    n_inserted = models.PositiveIntegerField(_("inserted"), default=0)
    problems = models.JSONField(_("problems"), default=list, blank=True)
    message = models.TextField(_("message"), blank=True)

    class Meta:
        ordering = ("-created", "-id")
        verbose_name = _("supply-chain upload")
        verbose_name_plural = _("supply-chain uploads")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("recalls:upload", args=[self.pk])

    @property
    def is_pending(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _confidential_q(user, "company")


# ------------------------------------------------------------------------------------------------
# the producer's statutory reports (deaths, serious injuries, major losses, recalls abroad)


class ReportingRule(ChangeLoggedModel):
    """Reference data: within how many working days a producer must report what it has learned of.

    The shipped rules (migration ``0007``) say 2 working days for a death or serious injury, a major
    property loss and a recall abroad: that figure is verified only in a provincial rule restating the
    national one (Guangdong 2023); the article of SAMR Order No. 19 was not read, so the rules ship
    ``verified=False`` and the office edits them in the admin. A report keeps the days it was given.
    """

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    working_days = models.PositiveSmallIntegerField(
        _("working days to report"),
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text=_("counted from the day after the producer learned of it (weekends and holidays skipped)"),
    )
    source = models.TextField(_("source"), blank=True)
    verified = models.BooleanField(
        _("verified against the legal text"),
        default=False,
        help_text=_("unverified rules are flagged on every report that uses them"),
    )
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        ordering = ("code",)
        verbose_name = _("producer reporting rule")
        verbose_name_plural = _("producer reporting rules")

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


def _mark_reported(report: ProducerReport, user: Any, reason: str) -> None:
    from django.utils import timezone

    report.reported_at = timezone.now()
    report.report_text = report.report_text or reason
    report.save(update_fields=["reported_at", "report_text"])


class ProducerReport(ChangeLoggedModel):
    """What a producer learned of (a death, a serious injury, a major loss, a recall abroad) and its
    statutory report of it to the market regulator, due ``working_days`` after ``learned_on``.

    Recording it opens a ``core.Deadline`` for the company; the reminder job reminds before and marks it
    overdue after, and the office's dashboard lists it (overdue in red) until the report is made.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("to be reported")
        REPORTED = "reported", _("reported")

    workflow = Workflow(
        state_field="status",
        states=(
            State("open", "to be reported", "待报告"),
            State("reported", "reported", "已报告", terminal=True),
        ),
        transitions=(
            Transition(
                "report",
                ("open",),
                "reported",
                (Role.CLIENT, Role.OFFICE),
                "report to the market regulator",
                "向市场监管部门报告",
                allowed=_may_act_for_company,
                requires_reason=True,
                on_enter=_mark_reported,
                notify=_company_users,
            ),
        ),
    )

    reference = models.CharField(_("reference"), max_length=20, unique=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    company = models.ForeignKey(
        Organisation, verbose_name=_("producer"), on_delete=models.PROTECT, related_name="+"
    )
    product = models.ForeignKey(
        Product,
        verbose_name=_("product"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="producer_reports",
    )
    recall = models.ForeignKey(
        Recall,
        verbose_name=_("recall"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="producer_reports",
    )
    rule = models.ForeignKey(ReportingRule, verbose_name=_("what happened"), on_delete=models.PROTECT)
    learned_on = models.DateField(_("learned of it on"))
    occurred_on = models.DateField(_("happened on"), null=True, blank=True)
    description = models.TextField(_("what happened (confidential)"))
    working_days = models.PositiveSmallIntegerField(_("working days to report"))
    due = models.DateField(_("report due"))
    reported_at = models.DateTimeField(_("reported"), null=True, blank=True)
    report_text = models.TextField(_("what was reported"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-learned_on", "-id")
        verbose_name = _("producer's incident report")
        verbose_name_plural = _("producers' incident reports")

    def __str__(self) -> str:
        return f"{self.reference} {self.rule.name if self.rule_id else ''}".strip()

    def get_absolute_url(self) -> str:
        return reverse("recalls:producer_report", args=[self.pk])

    @property
    def is_overdue(self) -> bool:
        from django.utils import timezone

        return self.status == self.Status.OPEN and self.due < timezone.localdate()

    @property
    def reported_late(self) -> bool:
        from django.utils import timezone

        return self.reported_at is not None and timezone.localdate(self.reported_at) > self.due

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        return _confidential_q(user, "company")

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return models.Q(status=cls.Status.OPEN)
        companies = company_ids(user)
        return models.Q(company__in=companies, status=cls.Status.OPEN) if companies else NONE


# ------------------------------------------------------------------------------------------------
# laboratory testing requested by the office (for a risk assessment or a recall's defect analysis)


def lab_report_path(instance: LabTestRequest, filename: str) -> str:
    import uuid

    return f"recalls/lab-reports/{uuid.uuid4().hex}/{filename}"


def _lab_managers(request: LabTestRequest) -> list[Any]:
    from qslab.labs.models import _managers_of

    return _managers_of(request.laboratory)


def _manages_request_lab(user: Any, request: LabTestRequest) -> bool:
    return has_role(user, Role.LAB_MANAGER, scope=request.laboratory)


def _has_report(request: LabTestRequest) -> str | None:
    return None if request.report else str(_("Upload the test report (PDF) first."))


def _requester(request: LabTestRequest) -> list[Any]:
    return [request.requested_by] if request.requested_by_id else []


class LabTestRequest(ChangeLoggedModel):
    """The office asks a national quality standards laboratory to test a product for a risk assessment
    or a recall's defect analysis; the laboratory's managers see the request and upload the test report
    (PDF), which the assessment and the recall then show. Managers of other laboratories see nothing."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("requested")
        REPORTED = "reported", _("report delivered")

    workflow = Workflow(
        state_field="status",
        states=(
            State("requested", "requested", "已委托"),
            State("reported", "report delivered", "已提交报告", terminal=True),
        ),
        transitions=(
            Transition(
                "deliver",
                ("requested",),
                "reported",
                (Role.LAB_MANAGER,),
                "deliver the test report",
                "提交检测报告",
                allowed=_manages_request_lab,
                guard=_has_report,
                notify=_requester,
            ),
        ),
    )

    laboratory = models.ForeignKey(
        "labs.Laboratory", verbose_name=_("laboratory"), on_delete=models.PROTECT, related_name="+"
    )
    assessment = models.ForeignKey(
        "risk.RiskAssessment",
        verbose_name=_("risk assessment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lab_requests",
    )
    recall = models.ForeignKey(
        Recall,
        verbose_name=_("recall (defect analysis)"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lab_requests",
    )
    question = models.TextField(_("what to test"))
    due = models.DateField(_("report wanted by"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    report = models.FileField(
        _("test report (PDF)"),
        upload_to=lab_report_path,
        blank=True,
        validators=[UploadValidator(("pdf",), max_bytes=20 * 1024 * 1024)],
    )
    report_name = models.CharField(_("file name"), max_length=200, blank=True)
    report_summary = models.TextField(_("findings"), blank=True)

    class Meta:
        ordering = ("-created", "-id")
        verbose_name = _("laboratory test request")
        verbose_name_plural = _("laboratory test requests")

    def __str__(self) -> str:
        return f"{self.laboratory} · {self.question[:40]}"

    def get_absolute_url(self) -> str:
        return reverse("recalls:lab_request", args=[self.pk])

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        """Risk staff see every request; a laboratory's managers only their laboratory's; the company
        whose recall the testing was for sees the delivered report (it concerns its own product: the
        findings of a defect analysis are told to the producer, who may answer them)."""
        from qslab.accounts.roles import scoped_ids
        from qslab.labs.models import Laboratory

        if is_recall_staff(user):
            return ALL
        companies = company_ids(user)
        own_recall = (
            models.Q(recall__company__in=companies, status=cls.Status.REPORTED) if companies else NONE
        )
        if not has_role(user, Role.LAB_MANAGER):
            return own_recall
        ids = scoped_ids(user, Role.LAB_MANAGER, Laboratory)
        if ids is None:
            return ALL
        return (models.Q(laboratory__in=ids) if ids else NONE) | own_recall

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        """The laboratory's managers attach the report while it is requested."""
        return (
            cls.visible_q(user) & models.Q(status=cls.Status.REQUESTED)
            if has_role(user, Role.LAB_MANAGER)
            else NONE
        )
