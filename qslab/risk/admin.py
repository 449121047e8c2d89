from django.contrib import admin

from qslab.risk.models import (
    DefectPattern,
    EarlyWarningRun,
    IncidentReport,
    IngestRun,
    SeriesFamily,
    Signal,
    Term,
)


@admin.register(Term)
class TermAdmin(admin.ModelAdmin):
    list_display = ("kind", "code", "name_en", "name_zh", "source", "active")
    list_filter = ("kind", "source", "active")
    search_fields = ("code", "name_en", "name_zh")


@admin.register(IncidentReport)
class IncidentReportAdmin(admin.ModelAdmin):
    list_display = ("reference", "brand", "status", "created")
    list_filter = ("status",)
    readonly_fields = ("status", "consent_text", "consent_at", "reference")


@admin.register(DefectPattern)
class DefectPatternAdmin(admin.ModelAdmin):
    list_display = ("title_en", "product_category", "hazard", "is_public")


@admin.register(SeriesFamily)
class SeriesFamilyAdmin(admin.ModelAdmin):
    list_display = ("name", "source", "by", "period", "method", "active")


@admin.register(Signal)
class SignalAdmin(admin.ModelAdmin):
    list_display = ("unit", "family", "last_period", "status", "severity")
    list_filter = ("status", "severity", "family")
    readonly_fields = ("status",)


admin.site.register(IngestRun)
admin.site.register(EarlyWarningRun)
