from models_registry.backends import EndpointConfig, RetryPolicy, Timeouts, create_backend
from models_registry.urlguard import UrlPolicy

FAST_RETRY = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.05, max_retry_after=5.0)


def backend_for(server, backend: str, *, model: str | None = None, **overrides):
    """An adapter for a local fake server, configured as the registry would configure it."""
    base = server.url + ("/v1" if backend == "openai" else "")
    values = {
        "backend": backend,
        "base_url": base,
        "model": model or server.models[0],
        "api_key": getattr(server, "api_key", ""),
        "timeouts": Timeouts(connect=2.0, read=0.5, total=10.0),
        "retry": FAST_RETRY,
        "url_policy": UrlPolicy(allow_loopback=True, allow_private=False),
        **overrides,
    }
    return create_backend(EndpointConfig(**values))
