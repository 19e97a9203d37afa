from django.conf import settings
from django.db import models

from accounts.querysets import ProjectScopedQuerySet

from .choices import ErrorLeaf

# Patterns are curated by curators; everyone in the project reads them.
CURATE = {"view": "view", "add": "curate", "change": "curate", "delete": "curate"}


class ErrorPattern(models.Model):
    """A cluster of similar failure signatures in a project, with counts, examples, a fix and curator annotations."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="error_patterns")
    pattern_hash = models.CharField(max_length=64, help_text="The signature hash of the pattern's first member.")
    error_type = models.CharField(max_length=40, choices=ErrorLeaf.choices)
    message = models.TextField(blank=True, help_text="Normalized message (placeholders for the specifics).")
    construct = models.CharField(max_length=300, blank=True, help_text="The failing construct or assertion form.")
    frequency = models.PositiveIntegerField(default=0)
    models_affected = models.JSONField(default=dict, blank=True, help_text="Model name -> failures.")
    details = models.JSONField(default=dict, blank=True, help_text="Specifics (name, module…) -> value -> count.")
    examples = models.JSONField(default=list, blank=True, help_text="A few samples: ids, task, model, snippet.")
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    suggested_fix = models.TextField(blank=True)
    fix_curated = models.BooleanField(default=False, help_text="A curator wrote the fix: re-analysis keeps it.")
    # Curation: kept across re-analysis and recompute.
    title = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_patterns"
    )
    annotated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    annotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProjectScopedQuerySet.as_manager()
    project_path = "project"
    scope_parent = "project"
    scope_actions = CURATE

    class Meta:
        ordering = ["-frequency", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["project", "pattern_hash"], name="uniq_error_pattern_hash_in_project")
        ]
        indexes = [models.Index(fields=["project", "error_type"])]

    def __str__(self) -> str:
        return self.title or f"{self.error_type}: {self.message or self.construct or self.pattern_hash[:12]}"[:200]

    @property
    def is_annotated(self) -> bool:
        return bool(self.title or self.notes or self.fix_curated)


class ErrorSignature(models.Model):
    """One exact signature (leaf, normalized message, construct) and the pattern it belongs to (clustered or merged)."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="+")
    pattern = models.ForeignKey(ErrorPattern, on_delete=models.CASCADE, related_name="signatures")
    signature_hash = models.CharField(max_length=64)
    error_type = models.CharField(max_length=40, choices=ErrorLeaf.choices)
    message = models.TextField(blank=True)
    construct = models.CharField(max_length=300, blank=True)
    frequency = models.PositiveIntegerField(default=0)

    objects = ProjectScopedQuerySet.as_manager()
    project_path = "project"
    scope_actions = CURATE

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["project", "signature_hash"], name="uniq_error_signature_in_project")
        ]

    def __str__(self) -> str:
        return self.signature_hash[:12]


class FailureDiagnosis(models.Model):
    """A failed sample's fine-grained leaf and signature; one per sample, so counting an evaluation twice is a no-op."""

    sample = models.OneToOneField("evaluations.Sample", on_delete=models.CASCADE, related_name="diagnosis")
    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="+")
    evaluation = models.ForeignKey("evaluations.Evaluation", on_delete=models.CASCADE, related_name="+")
    signature = models.ForeignKey(ErrorSignature, on_delete=models.CASCADE, related_name="diagnoses")
    error_type = models.CharField(max_length=40, choices=ErrorLeaf.choices)
    model_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=200)
    specifics = models.JSONField(default=dict, blank=True)

    objects = ProjectScopedQuerySet.as_manager()
    project_path = "project"
    scope_actions = {"view": "view", "add": "evaluate", "change": "evaluate", "delete": "evaluate"}

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["project", "error_type"]), models.Index(fields=["evaluation", "error_type"])]

    def __str__(self) -> str:
        return f"{self.sample_id}: {self.error_type}"


class AnalyzedEvaluation(models.Model):
    """An evaluation whose failures were counted into its project's patterns (and how many)."""

    evaluation = models.OneToOneField("evaluations.Evaluation", on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="+")
    failures = models.PositiveIntegerField(default=0)
    analyzed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["evaluation_id"]

    def __str__(self) -> str:
        return f"evaluation {self.evaluation_id}: {self.failures} failures"
