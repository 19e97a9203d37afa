"""The openai adapter (official client) against a local OpenAI-compatible server: JSON and SSE, n, logprobs."""

import sys
import time

from models_registry.backends import ErrorKind, FinishReason, GenerationOptions, GenerationRequest, RetryPolicy

from .conftest import SECRET
from .helpers import backend_for


def generation_requests(server):
    return [r for r in server.requests if r["path"].endswith("completions")]


def test_completions_with_n_and_logprobs(openai_server):
    backend = backend_for(openai_server, "openai", input_cost_per_mtok=1.0, output_cost_per_mtok=2.0)
    options = GenerationOptions(temperature=0.8, top_p=0.95, max_tokens=64, stop=("\ndef",), seed=3, logprobs=True)
    result = backend.generate(GenerationRequest(prompt="def add(a, b):\n", n=3, options=options))
    assert result.ok, result.error
    assert [s.text for s in result.samples] == [f"    return a + b  # s{seed}" for seed in (3, 4, 5)]
    assert all(s.finish_reason == FinishReason.STOP for s in result.samples)
    assert [t.token for t in result.samples[0].logprobs] == ["    return", " a", " +", " b", "  # s3"]
    assert result.samples[0].completion_tokens == 5  # counted from the logprobs (usage is per request)
    assert (result.prompt_tokens, result.completion_tokens) == (9, 15)
    assert result.cost_usd == (9 * 1.0 + 15 * 2.0) / 1e6
    [sent] = generation_requests(openai_server)
    assert sent["path"] == "/v1/completions"
    assert sent["headers"]["authorization"] == f"Bearer {SECRET}"
    body = sent["body"]
    assert (body["n"], body["logprobs"], body["max_tokens"], body["stop"], body["seed"]) == (3, 1, 64, ["\ndef"], 3)


def test_chat_completion_with_logprobs(openai_server):
    backend = backend_for(openai_server, "openai", api_style="chat")
    result = backend.generate(GenerationRequest(prompt="Write add()", options=GenerationOptions(logprobs=True)))
    assert result.ok, result.error
    [sample] = result.samples
    assert sample.text == "    return a + b  # s0"
    assert (sample.prompt_tokens, sample.completion_tokens) == (9, 5)
    assert len(sample.logprobs) == 5 and sample.logprobs[0].logprob == -0.5
    body = generation_requests(openai_server)[0]["body"]
    assert body["messages"] == [{"role": "user", "content": "Write add()"}] and body["logprobs"] is True


def test_sse_streaming_completions_with_n_logprobs_and_usage(openai_server):
    backend = backend_for(openai_server, "openai", stream=True)
    result = backend.generate(GenerationRequest(prompt="x", n=2, options=GenerationOptions(logprobs=True, seed=10)))
    assert result.ok, result.error
    assert [s.text for s in result.samples] == ["    return a + b  # s10", "    return a + b  # s11"]
    assert [len(s.logprobs) for s in result.samples] == [5, 5]
    assert (result.prompt_tokens, result.completion_tokens) == (9, 10)
    body = generation_requests(openai_server)[0]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_sse_streaming_chat_with_max_tokens(openai_server):
    backend = backend_for(openai_server, "openai", stream=True, api_style="chat")
    result = backend.generate(GenerationRequest(prompt="x", options=GenerationOptions(max_tokens=3)))
    assert result.ok, result.error
    assert result.samples[0].text == "    return a +"
    assert result.samples[0].finish_reason == FinishReason.LENGTH


def test_429_then_success_honours_retry_after(openai_server):
    openai_server.script(("status", 429, {"Retry-After": "1"}, {"error": {"message": "Rate limit reached"}}))
    started = time.monotonic()
    result = backend_for(openai_server, "openai").generate(GenerationRequest(prompt="x"))
    assert result.ok, result.error
    assert time.monotonic() - started >= 1.0
    assert result.attempts == 2 and len(generation_requests(openai_server)) == 2


def test_retry_after_ms_is_understood(openai_server):
    openai_server.script(("status", 429, {"retry-after-ms": "300"}))
    started = time.monotonic()
    result = backend_for(openai_server, "openai").generate(GenerationRequest(prompt="x"))
    assert result.ok and 0.3 <= time.monotonic() - started < 1.0


def test_server_errors_give_up_with_a_clear_message(openai_server):
    openai_server.script(*[("status", 500, {}, {"error": {"message": "upstream overloaded"}})] * 3)
    result = backend_for(openai_server, "openai").generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.SERVER_ERROR and result.error.attempts == 3
    assert result.error.message == "Gave up after 3 attempts: The server answered HTTP 500: upstream overloaded"


def test_timeout_is_an_error_value(openai_server):
    openai_server.script(("sleep", 1.0))
    backend = backend_for(openai_server, "openai", retry=RetryPolicy(max_retries=0))
    result = backend.generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.TIMEOUT


def test_stalled_sse_stream_times_out(openai_server):
    openai_server.script(("stall", 1.0))
    backend = backend_for(openai_server, "openai", stream=True, retry=RetryPolicy(max_retries=0))
    result = backend.generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.TIMEOUT


def test_malformed_body(openai_server):
    openai_server.script(("malformed",))
    result = backend_for(openai_server, "openai").generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.MALFORMED_RESPONSE and result.error.attempts == 1


def test_wrong_key_is_an_authentication_error_that_never_shows_the_key(openai_server):
    backend = backend_for(openai_server, "openai", api_key="sk-wrong-key-1234567890")
    result = backend.generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.AUTHENTICATION and result.error.status_code == 401
    assert "sk-wrong-key-1234567890" not in result.error.message
    assert "Incorrect API key provided: Bearer [redacted]" in result.error.message


def test_keyless_servers_get_the_conventional_placeholder(openai_server):
    openai_server.api_key = ""
    result = backend_for(openai_server, "openai", api_key="").generate(GenerationRequest(prompt="x"))
    assert result.ok, result.error
    assert generation_requests(openai_server)[0]["headers"]["authorization"] == "Bearer EMPTY"


def test_health(openai_server):
    report = backend_for(openai_server, "openai").health()
    assert report.healthy and report.models == ("gpt-test",)
    missing = backend_for(openai_server, "openai", model="other").health()
    assert not missing.healthy and "does not serve 'other'" in missing.message


def test_missing_client_library_gives_an_install_hint(openai_server, monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)  # as if `openai` were not installed
    result = backend_for(openai_server, "openai").generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.MISSING_DEPENDENCY
    assert 'pip install "codequalbench[backends]"' in result.error.message
    assert openai_server.requests == []
