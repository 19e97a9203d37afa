from rest_framework import serializers

from accounts.models import Project
from codequal.api.viewsets import ScopedPrimaryKeyRelatedField

from ..choices import IMPORT_FORMATS, SampleStatus
from ..models import BenchmarkSuite, Evaluation, Problem


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


# --- evaluation runs -------------------------------------------------------------------------------------------------

CONFIG_SECTIONS = ("evaluation", "generation", "prompting", "metrics", "output")


class EvaluationCreateSerializer(serializers.Serializer):
    """What to run: the same mapping as the CLI's YAML config, plus the project it runs in.

    The sections (evaluation, generation, prompting, metrics, output) go under ``config`` or at the top level, as in
    the YAML file; top-level ones win. The service validates them and names each bad field (``evaluation.timeout_…``).
    """

    project = ScopedPrimaryKeyRelatedField(Project)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    models = serializers.ListField(
        child=serializers.CharField(max_length=200),
        min_length=1,
        max_length=50,
        help_text="Model endpoints of the project, by name or id.",
    )
    problems = serializers.JSONField(
        help_text='{"suite": "humaneval", "version": 1, "range": "0-10", "task_ids": [...], "filter": {...}} '
        "or just the suite name."
    )
    config = serializers.DictField(
        required=False, default=dict, help_text="Sections: evaluation, generation, prompting, metrics, output."
    )
    evaluation = serializers.DictField(required=False)
    generation = serializers.DictField(required=False)
    prompting = serializers.DictField(required=False)
    metrics = serializers.DictField(required=False)
    output = serializers.DictField(required=False)

    def validate_config(self, value):
        unknown = sorted(set(value) - set(CONFIG_SECTIONS))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown section(s) {', '.join(unknown)}; known: {', '.join(CONFIG_SECTIONS)}."
            )
        return value

    def run_config(self) -> dict:
        """The one mapping ``parse_config`` takes."""
        v = self.validated_data
        merged = {key: value for key, value in v["config"].items()}
        merged.update({key: v[key] for key in CONFIG_SECTIONS if key in v})
        return {**merged, "models": list(v["models"]), "problems": v["problems"]}

    def create(self, validated_data):
        from ..runs.services import evaluation_create

        return evaluation_create(
            actor=self.context["request"].user,
            project=validated_data["project"],
            config=self.run_config(),
            name=validated_data["name"],
        )


def progress_channel(evaluation) -> str:
    return f"evaluation:{evaluation.pk}"


class EvaluationCreatedSerializer(serializers.Serializer):
    evaluation_id = serializers.IntegerField(source="pk")
    status = serializers.CharField()
    estimated_completion = serializers.SerializerMethodField()
    progress_url = serializers.SerializerMethodField(help_text="The WebSocket to connect to.")
    progress_channel = serializers.SerializerMethodField(help_text='Send {"type": "subscribe", "channel": this}.')
    total_samples = serializers.IntegerField()
    completed_samples = serializers.IntegerField()

    def get_estimated_completion(self, evaluation) -> str | None:
        from ..runs.services import estimated_completion

        when = estimated_completion(evaluation)
        return when.isoformat() if when else None

    def get_progress_url(self, evaluation) -> str:
        return f"/ws/?channel={progress_channel(evaluation)}"

    def get_progress_channel(self, evaluation) -> str:
        return progress_channel(evaluation)


class SuiteRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()


class EvaluationSerializer(serializers.ModelSerializer):
    """An evaluation's state and progress (a list row); the detail route adds its config and environment."""

    suite = SuiteRefSerializer(read_only=True)
    progress = serializers.FloatField(read_only=True, help_text="0 to 1: judged samples over expected samples.")
    models = serializers.SerializerMethodField()
    models_completed = serializers.SerializerMethodField(help_text="Models with all their samples judged.")
    estimated_completion = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Evaluation
        fields = [
            "id",
            "name",
            "project",
            "suite",
            "status",
            "progress",
            "total_samples",
            "completed_samples",
            "passed_samples",
            "generation_errors",
            "current_model",
            "models",
            "models_completed",
            "created_at",
            "started_at",
            "finished_at",
            "estimated_completion",
            "error_message",
            "created_by",
        ]
        read_only_fields = fields

    def get_models(self, evaluation) -> list[str]:
        return [m.name for m in evaluation.models.all()]

    def get_models_completed(self, evaluation) -> int:
        plan = evaluation.config.get("_plan") or {}
        strategies = len(evaluation.config.get("strategies") or ["zero_shot"])
        done = 0
        for run_model in evaluation.models.all():
            expected = sum((plan.get(str(run_model.pk)) or {}).values()) * strategies
            done += run_model.completed_samples >= expected
        return done

    def get_estimated_completion(self, evaluation) -> str | None:
        return EvaluationCreatedSerializer().get_estimated_completion(evaluation)


class EvaluationDetailSerializer(EvaluationSerializer):
    config = serializers.SerializerMethodField(help_text="The resolved configuration.")
    environment = serializers.JSONField(read_only=True, help_text="Reproducibility: versions, sandbox, seeds.")

    class Meta(EvaluationSerializer.Meta):
        fields = [*EvaluationSerializer.Meta.fields, "config", "environment"]
        read_only_fields = fields

    def get_config(self, evaluation) -> dict:
        return {k: v for k, v in evaluation.config.items() if not k.startswith("_")}


class DetailedResultSerializer(serializers.Serializer):
    """One sample (``results.detail_row``)."""

    task_id = serializers.CharField()
    problem_id = serializers.IntegerField()
    model = serializers.CharField()
    strategy = serializers.CharField()
    sample_index = serializers.IntegerField()
    passed = serializers.BooleanField()
    status = serializers.CharField(help_text="passed, failed, error, timeout, memory, crashed, exited_early, ...")
    error_category = serializers.CharField(allow_blank=True)
    error_type = serializers.CharField(allow_blank=True)
    error_message = serializers.CharField(allow_blank=True)
    error_line = serializers.IntegerField(allow_null=True)
    execution_time = serializers.FloatField(allow_null=True)
    peak_memory_kb = serializers.IntegerField(allow_null=True)
    parts = serializers.DictField()
    metrics = serializers.DictField()
    flips = serializers.IntegerField()
    completion = serializers.CharField(allow_blank=True)
    extraction_method = serializers.CharField(allow_blank=True)
    generation_latency_ms = serializers.FloatField(allow_null=True)
    completion_tokens = serializers.IntegerField(allow_null=True)


class DetailedResultsPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DetailedResultSerializer(many=True)


class ResultsSummarySerializer(serializers.Serializer):
    evaluation_id = serializers.IntegerField()
    status = serializers.CharField()
    suite = serializers.DictField()
    total_problems = serializers.IntegerField()
    total_evaluations = serializers.IntegerField(help_text="Samples judged.")
    expected_evaluations = serializers.IntegerField()
    passed = serializers.IntegerField()
    overall_pass_rate = serializers.FloatField()
    average_execution_time = serializers.FloatField(allow_null=True, help_text="Seconds per program.")
    models = serializers.ListField(child=serializers.CharField())
    strategies = serializers.ListField(child=serializers.CharField())
    k = serializers.ListField(child=serializers.IntegerField(), allow_null=True)


class EvaluationResultsSerializer(serializers.Serializer):
    summary = ResultsSummarySerializer()
    by_model = serializers.DictField(
        child=serializers.DictField(),
        help_text="Per model (model@strategy with several strategies): pass@k with 95% intervals, pass and error "
        "rates, status and error-category counts, execution time, memory and quality statistics.",
    )
    detailed_results = DetailedResultsPageSerializer(help_text="One page of samples (?page=, ?page_size=).")


class ResultsFilterSerializer(serializers.Serializer):
    model = serializers.CharField(required=False, max_length=200, help_text="Model name.")
    passed = serializers.BooleanField(required=False, allow_null=True, default=None)
    status = serializers.ChoiceField(choices=SampleStatus.choices, required=False)
    error_category = serializers.CharField(required=False, max_length=30)
    task_id = serializers.CharField(required=False, max_length=200)


class ExportFormatSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["json", "csv", "jsonl"], default="json")
