from django.contrib import admin

from qslab.funding.models import (
    AllocationRun,
    Budget,
    BudgetVersion,
    FundingRules,
    LabGrade,
    MonitoringRun,
    SubsidyEntry,
)


@admin.register(FundingRules)
class FundingRulesAdmin(admin.ModelAdmin):
    list_display = ("year", "weight_execution", "weight_output", "weight_effect", "weight_satisfaction")


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ("laboratory", "year", "status")
    list_filter = ("status", "year")
    readonly_fields = ("status", "approved_version")


@admin.register(BudgetVersion)
class BudgetVersionAdmin(admin.ModelAdmin):
    """Versions are immutable: shown, never changed."""

    list_display = ("budget", "number", "created", "created_by")

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(LabGrade)
class LabGradeAdmin(admin.ModelAdmin):
    list_display = ("laboratory", "year", "grade", "open_rectification", "source")


@admin.register(AllocationRun)
class AllocationRunAdmin(admin.ModelAdmin):
    list_display = ("year", "title_en", "total", "status")
    readonly_fields = ("status", "document", "inputs_sha256")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the services only: shown, never changed here."""

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(MonitoringRun)
class MonitoringRunAdmin(ReadOnlyAdmin):
    list_display = ("year", "month", "trigger", "ran_by", "ran_at", "budgets", "new_flags")
    list_filter = ("trigger", "year")


@admin.register(SubsidyEntry)
class SubsidyEntryAdmin(ReadOnlyAdmin):
    list_display = ("budget", "amount", "version", "as_adjustment", "created")
