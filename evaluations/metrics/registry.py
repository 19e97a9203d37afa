"""Metrics register under a name; plugins listed in CODEQUAL_METRIC_PLUGINS (dotted paths) register on import."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .base import BaseMetric, MetricError

_METRICS: dict[str, type[BaseMetric]] = {}


def register_metric(cls: type[BaseMetric]) -> type[BaseMetric]:
    """Class decorator; the class's ``name`` is its key."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name.")
    if cls.name in _METRICS and _METRICS[cls.name] is not cls:
        raise ValueError(f"Metric {cls.name!r} is registered twice ({_METRICS[cls.name].__name__}, {cls.__name__}).")
    _METRICS[cls.name] = cls
    return cls


def metric_names() -> list[str]:
    return sorted(_METRICS)


def metric_class(name: str) -> type[BaseMetric]:
    try:
        return _METRICS[name]
    except KeyError:
        raise MetricError(f"Unknown metric {name!r}; known: {', '.join(metric_names())}.") from None


def get_metric(name: str, **params) -> BaseMetric:
    return metric_class(name)(**params)


def load_plugins() -> None:
    """Import the built-ins and every class named in CODEQUAL_METRIC_PLUGINS (a missing one stops start-up)."""
    from . import builtin  # noqa: F401 - registers the built-in metrics

    for path in getattr(settings, "CODEQUAL_METRIC_PLUGINS", []):
        try:
            cls = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(f"CODEQUAL_METRIC_PLUGINS: cannot import {path!r}: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, BaseMetric)):
            raise ImproperlyConfigured(f"CODEQUAL_METRIC_PLUGINS: {path!r} is not a BaseMetric subclass.")
        register_metric(cls)
