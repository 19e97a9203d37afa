"""Writes for model endpoints: keyword-only, validated, transactional. Callers pass objects from scoped selectors."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.choices import AuditAction
from accounts.models import Project
from accounts.selectors import project_user_can
from accounts.services import audit_record
from codequal.exceptions import ApplicationError, ConflictError

from .backends import GenerationOptions, GenerationRequest, HealthReport, OptionsError
from .choices import HealthStatus
from .crypto import KeyDecryptionError
from .models import ModelEndpoint
from .selectors import endpoint_backend
from .validation import (
    EDITABLE,
    UNSET,
    FieldErrors,
    apply_key,
    check_combination,
    default_api_style,
    validate_fields,
)

NAME_TAKEN = "A model endpoint with that name already exists in this project."
# Changing these makes the last health check meaningless.
_HEALTH_RELEVANT = {"backend", "model", "api_style", "base_url", "stream"}


def _ensure_can_register(actor, project: Project) -> None:
    if not project_user_can(user=actor, project=project, action="evaluate"):
        raise ApplicationError("Your role in this project does not allow registering model endpoints.", status_code=403)


def _save(endpoint: ModelEndpoint, **kwargs) -> ModelEndpoint:
    try:
        with transaction.atomic():
            endpoint.save(**kwargs)
    except IntegrityError as exc:
        raise ConflictError(NAME_TAKEN, extra={"fields": {"name": [endpoint.name]}}) from exc
    return endpoint


def model_endpoint_check(*, project: Project, values: dict, endpoint: ModelEndpoint | None = None) -> None:
    """Validate ``values`` as create (or update of ``endpoint``) would, without saving; raises ApplicationError."""
    values = dict(values)
    api_key, api_key_env = values.pop("api_key", UNSET), values.pop("api_key_env", UNSET)
    errors = FieldErrors()
    clean = validate_fields(values, errors)
    draft = ModelEndpoint(project=project) if endpoint is None else ModelEndpoint.objects.get(pk=endpoint.pk)
    for field, value in clean.items():
        setattr(draft, field, value)
    check_combination(draft, errors)
    apply_key(draft, api_key, api_key_env, errors)
    errors.raise_if_any()


@transaction.atomic
def model_endpoint_create(
    *, actor, project: Project, name: str, backend: str, api_key=None, api_key_env=None, **fields
) -> ModelEndpoint:
    """Register a model endpoint in ``project``; the API key is stored encrypted (or named as an env variable)."""
    _ensure_can_register(actor, project)
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise TypeError(f"model_endpoint_create() got unexpected fields {sorted(unknown)}")
    errors = FieldErrors()
    clean = validate_fields({"name": name, "backend": backend, **fields}, errors)
    endpoint = ModelEndpoint(project=project, created_by=actor if actor.is_authenticated else None)
    for field, value in clean.items():
        setattr(endpoint, field, value)
    if "api_style" not in clean and "backend" not in errors:
        endpoint.api_style = default_api_style(backend)
    check_combination(endpoint, errors)
    apply_key(endpoint, api_key, api_key_env, errors)
    errors.raise_if_any()
    if ModelEndpoint.objects.filter(project=project, name=endpoint.name).exists():
        raise ConflictError(NAME_TAKEN, extra={"fields": {"name": [endpoint.name]}})
    endpoint = _save(endpoint)
    audit_record(
        action=AuditAction.MODEL_ENDPOINT_CREATED,
        actor=actor,
        project=project,
        target=endpoint,
        data={"backend": endpoint.backend, "base_url": endpoint.base_url, "api_key": endpoint.api_key_source},
    )
    return endpoint


@transaction.atomic
def model_endpoint_update(*, actor, endpoint: ModelEndpoint, api_key=UNSET, api_key_env=UNSET, **fields):
    """Change the given fields. ``api_key``: a new key, or "" to remove it; omitted: unchanged."""
    _ensure_can_register(actor, endpoint.project)
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise TypeError(f"model_endpoint_update() got unexpected fields {sorted(unknown)}")
    endpoint = ModelEndpoint.objects.select_for_update().select_related("project").get(pk=endpoint.pk)
    before = {f: getattr(endpoint, f) for f in (*EDITABLE, "api_key_encrypted", "api_key_env")}
    errors = FieldErrors()
    for field, value in validate_fields(fields, errors).items():
        setattr(endpoint, field, value)
    check_combination(endpoint, errors)
    apply_key(endpoint, api_key, api_key_env, errors)
    errors.raise_if_any()
    changed = {f for f, old in before.items() if getattr(endpoint, f) != old}
    if not changed:
        return endpoint
    taken = ModelEndpoint.objects.filter(project=endpoint.project, name=endpoint.name).exclude(pk=endpoint.pk)
    if "name" in changed and taken.exists():
        raise ConflictError(NAME_TAKEN, extra={"fields": {"name": [endpoint.name]}})
    if changed & (_HEALTH_RELEVANT | {"api_key_encrypted", "api_key_env"}):
        endpoint.health_status, endpoint.health_error = HealthStatus.UNKNOWN, ""
        endpoint.health_checked_at = endpoint.health_latency_ms = None
    endpoint = _save(endpoint)
    # Which fields changed, never the key itself.
    names = sorted("api_key" if f == "api_key_encrypted" else f for f in changed)
    audit_record(
        action=AuditAction.MODEL_ENDPOINT_UPDATED,
        actor=actor,
        project=endpoint.project,
        target=endpoint,
        data={"changed": names},
    )
    return endpoint


@transaction.atomic
def model_endpoint_delete(*, actor, endpoint: ModelEndpoint) -> None:
    _ensure_can_register(actor, endpoint.project)
    audit_record(
        action=AuditAction.MODEL_ENDPOINT_DELETED,
        actor=actor,
        project=endpoint.project,
        target=endpoint,
        data={"name": endpoint.name, "backend": endpoint.backend},
    )
    endpoint.delete()


def _record_health(endpoint: ModelEndpoint, *, healthy: bool, error: str, latency_ms: float | None) -> None:
    # A plain UPDATE after the network call: no transaction or row lock is held while the model answers.
    values = {
        "health_status": HealthStatus.HEALTHY if healthy else HealthStatus.UNHEALTHY,
        "health_error": error[:2000],
        "health_checked_at": timezone.now(),
        "health_latency_ms": round(latency_ms) if latency_ms is not None else None,
    }
    ModelEndpoint.objects.filter(pk=endpoint.pk).update(**values)
    for field, value in values.items():
        setattr(endpoint, field, value)


def _backend_or_failure(endpoint: ModelEndpoint):
    try:
        return endpoint_backend(endpoint, interactive=True), ""
    except KeyDecryptionError as exc:
        return None, str(exc)
    except OptionsError as exc:
        return None, f"The endpoint's default generation options are invalid: {exc}"
    except ApplicationError as exc:
        return None, exc.message


def model_endpoint_check_health(*, actor, endpoint: ModelEndpoint) -> HealthReport:
    """Ask the server whether it serves the endpoint's model; records the outcome on the endpoint."""
    backend, problem = _backend_or_failure(endpoint)
    if backend is None:
        _record_health(endpoint, healthy=False, error=problem, latency_ms=None)
        return HealthReport(healthy=False, message=problem, latency_ms=0)
    with backend:
        report = backend.health()
    _record_health(
        endpoint, healthy=report.healthy, error="" if report.healthy else report.message, latency_ms=report.latency_ms
    )
    return report


@dataclass(frozen=True)
class EndpointTestResult:
    success: bool
    response: str
    latency_ms: float
    tokens_generated: int | None
    message: str
    error_kind: str = ""
    attempts: int = 0


def model_endpoint_test(*, actor, endpoint: ModelEndpoint, prompt: str, max_tokens: int = 64) -> EndpointTestResult:
    """Generate one short completion; failures are a message (``success`` false), never an exception."""
    backend, problem = _backend_or_failure(endpoint)
    if backend is None:
        _record_health(endpoint, healthy=False, error=problem, latency_ms=None)
        return EndpointTestResult(False, "", 0, None, problem, "configuration")
    if backend.capabilities().verbatim:
        # samples and reference answer benchmark tasks, not free prompts: their test is whether they can answer.
        with backend:
            report = backend.health()
        _record_health(
            endpoint,
            healthy=report.healthy,
            error="" if report.healthy else report.message,
            latency_ms=report.latency_ms,
        )
        kind = report.error.kind if report.error else ""
        return EndpointTestResult(report.healthy, report.message, report.latency_ms, None, report.message, kind, 1)
    with backend:
        result = backend.generate(GenerationRequest(prompt=prompt, options=GenerationOptions(max_tokens=max_tokens)))
    if not result.ok:
        _record_health(endpoint, healthy=False, error=result.error.message, latency_ms=result.latency_ms)
        return EndpointTestResult(
            False, "", result.latency_ms, None, result.error.message, result.error.kind, result.error.attempts
        )
    sample = result.samples[0]
    _record_health(endpoint, healthy=True, error="", latency_ms=result.latency_ms)
    return EndpointTestResult(
        True, sample.text, result.latency_ms, sample.completion_tokens, "The model answered.", "", result.attempts
    )


@dataclass(frozen=True)
class ImportSummary:
    created: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: tuple[str, ...]


_IMPORT_KEYS = {*EDITABLE, "api_key_env"} - {"name"}


@transaction.atomic
def model_registry_import(*, actor, project: Project, registry, update_existing: bool = False) -> ImportSummary:
    """Register every model of a registry mapping ``{name: {"backend": ..., ...}}``, all or nothing.

    Existing names are left alone (reported as unchanged) unless ``update_existing``.
    """
    _ensure_can_register(actor, project)
    if not isinstance(registry, dict) or not registry:
        raise ApplicationError('The registry must be a non-empty JSON object: {"model-name": {"backend": ...}}.')
    created, updated, unchanged = [], [], []
    for name, spec in registry.items():
        if not isinstance(spec, dict):
            raise ApplicationError(f"{name}: the entry must be an object.", extra={"model": name})
        unknown = set(spec) - _IMPORT_KEYS
        if unknown:
            raise ApplicationError(
                f"{name}: unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(_IMPORT_KEYS))}).",
                extra={"model": name},
            )
        existing = ModelEndpoint.objects.filter(project=project, name=str(name).strip()).first()
        try:
            if existing is None:
                spec = dict(spec)
                backend = spec.pop("backend", None)
                model_endpoint_create(actor=actor, project=project, name=name, backend=backend, **spec)
                created.append(name)
            elif update_existing:
                model_endpoint_update(actor=actor, endpoint=existing, **spec)
                updated.append(name)
            else:
                unchanged.append(name)
        except ApplicationError as exc:
            raise ApplicationError(f"{name}: {exc.message}", extra={"model": name, **exc.extra}) from exc
    return ImportSummary(tuple(created), tuple(updated), tuple(unchanged))
