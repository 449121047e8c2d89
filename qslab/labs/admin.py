from django.contrib import admin

from qslab.labs.models import (
    CommitteeMember,
    IndustryChain,
    KeyField,
    KeyFigures,
    Laboratory,
    LayoutPlan,
    Partner,
    PlanRevision,
    PlanTarget,
    Region,
    ResearchPriority,
)


class PartnerInline(admin.TabularInline):
    model = Partner
    extra = 0


class CommitteeInline(admin.TabularInline):
    model = CommitteeMember
    extra = 0


class FiguresInline(admin.TabularInline):
    model = KeyFigures
    extra = 0


@admin.register(Laboratory)
class LaboratoryAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en", "region_code", "status")
    list_filter = ("status", "region_code")
    search_fields = ("code", "name_zh", "name_en")
    readonly_fields = ("status", "named_on", "merged_into")  # the status moves only through the workflow
    inlines = (PartnerInline, CommitteeInline, FiguresInline)


@admin.register(KeyField, ResearchPriority, IndustryChain)
class TermAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en", "order", "active")
    search_fields = ("code", "name_zh", "name_en")


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en", "level", "active")
    list_filter = ("level",)
    search_fields = ("code", "name_zh", "name_en")


class TargetInline(admin.TabularInline):
    model = PlanTarget
    extra = 0


@admin.register(LayoutPlan)
class LayoutPlanAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "start_year", "end_year", "revision")
    inlines = (TargetInline,)


@admin.register(PlanRevision)
class PlanRevisionAdmin(admin.ModelAdmin):
    list_display = ("plan", "number", "created", "created_by")
    readonly_fields = ("plan", "number", "targets", "note", "created_by")
