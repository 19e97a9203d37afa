"""Built-in metrics. ``quality_metrics`` is computed by the execution step itself (overlapping the sandbox's work)
and stored flat in each sample's metrics; it is registered here so that it is listed and selectable like the rest."""

from ..quality import code_quality
from .base import BaseMetric, MetricInput
from .registry import register_metric


@register_metric
class QualityMetrics(BaseMetric):
    name = "quality_metrics"
    description = "radon: highest cyclomatic complexity, maintainability index (0-100), LOC/LLOC/SLOC, Halstead volume."
    value_range = (0, None)
    higher_is_better = None
    summary_fields = ("cyclomatic_complexity", "maintainability_index", "loc", "halstead_volume")
    inline = True  # computed in the execution step, not by the metrics step

    def compute(self, sample: MetricInput) -> dict:
        found = code_quality(sample.program)
        return found.as_dict() if found is not None else {}


from . import uncertainty  # noqa: E402, F401, I001 - registers "perplexity"
from . import security  # noqa: E402, F401 - registers "security"
from . import similarity  # noqa: E402, F401 - registers "ast_similarity"
from .codebleu import metric as _codebleu  # noqa: E402, F401 - registers the codebleu metric
