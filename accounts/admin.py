from django.contrib import admin

from codequal.admin import ReadOnlyAdmin, TenantScopedAdmin

from . import services
from .models import (
    ApiToken,
    AuditLog,
    Membership,
    Organization,
    OrganizationMembership,
    OrganizationUserObjectPermission,
    Project,
    ProjectUserObjectPermission,
)


@admin.register(Organization)
class OrganizationAdmin(TenantScopedAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    list_filter = ["created_at"]
    prepopulated_fields = {"slug": ["name"]}

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def save_model(self, request, obj, form, change):
        if change:
            services.organization_update(
                actor=request.user, organization=obj, name=obj.name, slug=obj.slug, request=request
            )
        else:
            created = services.organization_create(actor=request.user, name=obj.name, slug=obj.slug, request=request)
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.organization_delete(actor=request.user, organization=obj, request=request)


@admin.register(OrganizationMembership)
class OrganizationMembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    search_fields = ["user__username", "user__email", "organization__name"]
    list_filter = ["role", "organization"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user"]

    def get_readonly_fields(self, request, obj=None):
        return ["organization", "user"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            services.organization_member_set_role(actor=request.user, membership=obj, role=obj.role, request=request)
        else:
            created = services.organization_member_add(
                actor=request.user, organization=obj.organization, user=obj.user, role=obj.role, request=request
            )
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.organization_member_remove(actor=request.user, membership=obj, request=request)


@admin.register(Project)
class ProjectAdmin(TenantScopedAdmin):
    list_display = ["name", "slug", "organization", "created_at"]
    search_fields = ["name", "slug", "organization__name"]
    list_filter = ["organization", "created_at"]
    list_select_related = ["organization"]
    prepopulated_fields = {"slug": ["name"]}

    def get_readonly_fields(self, request, obj=None):
        return ["organization"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            services.project_update(
                actor=request.user,
                project=obj,
                name=obj.name,
                slug=obj.slug,
                description=obj.description,
                request=request,
            )
        else:
            created = services.project_create(
                actor=request.user,
                organization=obj.organization,
                name=obj.name,
                slug=obj.slug,
                description=obj.description,
                request=request,
            )
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.project_delete(actor=request.user, project=obj, request=request)


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "project", "role", "updated_at"]
    search_fields = ["user__username", "user__email", "project__name"]
    list_filter = ["role", "project__organization"]
    list_select_related = ["user", "project__organization"]
    autocomplete_fields = ["user"]

    def get_readonly_fields(self, request, obj=None):
        return ["project", "user"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            services.membership_set_role(actor=request.user, membership=obj, role=obj.role, request=request)
        else:
            created = services.membership_create(
                actor=request.user, project=obj.project, user=obj.user, role=obj.role, request=request
            )
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.membership_delete(actor=request.user, membership=obj, request=request)


@admin.register(ApiToken)
class ApiTokenAdmin(TenantScopedAdmin):
    """Tokens are created by their owner (portal, API, CLI); here they can only be inspected and revoked."""

    list_display = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    list_filter = ["revoked_at", "created_at"]
    list_select_related = ["user"]
    readonly_fields = ["user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        services.api_token_revoke(actor=request.user, token=obj, request=request)

    @admin.action(description="Revoke selected tokens", permissions=["delete"])
    def revoke(self, request, queryset):
        for token in queryset:
            services.api_token_revoke(actor=request.user, token=token, request=request)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin, TenantScopedAdmin):
    list_display = ["created_at", "actor_username", "action", "target_repr", "organization", "project", "ip_address"]
    search_fields = ["actor_username", "target_repr", "target_id"]
    list_filter = ["action", "created_at", "organization"]
    list_select_related = ["organization", "project"]
    date_hierarchy = "created_at"


@admin.register(ProjectUserObjectPermission)
class ProjectUserObjectPermissionAdmin(ReadOnlyAdmin):
    """Derived from memberships; shown for inspection only."""

    list_display = ["user", "content_object", "permission"]
    search_fields = ["user__username", "content_object__name"]
    list_filter = ["permission"]
    list_select_related = ["user", "content_object", "permission"]

    def has_module_permission(self, request):
        return request.user.is_superuser


@admin.register(OrganizationUserObjectPermission)
class OrganizationUserObjectPermissionAdmin(ProjectUserObjectPermissionAdmin):
    pass
