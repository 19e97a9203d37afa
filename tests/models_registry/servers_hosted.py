"""Local servers on 127.0.0.1 speaking the hosted APIs' wire protocols: Anthropic Messages and Gemini generateContent.

Same scripting as ``servers.FakeServer``; error bodies are each API's own (``{"type": "error", "error": {...}}`` for
Anthropic, ``{"error": {"code", "message", "status", "details"}}`` for Gemini), and each checks what its real
counterpart checks: the key header, the API version, required fields, known models.
"""

import itertools
import re

from .servers import FakeServer, pieces_for

ANTHROPIC_VERSIONS = ("2023-06-01", "2026-10-21")
SAMPLING = ("temperature", "top_p", "top_k")


def anthropic_error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011Test"}


def gemini_error(code: int, status: str, message: str, details: list | None = None) -> dict:
    return {"error": {"code": code, "message": message, "status": status, "details": details or []}}


class FakeAnthropic(FakeServer):
    """POST /v1/messages and GET /v1/models. A sample's text ends with a marker counting the messages requests."""

    models = ("claude-test-4-5-20250929", "claude-nosampling-5")
    no_sampling = ("claude-nosampling-5",)  # rejects temperature/top_p under every API version, as newer models do

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._count = itertools.count()

    def authorized(self, headers) -> bool:
        # API version 2026-10-21 clients send the key as a bearer token; older ones as x-api-key. Both are accepted.
        return self.api_key in (headers.get("x-api-key"), headers.get("Authorization", "").removeprefix("Bearer "))

    def refuse_key(self, handler) -> None:
        handler.send_json(401, anthropic_error("authentication_error", "invalid x-api-key"))

    def answer(self, handler, path, body, behaviour):
        version = handler.headers.get("anthropic-version")
        if version not in ANTHROPIC_VERSIONS:
            return handler.send_json(
                400, anthropic_error("invalid_request_error", "anthropic-version: header is required")
            )
        if path.startswith("/v1/models"):
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2026-01-01T00:00:00Z"} for m in self.models
            ]
            return handler.send_json(
                200, {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
            )
        if path != "/v1/messages":
            return handler.send_json(404, anthropic_error("not_found_error", "Not found"))
        problem = self._invalid(body, version)
        if problem:
            return handler.send_json(*problem)
        pieces = pieces_for(next(self._count))
        text, reason, stop_sequence = "", "end_turn", None
        used = 0
        for piece in pieces:
            if used == body["max_tokens"]:
                reason = "max_tokens"
                break
            text += piece
            used += 1
            hit = next((s for s in body.get("stop_sequences") or () if s in text), None)
            if hit:
                text, reason, stop_sequence = text[: text.index(hit)], "stop_sequence", hit
                break
        return handler.send_json(
            200,
            {
                "id": "msg_01Test",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": text}],
                "stop_reason": reason,
                "stop_sequence": stop_sequence,
                "usage": {"input_tokens": 11, "output_tokens": used},
            },
        )

    def _invalid(self, body, version):
        if "max_tokens" not in body:
            return 400, anthropic_error("invalid_request_error", "max_tokens: Field required")
        sampling = [k for k in SAMPLING if k in body]
        if sampling and version == "2026-10-21":
            return 400, anthropic_error("invalid_request_error", f"{sampling[0]}: Extra inputs are not permitted")
        if sampling and body["model"] in self.no_sampling:
            return 400, anthropic_error("invalid_request_error", f"`{sampling[0]}` is deprecated for this model.")
        if body["model"] not in self.models:
            return 404, anthropic_error("not_found_error", f"model: {body['model']}")
        messages = body.get("messages")
        if not messages or any(m.get("role") not in ("user", "assistant") for m in messages):
            return 400, anthropic_error("invalid_request_error", "messages: roles must be user or assistant")
        return None


class FakeGemini(FakeServer):
    """POST /v1beta/models/{model}:generateContent and GET /v1beta/models/{model}, with candidateCount and logprobs."""

    models = ("gemini-test-flash", "gemini-one-candidate")
    one_candidate = ("gemini-one-candidate",)  # refuses candidateCount > 1, as some Gemini models do

    def authorized(self, headers) -> bool:
        return headers.get("x-goog-api-key") == self.api_key

    def refuse_key(self, handler) -> None:
        details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
        handler.send_json(
            400,
            gemini_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", details),
        )

    def answer(self, handler, path, body, behaviour):
        match = re.fullmatch(r"/v1beta/models/([^/:?]+)(:generateContent)?(\?.*)?", path)
        if match is None:
            return handler.send_json(404, gemini_error(404, "NOT_FOUND", "Method not found."))
        model, generate = match.group(1), match.group(2)
        if model not in self.models:
            message = f"models/{model} is not found for API version v1beta, or is not supported for generateContent."
            return handler.send_json(404, gemini_error(404, "NOT_FOUND", message))
        if not generate:
            return handler.send_json(
                200,
                {
                    "name": f"models/{model}",
                    "version": "001",
                    "displayName": model,
                    "inputTokenLimit": 1048576,
                    "outputTokenLimit": 65536,
                    "supportedGenerationMethods": ["generateContent", "countTokens"],
                },
            )
        config = body.get("generationConfig") or {}
        count = config.get("candidateCount", 1)
        if count > 1 and model in self.one_candidate:
            message = f"Multiple candidates is not enabled for models/{model}"
            return handler.send_json(400, gemini_error(400, "INVALID_ARGUMENT", message))
        if not 1 <= count <= 8:
            return handler.send_json(400, gemini_error(400, "INVALID_ARGUMENT", "candidateCount must be 1 to 8."))
        if not body.get("contents"):
            return handler.send_json(400, gemini_error(400, "INVALID_ARGUMENT", "* contents: required"))
        seed = config.get("seed")
        candidates, used = [], 0
        for index in range(count):
            pieces = pieces_for(index if seed is None else seed + index)
            limit = config.get("maxOutputTokens")
            kept = pieces if limit is None else pieces[:limit]
            reason = "MAX_TOKENS" if len(kept) < len(pieces) else "STOP"
            text = "".join(kept)
            for stop in config.get("stopSequences") or ():
                if stop in text:
                    text, reason = text[: text.index(stop)], "STOP"
            used += len(kept)
            candidate = {
                "content": {"parts": [{"text": text}], "role": "model"},
                "finishReason": reason,
                "index": index,
                "avgLogprobs": -0.5,
            }
            if config.get("responseLogprobs"):
                candidate["logprobsResult"] = {
                    "topCandidates": [{"candidates": [{"token": p, "logProbability": -0.5}]} for p in kept],
                    "chosenCandidates": [{"token": p, "logProbability": -0.5} for p in kept],
                }
            candidates.append(candidate)
        usage = {"promptTokenCount": 9, "candidatesTokenCount": used, "totalTokenCount": 9 + used}
        return handler.send_json(
            200,
            {"candidates": candidates, "usageMetadata": usage, "modelVersion": model, "responseId": "resp-test"},
        )
