import django_filters

from .choices import Difficulty, SourceFormat
from .models import BenchmarkSuite, Problem


class BenchmarkSuiteFilterSet(django_filters.FilterSet):
    # Plain numbers, not model choices: a filter must not tell whether another tenant's row exists.
    project = django_filters.NumberFilter(field_name="project_id")
    builtin = django_filters.BooleanFilter(field_name="project", lookup_expr="isnull", label="Built-in suites only")
    source_format = django_filters.ChoiceFilter(choices=SourceFormat.choices)
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")

    class Meta:
        model = BenchmarkSuite
        fields = ["project", "builtin", "name", "version", "source_format"]


class ProblemFilterSet(django_filters.FilterSet):
    suite = django_filters.NumberFilter(field_name="suite_id")
    difficulty = django_filters.ChoiceFilter(choices=Difficulty.choices)
    category = django_filters.CharFilter()
    flagged = django_filters.BooleanFilter()
    q = django_filters.CharFilter(field_name="task_id", lookup_expr="icontains", label="Task id contains")

    class Meta:
        model = Problem
        fields = ["suite", "difficulty", "category", "flagged", "task_id"]
