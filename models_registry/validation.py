"""Checks and normalisation of model endpoint fields, shared by the services and the admin form."""

import re
from decimal import Decimal, InvalidOperation

from django.conf import settings

from codequal.exceptions import ApplicationError

from .backends import GenerationOptions, OptionsError, registered_backends
from .backends.registry import backend_class
from .choices import ApiStyle, Backend
from .crypto import encrypt_secret
from .models import ModelEndpoint
from .urlguard import UrlPolicy

_CAPABILITY_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
_ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")
MAX_RATE_LIMIT = 100_000
UNSET = object()
# Fields a caller may set; the secrets are handled apart (write-only).
EDITABLE = (
    "name",
    "backend",
    "model",
    "api_style",
    "base_url",
    "stream",
    "generation_options",
    "parameters",
    "context_window",
    "capabilities",
    "max_concurrency",
    "rate_limit_per_minute",
    "input_cost_per_mtok",
    "output_cost_per_mtok",
)


def default_base_url(backend: str) -> str:
    """The base URL an endpoint gets when none is given: OLLAMA_HOST or OPENAI_BASE_URL (their tools' variables)."""
    if backend == Backend.OLLAMA:
        host = settings.OLLAMA_HOST.strip()
        if "://" not in host:  # Ollama accepts "host:port" and "0.0.0.0" (listen everywhere) in OLLAMA_HOST
            host = f"http://{host}"
        return host.replace("://0.0.0.0", "://127.0.0.1")
    if backend == Backend.OPENAI:
        return settings.OPENAI_BASE_URL
    if backend == Backend.ANTHROPIC:
        return settings.ANTHROPIC_BASE_URL
    if backend == Backend.GEMINI:
        return settings.GEMINI_BASE_URL
    return ""


def default_api_style(backend: str) -> str:
    """Completion when the backend serves it (continuing the prompt is how base models are evaluated), else chat."""
    styles = backend_class(backend).capabilities().styles
    return ApiStyle.COMPLETION if ApiStyle.COMPLETION in styles else ApiStyle.CHAT


class FieldErrors(dict):
    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            first = next(iter(self.values()))[0]
            raise ApplicationError(f"Invalid model endpoint: {first}", extra={"fields": dict(self)})


def _int(value, field, errors, *, low, high):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        else:
            errors.add(field, "Must be a whole number.")
            return None
    if not low <= value <= high:
        errors.add(field, f"Must be between {low} and {high}.")
        return None
    return value


def _cost(value, field, errors):
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        errors.add(field, "Must be a number.")
        return None
    if not amount.is_finite() or amount < 0 or amount >= 10**6:
        errors.add(field, "Must be between 0 and 999999.")
        return None
    return amount.quantize(Decimal("0.000001"))


def _capabilities(value, errors):
    if value is None:
        return []
    if not isinstance(value, list | tuple) or len(value) > 32:
        errors.add("capabilities", "Must be a list of at most 32 names.")
        return []
    out = []
    for item in value:
        if not isinstance(item, str) or not _CAPABILITY_RE.match(item.strip().lower()):
            errors.add("capabilities", f"{item!r} is not a capability name (lowercase letters, digits, - _ .).")
            continue
        if item.strip().lower() not in out:
            out.append(item.strip().lower())
    return out


def validate_fields(values: dict, errors: FieldErrors) -> dict:
    """Check and normalise the editable fields present in ``values``."""
    clean = {}
    if "name" in values:
        name = str(values["name"] or "").strip()
        if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
            errors.add("name", "Required, at most 200 printable characters.")
        clean["name"] = name
    if "backend" in values:
        backend = values["backend"]
        if backend not in Backend.values or backend not in registered_backends():
            errors.add("backend", f"Unknown backend {backend!r}; one of {', '.join(Backend.values)}.")
        clean["backend"] = backend
    if "model" in values:
        model = str(values["model"] or "").strip()
        if len(model) > 300:
            errors.add("model", "At most 300 characters.")
        clean["model"] = model
    if "api_style" in values:
        if values["api_style"] not in ApiStyle.values:
            errors.add("api_style", f"One of {', '.join(ApiStyle.values)}.")
        clean["api_style"] = values["api_style"]
    if "stream" in values:
        if not isinstance(values["stream"], bool):
            errors.add("stream", "Must be true or false.")
        clean["stream"] = bool(values["stream"])
    if "base_url" in values:
        clean["base_url"] = str(values["base_url"] or "").strip()
    if "generation_options" in values:
        try:
            clean["generation_options"] = GenerationOptions.from_mapping(values["generation_options"]).to_dict()
        except OptionsError as exc:
            for option, problem in exc.errors.items():
                errors.add("generation_options", f"{option}: {problem}")
        except TypeError:
            errors.add("generation_options", "Must be an object.")
    if "parameters" in values:
        clean["parameters"] = _int(values["parameters"], "parameters", errors, low=1, high=10**15)
    if "context_window" in values:
        clean["context_window"] = _int(values["context_window"], "context_window", errors, low=1, high=100_000_000)
    if "capabilities" in values:
        clean["capabilities"] = _capabilities(values["capabilities"], errors)
    if "max_concurrency" in values:
        clean["max_concurrency"] = _int(values["max_concurrency"], "max_concurrency", errors, low=1, high=256) or 4
    if "rate_limit_per_minute" in values:
        value = None if values["rate_limit_per_minute"] == "" else values["rate_limit_per_minute"]
        clean["rate_limit_per_minute"] = _int(value, "rate_limit_per_minute", errors, low=1, high=MAX_RATE_LIMIT)
    for field in ("input_cost_per_mtok", "output_cost_per_mtok"):
        if field in values:
            clean[field] = _cost(values[field], field, errors)
    return clean


def check_combination(endpoint: ModelEndpoint, errors: FieldErrors) -> None:
    """Checks that need the final field values: style served by the backend, the URL policy."""
    if "backend" in errors:
        return
    capabilities = backend_class(endpoint.backend).capabilities()
    if endpoint.api_style not in capabilities.styles:
        served = ", ".join(sorted(capabilities.styles))
        errors.add("api_style", f"The {endpoint.backend} backend serves {served} requests.")
    if endpoint.stream and not capabilities.streaming:
        errors.add("stream", f"The {endpoint.backend} backend does not stream; its answers are read whole.")
    if not endpoint.base_url:
        endpoint.base_url = default_base_url(endpoint.backend)
    try:
        endpoint.base_url = backend_class(endpoint.backend).validate_location(
            endpoint.base_url, policy=UrlPolicy.from_settings()
        )
    except ValueError as exc:  # UrlRefused, or a local backend's path rules
        errors.add("base_url", str(exc))


def apply_key(endpoint: ModelEndpoint, api_key, api_key_env, errors: FieldErrors) -> None:
    if api_key not in (UNSET, None, "") and api_key_env not in (UNSET, None, ""):
        errors.add("api_key", "Give the key or the name of an environment variable holding it, not both.")
        return
    if api_key is not UNSET and api_key is not None:
        key = str(api_key).strip()
        if len(key) > 4096 or any(c.isspace() for c in key):
            errors.add("api_key", "At most 4096 characters, without spaces.")
            return
        endpoint.api_key_encrypted = encrypt_secret(key) if key else ""
        if key:
            endpoint.api_key_env = ""
    if api_key_env is not UNSET and api_key_env is not None:
        name = str(api_key_env).strip()
        if name and not _ENV_NAME_RE.match(name):
            errors.add("api_key_env", "An environment variable name, e.g. OPENAI_API_KEY.")
            return
        if name and name not in settings.MODEL_API_KEY_ENV_ALLOWLIST:
            allowed = ", ".join(settings.MODEL_API_KEY_ENV_ALLOWLIST) or "none"
            errors.add(
                "api_key_env",
                f"{name} is not in MODEL_API_KEY_ENV_ALLOWLIST (allowed: {allowed}); give the key itself instead.",
            )
            return
        endpoint.api_key_env = name
        if name:
            endpoint.api_key_encrypted = ""
