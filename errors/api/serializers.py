from rest_framework import serializers

from accounts.models import Project
from codequal.api.viewsets import ScopedPrimaryKeyRelatedField

from .. import services
from ..choices import AnalysisType, ErrorLeaf, GroupBy
from ..models import ErrorPattern


class ErrorPatternSerializer(serializers.ModelSerializer):
    """A pattern; curators may change title, notes and suggested_fix (an empty fix restores the generated one)."""

    annotated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    suggested_fix = serializers.CharField(required=False, allow_blank=True)

    class Meta:
        model = ErrorPattern
        fields = [
            "id",
            "project",
            "pattern_hash",
            "error_type",
            "title",
            "message",
            "construct",
            "frequency",
            "models_affected",
            "details",
            "first_seen",
            "last_seen",
            "suggested_fix",
            "fix_curated",
            "notes",
            "merged_into",
            "annotated_by",
            "annotated_at",
        ]
        read_only_fields = [f for f in fields if f not in ("title", "notes", "suggested_fix")]

    def update(self, instance, validated_data):
        return services.error_pattern_annotate(actor=self.context["request"].user, pattern=instance, **validated_data)


class ErrorPatternDetailSerializer(ErrorPatternSerializer):
    class Meta(ErrorPatternSerializer.Meta):
        fields = [*ErrorPatternSerializer.Meta.fields, "examples"]
        read_only_fields = [*ErrorPatternSerializer.Meta.read_only_fields, "examples"]


class MergeInputSerializer(serializers.Serializer):
    into = ScopedPrimaryKeyRelatedField(ErrorPattern, help_text="The pattern that absorbs this one (same project).")


class RecomputeInputSerializer(serializers.Serializer):
    project = ScopedPrimaryKeyRelatedField(Project)


class RecomputeOutputSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    failures = serializers.IntegerField()
    patterns = serializers.IntegerField()


class AnalyzeInputSerializer(serializers.Serializer):
    evaluation_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=50)
    analysis_type = serializers.ChoiceField(choices=AnalysisType.choices, default=AnalysisType.QUICK)
    group_by = serializers.ListField(
        child=serializers.ChoiceField(choices=GroupBy.choices), required=False, default=list, max_length=3
    )


class AnalysisSummarySerializer(serializers.Serializer):
    total_errors = serializers.IntegerField()
    unique_patterns = serializers.IntegerField()
    most_common_error = serializers.CharField(allow_null=True, help_text="The most frequent error_type; null if none.")
    error_types = serializers.DictField(child=serializers.IntegerField())


class AnalysisExampleSerializer(serializers.Serializer):
    sample_id = serializers.IntegerField()
    evaluation_id = serializers.IntegerField()
    model = serializers.CharField()
    task_id = serializers.CharField()
    message = serializers.CharField()
    snippet = serializers.CharField()


class AnalysisPatternSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="The stored pattern, when the project has one.")
    pattern_hash = serializers.CharField()
    error_type = serializers.ChoiceField(choices=ErrorLeaf.choices)
    title = serializers.CharField()
    message = serializers.CharField()
    construct = serializers.CharField()
    frequency = serializers.IntegerField()
    models_affected = serializers.DictField(child=serializers.IntegerField())
    suggested_fix = serializers.CharField()
    signatures = serializers.ListField(child=serializers.CharField(), required=False, help_text="Deep only.")
    examples = AnalysisExampleSerializer(many=True, required=False, help_text="Deep only.")


class RecommendationSerializer(serializers.Serializer):
    error_type = serializers.ChoiceField(choices=ErrorLeaf.choices)
    pattern_hash = serializers.CharField()
    frequency = serializers.IntegerField()
    share = serializers.FloatField()
    recommendation = serializers.CharField()


class AnalyzeOutputSerializer(serializers.Serializer):
    summary = AnalysisSummarySerializer()
    patterns = AnalysisPatternSerializer(many=True)
    recommendations = RecommendationSerializer(many=True)
    groups = serializers.ListField(
        child=serializers.DictField(), help_text="Failure counts per combination of the group_by keys."
    )
