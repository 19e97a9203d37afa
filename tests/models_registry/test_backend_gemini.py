"""The gemini adapter (official google-genai client) against a local server speaking generateContent."""

import sys
import time

import pytest

from models_registry.backends import (
    ErrorKind,
    FinishReason,
    GenerationOptions,
    GenerationRequest,
    RetryPolicy,
    Timeouts,
    backend_class,
)

from .conftest import SECRET
from .helpers import backend_for
from .servers_hosted import gemini_error

RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}
EXHAUSTED = gemini_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", [RETRY_INFO])


def generate_requests(server):
    return [r for r in server.requests if r["path"].endswith(":generateContent")]


def gemini(server, **overrides):
    return backend_for(server, "gemini", api_style="chat", **overrides)


def test_registered_as_a_chat_backend_with_native_n():
    caps = backend_class("gemini").capabilities()
    assert caps.styles == {"chat"} and caps.native_n is True and caps.logprobs is True


def test_generate_content_with_options_system_instruction_and_cost(gemini_server):
    backend = gemini(gemini_server, input_cost_per_mtok=0.5, output_cost_per_mtok=2.0)
    options = GenerationOptions(temperature=0.2, top_p=0.9, max_tokens=64, stop=(" b",), seed=3)
    result = backend.generate(GenerationRequest(prompt="Write add()", system="You write Python.", options=options))
    assert result.ok, result.error
    [sample] = result.samples
    assert sample.text == "    return a +" and sample.finish_reason == FinishReason.STOP
    assert (sample.prompt_tokens, sample.completion_tokens) == (9, 5)
    assert result.cost_usd == (9 * 0.5 + 5 * 2.0) / 1e6
    [sent] = generate_requests(gemini_server)
    assert sent["path"] == "/v1beta/models/gemini-test-flash:generateContent"
    assert sent["headers"]["x-goog-api-key"] == SECRET
    body = sent["body"]
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Write add()"}]}]
    assert body["systemInstruction"]["parts"] == [{"text": "You write Python."}]
    assert body["generationConfig"] == {
        "candidateCount": 1,
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 64,
        "stopSequences": [" b"],
        "seed": 3,
    }
    assert "tools" not in body


def test_n_samples_in_one_request_with_candidate_count_and_logprobs(gemini_server):
    options = GenerationOptions(seed=10, logprobs=True, top_logprobs=2)
    result = gemini(gemini_server).generate(GenerationRequest(prompt="x", n=3, options=options))
    assert result.ok, result.error
    assert [s.text for s in result.samples] == [f"    return a + b  # s{seed}" for seed in (10, 11, 12)]
    assert [len(s.logprobs) for s in result.samples] == [5, 5, 5] and result.samples[0].logprobs[0].logprob == -0.5
    assert [s.completion_tokens for s in result.samples] == [5, 5, 5]  # counted from the logprobs
    assert (result.prompt_tokens, result.completion_tokens) == (9, 15)
    [sent] = generate_requests(gemini_server)
    config = sent["body"]["generationConfig"]
    assert (config["candidateCount"], config["responseLogprobs"], config["logprobs"]) == (3, True, 2)


def test_more_than_eight_samples_take_several_requests(gemini_server):
    result = gemini(gemini_server).generate(GenerationRequest(prompt="x", n=10))
    assert result.ok and [s.index for s in result.samples] == list(range(10))
    assert [r["body"]["generationConfig"]["candidateCount"] for r in generate_requests(gemini_server)] == [8, 2]
    assert (result.prompt_tokens, result.completion_tokens) == (18, 50)


def test_a_model_refusing_several_candidates_gets_one_request_per_sample(gemini_server):
    backend = gemini(gemini_server, model="gemini-one-candidate")
    result = backend.generate(GenerationRequest(prompt="x", n=3, options=GenerationOptions(seed=5)))
    assert result.ok, result.error
    assert [s.text for s in result.samples] == [f"    return a + b  # s{seed}" for seed in (5, 6, 7)]
    counts = [r["body"]["generationConfig"]["candidateCount"] for r in generate_requests(gemini_server)]
    assert counts == [3, 1, 1, 1]
    backend.generate(GenerationRequest(prompt="x", n=2))  # remembered: no second refusal
    assert [r["body"]["generationConfig"]["candidateCount"] for r in generate_requests(gemini_server)][4:] == [1, 1]


def test_max_output_tokens_reached_is_length(gemini_server):
    result = gemini(gemini_server).generate(GenerationRequest(prompt="x", options=GenerationOptions(max_tokens=2)))
    assert result.samples[0].text == "    return a" and result.samples[0].finish_reason == FinishReason.LENGTH


def test_429_then_success_honours_the_retry_info_in_the_body(gemini_server):
    gemini_server.script(("status", 429, {}, EXHAUSTED))
    started = time.monotonic()
    result = gemini(gemini_server).generate(GenerationRequest(prompt="x"))
    assert result.ok, result.error
    assert time.monotonic() - started >= 1.0
    assert result.attempts == 2 and len(generate_requests(gemini_server)) == 2


def test_a_retry_after_header_wins_over_the_body(gemini_server):
    gemini_server.script(("status", 429, {"Retry-After": "0"}, EXHAUSTED))
    started = time.monotonic()
    result = gemini(gemini_server).generate(GenerationRequest(prompt="x"))
    assert result.ok and time.monotonic() - started < 0.9


def test_server_errors_give_up_with_the_servers_words(gemini_server):
    unavailable = gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    gemini_server.script(*[("status", 503, {}, unavailable)] * 3)
    result = gemini(gemini_server).generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.SERVER_ERROR and result.error.attempts == 3
    assert result.error.message == (
        "Gave up after 3 attempts: The server answered HTTP 503: The model is overloaded. Please try again later."
    )


def test_timeout_is_an_error_value(gemini_server):
    gemini_server.script(("sleep", 1.0))
    result = gemini(gemini_server, retry=RetryPolicy(max_retries=0)).generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.TIMEOUT and "read timeout" in result.error.message


def test_our_read_timeout_applies_although_the_client_asks_for_none(gemini_server):
    gemini_server.script(("sleep", 0.6))
    backend = gemini(gemini_server, timeouts=Timeouts(connect=2.0, read=0.3, total=10.0), retry=RetryPolicy(0))
    backend._client()  # importing google-genai and building its client take a while of their own
    started = time.monotonic()
    result = backend.generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.TIMEOUT and time.monotonic() - started < 0.55


def test_malformed_body_is_not_retried(gemini_server):
    gemini_server.script(("malformed",))
    result = gemini(gemini_server).generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.MALFORMED_RESPONSE and result.error.attempts == 1


def test_a_missing_candidate_is_malformed(gemini_server):
    gemini_server.script(("status", 200, {}, {"candidates": [], "usageMetadata": {"promptTokenCount": 3}}))
    result = gemini(gemini_server).generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.MALFORMED_RESPONSE


def test_a_blocked_prompt_is_an_empty_filtered_sample_not_an_error(gemini_server):
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}}
    gemini_server.script(("status", 200, {}, blocked))
    result = gemini(gemini_server).generate(GenerationRequest(prompt="x"))
    assert result.ok and result.samples[0].text == ""
    assert result.samples[0].finish_reason == FinishReason.CONTENT_FILTER


def test_invalid_key_is_an_authentication_error(gemini_server):
    result = gemini(gemini_server, api_key="AIza-wrong-key-123").generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.AUTHENTICATION and result.error.status_code == 400
    assert "API key not valid" in result.error.message and "AIza-wrong-key-123" not in result.error.message


def test_unknown_model_is_not_found(gemini_server):
    result = gemini(gemini_server, model="gemini-nope").generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.NOT_FOUND and "models/gemini-nope is not found" in result.error.message


def test_health(gemini_server):
    report = gemini(gemini_server).health()
    assert report.healthy and report.models == ("gemini-test-flash",)
    missing = gemini(gemini_server, model="gemini-nope").health()
    assert not missing.healthy and missing.error.kind == ErrorKind.NOT_FOUND


def test_the_clients_environment_does_not_leak_in(gemini_server, monkeypatch):
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-from-the-environment")
    monkeypatch.setenv("GOOGLE_GENAI_API_VERSION", "v1")
    result = gemini(gemini_server).generate(GenerationRequest(prompt="x"))
    assert result.ok, result.error
    [sent] = generate_requests(gemini_server)
    assert sent["headers"]["x-goog-api-key"] == SECRET and sent["path"].startswith("/v1beta/")


def test_missing_client_library_gives_an_install_hint(gemini_server, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.genai", None)
    result = gemini(gemini_server).generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.MISSING_DEPENDENCY and "pip install google-genai" in result.error.message
    assert gemini_server.requests == []


# --- streaming (:streamGenerateContent?alt=sse) ---------------------------------------------------------------------
def stream_requests(server):
    return [r for r in server.requests if ":streamGenerateContent" in r["path"]]


def outcome(result):
    samples = [
        (s.index, s.text, s.finish_reason, s.prompt_tokens, s.completion_tokens, s.logprobs, s.cost_usd)
        for s in result.samples
    ]
    return samples, (result.prompt_tokens, result.completion_tokens, result.cost_usd)


def test_streaming_is_a_capability():
    assert backend_class("gemini").capabilities().streaming is True


@pytest.mark.parametrize(
    ("n", "options"),
    [
        (1, GenerationOptions(seed=3)),
        (1, GenerationOptions(max_tokens=2)),
        (1, GenerationOptions(stop=(" b",), temperature=0.2)),
        (3, GenerationOptions(seed=10, logprobs=True)),
    ],
    ids=["stop", "max_tokens", "stop_sequence", "candidates_and_logprobs"],
)
def test_a_streamed_answer_equals_the_whole_answer(gemini_server, n, options):
    costs = {"input_cost_per_mtok": 0.5, "output_cost_per_mtok": 2.0}
    request = GenerationRequest(prompt="Write add()", system="You write Python.", n=n, options=options)
    whole = gemini(gemini_server, **costs).generate(request)
    streamed = gemini(gemini_server, stream=True, **costs).generate(request)
    assert whole.ok and streamed.ok, streamed.error
    assert outcome(streamed) == outcome(whole)
    [sent] = stream_requests(gemini_server)
    assert sent["path"] == "/v1beta/models/gemini-test-flash:streamGenerateContent?alt=sse"
    assert sent["body"] == generate_requests(gemini_server)[0]["body"]


def test_a_stalled_stream_is_a_read_timeout(gemini_server):
    gemini_server.script(("stall", 1.0))
    backend = gemini(gemini_server, stream=True, retry=RetryPolicy(max_retries=0))
    result = backend.generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.TIMEOUT and "read timeout" in result.error.message


def test_the_total_timeout_bounds_a_stream_that_trickles(gemini_server):
    gemini_server.script(("trickle", 0.15))  # every frame within the read timeout, the whole not within 0.5 s
    timeouts = Timeouts(connect=2.0, read=0.5, total=0.5)
    backend = gemini(gemini_server, stream=True, timeouts=timeouts, retry=RetryPolicy(max_retries=0))
    result = backend.generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.TIMEOUT and "0.5s in total" in result.error.message


def test_a_stream_ending_before_the_finish_reason_is_malformed(gemini_server):
    gemini_server.script(("cut",))
    result = gemini(gemini_server, stream=True).generate(GenerationRequest(prompt="x", n=2))
    assert result.error.kind == ErrorKind.MALFORMED_RESPONSE and result.error.attempts == 1
    assert "ended before a finishReason" in result.error.message and result.samples == ()


def test_a_dropped_connection_mid_stream_is_retried(gemini_server):
    gemini_server.script(("drop",))
    result = gemini(gemini_server, stream=True).generate(GenerationRequest(prompt="x"))
    assert result.ok and result.attempts == 2, result.error
    gemini_server.script(*[("drop",)] * 3)
    failed = gemini(gemini_server, stream=True).generate(GenerationRequest(prompt="x"))
    assert failed.error.kind == ErrorKind.CONNECTION and failed.error.attempts == 3


def test_an_error_in_the_stream_is_retried_like_its_status(gemini_server):
    unavailable = gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    gemini_server.script(("error_event", unavailable))
    result = gemini(gemini_server, stream=True).generate(GenerationRequest(prompt="x"))
    assert result.ok and result.attempts == 2 and result.samples[0].text == "    return a + b  # s0"
    gemini_server.script(*[("error_event", unavailable)] * 3)
    failed = gemini(gemini_server, stream=True).generate(GenerationRequest(prompt="x"))
    assert failed.error.kind == ErrorKind.SERVER_ERROR and failed.error.attempts == 3
    assert failed.error.message == (
        "Gave up after 3 attempts: The stream broke off with an error: "
        "The server answered HTTP 503: The model is overloaded. Please try again later."
    )


def test_an_error_in_the_stream_that_retrying_cannot_fix_is_not_retried(gemini_server):
    gemini_server.script(
        ("error_event", gemini_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument."))
    )
    result = gemini(gemini_server, stream=True).generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.CLIENT_ERROR and result.error.attempts == 1


def test_an_http_error_before_the_stream_starts_is_retried_after_its_retry_info(gemini_server):
    gemini_server.script(("status", 429, {}, EXHAUSTED))
    started = time.monotonic()
    result = gemini(gemini_server, stream=True).generate(GenerationRequest(prompt="x"))
    assert result.ok and result.attempts == 2 and time.monotonic() - started >= 1.0


def test_a_blocked_prompt_in_a_stream_is_an_empty_filtered_sample(gemini_server):
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}}
    gemini_server.script(("frames", [blocked]))
    result = gemini(gemini_server, stream=True).generate(GenerationRequest(prompt="x"))
    assert result.ok and result.samples[0].text == ""
    assert result.samples[0].finish_reason == FinishReason.CONTENT_FILTER
