"""Anthropic's Messages API through the official ``anthropic`` client (chat style; n samples are n requests).

The client's own retries are off: retries, timeouts and the URL policy are the same as for every backend. API
version 2026-10-21 (what client 2.x sends) rejects ``temperature``/``top_p`` with a 400, so a request that sets them
is sent under version 2023-06-01, the version that still accepts them: a benchmark's sampling temperature changes
pass@k, so it is sent or the call fails with the server's reason, never dropped silently.

With the endpoint's ``stream`` flag the answer comes as server-sent events (message_start, content_block_delta,
message_delta, message_stop): the read timeout then applies between events and the total timeout to the attempt.
"""

import time
from dataclasses import dataclass

import httpx2

from .base import BackendFailure, GenerationBackend
from .http import ERROR_TEXT_LIMIT, failure_for_exception, failure_for_status, malformed
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
# The error types of an ``error`` event sent mid-stream (the HTTP status was 200 by then).
_STREAM_ERRORS = {
    "overloaded_error": ErrorKind.SERVER_ERROR,
    "api_error": ErrorKind.SERVER_ERROR,
    "timeout_error": ErrorKind.TIMEOUT,
    "rate_limit_error": ErrorKind.RATE_LIMITED,
    "authentication_error": ErrorKind.AUTHENTICATION,
    "permission_error": ErrorKind.AUTHENTICATION,
    "not_found_error": ErrorKind.NOT_FOUND,
    "invalid_request_error": ErrorKind.CLIENT_ERROR,
    "request_too_large": ErrorKind.CLIENT_ERROR,
    "billing_error": ErrorKind.CLIENT_ERROR,
}


@dataclass(frozen=True)
class _Answer:
    """What one messages request gave, whether read whole or from the stream."""

    text: str
    stop_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None


def _anthropic():
    try:
        import anthropic
    except ImportError as exc:
        raise BackendFailure(ErrorKind.MISSING_DEPENDENCY, INSTALL_HINT) from exc
    return anthropic


def _finish(value) -> FinishReason:
    return FinishReason.UNKNOWN if value is None else _FINISH.get(value, FinishReason.OTHER)


def _count(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _stream_error(exc) -> BackendFailure:
    """An ``error`` event in the stream: retried like the status it stands for (overloaded_error like a 529)."""
    kind = getattr(exc, "type", None) or "unknown_error"
    said = str(getattr(exc, "api_message", None) or kind)[:ERROR_TEXT_LIMIT]
    return BackendFailure(
        _STREAM_ERRORS.get(kind, ErrorKind.SERVER_ERROR), f"The stream broke off with an error event ({kind}): {said}"
    )


@register_backend("anthropic")
class AnthropicBackend(GenerationBackend):
    @classmethod
    def capabilities(cls) -> Capabilities:
        return Capabilities(styles=frozenset({"chat"}), logprobs=False, native_n=False, streaming=True, seed=False)

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
        if self.config.stream:
            args["stream"] = True
        return args

    def _generate(self, request: GenerationRequest, options: GenerationOptions):
        client = self._client()
        args = self._arguments(request, options)
        for index in range(request.n):
            started = time.monotonic()
            answer = self.attempt(lambda: self._call(client, args), what="messages")
            yield self._sample(index, answer, started)

    def _call(self, client, args: dict) -> _Answer:
        anthropic = _anthropic()
        try:
            if args.get("stream"):
                return self._read_stream(client.messages.create(**args))
            return self._read_message(client.messages.create(**args))
        except anthropic.APIStatusError as exc:
            if exc.status_code < 400:  # an ``error`` event after the 200 that started the stream
                raise _stream_error(exc) from exc
            raise failure_for_status(exc.status_code, exc.response.headers, exc.response.content) from exc
        except anthropic.APIConnectionError as exc:  # APITimeoutError included; the cause says which timeout
            raise failure_for_exception(exc.__cause__ or httpx2.ReadTimeout("timeout"), self.config) from exc
        except httpx2.HTTPError as exc:  # raised while a stream is read: a stall, a dropped connection
            raise failure_for_exception(exc, self.config) from exc
        except (anthropic.APIResponseValidationError, ValueError, TypeError, AttributeError) as exc:
            raise malformed("Anthropic message" + (" stream" if args.get("stream") else "")) from exc

    @staticmethod
    def _read_message(message) -> _Answer:
        if getattr(message, "type", None) != "message" or not isinstance(message.content, list):
            raise TypeError("not a message")
        text = "".join(block.text for block in message.content if getattr(block, "type", None) == "text")
        if not isinstance(text, str):
            raise TypeError("a text block has no text")
        usage = message.usage
        return _Answer(text, message.stop_reason, _count(usage.input_tokens), _count(usage.output_tokens))

    def _read_stream(self, stream) -> _Answer:
        deadline = self.deadline()
        text: list[str] = []
        stop_reason = prompt_tokens = completion_tokens = None
        seen: set[str] = set()
        try:
            for event in stream:
                self.check_deadline(deadline)
                seen.add(event.type)
                if event.type == "message_start":
                    usage = event.message.usage
                    prompt_tokens, completion_tokens = _count(usage.input_tokens), _count(usage.output_tokens)
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    if not isinstance(event.delta.text, str):
                        raise TypeError("a text delta has no text")
                    text.append(event.delta.text)
                elif event.type == "message_delta":
                    stop_reason = event.delta.stop_reason
                    # output_tokens is the running total; input_tokens, when sent here, is the final count too.
                    completion_tokens = _count(event.usage.output_tokens)
                    if _count(getattr(event.usage, "input_tokens", None)) is not None:
                        prompt_tokens = event.usage.input_tokens
                elif event.type == "message_stop":
                    break
        finally:
            stream.close()
        if not {"message_start", "message_stop"} <= seen:
            raise malformed("Anthropic message stream (it ended before message_stop)")
        return _Answer("".join(text), stop_reason, prompt_tokens, completion_tokens)

    def _sample(self, index: int, answer: _Answer, started: float) -> Sample:
        return Sample(
            index=index,
            text=answer.text,
            finish_reason=_finish(answer.stop_reason),
            latency_ms=round((time.monotonic() - started) * 1000, 1),
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            cost_usd=self.config.cost(answer.prompt_tokens, answer.completion_tokens),
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
