from django.contrib import admin

from qslab.portal.models import Notice


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    list_display = ("title_en", "status", "created")
    list_filter = ("status",)
    readonly_fields = ("status", "document")
