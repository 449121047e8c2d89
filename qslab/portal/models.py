"""Public notices: the office drafts, a committee member approves, publication issues the numbered act."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from qslab.accounts.roles import Role, has_role
from qslab.core.models import ChangeLoggedModel, OfficialDocument, bilingual
from qslab.core.permissions import ALL, NONE
from qslab.core.workflow import State, Transition, Workflow


def _ready_to_publish(notice: Notice) -> str | None:
    missing = [
        label
        for label, value in (
            ("title (Chinese)", notice.title_zh),
            ("title (English)", notice.title_en),
            ("body (Chinese)", notice.body_zh),
            ("body (English)", notice.body_en),
        )
        if not value.strip()
    ]
    if missing:
        return str(_("The notice cannot be published without: %(fields)s.") % {"fields": ", ".join(missing)})
    return None


def _issue_document(notice: Notice, user: Any, reason: str) -> None:
    from qslab.core.documents import issue_document

    notice.document = issue_document(
        kind_code="notice",
        title_zh=notice.title_zh,
        title_en=notice.title_en,
        body_zh=notice.body_zh,
        body_en=notice.body_en,
        issued_by=user,
        public=True,
        subject=notice,
    )
    notice.save(update_fields=["document"])


def _unpublish_document(notice: Notice, user: Any, reason: str) -> None:
    if notice.document_id:
        OfficialDocument.objects.filter(pk=notice.document_id).update(is_public=False)


def _office_members(notice: Notice) -> list[Any]:
    from qslab.accounts.models import User

    return list(User.objects.filter(role_memberships__role=Role.OFFICE, role_memberships__active=True))


class Notice(ChangeLoggedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        IN_REVIEW = "in_review", _("in review")
        PUBLISHED = "published", _("published")
        WITHDRAWN = "withdrawn", _("withdrawn")

    workflow = Workflow(
        state_field="status",
        states=(
            State("draft", "draft", "草稿"),
            State("in_review", "in review", "审核中"),
            State("published", "published", "已发布"),
            State("withdrawn", "withdrawn", "已撤回", terminal=True),
        ),
        transitions=(
            Transition(
                "submit",
                ("draft",),
                "in_review",
                (Role.OFFICE,),
                "submit for approval",
                "提交审核",
                guard=_ready_to_publish,
            ),
            Transition(
                "return",
                ("in_review",),
                "draft",
                (Role.COMMITTEE, Role.OFFICE),
                "return for changes",
                "退回修改",
                requires_reason=True,
            ),
            Transition(
                "publish",
                ("in_review",),
                "published",
                (Role.COMMITTEE,),
                "approve and publish",
                "批准并发布",
                guard=_ready_to_publish,
                on_enter=_issue_document,
                notify=_office_members,
            ),
            Transition(
                "withdraw",
                ("published",),
                "withdrawn",
                (Role.OFFICE,),
                "withdraw",
                "撤回",
                requires_reason=True,
                on_enter=_unpublish_document,
            ),
        ),
    )

    title_zh = models.CharField(_("title (Chinese)"), max_length=300)
    title_en = models.CharField(_("title (English)"), max_length=300)
    body_zh = models.TextField(_("body (Chinese)"), blank=True)
    body_en = models.TextField(_("body (English)"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    document = models.OneToOneField(
        OfficialDocument, null=True, blank=True, on_delete=models.PROTECT, related_name="notice"
    )

    class Meta:
        ordering = ("-created",)
        verbose_name = _("public notice")
        verbose_name_plural = _("public notices")

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        return bilingual(self.title_zh, self.title_en)

    @property
    def body(self) -> str:
        return bilingual(self.body_zh, self.body_en)

    def get_absolute_url(self) -> str:
        return reverse("portal:notice", args=[self.pk])

    @classmethod
    def visible_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE):
            return ALL
        return models.Q(status=cls.Status.PUBLISHED)

    @classmethod
    def editable_q(cls, user: Any) -> models.Q:
        if has_role(user, Role.OFFICE):
            return models.Q(status__in=[cls.Status.DRAFT])
        return NONE
