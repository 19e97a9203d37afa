from django.conf import settings
from django.db import models

from accounts.querysets import ProjectScopedQuerySet

from ..choices import DatasetSplit, DatasetStrategy

TUNE = {"view": "view", "add": "evaluate", "change": "evaluate", "delete": "evaluate"}


class TuningDataset(models.Model):
    """Training examples built from evaluation failures, versioned per name, split by problem (train, held out)."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="tuning_datasets")
    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    strategy = models.CharField(max_length=20, choices=DatasetStrategy.choices)
    source_evaluations = models.ManyToManyField("evaluations.Evaluation", related_name="+", blank=True)
    options = models.JSONField(help_text="Filters and options as built: errors, models, task_ids, suites, repair, ...")
    counts = models.JSONField(default=dict, blank=True, help_text="Examples and problems per split and error type.")
    held_out_problems = models.JSONField(
        default=list, blank=True, help_text="[{suite, version, task_id, problem_id}]: never in the train split."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ProjectScopedQuerySet.as_manager()

    project_path = "project"
    scope_parent = "project"
    scope_actions = TUNE

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name", "version"], name="uniq_tuning_dataset_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def train_count(self) -> int:
        return int((self.counts.get("examples") or {}).get(DatasetSplit.TRAIN, 0))

    @property
    def held_out_count(self) -> int:
        return int((self.counts.get("examples") or {}).get(DatasetSplit.HELD_OUT, 0))


class TuningExample(models.Model):
    """One example: ``input`` (prompt, or a repair prompt) -> ``output`` (a passing solution); ``rejected`` is the
    failed attempt (the contrastive pair)."""

    dataset = models.ForeignKey(TuningDataset, on_delete=models.CASCADE, related_name="examples")
    project = models.ForeignKey(
        "accounts.Project", on_delete=models.CASCADE, related_name="+", help_text="The dataset's, for scoping."
    )
    split = models.CharField(max_length=10, choices=DatasetSplit.choices)
    position = models.PositiveIntegerField(help_text="Order within its split (the curriculum's order).")
    problem = models.ForeignKey("evaluations.Problem", on_delete=models.PROTECT, related_name="+")
    task_id = models.CharField(max_length=200)
    source_sample = models.ForeignKey("evaluations.Sample", null=True, blank=True, on_delete=models.SET_NULL)
    input = models.TextField()
    output = models.TextField()
    rejected = models.TextField(blank=True)
    error_type = models.CharField(max_length=100, blank=True, help_text="The most specific error name known.")
    error_names = models.JSONField(default=list, blank=True, help_text="Every name the failure matches.")
    difficulty = models.FloatField(help_text="1 - the problem's measured pass rate in the source evaluations.")
    content_hash = models.CharField(max_length=64)

    objects = ProjectScopedQuerySet.as_manager()

    project_path = "project"
    scope_parent = "dataset"
    scope_actions = TUNE

    class Meta:
        ordering = ["dataset_id", "split", "position"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "split", "position"], name="uniq_tuning_example_position"),
            models.UniqueConstraint(fields=["dataset", "content_hash"], name="uniq_tuning_example_content"),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} ({self.split} #{self.position})"
