"""Local servers on 127.0.0.1 speaking the hosted APIs' wire protocols: Anthropic Messages and Gemini generateContent.

Same scripting as ``servers.FakeServer``; error bodies are each API's own (``{"type": "error", "error": {...}}`` for
Anthropic, ``{"error": {"code", "message", "status", "details"}}`` for Gemini), and each checks what its real
counterpart checks: the key header, the API version, required fields, known models.

Both stream as their APIs do (server-sent events: Anthropic's named events, Gemini's ``data:`` frames of partial
responses under ``alt=sse``). Scripted behaviours for streams: ("stall", s) sends the first text then nothing for s
seconds; ("trickle", s) waits s seconds before each event; ("cut",) ends the body cleanly before the final event;
("drop",) closes the connection mid-body; ("error_event", payload) sends the API's in-stream error after the first
text and ends the stream; ("frames", [payload, ...]) (Gemini) sends just those frames.
"""

import itertools
import json
import re
import time

from .servers import FakeServer, pieces_for

ANTHROPIC_VERSIONS = ("2023-06-01", "2026-10-21")
SAMPLING = ("temperature", "top_p", "top_k")


def anthropic_error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011Test"}


def gemini_error(code: int, status: str, message: str, details: list | None = None) -> dict:
    return {"error": {"code": code, "message": message, "status": status, "details": details or []}}


def split_like(text: str, pieces: list[str]) -> list[str]:
    """``text`` (a prefix of the pieces joined) cut where the pieces are: the deltas a stream sends."""
    deltas = []
    for piece in pieces:
        if not text:
            break
        deltas.append(text[: len(piece)])
        text = text[len(piece) :]
    return deltas


class SseWriter:
    """Writes one streamed answer, acting out the scripted behaviour; ``send`` returns False once it has ended it."""

    def __init__(self, handler, behaviour, *, crlf: bool = False):
        self.handler, self.kind, self.arg = handler, behaviour[0], (*behaviour, None)[1]
        self.end = b"\r\n\r\n" if crlf else b"\n\n"
        self.texts = 0
        handler.start_chunked("text/event-stream")

    def send(self, data: dict, event: str | None = None, *, text: bool = False) -> bool:
        if self.kind == "trickle":
            time.sleep(self.arg)
        head = f"event: {event}\n".encode() if event else b""
        self.handler.chunk(head + b"data: " + json.dumps(data).encode() + self.end)
        self.texts += text
        if not (text and self.texts == 1):
            return True
        if self.kind == "stall":
            time.sleep(self.arg)
            self.handler.close_connection = True
            return False
        if self.kind == "drop":
            self.handler.close_connection = True  # no last chunk: the body ends mid-way
            return False
        if self.kind == "error_event":
            self.handler.chunk(
                (b"event: error\n" if event else b"") + b"data: " + json.dumps(self.arg).encode() + self.end
            )
            self.close()
            return False
        return True

    def close(self) -> None:
        self.handler.end_chunked()

    @property
    def cut(self) -> bool:
        """Leave out the final event(s)."""
        if self.kind == "cut":
            self.close()
            return True
        return False


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
        if body.get("stream"):
            return self._stream(handler, body, split_like(text, pieces), (reason, stop_sequence, used), behaviour)
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

    def _stream(self, handler, body, deltas, end, behaviour):
        reason, stop_sequence, used = end
        out = SseWriter(handler, behaviour)
        message = {
            "id": "msg_01Test",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 11, "output_tokens": 1},
        }
        out.send({"type": "message_start", "message": message}, "message_start")
        out.send(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        )
        out.send({"type": "ping"}, "ping")
        for delta in deltas:
            data = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": delta}}
            if not out.send(data, "content_block_delta", text=True):
                return None
        if out.cut:
            return None
        out.send({"type": "content_block_stop", "index": 0}, "content_block_stop")
        delta = {"stop_reason": reason, "stop_sequence": stop_sequence}
        out.send({"type": "message_delta", "delta": delta, "usage": {"output_tokens": used}}, "message_delta")
        out.send({"type": "message_stop"}, "message_stop")
        out.close()
        return None

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
        match = re.fullmatch(r"/v1beta/models/([^/:?]+)(:generateContent|:streamGenerateContent)?(\?.*)?", path)
        if match is None:
            return handler.send_json(404, gemini_error(404, "NOT_FOUND", "Method not found."))
        model, generate = match.group(1), match.group(2)
        stream = generate == ":streamGenerateContent"
        if stream and "alt=sse" not in (match.group(3) or ""):  # without it the API streams one JSON array instead
            return handler.send_json(400, gemini_error(400, "INVALID_ARGUMENT", "This fake speaks alt=sse only."))
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
        candidates, used, streamed = [], 0, []
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
            streamed.append((index, split_like(text, kept), reason))
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
        if stream and behaviour[0] == "frames":
            out = SseWriter(handler, behaviour, crlf=True)
            for frame in behaviour[1]:
                out.send(frame)
            return out.close()
        if stream:
            return self._stream(handler, model, streamed, usage, bool(config.get("responseLogprobs")), behaviour)
        return handler.send_json(
            200,
            {"candidates": candidates, "usageMetadata": usage, "modelVersion": model, "responseId": "resp-test"},
        )

    def _stream(self, handler, model, streamed, usage, logprobs, behaviour):
        """One ``data:`` frame per piece of each candidate; finishReason and the full usage come with the last."""
        out = SseWriter(handler, behaviour, crlf=True)
        frames = [(index, delta, None) for index, deltas, _ in streamed for delta in deltas[:-1]]
        last = [(index, deltas[-1] if deltas else "", reason) for index, deltas, reason in streamed]
        for number, (index, delta, reason) in enumerate([*frames, *last]):
            final = number == len(frames) + len(last) - 1
            if reason is not None and out.cut:
                return None
            candidate = {"content": {"parts": [{"text": delta}], "role": "model"}, "index": index}
            if reason is not None:
                candidate["finishReason"] = reason
            if logprobs and delta:
                chosen = [{"token": delta, "logProbability": -0.5}]
                candidate["logprobsResult"] = {"topCandidates": [{"candidates": chosen}], "chosenCandidates": chosen}
            frame_usage = usage if final else {"promptTokenCount": 9, "totalTokenCount": 9}
            frame = {"candidates": [candidate], "usageMetadata": frame_usage, "modelVersion": model}
            if not out.send({**frame, "responseId": "resp-test"}, text=bool(delta)):
                return None
        out.close()
        return None
