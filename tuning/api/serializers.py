from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Project
from codequal.api.viewsets import ScopedPrimaryKeyRelatedField
from evaluations.models import Evaluation
from models_registry.models import ModelEndpoint

from .. import services
from ..choices import DatasetSplit, DatasetStrategy, ExportFormat
from ..models import TuningDataset, TuningJob
from ..selectors import loss_curve, tuning_comparison


class TuningDatasetSerializer(serializers.ModelSerializer):
    train_count = serializers.IntegerField(read_only=True)
    held_out_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = TuningDataset
        fields = [
            "id",
            "project",
            "name",
            "version",
            "strategy",
            "source_evaluations",
            "options",
            "counts",
            "train_count",
            "held_out_count",
            "held_out_problems",
            "created_at",
        ]
        read_only_fields = fields


class TuningDatasetCreateSerializer(serializers.Serializer):
    """Build the next version of a dataset from the failures of evaluations of the project."""

    project = ScopedPrimaryKeyRelatedField(Project)
    name = serializers.CharField(max_length=200)
    evaluations = serializers.ListField(
        child=ScopedPrimaryKeyRelatedField(Evaluation), min_length=1, max_length=100, help_text="Evaluation ids."
    )
    strategy = serializers.ChoiceField(choices=DatasetStrategy.choices, default=DatasetStrategy.ERROR_SPECIFIC)
    errors = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        default=list,
        help_text="Error names: families (syntax), full names (semantic.type) or last parts (type_error).",
    )
    models = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
    task_ids = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
    suites = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    repair = serializers.BooleanField(default=False, help_text="Inputs carry the failed attempt and its error.")
    use_canonical = serializers.BooleanField(default=True)
    held_out_fraction = serializers.FloatField(min_value=0, max_value=0.95, default=0.2)
    seed = serializers.IntegerField(min_value=0, default=0)

    def create(self, validated_data):
        return services.tuning_dataset_create(actor=self.context["request"].user, **validated_data)


class DatasetExportQuerySerializer(serializers.Serializer):
    split = serializers.ChoiceField(choices=DatasetSplit.choices, default=DatasetSplit.TRAIN)
    format = serializers.ChoiceField(choices=ExportFormat.choices, default=ExportFormat.SFT)


class EndpointRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelEndpoint
        fields = ["id", "name", "backend"]
        read_only_fields = fields


class TuningJobSerializer(serializers.ModelSerializer):
    base_model = EndpointRefSerializer(source="base_endpoint", read_only=True)
    resulting_endpoint = EndpointRefSerializer(read_only=True, allow_null=True)
    channel = serializers.SerializerMethodField(help_text="The WebSocket channel of its tuning_update events.")

    class Meta:
        model = TuningJob
        fields = [
            "id",
            "project",
            "name",
            "base_model",
            "dataset",
            "hyperparameters",
            "status",
            "stage",
            "progress",
            "current_step",
            "total_steps",
            "loss",
            "validation_loss",
            "metrics",
            "resulting_endpoint",
            "comparison_evaluation",
            "error_message",
            "channel",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_channel(self, job) -> str:
        return services.channel(job)


class LossPointSerializer(serializers.Serializer):
    step = serializers.IntegerField()
    epoch = serializers.FloatField()
    loss = serializers.FloatField()
    validation_loss = serializers.FloatField(allow_null=True)
    learning_rate = serializers.FloatField()


class PairedResultSerializer(serializers.Serializer):
    problems = serializers.IntegerField()
    pass_at_1_a = serializers.FloatField(help_text="The original's pass@1.")
    pass_at_1_b = serializers.FloatField(help_text="The tuned model's pass@1.")
    difference = serializers.FloatField(help_text="Tuned minus original.")
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()
    a_only = serializers.IntegerField()
    b_only = serializers.IntegerField()
    both = serializers.IntegerField()
    neither = serializers.IntegerField()
    p_value = serializers.FloatField(help_text="McNemar's exact test, two-sided.")


class ComparisonSerializer(serializers.Serializer):
    evaluation = serializers.IntegerField()
    status = serializers.CharField()
    original = serializers.CharField()
    tuned = serializers.CharField()
    result = PairedResultSerializer(allow_null=True)
    message = serializers.CharField(required=False)


class TuningJobDetailSerializer(TuningJobSerializer):
    loss_curve = serializers.SerializerMethodField()
    comparison = serializers.SerializerMethodField()

    class Meta(TuningJobSerializer.Meta):
        fields = [*TuningJobSerializer.Meta.fields, "loss_curve", "comparison"]
        read_only_fields = fields

    @extend_schema_field(LossPointSerializer(many=True))
    def get_loss_curve(self, job):
        return loss_curve(job)

    @extend_schema_field(ComparisonSerializer(allow_null=True))
    def get_comparison(self, job):
        return tuning_comparison(job)


class TuningJobCreateSerializer(serializers.Serializer):
    """LoRA-tune an hf endpoint of the project on one of its datasets; the tuned endpoint takes ``name``."""

    project = ScopedPrimaryKeyRelatedField(Project)
    dataset = ScopedPrimaryKeyRelatedField(TuningDataset)
    base_model = ScopedPrimaryKeyRelatedField(ModelEndpoint, help_text="An hf endpoint of the project.")
    name = serializers.CharField(max_length=200)
    hyperparameters = serializers.DictField(
        required=False,
        default=dict,
        help_text="Overrides of learning_rate (5e-5), batch_size (8), epochs (3), warmup_steps (100), evaluation_steps "
        "(50), save_steps (1000), max_steps, max_length, weight_decay, lora_r, lora_alpha, lora_dropout, "
        "target_modules, seed.",
    )

    def create(self, validated_data):
        return services.tuning_job_create(
            actor=self.context["request"].user,
            project=validated_data["project"],
            dataset=validated_data["dataset"],
            base_endpoint=validated_data["base_model"],
            name=validated_data["name"],
            hyperparameters=validated_data["hyperparameters"],
        )


class TuningCompareSerializer(serializers.Serializer):
    samples_per_problem = serializers.IntegerField(min_value=1, max_value=100, default=1)
    generation = serializers.DictField(
        required=False, default=dict, help_text="Generation options (default temperature 0: greedy)."
    )


class TuningCompareOutputSerializer(serializers.Serializer):
    job = TuningJobSerializer()
    evaluation = serializers.IntegerField(help_text="Follow it on the WebSocket channel evaluation:<id>.")
