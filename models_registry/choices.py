from django.db import models


class Backend(models.TextChoices):
    """Generation backends; each key is registered by an adapter in ``models_registry.backends``."""

    OLLAMA = "ollama", "Ollama"
    OPENAI = "openai", "OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic"
    GEMINI = "gemini", "Gemini"
    HF = "hf", "Local HuggingFace checkpoint"
    SAMPLES = "samples", "Pre-generated samples file"
    REFERENCE = "reference", "Reference solutions (harness self-check)"


class ApiStyle(models.TextChoices):
    """Whether prompts go to a completion endpoint (raw text continues) or a chat endpoint (messages)."""

    COMPLETION = "completion", "Completion"
    CHAT = "chat", "Chat"


class HealthStatus(models.TextChoices):
    UNKNOWN = "unknown", "Not checked yet"
    HEALTHY = "healthy", "Healthy"
    UNHEALTHY = "unhealthy", "Unhealthy"


class ApiKeySource(models.TextChoices):
    NONE = "none", "No key"
    STORED = "stored", "Stored encrypted"
    ENVIRONMENT = "env", "Environment variable"
