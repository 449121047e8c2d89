from django.contrib import admin

from qslab.studies import models


@admin.register(models.PTRound)
class PTRoundAdmin(admin.ModelAdmin):
    list_display = ("code", "title_en", "laboratory", "deadline", "status")
    list_filter = ("status",)
    search_fields = ("code", "title_zh", "title_en")
    readonly_fields = ("status",)


@admin.register(models.PTParticipant)
class PTParticipantAdmin(admin.ModelAdmin):
    list_display = ("round", "code", "laboratory", "organisation")


@admin.register(models.PrecisionExperiment)
class PrecisionExperimentAdmin(admin.ModelAdmin):
    list_display = ("code", "title_en", "laboratory", "status")
    readonly_fields = ("status", "analysis", "estimates")


@admin.register(models.UncertaintyBudget)
class UncertaintyBudgetAdmin(admin.ModelAdmin):
    list_display = ("name_en", "laboratory", "version", "is_current", "is_template")


@admin.register(models.ReferenceMaterialStudy)
class ReferenceMaterialStudyAdmin(admin.ModelAdmin):
    list_display = ("code", "name_en", "laboratory", "status")
    readonly_fields = ("status", "result", "certificate")


@admin.register(models.Monitor)
class MonitorAdmin(admin.ModelAdmin):
    list_display = ("name_en", "laboratory", "chart", "center", "sigma", "active")


@admin.register(models.Alarm)
class AlarmAdmin(admin.ModelAdmin):
    list_display = ("monitor", "point", "status", "created")
    readonly_fields = ("status",)
