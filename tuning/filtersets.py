import django_filters

from .choices import DatasetStrategy, TuningJobStatus
from .models import TuningDataset, TuningJob


class TuningDatasetFilterSet(django_filters.FilterSet):
    # Plain numbers: a filter must not tell whether another tenant's project exists.
    project = django_filters.NumberFilter(field_name="project_id")
    strategy = django_filters.ChoiceFilter(choices=DatasetStrategy.choices)
    name = django_filters.CharFilter()

    class Meta:
        model = TuningDataset
        fields = ["project", "strategy", "name"]


class TuningJobFilterSet(django_filters.FilterSet):
    project = django_filters.NumberFilter(field_name="project_id")
    status = django_filters.MultipleChoiceFilter(choices=TuningJobStatus.choices)
    dataset = django_filters.NumberFilter(field_name="dataset_id")
    base_endpoint = django_filters.NumberFilter(field_name="base_endpoint_id")

    class Meta:
        model = TuningJob
        fields = ["project", "status", "dataset", "base_endpoint"]
