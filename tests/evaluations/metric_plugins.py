"""A metric plugin as a user would write one, loaded through CODEQUAL_METRIC_PLUGINS in the tests."""

from evaluations.metrics import BaseMetric, MetricError, MetricInput


class CompletionLength(BaseMetric):
    name = "completion_length"
    description = "Characters (or lines) of the generated completion."
    value_range = (0, None)
    higher_is_better = None
    summary_fields = ("length",)

    @classmethod
    def parameters(cls):
        return {"unit": "chars (default) or lines"}

    def __init__(self, **params):
        super().__init__(**params)
        if params.get("unit", "chars") not in ("chars", "lines"):
            raise MetricError("completion_length: unit must be chars or lines.")

    def compute(self, sample: MetricInput) -> dict:
        if "boom" in sample.completion:
            raise RuntimeError("this completion breaks the metric")
        text = sample.completion
        return {"length": len(text.splitlines()) if self.params.get("unit") == "lines" else len(text)}


class NotAMetric:
    pass
