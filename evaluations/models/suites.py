from django.conf import settings
from django.db import models

from ..choices import Difficulty, Language, SourceFormat
from ..querysets import SuiteScopedQuerySet

CURATE = {"view": "view", "add": "curate", "change": "curate", "delete": "curate"}


class BenchmarkSuite(models.Model):
    """One imported version of a benchmark; built-in when it has no project. Its problems never change."""

    project = models.ForeignKey(
        "accounts.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="suites"
    )
    name = models.SlugField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    language = models.CharField(max_length=20, choices=Language.choices, default=Language.PYTHON)
    source_format = models.CharField(max_length=20, choices=SourceFormat.choices)
    source_reference = models.CharField(max_length=500, blank=True, help_text="File name or URL imported from.")
    environment = models.CharField(
        max_length=100, default="default", help_text="Execution environment the problems' programs run in."
    )
    problem_count = models.PositiveIntegerField(default=0)
    flagged_count = models.PositiveIntegerField(default=0, help_text="Problems whose reference solution failed.")
    content_sha256 = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SuiteScopedQuerySet.as_manager()

    project_path = "project"
    scope_parent = "project"
    scope_actions = CURATE

    class Meta:
        ordering = ["name", "-version", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name", "version"], name="uniq_suite_version_in_project"),
            # NULL projects are distinct in a plain unique constraint: built-in versions need their own.
            models.UniqueConstraint(
                fields=["name", "version"], condition=models.Q(project__isnull=True), name="uniq_builtin_suite_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def is_builtin(self) -> bool:
        return self.project_id is None


class Problem(models.Model):
    """One task of a suite: prompt, reference solution and how candidates are judged (``test_spec``)."""

    suite = models.ForeignKey(BenchmarkSuite, on_delete=models.CASCADE, related_name="problems")
    ordinal = models.PositiveIntegerField()
    task_id = models.CharField(max_length=200)
    prompt = models.TextField()
    entry_point = models.CharField(max_length=200)
    canonical_solution = models.TextField(blank=True)
    # {"setup": trusted code run before the tests, "parts": [TestPart fields, expected outputs codec-encoded]}
    test_spec = models.JSONField()
    difficulty = models.CharField(max_length=20, choices=Difficulty.choices, blank=True)
    category = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=20, choices=Language.choices, default=Language.PYTHON)
    timeout_s = models.FloatField(default=3.0, help_text="Per-program timeout that the reference solution fits in.")
    flagged = models.BooleanField(default=False, help_text="The reference solution failed its own tests at import.")
    flag_reason = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    objects = SuiteScopedQuerySet.as_manager()

    project_path = "suite__project"
    scope_parent = "suite"
    scope_actions = CURATE

    class Meta:
        ordering = ["suite_id", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["suite", "task_id"], name="uniq_problem_task_in_suite")]
        indexes = [models.Index(fields=["suite", "ordinal"])]

    def __str__(self) -> str:
        return self.task_id

    def program_code(self, completion: str) -> str:
        """The program a completion makes: appended to the prompt when the prompt is code (HumanEval, MBPP+)."""
        return self.prompt + completion if self.metadata.get("prompt_is_code", True) else completion

    def harness(self):
        from ..harnesses import harness_from_spec

        return harness_from_spec(self.entry_point, self.test_spec)
