from django.contrib import admin
from django_otp.admin import OTPAdminSite

from qslab.core.models import CalendarDay, ChangeRecord, DocumentKind, OfficialDocument

# The admin is for platform operators; like the office, they pass two-factor first.
admin.site.__class__ = OTPAdminSite


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ("date", "is_working_day", "name", "source")
    list_filter = ("is_working_day", "source")
    date_hierarchy = "date"


@admin.register(DocumentKind)
class DocumentKindAdmin(admin.ModelAdmin):
    list_display = ("code", "name_en", "name_zh", "prefix", "pattern", "public_by_default")
    # The office changes a kind on its own page (core:document_kinds), where each change is audited with
    # a reason; here an existing kind is read only, so no change escapes the change log.
    readonly_fields = ("code", "name_zh", "name_en", "prefix", "pattern", "public_by_default")

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return self.readonly_fields if obj is not None else ()  # a new kind is set up in full here


@admin.register(OfficialDocument)
class OfficialDocumentAdmin(admin.ModelAdmin):
    list_display = ("number", "title_en", "issued_at", "is_public")
    search_fields = ("number", "title_en", "title_zh")

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # issued documents are immutable

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ChangeRecord)
class ChangeRecordAdmin(admin.ModelAdmin):
    list_display = ("time", "user_name", "action", "content_type", "object_repr", "transition")
    list_filter = ("action", "content_type")

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
