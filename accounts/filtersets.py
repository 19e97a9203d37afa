import django_filters

from .choices import AuditAction, OrganizationRole, ProjectRole
from .models import ApiToken, AuditLog, Membership, OrganizationMembership, Project


class ProjectFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")

    class Meta:
        model = Project
        fields = ["organization", "slug"]


class OrganizationMembershipFilterSet(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=OrganizationRole.choices)
    username = django_filters.CharFilter(field_name="user__username")

    class Meta:
        model = OrganizationMembership
        fields = ["organization", "role", "username"]


class MembershipFilterSet(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=ProjectRole.choices)
    username = django_filters.CharFilter(field_name="user__username")

    class Meta:
        model = Membership
        fields = ["project", "role", "username"]


class ApiTokenFilterSet(django_filters.FilterSet):
    active = django_filters.BooleanFilter(method="filter_active", label="Only usable (or only unusable) tokens")

    class Meta:
        model = ApiToken
        fields = ["active"]

    def filter_active(self, queryset, name, value):
        usable = ApiToken.objects.usable().values("pk")
        return queryset.filter(pk__in=usable) if value else queryset.exclude(pk__in=usable)


class AuditLogFilterSet(django_filters.FilterSet):
    action = django_filters.MultipleChoiceFilter(choices=AuditAction.choices)
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    actor = django_filters.CharFilter(field_name="actor_username")

    class Meta:
        model = AuditLog
        fields = ["action", "organization", "project", "actor", "since", "until"]
