"""Generation backends: one adapter interface (``GenerationBackend``), registered under a key.

Adapters take an ``EndpointConfig`` and answer with frozen dataclasses; transport failures come back as values
(``GenerationResult.error``, ``HealthReport.error``), never as exceptions.
"""

# Importing the adapters registers them.
from . import anthropic, gemini, hf, local, ollama, openai_compat  # noqa: F401
from .base import BackendFailure, GenerationBackend
from .registry import UnknownBackend, backend_class, create_backend, register_backend, registered_backends
from .types import (
    BackendError,
    Capabilities,
    ChatMessage,
    EndpointConfig,
    ErrorKind,
    FinishReason,
    GenerationOptions,
    GenerationRequest,
    GenerationResult,
    HealthReport,
    OptionsError,
    RetryPolicy,
    Sample,
    Timeouts,
    TokenLogprob,
)

__all__ = [
    "BackendError",
    "BackendFailure",
    "Capabilities",
    "ChatMessage",
    "EndpointConfig",
    "ErrorKind",
    "FinishReason",
    "GenerationBackend",
    "GenerationOptions",
    "GenerationRequest",
    "GenerationResult",
    "HealthReport",
    "OptionsError",
    "RetryPolicy",
    "Sample",
    "Timeouts",
    "TokenLogprob",
    "UnknownBackend",
    "backend_class",
    "create_backend",
    "register_backend",
    "registered_backends",
]
