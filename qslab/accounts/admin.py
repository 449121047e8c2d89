from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from qslab.accounts.models import ApiToken, Organisation, RoleMembership, User


class RoleMembershipInline(admin.TabularInline):
    model = RoleMembership
    fk_name = "user"
    extra = 0
    fields = ("role", "organisation", "region_code", "industry", "scope_type", "scope_id", "active")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [RoleMembershipInline]
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("qslab", {"fields": ("display_name", "organisation", "preferred_language", "email_notifications")}),
    )


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name_en", "name_zh", "uscc", "kind", "region_code")
    list_filter = ("kind",)
    search_fields = ("name_en", "name_zh", "uscc")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "prefix", "created", "expires_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash")
