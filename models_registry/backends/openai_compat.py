"""OpenAI-compatible servers (OpenAI, vLLM, llama.cpp server, LM Studio, TGI) through the official ``openai`` client.

Completions and chat completions, n > 1 in one request, logprobs, SSE streaming. The client's own retries are off:
retries, timeouts and the URL policy are the same as for every backend (``GenerationBackend.attempt``).
"""

import json
import time

import httpx2

from .base import BackendFailure, GenerationBackend
from .http import failure_for_exception, failure_for_status, malformed
from .registry import register_backend
from .types import Capabilities, ErrorKind, FinishReason, GenerationOptions, GenerationRequest, Sample, TokenLogprob

INSTALL_HINT = (
    'The openai backend needs the official client: pip install "codequalbench[backends]" (or: pip install openai).'
)
# vLLM's documented placeholder for servers started without --api-key; the client refuses an empty key.
NO_KEY = "EMPTY"
_FINISH = {"stop": FinishReason.STOP, "length": FinishReason.LENGTH, "content_filter": FinishReason.CONTENT_FILTER}


def _openai():
    try:
        import openai
    except ImportError as exc:
        raise BackendFailure(ErrorKind.MISSING_DEPENDENCY, INSTALL_HINT) from exc
    return openai


def _finish(value) -> FinishReason:
    if value is None:
        return FinishReason.UNKNOWN
    return _FINISH.get(value, FinishReason.OTHER)


@register_backend("openai")
class OpenAIBackend(GenerationBackend):
    @classmethod
    def capabilities(cls) -> Capabilities:
        return Capabilities(
            styles=frozenset({"completion", "chat"}), logprobs=True, native_n=True, streaming=True, seed=True
        )

    def _client(self):
        return self.shared_sdk_client(_openai().OpenAI, no_key=NO_KEY)

    # --- generation ---------------------------------------------------------------------------------------------
    def _arguments(self, request: GenerationRequest, options: GenerationOptions) -> dict:
        chat = self.config.api_style == "chat"
        args: dict = {"model": self.config.model, "n": request.n}
        for name in ("temperature", "top_p", "max_tokens", "seed"):
            if getattr(options, name) is not None:
                args[name] = getattr(options, name)
        if options.stop:
            args["stop"] = list(options.stop)
        if chat:
            args["messages"] = [{"role": m.role, "content": m.content} for m in request.chat_messages()]
            if options.logprobs:
                args["logprobs"] = True
                if options.top_logprobs:
                    args["top_logprobs"] = options.top_logprobs
        else:
            args["prompt"] = request.prompt
            if options.logprobs:
                args["logprobs"] = max(1, options.top_logprobs or 0)
        if self.config.stream:
            args["stream"] = True
            args["stream_options"] = {"include_usage": True}
        return args

    def _generate(self, request: GenerationRequest, options: GenerationOptions):
        client = self._client()
        chat = self.config.api_style == "chat"
        create = client.chat.completions.create if chat else client.completions.create
        args = self._arguments(request, options)
        started = time.monotonic()
        choices, usage = self.attempt(lambda: self._call(create, args), what="chat" if chat else "completion")
        latency = round((time.monotonic() - started) * 1000, 1)
        if len(choices) != request.n:
            raise malformed(f"response ({len(choices)} choices for n={request.n})")
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        if usage:
            self.report_usage(prompt_tokens, completion_tokens)
        for index in sorted(choices):
            text, finish, logprobs = choices[index]
            own_tokens = completion_tokens if request.n == 1 else (len(logprobs) if logprobs else None)
            yield Sample(
                index=index,
                text=text,
                finish_reason=_finish(finish),
                latency_ms=latency,
                prompt_tokens=prompt_tokens if request.n == 1 else None,
                completion_tokens=own_tokens,
                logprobs=tuple(logprobs) if options.logprobs and logprobs is not None else None,
                cost_usd=self.config.cost(prompt_tokens, completion_tokens) if request.n == 1 else None,
            )

    def _call(self, create, args: dict):
        """One request; returns ({index: (text, finish_reason, logprobs)}, usage)."""
        openai = _openai()
        try:
            if args.get("stream"):
                return self._read_stream(create(**args))
            response = create(**args)
            return self._read_response(response)
        except openai.APIStatusError as exc:
            raise failure_for_status(exc.status_code, exc.response.headers, exc.response.content) from exc
        except openai.APIConnectionError as exc:  # APITimeoutError included; the cause says which timeout
            raise failure_for_exception(exc.__cause__ or httpx2.ReadTimeout("timeout"), self.config) from exc
        except httpx2.HTTPError as exc:  # raised while a stream is read
            raise failure_for_exception(exc, self.config) from exc
        except (openai.APIResponseValidationError, ValueError, TypeError, AttributeError, KeyError) as exc:
            raise malformed("OpenAI-compatible response") from exc

    def _read_response(self, response) -> tuple[dict, dict]:
        if isinstance(response, str | bytes) or not hasattr(response, "choices"):
            raise malformed("OpenAI-compatible JSON response")
        chat = self.config.api_style == "chat"
        choices = {}
        for choice in response.choices:
            text = choice.message.content if chat else choice.text
            if text is None and not chat:
                raise malformed("completion (a choice has no text)")
            choices[choice.index] = (text or "", choice.finish_reason, self._logprobs(choice.logprobs))
        usage = response.usage.model_dump() if response.usage is not None else {}
        return choices, usage

    def _read_stream(self, stream) -> tuple[dict, dict]:
        chat = self.config.api_style == "chat"
        deadline = self.deadline()
        texts: dict[int, list[str]] = {}
        finish: dict[int, str | None] = {}
        logprobs: dict[int, list | None] = {}
        usage: dict = {}
        try:
            for chunk in stream:
                self.check_deadline(deadline)
                if getattr(chunk, "usage", None) is not None:
                    usage = chunk.usage.model_dump()
                for choice in chunk.choices or ():
                    piece = (choice.delta.content if chat else choice.text) or ""
                    texts.setdefault(choice.index, []).append(piece)
                    if choice.finish_reason is not None:
                        finish[choice.index] = choice.finish_reason
                    more = self._logprobs(choice.logprobs)
                    if more is not None:
                        logprobs[choice.index] = [*(logprobs.get(choice.index) or []), *more]
        finally:
            stream.close()
        return {i: ("".join(t), finish.get(i), logprobs.get(i)) for i, t in texts.items()}, usage

    def _logprobs(self, data) -> list[TokenLogprob] | None:
        if data is None:
            return None
        if self.config.api_style == "chat":
            content = data.content or []
            return [TokenLogprob(token=str(t.token), logprob=float(t.logprob)) for t in content]
        tokens, values = data.tokens or [], data.token_logprobs or []
        if len(tokens) != len(values):
            raise malformed("logprobs (tokens and values differ in length)")
        return [TokenLogprob(token=str(t), logprob=float(v)) for t, v in zip(tokens, values, strict=True)]

    # --- health -------------------------------------------------------------------------------------------------
    def _health(self) -> tuple[str, tuple[str, ...]]:
        openai = _openai()
        client = self._client()

        def call():
            try:
                return tuple(m.id for m in client.models.list().data)
            except openai.NotFoundError:
                return None
            except openai.APIStatusError as exc:
                raise failure_for_status(exc.status_code, exc.response.headers, exc.response.content) from exc
            except openai.APIConnectionError as exc:
                raise failure_for_exception(exc.__cause__ or httpx2.ReadTimeout("timeout"), self.config) from exc
            except (
                openai.APIResponseValidationError,
                ValueError,
                TypeError,
                AttributeError,
                json.JSONDecodeError,
            ) as e:
                raise malformed("model list") from e

        models = self.attempt(call, what="models")
        if models is None:
            return "The server answers (it does not list its models).", ()
        if self.config.model not in models:
            shown = ", ".join(models[:10]) or "none"
            raise BackendFailure(
                ErrorKind.NOT_FOUND, f"The server does not serve {self.config.model!r} (it serves: {shown})."
            )
        return f"The server serves {self.config.model}.", models
