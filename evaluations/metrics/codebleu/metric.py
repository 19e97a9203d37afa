"""The ``codebleu`` metric plugin: each sample's program against the problem's reference program."""

from ..base import BaseMetric, MetricError, MetricInput
from ..registry import register_metric
from .languages import LANGUAGES, UnsupportedLanguage, language_name
from .scorer import DEFAULT_WEIGHTS, CodeBLEUScorer, validate_weights


@register_metric
class CodeBLEUMetric(BaseMetric):
    name = "codebleu"
    description = (
        "CodeBLEU of the program against the canonical solution (prompt + body on both sides): n-gram, "
        "keyword-weighted n-gram, syntax-tree and data-flow match, as the codebleu package computes them (0-1)."
    )
    value_range = (0, 1)
    higher_is_better = True
    summary_fields = ("codebleu", "ngram_match", "weighted_ngram_match", "syntax_match", "dataflow_match")

    @classmethod
    def parameters(cls) -> dict[str, str]:
        return {
            "weights": "four non-negative numbers summing to 1: n-gram, weighted n-gram, syntax, data flow "
            "(default 0.25 each)",
            "lang": f"language of the code, one of {', '.join(LANGUAGES)} (default: the problem's language)",
        }

    def __init__(self, **params):
        super().__init__(**params)
        try:
            self.weights = validate_weights(params.get("weights", DEFAULT_WEIGHTS))
            self.lang = language_name(params["lang"]) if params.get("lang") else None
        except (ValueError, TypeError, AttributeError) as exc:
            raise MetricError(f"codebleu: {exc}") from None
        self._scorers: dict[str, CodeBLEUScorer] = {}

    def compute(self, sample: MetricInput) -> dict:
        if not sample.reference_program.strip():
            raise ValueError(f"{sample.task_id} has no canonical solution to compare with.")
        lang = self.lang or language_name(sample.language or "python")
        scorer = self._scorers.get(lang)
        if scorer is None:  # one per language, kept for the batch: each reference program is read once
            scorer = self._scorers[lang] = CodeBLEUScorer(lang, self.weights)
        return scorer.score(sample.program, sample.reference_program).as_dict()


__all__ = ["CodeBLEUMetric", "UnsupportedLanguage"]
