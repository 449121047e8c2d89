from django.contrib import admin

from qslab.outputs.models import Output, Standard


@admin.register(Standard)
class StandardAdmin(admin.ModelAdmin):
    list_display = ("number", "title_zh", "laboratory", "level", "role", "stage")
    list_filter = ("level", "role", "stage")
    search_fields = ("number", "title_zh", "title_en")
    readonly_fields = ("stage",)


@admin.register(Output)
class OutputAdmin(admin.ModelAdmin):
    list_display = ("title_zh", "kind", "laboratory", "year", "status")
    list_filter = ("kind", "status", "year")
    search_fields = ("title_zh", "title_en", "doi", "application_number", "grant_number")
    readonly_fields = ("status", "verified_by", "verified_on", "rejection_reason")
