from rest_framework import serializers

from accounts.models import Project
from codequal.api.viewsets import ScopedPrimaryKeyRelatedField

from ..choices import IMPORT_FORMATS
from ..models import BenchmarkSuite, Problem


class BenchmarkSuiteSerializer(serializers.ModelSerializer):
    is_builtin = serializers.BooleanField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = BenchmarkSuite
        fields = [
            "id",
            "project",
            "is_builtin",
            "name",
            "version",
            "title",
            "description",
            "language",
            "source_format",
            "source_reference",
            "environment",
            "problem_count",
            "flagged_count",
            "content_sha256",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class ProblemSerializer(serializers.ModelSerializer):
    """A problem; its test spec (with expected outputs, possibly megabytes) only on the detail route."""

    suite_name = serializers.CharField(source="suite.name", read_only=True)
    suite_version = serializers.IntegerField(source="suite.version", read_only=True)

    class Meta:
        model = Problem
        fields = [
            "id",
            "suite",
            "suite_name",
            "suite_version",
            "ordinal",
            "task_id",
            "prompt",
            "entry_point",
            "canonical_solution",
            "difficulty",
            "category",
            "language",
            "timeout_s",
            "flagged",
            "flag_reason",
            "metadata",
        ]
        read_only_fields = fields


class ProblemDetailSerializer(ProblemSerializer):
    class Meta(ProblemSerializer.Meta):
        fields = [*ProblemSerializer.Meta.fields, "test_spec"]
        read_only_fields = fields


class SuiteImportInputSerializer(serializers.Serializer):
    """Multipart with ``file``, or JSON with ``url``; the suite lands in ``project`` (omitted: built-in, superusers)."""

    format = serializers.ChoiceField(choices=IMPORT_FORMATS)
    name = serializers.SlugField(max_length=100)
    project = ScopedPrimaryKeyRelatedField(Project, required=False, allow_null=True, default=None)
    file = serializers.FileField(required=False, allow_empty_file=False)
    url = serializers.URLField(required=False, max_length=2000)
    title = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    allow_broken = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if bool(attrs.get("file")) == bool(attrs.get("url")):
            raise serializers.ValidationError("Give exactly one of 'file' (multipart upload) or 'url'.")
        return attrs


class SuiteImportFlagSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    line = serializers.IntegerField()
    reason = serializers.CharField()


class SuiteImportOutputSerializer(serializers.Serializer):
    suite = BenchmarkSuiteSerializer()
    message = serializers.CharField()
    problems = serializers.IntegerField()
    verified = serializers.IntegerField(help_text="Reference solutions run against their own tests.")
    flagged = SuiteImportFlagSerializer(many=True)
