from django.conf import settings
from django.db import models

from accounts.querysets import ProjectScopedQuerySet

from ..choices import ChunkStatus, ErrorCategory, EvaluationStatus, SampleStatus

RUN = {"view": "view", "add": "evaluate", "change": "evaluate", "delete": "evaluate"}


class Evaluation(models.Model):
    """One run: models x selected problems x samples x strategies, with its resolved config and progress."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="evaluations")
    name = models.CharField(max_length=200, blank=True)
    suite = models.ForeignKey("evaluations.BenchmarkSuite", on_delete=models.PROTECT, related_name="evaluations")
    config = models.JSONField(help_text="The full resolved configuration, as validated at creation.")
    problem_ids = models.JSONField(help_text="The selected problems' ids, in suite order.")
    status = models.CharField(max_length=20, choices=EvaluationStatus.choices, default=EvaluationStatus.PENDING)
    # Progress counters: samples expected, generated, and judged (executed or extraction failed).
    total_samples = models.PositiveIntegerField(default=0)
    generated_samples = models.PositiveIntegerField(default=0)
    completed_samples = models.PositiveIntegerField(default=0)
    passed_samples = models.PositiveIntegerField(default=0)
    generation_errors = models.PositiveIntegerField(default=0)
    current_model = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    environment = models.JSONField(
        default=dict, blank=True, help_text="Reproducibility: versions, sandbox backend, seeds, suite version."
    )
    summary = models.JSONField(default=dict, blank=True, help_text="Aggregates, written when the run completes.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProjectScopedQuerySet.as_manager()

    project_path = "project"
    scope_parent = "project"
    scope_actions = RUN

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["project", "status"])]

    def __str__(self) -> str:
        return self.name or f"Evaluation {self.pk}"

    @property
    def progress(self) -> float:
        return round(self.completed_samples / self.total_samples, 4) if self.total_samples else 0.0

    @property
    def is_finished(self) -> bool:
        return self.status in (EvaluationStatus.COMPLETED, EvaluationStatus.FAILED, EvaluationStatus.CANCELLED)


class EvaluationModel(models.Model):
    """A model endpoint taking part in an evaluation, with the endpoint's settings as they were at creation."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="models")
    endpoint = models.ForeignKey(
        "models_registry.ModelEndpoint", null=True, on_delete=models.SET_NULL, related_name="evaluation_runs"
    )
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=200)
    snapshot = models.JSONField(help_text="Backend, model, URL, style and options used (never keys).")
    completed_samples = models.PositiveIntegerField(default=0)

    project_path = "evaluation__project"
    objects = ProjectScopedQuerySet.as_manager()
    scope_parent = "evaluation"
    scope_actions = RUN

    class Meta:
        ordering = ["evaluation_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "position"], name="uniq_evaluation_model_position"),
            models.UniqueConstraint(fields=["evaluation", "name"], name="uniq_evaluation_model_name"),
        ]

    def __str__(self) -> str:
        return self.name


class EvaluationChunk(models.Model):
    """A unit of work: one model on a slice of the problems. Jobs claim chunks atomically; resume resets them."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="chunks")
    model = models.ForeignKey(EvaluationModel, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    problem_ids = models.JSONField()
    status = models.CharField(max_length=20, choices=ChunkStatus.choices, default=ChunkStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error_message = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["evaluation_id", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["evaluation", "ordinal"], name="uniq_evaluation_chunk")]
        indexes = [models.Index(fields=["evaluation", "status"])]

    def __str__(self) -> str:
        return f"chunk {self.ordinal} of evaluation {self.evaluation_id}"


class Sample(models.Model):
    """One generated sample and its verdict; (evaluation, model, problem, strategy, index) identifies it."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="samples")
    project = models.ForeignKey(
        "accounts.Project", on_delete=models.CASCADE, related_name="+", help_text="The evaluation's, for scoping."
    )
    model = models.ForeignKey(EvaluationModel, on_delete=models.CASCADE, related_name="samples")
    problem = models.ForeignKey("evaluations.Problem", on_delete=models.PROTECT, related_name="+")
    strategy = models.CharField(max_length=50)
    index = models.PositiveIntegerField()
    # Generation
    raw_output = models.TextField(blank=True)
    completion = models.TextField(blank=True, help_text="What was appended to the prompt (or the whole program).")
    extraction_method = models.CharField(max_length=20, blank=True)
    extraction_error = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=20, blank=True)
    generation_latency_ms = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    mean_logprob = models.FloatField(null=True, blank=True)
    cost_usd = models.FloatField(null=True, blank=True)
    from_cache = models.BooleanField(default=False)
    # Verdict
    status = models.CharField(max_length=20, choices=SampleStatus.choices)
    passed = models.BooleanField(default=False)
    error_category = models.CharField(max_length=30, choices=ErrorCategory.choices, blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    error_line = models.IntegerField(null=True, blank=True)
    traceback_tail = models.TextField(blank=True)
    output_tail = models.TextField(blank=True)
    output_truncated = models.BooleanField(default=False)
    duration_s = models.FloatField(null=True, blank=True)
    peak_memory_kb = models.PositiveIntegerField(null=True, blank=True)
    parts = models.JSONField(default=dict, blank=True, help_text="Verdict per test part, e.g. base and plus.")
    flips = models.PositiveSmallIntegerField(default=0, help_text="Re-executions whose verdict differed.")
    reexecutions = models.PositiveSmallIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True, help_text="Code quality of the program (radon).")
    created_at = models.DateTimeField(auto_now_add=True)

    project_path = "project"
    objects = ProjectScopedQuerySet.as_manager()
    scope_parent = "evaluation"
    scope_actions = RUN

    class Meta:
        ordering = ["evaluation_id", "model_id", "problem_id", "strategy", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation", "model", "problem", "strategy", "index"], name="uniq_sample_identity"
            )
        ]
        indexes = [models.Index(fields=["evaluation", "model", "passed"])]

    def __str__(self) -> str:
        return f"{self.model_id}/{self.problem_id}/{self.strategy}/{self.index}"


class GenerationCacheEntry(models.Model):
    """A model output kept so that re-running or resuming never asks the model again for the same sample."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64, help_text="SHA-256 of endpoint settings, prompt, options, index, seed.")
    text = models.TextField()
    program = models.BooleanField(default=False)
    finish_reason = models.CharField(max_length=20, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    mean_logprob = models.FloatField(null=True, blank=True)
    cost_usd = models.FloatField(null=True, blank=True)
    token_logprobs = models.JSONField(
        null=True, blank=True, help_text="[[token, logprob], ...] when the backend sent them."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="uniq_generation_cache_key")]

    def __str__(self) -> str:
        return self.key[:12]
