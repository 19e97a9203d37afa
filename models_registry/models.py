from django.conf import settings
from django.db import models

from accounts.querysets import ProjectScopedQuerySet

from .choices import ApiKeySource, ApiStyle, Backend, HealthStatus


class ModelEndpoint(models.Model):
    """A model a project can evaluate: which backend serves it, where, with which default options."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="model_endpoints")
    name = models.CharField(max_length=200, help_text="Unique in the project, e.g. 'codellama:7b'.")
    backend = models.CharField(max_length=20, choices=Backend.choices)
    model = models.CharField(
        max_length=300, blank=True, help_text="Model identifier sent to the backend (default: the name)."
    )
    api_style = models.CharField(max_length=20, choices=ApiStyle.choices, default=ApiStyle.COMPLETION)
    base_url = models.CharField(max_length=500, help_text="Server URL; checked against the SSRF policy.")
    stream = models.BooleanField(default=False, help_text="Stream responses (the read timeout then applies per chunk).")
    generation_options = models.JSONField(
        default=dict, blank=True, help_text="Defaults: temperature, top_p, max_tokens, stop, seed, logprobs."
    )
    parameters = models.BigIntegerField(null=True, blank=True, help_text="Parameter count, e.g. 7000000000.")
    context_window = models.PositiveIntegerField(null=True, blank=True)
    capabilities = models.JSONField(default=list, blank=True, help_text="e.g. ['code', 'completion'].")
    max_concurrency = models.PositiveSmallIntegerField(default=4, help_text="Requests in flight per worker process.")
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Requests a minute to this endpoint, retries included, across all workers (empty: unlimited).",
    )
    input_cost_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, help_text="USD per million prompt tokens."
    )
    output_cost_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, help_text="USD per million completion tokens."
    )
    # Write-only secrets: never serialized, listed or logged. One of the two (or neither) is set.
    api_key_encrypted = models.TextField(blank=True, editable=False)
    api_key_env = models.CharField(max_length=100, blank=True, help_text="Environment variable holding the key.")

    health_status = models.CharField(max_length=20, choices=HealthStatus.choices, default=HealthStatus.UNKNOWN)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    health_error = models.TextField(blank=True)
    health_latency_ms = models.PositiveIntegerField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProjectScopedQuerySet.as_manager()

    project_path = "project"
    scope_parent = "project"
    scope_actions = {"view": "view", "add": "evaluate", "change": "evaluate", "delete": "evaluate"}

    class Meta:
        ordering = ["project_id", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="uniq_model_endpoint_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def served_model(self) -> str:
        return self.model or self.name

    @property
    def api_key_source(self) -> str:
        if self.api_key_encrypted:
            return ApiKeySource.STORED
        if self.api_key_env:
            return ApiKeySource.ENVIRONMENT
        return ApiKeySource.NONE

    @property
    def has_api_key(self) -> bool:
        return self.api_key_source != ApiKeySource.NONE
