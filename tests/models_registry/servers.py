"""Local model servers on 127.0.0.1 that speak the real wire protocols (Ollama NDJSON, OpenAI JSON and SSE).

Each test scripts how the next requests are answered (``server.script(...)``): a status with headers, a delay, a
malformed body, a stalled stream, a redirect; requests without a scripted behaviour get a normal answer. Generated
text is deterministic: ``    return a + b`` followed by a marker of the sample's seed (or index), one token per piece.
"""

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def pieces_for(marker) -> list[str]:
    return ["    return", " a", " +", " b", f"  # s{marker}"]


class FakeServer:
    models = ("codellama:7b",)

    def __init__(self, *, api_key: str = ""):
        self.api_key = api_key
        self.requests: list[dict] = []
        self._script: deque = deque()
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        handler = type("Handler", (_Handler,), {"server_state": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def script(self, *behaviours) -> None:
        """Behaviours for the next requests, in order: ("status", code, headers, body), ("sleep", s),
        ("malformed",), ("stall", s) (first chunk, then silence), ("redirect", url), ("slow", s) (answer normally
        after s seconds)."""
        self._script.extend(behaviours)

    def next_behaviour(self):
        with self._lock:
            return self._script.popleft() if self._script else ("ok",)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- protocol: subclasses answer ---------------------------------------------------------------------------
    def answer(self, handler, path: str, body: dict, behaviour) -> None:
        raise NotImplementedError

    def authorized(self, headers) -> bool:
        return headers.get("Authorization") == f"Bearer {self.api_key}"

    def refuse_key(self, handler) -> None:
        sent = handler.headers.get("Authorization", "")
        # Like some servers, echo what was sent: the platform must never show it.
        handler.send_json(401, {"error": {"message": f"Incorrect API key provided: {sent}"}})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: FakeServer

    def log_message(self, *args):  # keep test output clean
        pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts): expected
            self.close_connection = True

    def _dispatch(self):
        state = self.server_state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        state.requests.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )
        with state._lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            behaviour = state.next_behaviour()
            kind = behaviour[0]
            if state.api_key and not state.authorized(self.headers):
                return state.refuse_key(self)
            if kind == "sleep":
                time.sleep(behaviour[1])
                return self.send_json(200, {})
            if kind == "slow":
                time.sleep(behaviour[1])
            if kind == "status":
                _, code, headers, payload = (*behaviour, {}, None)[:4]
                return self.send_json(code, payload or {"error": {"message": f"scripted {code}"}}, headers)
            if kind == "redirect":
                self.send_response(302)
                self.send_header("Location", behaviour[1])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if kind == "malformed":
                return self.send_raw(200, b'{"model": "x", "respo', "application/json")
            return state.answer(self, self.path, body, behaviour)
        finally:
            with state._lock:
                state.in_flight -= 1

    do_GET = do_POST = _dispatch

    # --- writing ------------------------------------------------------------------------------------------------
    def send_raw(self, code: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, code: int, payload, headers: dict | None = None) -> None:
        self.send_raw(code, json.dumps(payload).encode(), "application/json", headers)

    def start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _marker(options_seed, index):
    return options_seed if options_seed is not None else index


def _limit(pieces: list[str], max_tokens) -> tuple[list[str], str]:
    if max_tokens is not None and max_tokens < len(pieces):
        return pieces[:max_tokens], "length"
    return pieces, "stop"


class FakeOllama(FakeServer):
    """Ollama's /api/generate, /api/chat (NDJSON when "stream" is true, which is Ollama's default) and /api/tags."""

    def answer(self, handler, path, body, behaviour):
        if path == "/api/tags":
            models = [{"name": m, "model": m, "size": 3825819519, "digest": "sha256:0"} for m in self.models]
            return handler.send_json(200, {"models": models})
        if path not in ("/api/generate", "/api/chat"):
            return handler.send_json(404, {"error": "404 page not found"})
        if body.get("model") not in self.models and f"{body.get('model')}:latest" not in self.models:
            return handler.send_json(404, {"error": f"model '{body.get('model')}' not found"})
        options = body.get("options", {})
        pieces, reason = _limit(pieces_for(_marker(options.get("seed"), 0)), options.get("num_predict"))
        chat = path == "/api/chat"

        def part(piece, done, final=False):
            out = {"model": body["model"], "created_at": "2026-01-01T00:00:00Z", "done": done}
            if chat:
                out["message"] = {"role": "assistant", "content": piece}
            else:
                out["response"] = piece
            if body.get("logprobs") and piece:
                out["logprobs"] = [{"token": piece, "logprob": -0.25, "bytes": list(piece.encode())}]
            if final:
                out.update(done_reason=reason, total_duration=5_000_000, prompt_eval_count=12, eval_count=len(pieces))
            return out

        if not body.get("stream", True):
            final = part("".join(pieces), True, final=True)
            if body.get("logprobs"):
                final["logprobs"] = [{"token": p, "logprob": -0.25, "bytes": list(p.encode())} for p in pieces]
            return handler.send_json(200, final)
        handler.start_chunked("application/x-ndjson")
        for i, piece in enumerate(pieces):
            handler.chunk(json.dumps(part(piece, False)).encode() + b"\n")
            if behaviour[0] == "stall" and i == 0:
                time.sleep(behaviour[1])
                return None
        handler.chunk(json.dumps(part("", True, final=True)).encode() + b"\n")
        handler.end_chunked()
        return None


class FakeOpenAI(FakeServer):
    """/v1/completions and /v1/chat/completions (JSON, or SSE with "stream": true), with n, logprobs and usage."""

    models = ("gpt-test",)

    def answer(self, handler, path, body, behaviour):
        if path == "/v1/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self.models]
            return handler.send_json(200, {"object": "list", "data": data})
        if path not in ("/v1/completions", "/v1/chat/completions"):
            return handler.send_json(404, {"error": {"message": "Not found", "type": "invalid_request_error"}})
        chat = path == "/v1/chat/completions"
        n = body.get("n", 1)
        choices = []
        for index in range(n):
            seed = body.get("seed")
            pieces, reason = _limit(
                pieces_for(_marker(None if seed is None else seed + index, index)), body.get("max_tokens")
            )
            choices.append((index, pieces, reason))
        usage = {"prompt_tokens": 9, "completion_tokens": sum(len(p) for _, p, _ in choices)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        want_logprobs = bool(body.get("logprobs"))
        if body.get("stream"):
            return self._stream(handler, body, chat, choices, usage, want_logprobs, behaviour)
        out_choices = []
        for index, pieces, reason in choices:
            choice = {"index": index, "finish_reason": reason, "logprobs": None}
            if chat:
                choice["message"] = {"role": "assistant", "content": "".join(pieces)}
                if want_logprobs:
                    choice["logprobs"] = {"content": [_chat_logprob(p) for p in pieces]}
            else:
                choice["text"] = "".join(pieces)
                if want_logprobs:
                    choice["logprobs"] = _completion_logprobs(pieces)
            out_choices.append(choice)
        kind = "chat.completion" if chat else "text_completion"
        payload = {"id": "x-1", "object": kind, "created": 0, "model": body["model"], "choices": out_choices}
        payload["usage"] = usage
        return handler.send_json(200, payload)

    def _stream(self, handler, body, chat, choices, usage, want_logprobs, behaviour):
        handler.start_chunked("text/event-stream")
        kind = "chat.completion.chunk" if chat else "text_completion"

        def event(data):
            handler.chunk(b"data: " + json.dumps(data).encode() + b"\n\n")

        for index, pieces, reason in choices:
            for i, piece in enumerate(pieces):
                choice = {"index": index, "finish_reason": reason if i == len(pieces) - 1 else None, "logprobs": None}
                if chat:
                    choice["delta"] = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
                    if want_logprobs:
                        choice["logprobs"] = {"content": [_chat_logprob(piece)]}
                else:
                    choice["text"] = piece
                    if want_logprobs:
                        choice["logprobs"] = _completion_logprobs([piece])
                event({"id": "x-1", "object": kind, "created": 0, "model": body["model"], "choices": [choice]})
                if behaviour[0] == "stall":
                    time.sleep(behaviour[1])
                    return None
        if (body.get("stream_options") or {}).get("include_usage"):
            event({"id": "x-1", "object": kind, "created": 0, "model": body["model"], "choices": [], "usage": usage})
        handler.chunk(b"data: [DONE]\n\n")
        handler.end_chunked()
        return None


def _chat_logprob(piece):
    return {"token": piece, "logprob": -0.5, "bytes": list(piece.encode()), "top_logprobs": []}


def _completion_logprobs(pieces):
    return {
        "tokens": list(pieces),
        "token_logprobs": [-0.5] * len(pieces),
        "top_logprobs": [{p: -0.5} for p in pieces],
        "text_offset": list(range(len(pieces))),
    }
