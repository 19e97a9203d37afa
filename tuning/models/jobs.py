from django.conf import settings
from django.db import models

from accounts.querysets import ProjectScopedQuerySet

from ..choices import TuningJobStatus, TuningStage
from .datasets import TUNE


class TuningJob(models.Model):
    """LoRA fine-tuning of an ``hf`` endpoint on a dataset: status, progress, metrics, artifact, resulting endpoint."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="tuning_jobs")
    name = models.CharField(max_length=200, help_text="Also the name of the tuned endpoint it registers.")
    base_endpoint = models.ForeignKey(
        "models_registry.ModelEndpoint", on_delete=models.PROTECT, related_name="tuning_jobs"
    )
    dataset = models.ForeignKey("tuning.TuningDataset", on_delete=models.PROTECT, related_name="jobs")
    hyperparameters = models.JSONField(help_text="Resolved: every default filled in at creation.")
    status = models.CharField(max_length=20, choices=TuningJobStatus.choices, default=TuningJobStatus.PENDING)
    stage = models.CharField(max_length=20, choices=TuningStage.choices, default=TuningStage.QUEUED)
    progress = models.FloatField(default=0.0)
    current_step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True, help_text="The last training loss.")
    validation_loss = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Device, steps/s, first and last losses, ...")
    artifact_path = models.CharField(max_length=500, blank=True, help_text="The saved LoRA adapter.")
    checkpoint_path = models.CharField(max_length=500, blank=True, help_text="The last checkpoint (for resume).")
    resulting_endpoint = models.ForeignKey(
        "models_registry.ModelEndpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comparison_evaluation = models.ForeignKey(
        "evaluations.Evaluation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error_message = models.TextField(blank=True)
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
    scope_actions = TUNE

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["project", "status"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_finished(self) -> bool:
        return self.status in (TuningJobStatus.COMPLETED, TuningJobStatus.FAILED, TuningJobStatus.CANCELLED)


class TuningStep(models.Model):
    """The training loss of one optimizer step, and the validation loss where it was measured."""

    job = models.ForeignKey(TuningJob, on_delete=models.CASCADE, related_name="steps")
    step = models.PositiveIntegerField()
    epoch = models.FloatField()
    loss = models.FloatField()
    validation_loss = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job_id", "step"]
        constraints = [models.UniqueConstraint(fields=["job", "step"], name="uniq_tuning_step")]

    def __str__(self) -> str:
        return f"step {self.step}: {self.loss:.4f}"
