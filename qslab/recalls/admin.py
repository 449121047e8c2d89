from django.contrib import admin

from qslab.recalls.models import (
    Batch,
    ProducerReport,
    Product,
    ProgressReport,
    Recall,
    ReportingRule,
    TraceUpload,
)


class BatchInline(admin.TabularInline):
    model = Batch
    extra = 0


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("brand", "model", "gtin", "company")
    search_fields = ("brand", "model", "gtin", "name_zh", "name_en")
    inlines = [BatchInline]


class ProgressInline(admin.TabularInline):
    model = ProgressReport
    extra = 0


@admin.register(Recall)
class RecallAdmin(admin.ModelAdmin):
    list_display = ("reference", "title_zh", "company", "status", "units_affected", "units_remedied")
    list_filter = ("status", "remedy", "risk_level")
    search_fields = ("reference", "title_zh", "title_en")
    readonly_fields = ("status", "reference", "notice_published_at", "closed_on")
    inlines = [ProgressInline]


@admin.register(TraceUpload)
class TraceUploadAdmin(admin.ModelAdmin):
    list_display = ("file_name", "kind", "company", "status", "n_rows", "n_inserted", "created")
    list_filter = ("kind", "status")


@admin.register(ReportingRule)
class ReportingRuleAdmin(admin.ModelAdmin):
    """The office sets how many working days producers have to report (shipped unverified: 2)."""

    list_display = ("code", "name_en", "working_days", "verified", "active")
    list_editable = ("working_days", "verified", "active")


@admin.register(ProducerReport)
class ProducerReportAdmin(admin.ModelAdmin):
    list_display = ("reference", "company", "rule", "learned_on", "due", "status", "reported_at")
    list_filter = ("status", "rule")
    readonly_fields = ("status", "reference", "due", "working_days", "reported_at")
