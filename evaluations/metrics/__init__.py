"""Per-sample metrics as plugins: a ``BaseMetric`` interface and a registry (built-ins and dotted-path plugins)."""

from .base import BaseMetric, MetricError, MetricInput
from .registry import get_metric, load_plugins, metric_class, metric_names, register_metric

__all__ = [
    "BaseMetric",
    "MetricError",
    "MetricInput",
    "get_metric",
    "load_plugins",
    "metric_class",
    "metric_names",
    "register_metric",
]
