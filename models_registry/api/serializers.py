from rest_framework import serializers

from accounts.models import Project
from codequal.api.viewsets import ScopedPrimaryKeyRelatedField

from .. import services
from ..choices import ApiKeySource, HealthStatus
from ..models import ModelEndpoint
from ..validation import EDITABLE, MAX_RATE_LIMIT


class ModelEndpointSerializer(serializers.ModelSerializer):
    """A model endpoint. ``api_key`` is write-only: it is stored encrypted and never returned."""

    project = ScopedPrimaryKeyRelatedField(Project)
    base_url = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="Default: OLLAMA_HOST, OPENAI_BASE_URL, ANTHROPIC_BASE_URL or GEMINI_BASE_URL.",
    )
    capabilities = serializers.ListField(child=serializers.CharField(max_length=40), required=False, max_length=32)
    generation_options = serializers.DictField(required=False, help_text="temperature, top_p, max_tokens, stop, seed.")
    rate_limit_per_minute = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_RATE_LIMIT,
        help_text="Requests a minute to this endpoint, retries included, shared by all workers; null: unlimited.",
    )
    api_key = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=4096,
        trim_whitespace=True,
        style={"input_type": "password"},
        help_text='Stored encrypted, never returned. "" removes the stored key.',
    )
    api_key_env = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="Or: name an allowed environment variable."
    )
    has_api_key = serializers.BooleanField(read_only=True)
    api_key_source = serializers.ChoiceField(choices=ApiKeySource.choices, read_only=True)

    class Meta:
        model = ModelEndpoint
        validators = []  # uniqueness is the service's job (a 409 with a clear message)
        fields = [
            "id",
            "project",
            *EDITABLE,
            "api_key",
            "api_key_env",
            "has_api_key",
            "api_key_source",
            "health_status",
            "health_checked_at",
            "health_error",
            "health_latency_ms",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "health_status",
            "health_checked_at",
            "health_error",
            "health_latency_ms",
            "created_at",
            "updated_at",
        ]

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:  # an endpoint never moves to another project
            fields["project"].read_only = True
        return fields

    def create(self, validated_data):
        request = self.context["request"]
        project = validated_data.pop("project")
        name, backend = validated_data.pop("name"), validated_data.pop("backend")
        return services.model_endpoint_create(
            actor=request.user, project=project, name=name, backend=backend, **validated_data
        )

    def update(self, instance, validated_data):
        request = self.context["request"]
        return services.model_endpoint_update(actor=request.user, endpoint=instance, **validated_data)


class EndpointTestInputSerializer(serializers.Serializer):
    prompt = serializers.CharField(max_length=20000, trim_whitespace=False)
    max_tokens = serializers.IntegerField(min_value=1, max_value=4096, default=64)


class EndpointTestOutputSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    response = serializers.CharField(help_text="The generated text (empty on failure).")
    latency_ms = serializers.FloatField()
    tokens_generated = serializers.IntegerField(allow_null=True)
    message = serializers.CharField(help_text="What happened, in words; on failure, why.")
    error_kind = serializers.CharField(help_text="Empty on success; e.g. timeout, rate_limited, server_error.")
    attempts = serializers.IntegerField()


class EndpointHealthSerializer(serializers.Serializer):
    healthy = serializers.BooleanField()
    message = serializers.CharField()
    latency_ms = serializers.FloatField()
    models = serializers.ListField(child=serializers.CharField(), help_text="Models the server says it serves.")
    health_status = serializers.ChoiceField(choices=HealthStatus.choices)
