from django.db import models


class ErrorLeaf(models.TextChoices):
    """The fine-grained error hierarchy: ``family.leaf``, stable machine names (tuning selects data by the leaf)."""

    MISSING_PARENTHESIS = "syntax.missing_parenthesis", "Syntax: missing parenthesis, bracket or quote"
    INDENTATION = "syntax.indentation", "Syntax: indentation"
    INVALID_SYNTAX = "syntax.invalid_syntax", "Syntax: invalid syntax"
    INCOMPLETE_CODE = "syntax.incomplete_code", "Syntax: incomplete (truncated) code"
    EXTRACTION_FAILED = "syntax.extraction_failed", "Syntax: no code could be extracted"
    TYPE_ERROR = "semantic.type_error", "Semantic: type error"
    NAME_ERROR = "semantic.name_error", "Semantic: undefined name"
    IMPORT_ERROR = "semantic.import_error", "Semantic: import of a missing module"
    ATTRIBUTE_ERROR = "semantic.attribute_error", "Semantic: attribute error"
    INDEX_ERROR = "semantic.index_error", "Semantic: index error"
    KEY_ERROR = "semantic.key_error", "Semantic: key error"
    VALUE_ERROR = "semantic.value_error", "Semantic: value error"
    ZERO_DIVISION = "semantic.zero_division", "Semantic: division by zero"
    RECURSION = "semantic.recursion", "Semantic: recursion too deep"
    WRONG_ANSWER = "semantic.wrong_answer", "Semantic: wrong answer (assertion failed)"
    OFF_BY_ONE = "semantic.off_by_one", "Semantic: off by one"
    WRONG_SIGNATURE = "semantic.wrong_signature", "Semantic: wrong signature (arity or name)"
    TIMEOUT = "performance.timeout", "Performance: timeout"
    INFINITE_LOOP = "performance.infinite_loop", "Performance: infinite loop"
    MEMORY = "performance.memory", "Performance: memory"
    EXITED_EARLY = "harness.exited_early", "Harness: exited early"
    CRASHED = "harness.crashed", "Harness: crashed"
    UNKNOWN = "unknown", "Unknown (an exception outside the hierarchy)"

    @property
    def short(self) -> str:
        """The leaf without its family (``missing_parenthesis``): what ``--errors`` options take."""
        return self.value.rsplit(".", 1)[-1]


def leaf_from_name(name: str) -> ErrorLeaf:
    """A leaf from its full (``syntax.indentation``) or short (``indentation``) name; ValueError if unknown."""
    for leaf in ErrorLeaf:
        if name in (leaf.value, leaf.short):
            return leaf
    raise ValueError(f"unknown error type {name!r}; known: {', '.join(leaf.short for leaf in ErrorLeaf)}")


class AnalysisType(models.TextChoices):
    QUICK = "quick", "Quick: counts, patterns and recommendations"
    DEEP = "deep", "Deep: also clusters, per-group breakdowns and examples"


class GroupBy(models.TextChoices):
    MODEL = "model", "Model"
    ERROR_TYPE = "error_type", "Error type"
    TASK = "task_id", "Task"
