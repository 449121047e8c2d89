from django.contrib import admin

from qslab.sharing.models import Blackout, Booking, Invoice, Qualification, Resource, ServiceRequest, Standing


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ("code", "name_en", "lab", "kind", "status", "published")
    list_filter = ("kind", "status", "published")
    search_fields = ("code", "name_zh", "name_en", "maker", "model_name")


@admin.register(Blackout)
class BlackoutAdmin(admin.ModelAdmin):
    list_display = ("resource", "kind", "starts", "ends", "reason")


@admin.register(Qualification)
class QualificationAdmin(admin.ModelAdmin):
    list_display = ("resource", "user", "granted_by", "created")


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ("resource", "user", "starts", "ends", "status", "user_class")
    list_filter = ("status", "user_class")
    readonly_fields = ("status", "slot", "checked_in_at", "invoice")


@admin.register(ServiceRequest)
class ServiceRequestAdmin(admin.ModelAdmin):
    list_display = ("title", "lab", "client", "status", "quote_amount")
    list_filter = ("status",)
    readonly_fields = ("status",)


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("document", "lab", "client", "period", "total")
    readonly_fields = ("document", "lines", "total")


@admin.register(Standing)
class StandingAdmin(admin.ModelAdmin):
    list_display = ("user", "violations", "blocked_until")
