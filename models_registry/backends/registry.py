"""Backends register under a key; the registry builds the adapter for an endpoint's configuration."""

from .types import EndpointConfig

_BACKENDS: dict[str, type] = {}


class UnknownBackend(KeyError):
    pass


def register_backend(key: str):
    """Class decorator: ``@register_backend("ollama")``."""

    def decorator(cls):
        if key in _BACKENDS and _BACKENDS[key] is not cls:
            raise ValueError(f"Backend {key!r} is registered twice ({_BACKENDS[key].__name__}, {cls.__name__}).")
        cls.key = key
        _BACKENDS[key] = cls
        return cls

    return decorator


def backend_class(key: str) -> type:
    try:
        return _BACKENDS[key]
    except KeyError:
        raise UnknownBackend(f"No backend {key!r}; known: {', '.join(sorted(_BACKENDS))}.") from None


def create_backend(config: EndpointConfig):
    return backend_class(config.backend)(config)


def registered_backends() -> list[str]:
    return sorted(_BACKENDS)
