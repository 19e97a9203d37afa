"""Reads for model endpoints, starting from the tenant-scoped queryset; and the adapter for an endpoint."""

import os
from dataclasses import replace

from django.conf import settings

from accounts.models import Project
from codequal.exceptions import ApplicationError

from .backends import EndpointConfig, GenerationBackend, GenerationOptions, RetryPolicy, Timeouts, create_backend
from .crypto import decrypt_secret
from .models import ModelEndpoint
from .urlguard import UrlPolicy


def model_endpoint_list(*, user, project: Project | None = None, verb: str = "view"):
    qs = ModelEndpoint.objects.for_user(user, verb).select_related("project__organization")
    if project is not None:
        qs = qs.filter(project=project)
    return qs


def model_endpoint_get(*, user, project: Project, name_or_id: str, verb: str = "view") -> ModelEndpoint:
    """An endpoint of ``project`` by name (or numeric id); a clear error when the user cannot see it."""
    qs = model_endpoint_list(user=user, project=project, verb=verb)
    endpoint = qs.filter(name=name_or_id).first()
    if endpoint is None and str(name_or_id).isdigit():
        endpoint = qs.filter(pk=int(name_or_id)).first()
    if endpoint is None:
        raise ApplicationError(f"No model endpoint {name_or_id!r} in {project}.", status_code=404)
    return endpoint


def endpoint_api_key(endpoint: ModelEndpoint) -> str:
    """The plain key, for the adapter only. An environment reference must still be on the allowlist."""
    if endpoint.api_key_encrypted:
        return decrypt_secret(endpoint.api_key_encrypted)
    if endpoint.api_key_env:
        if endpoint.api_key_env not in settings.MODEL_API_KEY_ENV_ALLOWLIST:
            raise ApplicationError(
                f"The environment variable {endpoint.api_key_env} is not in MODEL_API_KEY_ENV_ALLOWLIST.",
                status_code=409,
            )
        return os.environ.get(endpoint.api_key_env, "")
    return ""


def endpoint_config(endpoint: ModelEndpoint, *, interactive: bool = False) -> EndpointConfig:
    """The adapter configuration; ``interactive`` (a person waiting: test, health) caps timeouts and retries."""
    config = EndpointConfig(
        backend=endpoint.backend,
        base_url=endpoint.base_url,
        model=endpoint.served_model,
        api_style=endpoint.api_style,
        stream=endpoint.stream,
        api_key=endpoint_api_key(endpoint),
        default_options=GenerationOptions.from_mapping(endpoint.generation_options),
        max_concurrency=endpoint.max_concurrency,
        limiter_key=f"endpoint:{endpoint.pk}",
        rate_limit_per_minute=endpoint.rate_limit_per_minute,
        rate_limit_redis_url=settings.REDIS_URL,
        timeouts=Timeouts(
            connect=settings.MODEL_CONNECT_TIMEOUT, read=settings.MODEL_READ_TIMEOUT, total=settings.MODEL_TOTAL_TIMEOUT
        ),
        retry=RetryPolicy(
            max_retries=settings.MODEL_MAX_RETRIES,
            backoff_base=settings.MODEL_RETRY_BACKOFF,
            backoff_max=settings.MODEL_RETRY_BACKOFF_MAX,
            max_retry_after=settings.MODEL_RETRY_AFTER_MAX,
        ),
        url_policy=UrlPolicy.from_settings(),
        input_cost_per_mtok=float(endpoint.input_cost_per_mtok) if endpoint.input_cost_per_mtok is not None else None,
        output_cost_per_mtok=(
            float(endpoint.output_cost_per_mtok) if endpoint.output_cost_per_mtok is not None else None
        ),
    )
    if not interactive:
        return config
    cap = settings.MODEL_TEST_TIMEOUT
    t, r = config.timeouts, config.retry
    return replace(
        config,
        timeouts=Timeouts(connect=min(t.connect, cap), read=min(t.read, cap), total=min(t.total, cap)),
        retry=replace(r, max_retries=min(r.max_retries, 1), max_retry_after=min(r.max_retry_after, cap / 2)),
    )


def endpoint_backend(endpoint: ModelEndpoint, *, interactive: bool = False) -> GenerationBackend:
    """The adapter for ``endpoint`` (what evaluations call to generate); close it when done."""
    return create_backend(endpoint_config(endpoint, interactive=interactive))
