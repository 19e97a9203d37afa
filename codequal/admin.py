"""Admin base: a staff user who is not a superuser sees and edits only what ``for_user`` lets them."""

from django.contrib import admin, messages
from django.db import models
from django.http import HttpResponseRedirect

from codequal.exceptions import ApplicationError


class TenantScopedAdmin(admin.ModelAdmin):
    """Scopes lists, object access and foreign-key choices by the model's ``for_user`` queryset."""

    def _scoped(self, request, verb: str):
        return self.model.objects.for_user(request.user, verb)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(pk__in=self._scoped(request, "view").values("pk"))

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        if request.user.is_superuser:
            return True
        if not (request.user.is_active and request.user.is_staff):
            return False
        return obj is None or self._scoped(request, "view").filter(pk=obj.pk).exists()

    def _has_verb(self, request, verb, obj):
        if request.user.is_superuser:
            return True
        if not (request.user.is_active and request.user.is_staff):
            return False
        if obj is None:
            return self._scoped(request, verb).exists()
        return self._scoped(request, verb).filter(pk=obj.pk).exists()

    def has_change_permission(self, request, obj=None):
        return self._has_verb(request, "change", obj)

    def has_delete_permission(self, request, obj=None):
        return self._has_verb(request, "delete", obj)

    def has_add_permission(self, request):
        if request.user.is_superuser:
            return True
        parent_field = getattr(self.model, "scope_parent", None)
        if not (request.user.is_active and request.user.is_staff) or not parent_field:
            return False
        parent_model = self.model._meta.get_field(parent_field).related_model
        return parent_model.objects.for_user(request.user, self.model.scope_actions["add"]).exists()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Choices for the tenant parent are the ones the user may create under; nothing of another tenant is listed.
        if db_field.name == getattr(self.model, "scope_parent", None) and not request.user.is_superuser:
            kwargs["queryset"] = db_field.related_model.objects.for_user(request.user, self.model.scope_actions["add"])
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request):
        # A plain foreign-key filter lists every related row, other tenants' included: offer only related rows
        # that appear in this user's scoped changelist.
        scoped = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and isinstance(self._filter_field(item), models.ForeignKey):
                item = (item, admin.RelatedOnlyFieldListFilter)
            scoped.append(item)
        return scoped

    def _filter_field(self, path: str):
        model, field = self.model, None
        for part in path.split("__"):
            try:
                field = model._meta.get_field(part)
            except Exception:
                return None
            model = getattr(field, "related_model", None) or model
        return field

    def _refused(self, request, exc: ApplicationError):
        self.message_user(request, exc.message, level=messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    # Services refuse some changes (the last owner, the owner role for admins): show why instead of a server error.
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as exc:
            return self._refused(request, exc)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ApplicationError as exc:
            return self._refused(request, exc)

    def changelist_view(self, request, extra_context=None):
        try:
            return super().changelist_view(request, extra_context)
        except ApplicationError as exc:
            return self._refused(request, exc)

    def delete_queryset(self, request, queryset):
        # Bulk deletes go through delete_model so services keep permissions and the audit log right.
        for obj in queryset:
            self.delete_model(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
