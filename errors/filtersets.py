import django_filters

from .choices import ErrorLeaf
from .models import ErrorPattern


class ErrorPatternFilterSet(django_filters.FilterSet):
    # Plain numbers and strings: a filter must not tell whether another tenant's row exists.
    project = django_filters.NumberFilter(field_name="project_id")
    error_type = django_filters.MultipleChoiceFilter(choices=ErrorLeaf.choices)
    family = django_filters.CharFilter(field_name="error_type", lookup_expr="startswith", label="Family (syntax…)")
    model = django_filters.CharFilter(field_name="models_affected", lookup_expr="has_key", label="Model affected")
    include_merged = django_filters.BooleanFilter(method="filter_merged", label="Include merged patterns")
    q = django_filters.CharFilter(method="filter_text", label="Title, message or construct contains")

    class Meta:
        model = ErrorPattern
        fields = ["project", "error_type", "family", "model", "include_merged", "q"]

    def filter_queryset(self, queryset):
        if not self.form.cleaned_data.get("include_merged"):
            queryset = queryset.filter(merged_into__isnull=True)
        return super().filter_queryset(queryset)

    def filter_merged(self, queryset, name, value):
        return queryset

    def filter_text(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(Q(title__icontains=value) | Q(message__icontains=value) | Q(construct__icontains=value))
