"""The ollama adapter against a local server speaking Ollama's API (JSON and NDJSON streaming)."""

import threading
import time

import pytest

from models_registry.backends import (
    ErrorKind,
    FinishReason,
    GenerationOptions,
    GenerationRequest,
    RetryPolicy,
    backend_class,
)

from .helpers import backend_for

EXPECTED = "    return a + b  # s0"


def generation_requests(server):
    return [r for r in server.requests if r["path"] in ("/api/generate", "/api/chat")]


def test_registered_under_its_key():
    assert backend_class("ollama").key == "ollama"
    caps = backend_class("ollama").capabilities()
    assert caps.styles == {"completion", "chat"} and caps.native_n is False


def test_completion_without_streaming_sends_a_raw_prompt_with_options(ollama):
    backend = backend_for(ollama, "ollama", default_options=GenerationOptions(temperature=0.2))
    options = GenerationOptions(max_tokens=50, top_p=0.9, stop=("\ndef",), seed=0)
    result = backend.generate(GenerationRequest(prompt="def add(a, b):\n", options=options))
    assert result.ok, result.error
    [sample] = result.samples
    assert sample.text == EXPECTED
    assert sample.finish_reason == FinishReason.STOP
    assert (sample.prompt_tokens, sample.completion_tokens) == (12, 5)
    assert sample.logprobs is None
    [sent] = generation_requests(ollama)
    assert sent["path"] == "/api/generate"
    assert sent["body"]["raw"] is True and sent["body"]["stream"] is False
    assert sent["body"]["options"] == {
        "temperature": 0.2,
        "top_p": 0.9,
        "num_predict": 50,
        "stop": ["\ndef"],
        "seed": 0,
    }


def test_streamed_ndjson_with_logprobs(ollama):
    backend = backend_for(ollama, "ollama", stream=True)
    result = backend.generate(GenerationRequest(prompt="x", options=GenerationOptions(logprobs=True, seed=0)))
    assert result.ok, result.error
    [sample] = result.samples
    assert sample.text == EXPECTED
    assert [t.token for t in sample.logprobs] == ["    return", " a", " +", " b", "  # s0"]
    assert all(t.logprob == -0.25 for t in sample.logprobs)
    assert generation_requests(ollama)[0]["body"]["logprobs"] is True


@pytest.mark.parametrize("stream", [True, False])
def test_chat(ollama, stream):
    backend = backend_for(ollama, "ollama", stream=stream, api_style="chat")
    result = backend.generate(GenerationRequest(prompt="Write add()", system="You write Python.", n=1))
    assert result.ok, result.error
    assert result.samples[0].text.startswith("    return a + b")
    sent = generation_requests(ollama)[0]["body"]
    assert sent["stream"] is stream
    assert sent["messages"] == [
        {"role": "system", "content": "You write Python."},
        {"role": "user", "content": "Write add()"},
    ]


def test_n_samples_are_n_requests_with_their_own_reproducible_seeds(ollama):
    backend = backend_for(ollama, "ollama", stream=True)
    request = GenerationRequest(prompt="x", n=3, options=GenerationOptions(seed=7))
    first = backend.generate(request)
    again = backend.generate(request)
    assert [s.text for s in first.samples] == [f"    return a + b  # s{seed}" for seed in (7, 8, 9)]
    assert [s.text for s in again.samples] == [s.text for s in first.samples]
    assert [s.index for s in first.samples] == [0, 1, 2]
    assert first.prompt_tokens == 36 and first.completion_tokens == 15


def test_max_tokens_reached_is_finish_reason_length(ollama):
    result = backend_for(ollama, "ollama", stream=True).generate(
        GenerationRequest(prompt="x", options=GenerationOptions(max_tokens=2))
    )
    assert result.samples[0].text == "    return a"
    assert result.samples[0].finish_reason == FinishReason.LENGTH


def test_429_then_success_honours_retry_after(ollama):
    ollama.script(("status", 429, {"Retry-After": "1"}))
    started = time.monotonic()
    result = backend_for(ollama, "ollama").generate(GenerationRequest(prompt="x"))
    assert result.ok, result.error
    assert time.monotonic() - started >= 1.0
    assert result.attempts == 2 and len(generation_requests(ollama)) == 2


def test_server_errors_give_up_after_the_retry_budget(ollama):
    ollama.script(*[("status", 503, {}, {"error": "model is loading"})] * 3)
    result = backend_for(ollama, "ollama").generate(GenerationRequest(prompt="x"))
    assert not result.ok and result.samples == ()
    assert result.error.kind == ErrorKind.SERVER_ERROR
    assert result.error.status_code == 503 and result.error.attempts == 3
    assert result.error.message == "Gave up after 3 attempts: The server answered HTTP 503: model is loading"


def test_a_timeout_is_retried_then_succeeds(ollama):
    ollama.script(("sleep", 1.0))
    result = backend_for(ollama, "ollama").generate(GenerationRequest(prompt="x"))
    assert result.ok, result.error
    assert result.attempts == 2


def test_timeouts_past_the_budget_are_an_error_value(ollama):
    ollama.script(("sleep", 1.0))
    backend = backend_for(ollama, "ollama", retry=RetryPolicy(max_retries=0))
    result = backend.generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.TIMEOUT
    assert "read timeout" in result.error.message


def test_a_stream_that_stalls_times_out(ollama):
    ollama.script(("stall", 1.0))
    backend = backend_for(ollama, "ollama", stream=True, retry=RetryPolicy(max_retries=0))
    result = backend.generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.TIMEOUT


def test_malformed_body_is_not_retried(ollama):
    ollama.script(("malformed",))
    result = backend_for(ollama, "ollama").generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.MALFORMED_RESPONSE
    assert result.error.attempts == 1 and len(generation_requests(ollama)) == 1


def test_an_error_reported_inside_a_200_answer(ollama):
    ollama.script(("status", 200, {}, {"error": "model requires more system memory"}))
    result = backend_for(ollama, "ollama").generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.SERVER_ERROR
    assert "more system memory" in result.error.message and result.error.attempts == 1


def test_unknown_model_is_not_found(ollama):
    result = backend_for(ollama, "ollama", model="nope:1b").generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.NOT_FOUND
    assert "model 'nope:1b' not found" in result.error.message


def test_nothing_listening_is_a_connection_error(ollama):
    backend = backend_for(ollama, "ollama")
    ollama.close()
    result = backend.generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.CONNECTION
    assert result.error.attempts == 3


def test_redirects_are_not_followed(ollama):
    ollama.script(("redirect", "http://169.254.169.254/latest/meta-data/"))
    result = backend_for(ollama, "ollama").generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.CLIENT_ERROR
    assert "Redirects are not followed" in result.error.message


def test_retry_after_longer_than_allowed_ends_at_once(ollama):
    ollama.script(("status", 429, {"Retry-After": "3600"}))
    started = time.monotonic()
    result = backend_for(ollama, "ollama").generate(GenerationRequest(prompt="x"))
    assert time.monotonic() - started < 1
    assert result.error.kind == ErrorKind.RATE_LIMITED
    assert "asks to wait 3600s" in result.error.message


def test_link_local_base_url_is_refused_before_any_request(ollama):
    backend = backend_for(ollama, "ollama", base_url="http://169.254.169.254")
    result = backend.generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.URL_REFUSED
    assert backend.health().error.kind == ErrorKind.URL_REFUSED


def test_health(ollama):
    report = backend_for(ollama, "ollama").health()
    assert report.healthy and report.models == ("codellama:7b",)
    missing = backend_for(ollama, "ollama", model="starcoder2:3b").health()
    assert not missing.healthy and "ollama pull starcoder2:3b" in missing.message


def test_concurrency_limit_per_endpoint(ollama):
    ollama.script(*[("slow", 0.15)] * 6)
    shared = backend_for(ollama, "ollama", max_concurrency=2, limiter_key="test-concurrency")
    results = []

    def work():  # one adapter shared by six threads, as an evaluation's workers would
        results.append(shared.generate(GenerationRequest(prompt="x")))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.ok and r.attempts == 1 for r in results)
    assert ollama.max_in_flight == 2
    shared.close()


@pytest.mark.parametrize("n", [0, 101])
def test_n_out_of_range_is_an_error_value(ollama, n):
    result = backend_for(ollama, "ollama").generate(GenerationRequest(prompt="x", n=n))
    assert result.error.kind == ErrorKind.CONFIGURATION
    assert ollama.requests == []
