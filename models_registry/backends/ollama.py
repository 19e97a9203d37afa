"""Ollama's native API: /api/generate (completion style, raw prompt) and /api/chat, NDJSON streaming or not."""

import json
import time

import httpx2

from .base import BackendFailure, GenerationBackend
from .http import failure_for_exception, failure_for_status, make_client, malformed
from .registry import register_backend
from .types import Capabilities, ErrorKind, FinishReason, GenerationOptions, GenerationRequest, Sample, TokenLogprob

_FINISH = {"stop": FinishReason.STOP, "length": FinishReason.LENGTH}


def _options(options: GenerationOptions) -> dict:
    out = {}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("max_tokens", "num_predict")):
        if getattr(options, ours) is not None:
            out[theirs] = getattr(options, ours)
    if options.stop:
        out["stop"] = list(options.stop)
    if options.seed is not None:
        out["seed"] = options.seed
    return out


def _logprobs(entries) -> list[TokenLogprob]:
    if not isinstance(entries, list):
        raise malformed("Ollama logprobs list")
    return [TokenLogprob(token=str(e["token"]), logprob=float(e["logprob"])) for e in entries]


@register_backend("ollama")
class OllamaBackend(GenerationBackend):
    """An Ollama server; n samples are n requests (Ollama has no n), each with its own seed when one is set."""

    @classmethod
    def capabilities(cls) -> Capabilities:
        return Capabilities(
            styles=frozenset({"completion", "chat"}), logprobs=True, native_n=False, streaming=True, seed=True
        )

    def _client(self) -> httpx2.Client:
        # Ollama itself has no keys; a key is sent for servers behind an authenticating proxy.
        headers = {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}
        return self.shared_client(lambda: make_client(self.config, headers))

    def _generate(self, request: GenerationRequest, options: GenerationOptions):
        chat = self.config.api_style == "chat"
        for index in range(request.n):
            sample_options = options.for_sample(index)
            body = {"model": self.config.model, "stream": self.config.stream, "options": _options(sample_options)}
            if chat:
                body["messages"] = [{"role": m.role, "content": m.content} for m in request.chat_messages()]
            else:
                body["prompt"] = request.prompt
                body["raw"] = True  # completion style: the prompt is continued as is, no chat template around it
            if sample_options.logprobs:
                body["logprobs"] = True
                if sample_options.top_logprobs:
                    body["top_logprobs"] = sample_options.top_logprobs
            path = "/api/chat" if chat else "/api/generate"
            started = time.monotonic()
            parts = self.attempt(lambda path=path, body=body: self._call(path, body), what=path)
            yield self._sample(index, parts, started, bool(sample_options.logprobs))

    def _call(self, path: str, body: dict) -> list[dict]:
        """POST and return the JSON objects of the answer (one, or one per NDJSON line when streaming)."""
        deadline = self.deadline()
        try:
            with self._client().stream("POST", self.config.base_url + path, json=body) as response:
                if response.status_code != 200:
                    raise failure_for_status(response.status_code, response.headers, response.read())
                if not body["stream"]:
                    return [self._json(response.read())]
                parts = []
                for line in response.iter_lines():
                    self.check_deadline(deadline)
                    if line.strip():
                        parts.append(self._json(line))
                        if parts[-1].get("done"):
                            break
                return parts
        except BackendFailure:
            raise
        except httpx2.HTTPError as exc:
            raise failure_for_exception(exc, self.config) from exc

    @staticmethod
    def _json(raw) -> dict:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise malformed("Ollama JSON response") from exc
        if not isinstance(data, dict):
            raise malformed("Ollama JSON response")
        if "error" in data:
            # An error inside a 200 answer (e.g. the model does not fit in memory): retrying will not help.
            message = f"Ollama reported an error: {str(data['error'])[:300]}"
            raise BackendFailure(ErrorKind.SERVER_ERROR, message, retryable=False)
        return data

    def _sample(self, index: int, parts: list[dict], started: float, want_logprobs: bool) -> Sample:
        if not parts or not parts[-1].get("done"):
            raise malformed('Ollama response (it ended before "done": true)')
        text, logprobs = [], []
        try:
            for part in parts:
                piece = part["message"]["content"] if self.config.api_style == "chat" else part["response"]
                if not isinstance(piece, str):
                    raise TypeError("text is not a string")
                text.append(piece)
                if "logprobs" in part and part["logprobs"] is not None:
                    logprobs.extend(_logprobs(part["logprobs"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise malformed("Ollama response") from exc
        final = parts[-1]
        prompt_tokens, completion_tokens = final.get("prompt_eval_count"), final.get("eval_count")
        return Sample(
            index=index,
            text="".join(text),
            finish_reason=_FINISH.get(final.get("done_reason", ""), FinishReason.UNKNOWN),
            latency_ms=round((time.monotonic() - started) * 1000, 1),
            prompt_tokens=prompt_tokens if isinstance(prompt_tokens, int) else None,
            completion_tokens=completion_tokens if isinstance(completion_tokens, int) else None,
            logprobs=tuple(logprobs) if want_logprobs and logprobs else None,
            cost_usd=self.config.cost(prompt_tokens, completion_tokens),
        )

    def _health(self) -> tuple[str, tuple[str, ...]]:
        def call():
            try:
                response = self._client().get(self.config.base_url + "/api/tags")
            except httpx2.HTTPError as exc:
                raise failure_for_exception(exc, self.config) from exc
            if response.status_code != 200:
                raise failure_for_status(response.status_code, response.headers, response.content)
            try:
                return tuple(str(m["name"]) for m in response.json()["models"])
            except (ValueError, KeyError, TypeError) as exc:
                raise malformed("Ollama model list") from exc

        models = self.attempt(call, what="/api/tags")
        wanted = self.config.model if ":" in self.config.model else f"{self.config.model}:latest"
        if wanted not in models and self.config.model not in models:
            raise BackendFailure(
                ErrorKind.NOT_FOUND,
                f"The server does not have {self.config.model!r} (run `ollama pull {self.config.model}`).",
            )
        return f"Ollama serves {self.config.model}.", models
