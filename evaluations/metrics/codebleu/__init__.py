"""CodeBLEU (Ren et al., 2020): n-gram, keyword-weighted n-gram, syntax-tree and data-flow match of code.

Scores equal those of the ``codebleu`` package (0.7.0) but are the same in every process; see docs/metrics.md.
"""

from .languages import LANGUAGES, UnsupportedLanguage, language_name
from .scorer import COMPONENTS, DEFAULT_WEIGHTS, CodeBLEU, CodeBLEUScorer, validate_weights

__all__ = [
    "COMPONENTS",
    "DEFAULT_WEIGHTS",
    "LANGUAGES",
    "CodeBLEU",
    "CodeBLEUScorer",
    "UnsupportedLanguage",
    "codebleu_score",
    "language_name",
    "validate_weights",
]


def codebleu_score(prediction: str, reference: str, lang: str = "python", weights=DEFAULT_WEIGHTS) -> CodeBLEU:
    """One pair's CodeBLEU; for many pairs keep one ``CodeBLEUScorer``, which reads each distinct program once."""
    return CodeBLEUScorer(lang, weights, cache_size=2).score(prediction, reference)
