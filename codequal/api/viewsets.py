"""Base viewset: tenant scoping is applied before any handler runs and cannot be overridden by subclasses."""

from rest_framework import mixins, serializers, viewsets

from .permissions import ScopedPermission

_CRUD_VERBS = {
    "list": "view",
    "retrieve": "view",
    "metadata": "view",
    "create": "add",
    "update": "change",
    "partial_update": "change",
    "destroy": "delete",
}


class ScopedGenericViewSet(viewsets.GenericViewSet):
    """Rows of ``queryset`` scoped with ``Model.objects.for_user(user, "view")``.

    Subclasses narrow the rows with ``filter_scoped_queryset`` (select_related and the like). Custom actions name the
    verb they need with ``@action(..., scope_verb="evaluate")``; the default for unknown actions is "change".
    """

    permission_classes = [ScopedPermission]
    _final = ("get_queryset", "get_object", "check_object_permissions", "check_parent_permission", "perform_create")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__:
            return
        for name in cls._final:
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} overrides {name}(): tenant scoping lives in ScopedModelViewSet; "
                    "narrow rows with filter_scoped_queryset() and write through the serializer's services."
                )

    @property
    def scope_verb(self) -> str:
        explicit = getattr(self, "_scope_verb", None)
        if explicit:
            return explicit
        return _CRUD_VERBS.get(self.action or "", "change")

    @scope_verb.setter
    def scope_verb(self, value: str) -> None:
        # DRF sets @action(...) keyword arguments as attributes on the view instance.
        self._scope_verb = value

    def filter_scoped_queryset(self, queryset):
        return queryset

    def get_queryset(self):
        queryset = self.queryset.all().for_user(self.request.user, "view")
        return self.filter_scoped_queryset(queryset)

    def check_parent_permission(self, serializer) -> None:
        """Creating under a parent (project or organization) needs the model's "add" action on that parent."""
        model = self.queryset.model
        parent_field = getattr(model, "scope_parent", None)
        if not parent_field:
            return
        parent = serializer.validated_data.get(parent_field)
        for permission in self.get_permissions():
            checker = getattr(permission, "has_parent_permission", None)
            if checker is not None and (parent is None or not checker(self.request, self, model, parent)):
                self.permission_denied(self.request, message=ScopedPermission.message)


class ScopedModelViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    ScopedGenericViewSet,
):
    """CRUD over a tenant-scoped model; writes go through the serializer to the app's services."""

    def perform_create(self, serializer):
        self.check_parent_permission(serializer)
        serializer.save()


class ScopedReadOnlyModelViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, ScopedGenericViewSet):
    """List and retrieve over a tenant-scoped model."""


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A reference to a row the requesting user can see; another tenant's id reads as 'does not exist'."""

    def __init__(self, model, **kwargs):
        self.scoped_model = model
        # The queryset only tells the schema generator the model; lookups always go through get_queryset().
        kwargs.setdefault("queryset", model.objects.all())
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return self.scoped_model.objects.none()
        return self.scoped_model.objects.for_user(request.user, "view")
