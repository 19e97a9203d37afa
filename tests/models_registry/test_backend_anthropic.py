"""The anthropic adapter (official client) against a local server speaking the Messages API."""

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

OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
RATE_LIMITED = {"type": "error", "error": {"type": "rate_limit_error", "message": "Number of requests exceeded"}}


def messages_requests(server):
    return [r for r in server.requests if r["path"] == "/v1/messages"]


def anthropic(server, **overrides):
    return backend_for(server, "anthropic", api_style="chat", **overrides)


def test_registered_as_a_chat_backend():
    caps = backend_class("anthropic").capabilities()
    assert caps.styles == {"chat"} and caps.native_n is False and caps.logprobs is False


def test_messages_with_system_stop_sequences_usage_and_cost(anthropic_server):
    backend = anthropic(anthropic_server, input_cost_per_mtok=3.0, output_cost_per_mtok=15.0)
    options = GenerationOptions(max_tokens=64, stop=(" +",))
    result = backend.generate(GenerationRequest(prompt="Write add()", system="You write Python.", options=options))
    assert result.ok, result.error
    [sample] = result.samples
    assert sample.text == "    return a" and sample.finish_reason == FinishReason.STOP
    assert (sample.prompt_tokens, sample.completion_tokens) == (11, 3)
    assert result.cost_usd == sample.cost_usd == (11 * 3.0 + 3 * 15.0) / 1e6
    [sent] = messages_requests(anthropic_server)
    assert sent["headers"]["authorization"] == f"Bearer {SECRET}"
    assert sent["headers"]["anthropic-version"] == "2026-10-21"  # the client's own version: no sampling options
    assert sent["body"] == {
        "model": "claude-test-4-5-20250929",
        "max_tokens": 64,
        "system": "You write Python.",
        "messages": [{"role": "user", "content": "Write add()"}],
        "stop_sequences": [" +"],
    }


def test_max_tokens_has_a_default_and_reaching_it_is_length(anthropic_server):
    full = anthropic(anthropic_server).generate(GenerationRequest(prompt="x"))
    assert full.ok and messages_requests(anthropic_server)[0]["body"]["max_tokens"] == 1024
    short = anthropic(anthropic_server).generate(GenerationRequest(prompt="x", options=GenerationOptions(max_tokens=2)))
    assert short.samples[0].text == "    return a" and short.samples[0].finish_reason == FinishReason.LENGTH


def test_n_samples_are_n_requests(anthropic_server):
    result = anthropic(anthropic_server).generate(GenerationRequest(prompt="x", n=3))
    assert result.ok, result.error
    assert [s.text for s in result.samples] == [f"    return a + b  # s{i}" for i in range(3)]
    assert [s.index for s in result.samples] == [0, 1, 2]
    assert len(messages_requests(anthropic_server)) == 3 and result.attempts == 3
    assert (result.prompt_tokens, result.completion_tokens) == (33, 15)


def test_temperature_and_top_p_go_out_under_the_api_version_that_accepts_them(anthropic_server):
    options = GenerationOptions(temperature=0.8, top_p=0.95)
    result = anthropic(anthropic_server).generate(GenerationRequest(prompt="x", options=options))
    assert result.ok, result.error
    [sent] = messages_requests(anthropic_server)
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert (sent["body"]["temperature"], sent["body"]["top_p"]) == (0.8, 0.95)


def test_a_model_that_refuses_sampling_options_says_so(anthropic_server):
    backend = anthropic(anthropic_server, model="claude-nosampling-5")
    result = backend.generate(GenerationRequest(prompt="x", options=GenerationOptions(temperature=0.2)))
    assert result.error.kind == ErrorKind.CLIENT_ERROR and result.error.attempts == 1
    assert result.error.message == "The server answered HTTP 400: `temperature` is deprecated for this model."


def test_429_then_success_honours_retry_after(anthropic_server):
    anthropic_server.script(("status", 429, {"retry-after": "1"}, RATE_LIMITED))
    started = time.monotonic()
    result = anthropic(anthropic_server).generate(GenerationRequest(prompt="x"))
    assert result.ok, result.error
    assert time.monotonic() - started >= 1.0
    assert result.attempts == 2 and len(messages_requests(anthropic_server)) == 2


def test_529_overloaded_is_retried_then_gives_up_with_the_servers_words(anthropic_server):
    anthropic_server.script(*[("status", 529, {}, OVERLOADED)] * 3)
    result = anthropic(anthropic_server).generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.SERVER_ERROR and result.error.status_code == 529
    assert result.error.message == "Gave up after 3 attempts: The server answered HTTP 529: Overloaded"
    assert len(messages_requests(anthropic_server)) == 3


def test_529_then_success(anthropic_server):
    anthropic_server.script(("status", 529, {}, OVERLOADED))
    result = anthropic(anthropic_server).generate(GenerationRequest(prompt="x", n=2))
    assert result.ok and len(result.samples) == 2 and result.attempts == 3


def test_server_error(anthropic_server):
    body = {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}
    anthropic_server.script(*[("status", 500, {}, body)] * 3)
    result = anthropic(anthropic_server).generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.SERVER_ERROR and "HTTP 500: Internal server error" in result.error.message


def test_timeout_is_an_error_value(anthropic_server):
    anthropic_server.script(("sleep", 1.0))
    result = anthropic(anthropic_server, retry=RetryPolicy(max_retries=0)).generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.TIMEOUT and "read timeout" in result.error.message


def test_malformed_body_is_not_retried(anthropic_server):
    anthropic_server.script(("malformed",))
    result = anthropic(anthropic_server).generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.MALFORMED_RESPONSE and result.error.attempts == 1


def test_a_json_body_that_is_not_a_message_is_malformed(anthropic_server):
    anthropic_server.script(("status", 200, {}, {"id": "x", "content": "not blocks"}))
    result = anthropic(anthropic_server).generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.MALFORMED_RESPONSE


def test_n_samples_stop_at_the_first_failure_and_keep_the_samples_before_it(anthropic_server):
    anthropic_server.script(("ok",), ("malformed",))
    result = anthropic(anthropic_server).generate(GenerationRequest(prompt="x", n=3))
    assert not result.ok and [s.index for s in result.samples] == [0]


def test_wrong_key_is_an_authentication_error(anthropic_server):
    result = anthropic(anthropic_server, api_key="sk-ant-wrong-123456").generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.AUTHENTICATION and result.error.status_code == 401
    assert "invalid x-api-key" in result.error.message and "sk-ant-wrong-123456" not in result.error.message


def test_unknown_model_is_not_found(anthropic_server):
    result = anthropic(anthropic_server, model="claude-nope").generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.NOT_FOUND and "model: claude-nope" in result.error.message


def test_health_accepts_an_alias_of_a_dated_model(anthropic_server):
    report = anthropic(anthropic_server, model="claude-test-4-5").health()
    assert report.healthy and "claude-test-4-5-20250929" in report.models
    missing = anthropic(anthropic_server, model="claude-other").health()
    assert not missing.healthy and missing.error.kind == ErrorKind.NOT_FOUND


def test_the_clients_environment_does_not_leak_in(anthropic_server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://169.254.169.254")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-the-environment")
    result = anthropic(anthropic_server).generate(GenerationRequest(prompt="x"))
    assert result.ok, result.error
    assert messages_requests(anthropic_server)[0]["headers"]["authorization"] == f"Bearer {SECRET}"


def test_completion_style_is_refused_before_any_request(anthropic_server):
    result = backend_for(anthropic_server, "anthropic").generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.CONFIGURATION and anthropic_server.requests == []


def test_missing_client_library_gives_an_install_hint(anthropic_server, monkeypatch):
    monkeypatch.setitem(sys.modules, "anthropic", None)
    result = anthropic(anthropic_server).generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.MISSING_DEPENDENCY
    assert 'pip install "codequalbench[backends]"' in result.error.message and "anthropic" in result.error.message
    assert anthropic_server.requests == []


# --- streaming (server-sent events) ---------------------------------------------------------------------------------
def totals(result):
    return result.prompt_tokens, result.completion_tokens, result.cost_usd


def test_streaming_is_a_capability():
    assert backend_class("anthropic").capabilities().streaming is True


@pytest.mark.parametrize(
    "options",
    [GenerationOptions(), GenerationOptions(max_tokens=2), GenerationOptions(stop=(" +",), temperature=0.5)],
    ids=["end_turn", "max_tokens", "stop_sequence"],
)
def test_a_streamed_answer_equals_the_whole_answer(anthropic_server, options):
    costs = {"input_cost_per_mtok": 3.0, "output_cost_per_mtok": 15.0}
    request = GenerationRequest(prompt="Write add()", system="You write Python.", n=2, options=options)
    whole = anthropic(anthropic_server, **costs).generate(request)
    streamed = anthropic(anthropic_server, stream=True, **costs).generate(request)
    assert whole.ok and streamed.ok, streamed.error
    # The fake's marker counts requests: the whole answers were s0, s1, the streamed ones s2, s3.
    texts = [s.text.replace("# s2", "# s0").replace("# s3", "# s1") for s in streamed.samples]
    assert texts == [s.text for s in whole.samples]
    assert totals(streamed) == totals(whole)
    assert [(s.finish_reason, s.prompt_tokens, s.completion_tokens) for s in streamed.samples] == [
        (s.finish_reason, s.prompt_tokens, s.completion_tokens) for s in whole.samples
    ]
    sent = messages_requests(anthropic_server)
    assert [r["body"].get("stream") for r in sent] == [None, None, True, True]


def test_a_stalled_stream_is_a_read_timeout(anthropic_server):
    anthropic_server.script(("stall", 1.0))
    backend = anthropic(anthropic_server, stream=True, retry=RetryPolicy(max_retries=0))
    result = backend.generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.TIMEOUT and "read timeout" in result.error.message


def test_the_total_timeout_bounds_a_stream_that_trickles(anthropic_server):
    anthropic_server.script(("trickle", 0.15))  # every event within the read timeout, the whole not within 0.5 s
    timeouts = Timeouts(connect=2.0, read=0.5, total=0.5)
    backend = anthropic(anthropic_server, stream=True, timeouts=timeouts, retry=RetryPolicy(max_retries=0))
    result = backend.generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.TIMEOUT and "0.5s in total" in result.error.message


def test_a_stream_ending_before_message_stop_is_malformed(anthropic_server):
    anthropic_server.script(("cut",))
    result = anthropic(anthropic_server, stream=True).generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.MALFORMED_RESPONSE and result.error.attempts == 1
    assert "ended before message_stop" in result.error.message


def test_a_dropped_connection_mid_stream_is_retried(anthropic_server):
    anthropic_server.script(("drop",))
    result = anthropic(anthropic_server, stream=True).generate(GenerationRequest(prompt="x"))
    assert result.ok and result.attempts == 2, result.error
    anthropic_server.script(*[("drop",)] * 3)
    failed = anthropic(anthropic_server, stream=True).generate(GenerationRequest(prompt="x"))
    assert failed.error.kind == ErrorKind.CONNECTION and failed.error.attempts == 3


def test_an_overloaded_error_event_is_retried_like_a_529(anthropic_server):
    anthropic_server.script(("error_event", OVERLOADED))
    result = anthropic(anthropic_server, stream=True).generate(GenerationRequest(prompt="x"))
    assert result.ok and result.attempts == 2 and result.samples[0].text.startswith("    return a + b")
    anthropic_server.script(*[("error_event", OVERLOADED)] * 3)
    failed = anthropic(anthropic_server, stream=True).generate(GenerationRequest(prompt="x"))
    assert failed.error.kind == ErrorKind.SERVER_ERROR and failed.samples == ()
    assert failed.error.message == (
        "Gave up after 3 attempts: The stream broke off with an error event (overloaded_error): Overloaded"
    )


def test_an_error_event_that_retrying_cannot_fix_is_not_retried(anthropic_server):
    invalid = {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long"}}
    anthropic_server.script(("error_event", invalid))
    result = anthropic(anthropic_server, stream=True).generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.CLIENT_ERROR and result.error.attempts == 1
    assert "prompt is too long" in result.error.message


def test_an_http_error_before_the_stream_starts_is_retried(anthropic_server):
    anthropic_server.script(("status", 529, {}, OVERLOADED))
    result = anthropic(anthropic_server, stream=True).generate(GenerationRequest(prompt="x"))
    assert result.ok and result.attempts == 2
