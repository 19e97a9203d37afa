import django_filters

from .choices import ApiStyle, Backend, HealthStatus
from .models import ModelEndpoint


class ModelEndpointFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")
    backend = django_filters.ChoiceFilter(choices=Backend.choices)
    api_style = django_filters.ChoiceFilter(choices=ApiStyle.choices)
    health_status = django_filters.ChoiceFilter(choices=HealthStatus.choices)

    class Meta:
        model = ModelEndpoint
        fields = ["project", "name", "backend", "api_style", "health_status"]
