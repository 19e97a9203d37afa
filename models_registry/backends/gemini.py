"""Gemini's generateContent through the official ``google-genai`` client (chat style).

n samples go out as ``candidateCount`` (at most 8 a request); a model that refuses several candidates gets one
request per sample from then on. The client's own retries are off and its HTTP client is ours (timeouts, no
redirects): retries, timeouts and the URL policy are the same as for every backend.

With the endpoint's ``stream`` flag the answer comes from ``:streamGenerateContent?alt=sse``, chunk by chunk, and is
put together into the response a whole answer would have been: the read timeout then applies between chunks, the
total timeout to the attempt.
"""

import json
import time

import httpx2
from httpx2 import USE_CLIENT_DEFAULT

from .base import BackendFailure, GenerationBackend
from .http import error_text, failure_for_exception, failure_for_status, make_client, malformed
from .registry import register_backend
from .types import Capabilities, ErrorKind, FinishReason, GenerationOptions, GenerationRequest, Sample, TokenLogprob

INSTALL_HINT = (
    'The gemini backend needs the official client: pip install "codequalbench[backends]" '
    "(or: pip install google-genai)."
)
API_VERSION = "v1beta"  # the Gemini API's version that serves every current model (and candidateCount, logprobs)
MAX_CANDIDATES = 8  # the most candidateCount the Gemini API accepts
NO_KEY = "none"  # the client refuses to start without a key, and would otherwise read one from the environment
_FINISH = {
    "STOP": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    "SAFETY": FinishReason.CONTENT_FILTER,
    "RECITATION": FinishReason.CONTENT_FILTER,
    "BLOCKLIST": FinishReason.CONTENT_FILTER,
    "PROHIBITED_CONTENT": FinishReason.CONTENT_FILTER,
    "SPII": FinishReason.CONTENT_FILTER,
}


def _genai():
    try:
        from google import genai
        from google.genai import errors, types
    except ImportError as exc:
        raise BackendFailure(ErrorKind.MISSING_DEPENDENCY, INSTALL_HINT) from exc
    return genai, errors, types


class _KeepTimeouts(httpx2.Client):
    # The SDK passes timeout=None ("no timeout at all" to httpx2) when no per-call timeout is set: keep ours.
    def build_request(self, *args, timeout=USE_CLIENT_DEFAULT, **kwargs):
        return super().build_request(*args, timeout=USE_CLIENT_DEFAULT if timeout is None else timeout, **kwargs)


def _finish(value) -> FinishReason:
    if value is None:
        return FinishReason.UNKNOWN
    return _FINISH.get(getattr(value, "value", str(value)), FinishReason.OTHER)


def _retry_delay(body) -> float | None:
    """Gemini says how long to wait in the error body (google.rpc.RetryInfo), seldom in a Retry-After header."""
    try:
        details = json.loads(body)["error"]["details"]
        delay = next(d["retryDelay"] for d in details if str(d.get("@type", "")).endswith("google.rpc.RetryInfo"))
        return max(0.0, float(str(delay).removesuffix("s")))
    except (ValueError, TypeError, KeyError, StopIteration, AttributeError):
        return None


def _key_refused(body) -> bool:
    # Gemini answers a wrong key with 400 INVALID_ARGUMENT; the reason in its details says it is the key.
    try:
        return any(d.get("reason") == "API_KEY_INVALID" for d in json.loads(body)["error"]["details"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return False


def _error_body(exc) -> bytes:
    try:
        return exc.response.content
    except (AttributeError, httpx2.ResponseNotRead):  # an error chunk mid-stream: the SDK kept only its JSON
        return json.dumps(exc.details if isinstance(exc.details, dict) else {}).encode()


def _status_failure(exc) -> BackendFailure:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    body = _error_body(exc)
    if not isinstance(response, httpx2.Response):  # the stream had started with 200; the error object has a code
        failure = failure_for_status(exc.code or 500, {}, body)
        failure.message = f"The stream broke off with an error: {failure.message}"
        failure.retry_after = _retry_delay(body) if failure.retryable else None
        return failure
    if _key_refused(body):
        said = f"The server answered HTTP {exc.code}: {error_text(body)}"
        return BackendFailure(ErrorKind.AUTHENTICATION, f"{said} Check the endpoint's API key.", status_code=exc.code)
    failure = failure_for_status(exc.code or 500, headers, body)
    if failure.retry_after is None and failure.retryable:
        failure.retry_after = _retry_delay(body)
    return failure


def _refuses_candidates(failure: BackendFailure) -> bool:
    return failure.status_code == 400 and "candidate" in failure.message.lower()


@register_backend("gemini")
class GeminiBackend(GenerationBackend):
    @classmethod
    def capabilities(cls) -> Capabilities:
        return Capabilities(styles=frozenset({"chat"}), logprobs=True, native_n=True, streaming=True, seed=True)

    def __init__(self, config):
        super().__init__(config)
        self._one_candidate = False  # learnt from the server: this model refuses candidateCount > 1

    def _client(self):
        genai, _, types = _genai()

        def build():
            http = make_client(self.config, client_class=_KeepTimeouts)
            options = types.HttpOptions(
                base_url=self.config.base_url,
                api_version=API_VERSION,
                retry_options=types.HttpRetryOptions(attempts=1),  # retries are ours
                httpx_client=http,
            )
            return genai.Client(vertexai=False, api_key=self.config.api_key or NO_KEY, http_options=options)

        return self.shared_client(build)

    # --- generation ---------------------------------------------------------------------------------------------
    def _request(self, request: GenerationRequest, options: GenerationOptions, count: int) -> dict:
        _, _, types = _genai()
        messages = request.chat_messages()
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        contents = [
            types.Content(role="model" if m.role == "assistant" else "user", parts=[types.Part(text=m.content)])
            for m in messages
            if m.role != "system"
        ]
        config = {
            "candidate_count": count,
            "temperature": options.temperature,
            "top_p": options.top_p,
            "max_output_tokens": options.max_tokens,
            "stop_sequences": list(options.stop) if options.stop else None,
            "seed": options.seed,
            "system_instruction": system or None,
        }
        if options.logprobs:
            config["response_logprobs"] = True
            if options.top_logprobs:
                config["logprobs"] = options.top_logprobs
        config = {k: v for k, v in config.items() if v is not None}
        # No tools are sent, so automatic function calling has nothing to do (and would log a line per call).
        afc = types.AutomaticFunctionCallingConfig(disable=True)
        config = types.GenerateContentConfig(**config, automatic_function_calling=afc)
        return {"model": self.config.model, "contents": contents, "config": config}

    def _generate(self, request: GenerationRequest, options: GenerationOptions):
        client = self._client()
        index, usage = 0, [0, 0]
        while index < request.n:
            count = 1 if self._one_candidate else min(MAX_CANDIDATES, request.n - index)
            sample_options = options.for_sample(index) if count == 1 else options
            args = self._request(request, sample_options, count)
            started = time.monotonic()
            try:
                response = self.attempt(lambda args=args: self._call(client, args), what="generateContent")
            except BackendFailure as failure:
                if count == 1 or not _refuses_candidates(failure):
                    raise
                self._one_candidate = True
                continue
            samples = self._samples(index, count, response, started, bool(options.logprobs), usage)
            self.report_usage(usage[0], usage[1])
            yield from samples
            index += count

    def _call(self, client, args: dict):
        _, errors, _ = _genai()
        try:
            if self.config.stream:
                return self._read_stream(client.models.generate_content_stream(**args))
            return client.models.generate_content(**args)
        except errors.APIError as exc:
            raise _status_failure(exc) from exc
        except httpx2.HTTPError as exc:
            raise failure_for_exception(exc, self.config) from exc
        except (ValueError, TypeError, AttributeError, KeyError) as exc:  # pydantic's ValidationError included
            raise malformed("Gemini generateContent response") from exc

    def _read_stream(self, chunks):
        """The chunks put together: each candidate's text and logprobs joined, the last usage and finish reasons."""
        _, _, types = _genai()
        deadline = self.deadline()
        texts: dict[int, list[str]] = {}
        finish: dict[int, object] = {}
        logprobs: dict[int, list] = {}
        usage = feedback = None
        try:
            for chunk in chunks:
                self.check_deadline(deadline)
                usage = chunk.usage_metadata or usage
                feedback = chunk.prompt_feedback or feedback
                for candidate in chunk.candidates or ():
                    index = candidate.index or 0
                    parts = (candidate.content.parts or []) if candidate.content is not None else []
                    texts.setdefault(index, []).extend(p.text for p in parts if p.text and not p.thought)
                    if candidate.finish_reason is not None:
                        finish[index] = candidate.finish_reason
                    if candidate.logprobs_result is not None:
                        logprobs.setdefault(index, []).extend(candidate.logprobs_result.chosen_candidates or [])
        finally:
            chunks.close()
        blocked = not texts and feedback is not None and feedback.block_reason
        if not blocked and (not texts or texts.keys() - finish.keys()):
            raise malformed("Gemini stream (it ended before a finishReason for every candidate)")
        candidates = [
            types.Candidate(
                index=index,
                content=types.Content(role="model", parts=[types.Part(text="".join(pieces))]),
                finish_reason=finish[index],
                logprobs_result=types.LogprobsResult(chosen_candidates=logprobs[index]) if index in logprobs else None,
            )
            for index, pieces in sorted(texts.items())
        ]
        return types.GenerateContentResponse(candidates=candidates, usage_metadata=usage, prompt_feedback=feedback)

    def _samples(self, first: int, count: int, response, started: float, want_logprobs: bool, usage) -> list[Sample]:
        latency = round((time.monotonic() - started) * 1000, 1)
        meta = response.usage_metadata
        prompt_tokens = getattr(meta, "prompt_token_count", None)
        completion_tokens = getattr(meta, "candidates_token_count", None)
        usage[0] = None if usage[0] is None or prompt_tokens is None else usage[0] + prompt_tokens
        usage[1] = None if usage[1] is None or completion_tokens is None else usage[1] + completion_tokens
        candidates = sorted(response.candidates or [], key=lambda c: c.index or 0)
        if not candidates and response.prompt_feedback is not None and response.prompt_feedback.block_reason:
            # The prompt itself was blocked: a model outcome (no text), not a transport failure.
            return [
                Sample(first + i, "", FinishReason.CONTENT_FILTER, latency, prompt_tokens if count == 1 else None, 0)
                for i in range(count)
            ]
        if len(candidates) != count:
            raise malformed(f"Gemini response ({len(candidates)} candidates for candidateCount={count})")
        out = []
        for offset, candidate in enumerate(candidates):
            parts = (candidate.content.parts or []) if candidate.content is not None else []
            text = "".join(p.text for p in parts if p.text and not p.thought)  # thought summaries are not the answer
            logprobs = None
            if want_logprobs and candidate.logprobs_result is not None:
                chosen = candidate.logprobs_result.chosen_candidates or []
                logprobs = tuple(TokenLogprob(str(c.token), float(c.log_probability)) for c in chosen)
            own = completion_tokens if count == 1 else candidate.token_count or (len(logprobs) if logprobs else None)
            out.append(
                Sample(
                    index=first + offset,
                    text=text,
                    finish_reason=_finish(candidate.finish_reason),
                    latency_ms=latency,
                    prompt_tokens=prompt_tokens if count == 1 else None,
                    completion_tokens=own,
                    logprobs=logprobs,
                    cost_usd=self.config.cost(prompt_tokens, completion_tokens) if count == 1 else None,
                )
            )
        return out

    # --- health -------------------------------------------------------------------------------------------------
    def _health(self) -> tuple[str, tuple[str, ...]]:
        _, errors, _ = _genai()
        client = self._client()

        def call():
            try:
                return client.models.get(model=self.config.model)
            except errors.APIError as exc:
                raise _status_failure(exc) from exc
            except httpx2.HTTPError as exc:
                raise failure_for_exception(exc, self.config) from exc
            except (ValueError, TypeError, AttributeError) as exc:
                raise malformed("Gemini model") from exc

        model = self.attempt(call, what="models.get")
        name = str(getattr(model, "name", "") or self.config.model)
        return f"Gemini serves {self.config.model}.", (name.removeprefix("models/"),)
