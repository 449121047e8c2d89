from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from qslab.risk.models import (
    AlertDigest,
    ConsumerAlert,
    DefectPattern,
    EarlyWarningRun,
    IncidentReport,
    IngestRun,
    RiskAssessment,
    RiskMatrix,
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
    # the photo is never linked by its /media/ address: only through the permission-checked view
    exclude = ("photo",)
    readonly_fields = ("status", "consent_text", "consent_at", "reference", "photo_link")

    @admin.display(description=_("photo"))
    def photo_link(self, obj: IncidentReport) -> str:
        if not obj.pk or not obj.photo:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("risk:report_photo", args=[obj.pk]), _("open the photo")
        )


@admin.register(DefectPattern)
class DefectPatternAdmin(admin.ModelAdmin):
    list_display = ("title_en", "product_category", "hazard", "is_public")


@admin.register(SeriesFamily)
class SeriesFamilyAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "source", "by", "period", "method", "active")


@admin.register(Signal)
class SignalAdmin(admin.ModelAdmin):
    list_display = ("unit", "family", "last_period", "status", "severity")
    list_filter = ("status", "severity", "family")
    readonly_fields = ("status",)


admin.site.register(IngestRun)
admin.site.register(EarlyWarningRun)


@admin.register(RiskMatrix)
class RiskMatrixAdmin(admin.ModelAdmin):
    """The risk matrix is reference data: bands and severity levels (JSON), how scenarios combine, whether
    it is verified."""

    list_display = ("code", "name_en", "verified", "combination", "is_default", "active")


@admin.register(RiskAssessment)
class RiskAssessmentAdmin(admin.ModelAdmin):
    list_display = ("reference", "title_en", "risk_level", "status")
    list_filter = ("status", "risk_level")
    readonly_fields = ("status", "reference", "risk_level", "document")


@admin.register(ConsumerAlert)
class ConsumerAlertAdmin(admin.ModelAdmin):
    list_display = ("reference", "title_en", "risk_level", "status", "published_at")
    list_filter = ("status", "risk_level")
    readonly_fields = ("status", "reference", "published_at", "approved_by")


admin.site.register(AlertDigest)
