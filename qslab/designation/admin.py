"""Admin pages of the designation app: read-mostly, for superusers (platform operators).

Every state moves through the workflows in ``services.py`` (audited transitions, numbered documents,
notifications), so here nothing is added or deleted and the workflow fields, scores, votes, files and
links are read-only. Only a few texts can be corrected (a typo in a call's title, an expert's name); such
a correction is still recorded in the change log.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from qslab.designation import models


class ReadMostlyAdmin(admin.ModelAdmin):
    """Shown to superusers only; no add or delete; every field read-only except ``editable_fields``."""

    editable_fields: tuple[str, ...] = ()

    def has_module_permission(self, request: Any) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: Any, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return bool(self.editable_fields) and request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        names = [f.name for f in self.model._meta.get_fields() if f.concrete and not f.auto_created]
        return [n for n in names if n not in self.editable_fields]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class CriterionInline(ReadOnlyInline):
    model = models.Criterion
    fields = ("stage", "order", "code", "name_zh", "name_en", "weight", "max_score")


class TemplateInline(ReadOnlyInline):
    model = models.CallTemplate
    fields = ("name", "file", "sha256")


@admin.register(models.Call)
class CallAdmin(ReadMostlyAdmin):
    list_display = ("code", "title_zh", "title_en", "status", "opens_on", "hard_deadline")
    list_filter = ("status",)
    search_fields = ("code", "title_zh", "title_en")
    date_hierarchy = "opens_on"
    editable_fields = ("title_zh", "title_en", "description_zh", "description_en")
    inlines = (CriterionInline, TemplateInline)


@admin.register(models.CallTemplate)
class CallTemplateAdmin(ReadMostlyAdmin):
    list_display = ("name", "call", "sha256", "last_updated")
    list_filter = ("call",)


class CoApplicantInline(ReadOnlyInline):
    model = models.CoApplicant
    fields = ("organisation", "role")


class FileInline(ReadOnlyInline):
    model = models.ApplicationFile
    fields = ("kind", "name", "size", "sha256")


class BudgetLineInline(ReadOnlyInline):
    model = models.BudgetLine
    fields = ("year", "category", "source", "amount", "note")


@admin.register(models.Application)
class ApplicationAdmin(ReadMostlyAdmin):
    list_display = ("name_zh", "institution", "call", "route", "status", "late", "submitted_at")
    list_filter = ("status", "route", "late", "call")
    search_fields = ("name_zh", "name_en", "institution__name_zh", "institution__name_en")
    list_select_related = ("institution", "call")
    inlines = (CoApplicantInline, FileInline, BudgetLineInline)


@admin.register(models.ExpertProfile)
class ExpertProfileAdmin(ReadMostlyAdmin):
    list_display = ("name", "title", "organisation", "region_code", "vetted")
    list_filter = ("vetted", "region_code")
    search_fields = ("name", "user__username")
    editable_fields = ("name", "title")


@admin.register(models.ConflictDeclaration)
class ConflictDeclarationAdmin(ReadMostlyAdmin):
    list_display = ("expert", "application", "conflicted")
    list_filter = ("conflicted",)


@admin.register(models.Assignment)
class AssignmentAdmin(ReadMostlyAdmin):
    list_display = ("application", "expert", "stage", "affinity", "released", "moderator", "due")
    list_filter = ("stage", "released", "moderator")
    list_select_related = ("application", "expert")


@admin.register(models.Review)
class ReviewAdmin(ReadMostlyAdmin):
    list_display = ("assignment", "total", "submitted_at")


@admin.register(models.ConsensusReport)
class ConsensusReportAdmin(ReadMostlyAdmin):
    list_display = ("application", "stage", "total", "recommendation", "submitted_at")
    list_filter = ("stage", "recommendation")


@admin.register(models.SiteVisit)
class SiteVisitAdmin(ReadMostlyAdmin):
    list_display = ("application", "stage", "visited_on", "conclusion")
    list_filter = ("stage", "conclusion")


@admin.register(models.ReviewMeeting)
class ReviewMeetingAdmin(ReadMostlyAdmin):
    list_display = ("call", "stage", "held_on", "location")


@admin.register(models.CommitteeMembership)
class CommitteeMembershipAdmin(ReadMostlyAdmin):
    list_display = ("user", "position", "organisation", "term_start", "term_end")
    list_filter = ("position",)


class AgendaInline(ReadOnlyInline):
    model = models.AgendaItem
    fields = ("order", "application")


@admin.register(models.CommitteeMeeting)
class CommitteeMeetingAdmin(ReadMostlyAdmin):
    list_display = ("title", "held_on", "status")
    list_filter = ("status",)
    inlines = (AgendaInline,)


@admin.register(models.Vote)
class VoteAdmin(ReadMostlyAdmin):
    list_display = ("application", "member", "choice", "meeting")
    list_filter = ("choice",)


@admin.register(models.Decision)
class DecisionAdmin(ReadMostlyAdmin):
    list_display = ("application", "outcome", "approve", "reject", "abstain", "recused", "meeting")
    list_filter = ("outcome",)


class ObjectionInline(ReadOnlyInline):
    model = models.Objection
    fields = ("objector", "status", "text")


@admin.register(models.PublicNotice)
class PublicNoticeAdmin(ReadMostlyAdmin):
    list_display = ("application", "starts_on", "ends_on")
    inlines = (ObjectionInline,)


@admin.register(models.Objection)
class ObjectionAdmin(ReadMostlyAdmin):
    list_display = ("notice", "objector", "status")
    list_filter = ("status",)


class MilestoneInline(ReadOnlyInline):
    model = models.Milestone
    fields = ("due", "title", "done_on")


@admin.register(models.Construction)
class ConstructionAdmin(ReadMostlyAdmin):
    list_display = ("laboratory", "status", "starts_on", "ends_on", "next_report_due", "extended")
    list_filter = ("status", "extended")
    inlines = (MilestoneInline,)


@admin.register(models.ProgressReport)
class ProgressReportAdmin(ReadMostlyAdmin):
    list_display = ("construction", "period", "spent", "created")


@admin.register(models.IndustryScope)
class IndustryScopeAdmin(ReadMostlyAdmin):
    """Kept by the office on /designation/industries/; here the names can be corrected."""

    list_display = ("industry", "name_zh", "name_en")
    search_fields = ("industry", "name_zh", "name_en")
    editable_fields = ("name_zh", "name_en")
