"""The one DRF permission class: every API view authorizes through it and the models' ``for_user`` scoping."""

from rest_framework.permissions import BasePermission


class ScopedPermission(BasePermission):
    """Authenticated, active users only; objects are found through ``for_user(user, "view")`` (so another tenant's
    object is a 404), then writes need the view's verb on the object (a 403 for a visible object without the role)."""

    message = "Your role in this project does not allow this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active)

    def has_object_permission(self, request, view, obj) -> bool:
        verb = getattr(view, "scope_verb", "view")
        if verb == "view":
            return True
        return type(obj).objects.for_user(request.user, verb).filter(pk=obj.pk).exists()

    def has_parent_permission(self, request, view, model, parent) -> bool:
        """Creating a ``model`` row under ``parent`` (a project or organization the user can already see)."""
        verb = model.scope_actions["add"] if hasattr(model, "scope_actions") else "add"
        return type(parent).objects.for_user(request.user, verb).filter(pk=parent.pk).exists()
