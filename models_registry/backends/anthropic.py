"""Anthropic's Messages API through the official ``anthropic`` client (chat style; n samples are n requests).

The client's own retries are off: retries, timeouts and the URL policy are the same as for every backend. API
version 2026-10-21 (what client 2.x sends) rejects ``temperature``/``top_p`` with a 400, so a request that sets them
is sent under version 2023-06-01, the version that still accepts them: a benchmark's sampling temperature changes
pass@k, so it is sent or the call fails with the server's reason, never dropped silently.
"""

import time

import httpx2

from .base import BackendFailure, GenerationBackend
from .http import failure_for_exception, failure_for_status, malformed
from .registry import register_backend
from .types import Capabilities, ErrorKind, FinishReason, GenerationOptions, GenerationRequest, Sample

INSTALL_HINT = (
    'The anthropic backend needs the official client: pip install "codequalbench[backends]" '
    "(or: pip install anthropic)."
)
SAMPLING_API_VERSION = "2023-06-01"
# The Messages API requires max_tokens; enough for a function body and some explanation around it.
DEFAULT_MAX_TOKENS = 1024
NO_KEY = "none"  # keyless Anthropic-compatible proxies; the client would otherwise look for keys on its own
_FINISH = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "refusal": FinishReason.CONTENT_FILTER,
}


def _anthropic():
    try:
        import anthropic
    except ImportError as exc:
        raise BackendFailure(ErrorKind.MISSING_DEPENDENCY, INSTALL_HINT) from exc
    return anthropic


def _finish(value) -> FinishReason:
    return FinishReason.UNKNOWN if value is None else _FINISH.get(value, FinishReason.OTHER)


@register_backend("anthropic")
class AnthropicBackend(GenerationBackend):
    @classmethod
    def capabilities(cls) -> Capabilities:
        return Capabilities(styles=frozenset({"chat"}), logprobs=False, native_n=False, streaming=False, seed=False)

    def _client(self):
        return self.shared_sdk_client(_anthropic().Anthropic, no_key=NO_KEY)

    def _arguments(self, request: GenerationRequest, options: GenerationOptions) -> dict:
        messages = request.chat_messages()
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        args: dict = {
            "model": self.config.model,
            "max_tokens": options.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": [{"role": m.role, "content": m.content} for m in messages if m.role != "system"],
        }
        if system:
            args["system"] = system
        if options.stop:
            args["stop_sequences"] = list(options.stop)
        sampling = {k: getattr(options, k) for k in ("temperature", "top_p") if getattr(options, k) is not None}
        if sampling:
            args["extra_body"] = sampling
            args["extra_headers"] = {"anthropic-version": SAMPLING_API_VERSION}
        return args

    def _generate(self, request: GenerationRequest, options: GenerationOptions):
        client = self._client()
        args = self._arguments(request, options)
        for index in range(request.n):
            started = time.monotonic()
            message = self.attempt(lambda: self._call(client, args), what="messages")
            yield self._sample(index, message, started)

    def _call(self, client, args: dict):
        anthropic = _anthropic()
        try:
            return client.messages.create(**args)
        except anthropic.APIStatusError as exc:
            raise failure_for_status(exc.status_code, exc.response.headers, exc.response.content) from exc
        except anthropic.APIConnectionError as exc:  # APITimeoutError included; the cause says which timeout
            raise failure_for_exception(exc.__cause__ or httpx2.ReadTimeout("timeout"), self.config) from exc
        except (anthropic.APIResponseValidationError, ValueError, TypeError) as exc:
            raise malformed("Anthropic message") from exc

    def _sample(self, index: int, message, started: float) -> Sample:
        try:
            if getattr(message, "type", None) != "message" or not isinstance(message.content, list):
                raise TypeError("not a message")
            text = "".join(block.text for block in message.content if getattr(block, "type", None) == "text")
            usage = message.usage
            prompt_tokens, completion_tokens = usage.input_tokens, usage.output_tokens
        except (AttributeError, TypeError) as exc:
            raise malformed("Anthropic message") from exc
        if not isinstance(text, str):
            raise malformed("Anthropic message (a text block has no text)")
        prompt_tokens = prompt_tokens if isinstance(prompt_tokens, int) else None
        completion_tokens = completion_tokens if isinstance(completion_tokens, int) else None
        return Sample(
            index=index,
            text=text,
            finish_reason=_finish(message.stop_reason),
            latency_ms=round((time.monotonic() - started) * 1000, 1),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=self.config.cost(prompt_tokens, completion_tokens),
        )

    def _health(self) -> tuple[str, tuple[str, ...]]:
        anthropic = _anthropic()
        client = self._client()

        def call():
            try:
                return tuple(m.id for m in client.models.list(limit=1000))
            except anthropic.APIStatusError as exc:
                raise failure_for_status(exc.status_code, exc.response.headers, exc.response.content) from exc
            except anthropic.APIConnectionError as exc:
                raise failure_for_exception(exc.__cause__ or httpx2.ReadTimeout("timeout"), self.config) from exc
            except (anthropic.APIResponseValidationError, ValueError, TypeError, AttributeError) as exc:
                raise malformed("Anthropic model list") from exc

        models = self.attempt(call, what="models")
        # An alias ("claude-sonnet-4-5") names the newest dated id ("claude-sonnet-4-5-20250929").
        if self.config.model not in models and not any(m.startswith(f"{self.config.model}-") for m in models):
            shown = ", ".join(models[:10]) or "none"
            raise BackendFailure(
                ErrorKind.NOT_FOUND, f"Anthropic does not serve {self.config.model!r} (it serves: {shown})."
            )
        return f"Anthropic serves {self.config.model}.", models
