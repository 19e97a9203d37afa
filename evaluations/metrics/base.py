"""The metric plugin interface: what a metric receives per sample, what it returns, and how it aggregates."""

from dataclasses import dataclass
from typing import ClassVar

from ..statistics import describe


class MetricError(ValueError):
    """A metric's parameters are invalid; the message names the parameter."""


@dataclass(frozen=True)
class MetricInput:
    """One judged sample, as a metric sees it (no ORM: metrics may run anywhere)."""

    key: tuple  # (problem id, strategy, sample index): how the pipeline matches results back
    task_id: str
    language: str
    prompt: str
    completion: str  # what the model added (or its whole program)
    program: str  # the code that ran in the sandbox
    reference_program: str  # the problem's prompt + canonical solution ("" when the suite has none)
    passed: bool
    status: str
    token_logprobs: tuple[tuple[str, float], ...] | None = None  # from the backend, when it returned them


class BaseMetric:
    """A metric computed on every sample of an evaluation and aggregated per model.

    Subclasses set the class attributes, implement ``compute`` (or ``compute_batch`` when batching pays, e.g. a
    model on a GPU) and list in ``summary_fields`` the numeric fields of their result that ``aggregate`` describes
    (count, mean, median, min, max). A sample on which ``compute`` raises gets ``{"error": message}``; the run
    goes on.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    value_range: ClassVar[tuple[float | None, float | None]] = (None, None)
    higher_is_better: ClassVar[bool | None] = None
    summary_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params):
        unknown = sorted(set(params) - set(self.parameters()))
        if unknown:
            raise MetricError(f"{self.name}: unknown parameter(s) {', '.join(unknown)}.")
        self.params = params

    @classmethod
    def parameters(cls) -> dict[str, str]:
        """Accepted parameters and what each means."""
        return {}

    @classmethod
    def info(cls) -> dict:
        low, high = cls.value_range
        return {
            "name": cls.name,
            "description": cls.description,
            "range": [low, high],
            "higher_is_better": cls.higher_is_better,
            "summary_fields": list(cls.summary_fields),
            "parameters": cls.parameters(),
        }

    def compute(self, sample: MetricInput) -> dict:
        raise NotImplementedError

    def compute_batch(self, samples: list[MetricInput]) -> list[dict]:
        results = []
        for sample in samples:
            try:
                results.append(self.compute(sample))
            except Exception as exc:  # one sample's failure is recorded on it, never fails the run
                results.append({"error": f"{type(exc).__name__}: {exc}"[:500]})
        return results

    def aggregate(self, values: list[dict]) -> dict:
        """Per model: the description of each summary field, and how many samples the metric failed on."""
        valid = [v for v in values if isinstance(v, dict) and "error" not in v]
        out = {field: describe([v.get(field) for v in valid]) for field in self.summary_fields}
        out["failed_samples"] = len(values) - len(valid)
        return out
