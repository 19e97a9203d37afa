"""What a user sees of the anthropic and gemini backends: ``POST /api/v1/models/{id}/test``, health, the CLI.

Each runs against the local protocol server of its API; the key is never in a response, a log line or CLI output.
"""

import logging

import pytest
from click.testing import CliRunner

from codequal.cli import main
from models_registry.crypto import decrypt_secret
from models_registry.models import ModelEndpoint
from tests.factories import UserFactory

from .conftest import SECRET
from .servers_hosted import anthropic_error, gemini_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"
MODELS = {"anthropic": "claude-test-4-5-20250929", "gemini": "gemini-test-flash"}
ERRORS = {
    "anthropic": {
        429: anthropic_error("rate_limit_error", "Number of requests exceeded"),
        529: anthropic_error("overloaded_error", "Overloaded"),
    },
    "gemini": {
        429: gemini_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
        529: gemini_error(503, "UNAVAILABLE", "The model is overloaded."),
    },
}


@pytest.fixture(params=["anthropic", "gemini"])
def hosted(request):
    """(backend key, its protocol server)."""
    return request.param, request.getfixturevalue(f"{request.param}_server")


def register(api, world, backend, server, **extra):
    api.force_authenticate(world.a.user("evaluator"))
    body = {
        "project": world.a.project.pk,
        "name": MODELS[backend],
        "backend": backend,
        "base_url": server.url,
        "api_key": SECRET,
        **extra,
    }
    response = api.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_registered_without_a_style_they_are_chat_endpoints(api, world, hosted):
    backend, server = hosted
    data = register(api, world, backend, server)
    assert data["api_style"] == "chat" and data["has_api_key"] and SECRET not in str(data)
    assert decrypt_secret(ModelEndpoint.objects.get().api_key_encrypted) == SECRET
    streamed = api.post(
        URL,
        {"project": world.a.project.pk, "name": "c", "backend": backend, "base_url": server.url, "stream": True},
        format="json",
    )
    assert streamed.status_code == 201 and streamed.json()["stream"] is True  # both hosted APIs stream (SSE)
    completion = api.patch(f"{URL}/{data['id']}", {"api_style": "completion"}, format="json")
    assert completion.status_code == 400 and "serves chat requests" in str(completion.json())


def test_test_endpoint_success(api, world, hosted):
    backend, server = hosted
    endpoint_id = register(api, world, backend, server)["id"]
    data = api.post(f"{URL}/{endpoint_id}/test", {"prompt": "Write add(a, b).", "max_tokens": 16}, format="json").json()
    assert data["success"] is True and data["response"] == "    return a + b  # s0"
    assert data["tokens_generated"] == 5 and data["attempts"] == 1 and data["message"] == "The model answered."
    assert api.get(f"{URL}/{endpoint_id}").json()["health_status"] == "healthy"
    health = api.post(f"{URL}/{endpoint_id}/health").json()
    assert health["healthy"] is True and MODELS[backend] in health["models"]


@pytest.mark.parametrize(
    ("script", "kind", "words"),
    [
        ("overloaded", "server_error", "Gave up after 2 attempts: The server answered HTTP 5"),
        ("timeout", "timeout", "The server sent nothing for 0.5s (read timeout)."),
        ("malformed", "malformed_response", "The server's answer is not a valid"),
    ],
)
def test_test_endpoint_failures_are_a_message_not_a_500(api, world, hosted, script, kind, words):
    backend, server = hosted
    endpoint_id = register(api, world, backend, server)["id"]
    overloaded = ("status", 529 if backend == "anthropic" else 503, {}, ERRORS[backend][529])
    server.script(
        *{"overloaded": [overloaded] * 2, "timeout": [("sleep", 1.0)] * 2, "malformed": [("malformed",)]}[script]
    )
    response = api.post(f"{URL}/{endpoint_id}/test", {"prompt": "x"}, format="json")
    assert response.status_code == 200
    data = response.json()
    assert data["success"] is False and data["response"] == "" and data["tokens_generated"] is None
    assert data["error_kind"] == kind and words in data["message"]
    endpoint = api.get(f"{URL}/{endpoint_id}").json()
    assert endpoint["health_status"] == "unhealthy" and words in endpoint["health_error"]


def test_test_endpoint_429_then_success(api, world, hosted):
    backend, server = hosted
    endpoint_id = register(api, world, backend, server)["id"]
    server.script(("status", 429, {"retry-after": "0"}, ERRORS[backend][429]))
    data = api.post(f"{URL}/{endpoint_id}/test", {"prompt": "x"}, format="json").json()
    assert data["success"] is True and data["attempts"] == 2


def test_the_key_never_appears_in_responses_or_logs(api, world, hosted, caplog):
    backend, server = hosted
    for name in (None, "httpx2", "httpcore2", "anthropic", "google_genai", "google"):
        caplog.set_level(logging.DEBUG, logger=name)
    seen = [str(register(api, world, backend, server))]
    endpoint_id = ModelEndpoint.objects.get().pk
    server.script(("status", 429, {"retry-after": "0"}, ERRORS[backend][429]), ("status", 500))
    for call in (
        lambda: api.post(f"{URL}/{endpoint_id}/test", {"prompt": "x"}, format="json"),
        lambda: api.post(f"{URL}/{endpoint_id}/health"),
        lambda: api.get(f"{URL}/{endpoint_id}"),
        lambda: api.patch(f"{URL}/{endpoint_id}", {"api_key": "sk-wrong-but-secret-42"}, format="json"),
        lambda: api.post(f"{URL}/{endpoint_id}/test", {"prompt": "x"}, format="json"),
        lambda: api.get(URL),
    ):
        seen.append(call().content.decode())
    assert '"error_kind":"authentication"' in seen[-2]
    everything = "\n".join(seen) + "\n".join(r.getMessage() for r in caplog.records)
    assert any("retry" in r.getMessage() for r in caplog.records)
    assert any(r.name.startswith(("anthropic", "google_genai", "httpx2", "httpcore2")) for r in caplog.records)
    assert SECRET not in everything and "sk-wrong-but-secret-42" not in everything


@pytest.fixture
def cli(world):
    UserFactory(username="root", is_superuser=True, is_staff=True)
    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(main, ["models", *args, "--project", "org-a/project-a"], input=input)

    return run


def test_cli_add_with_the_key_from_the_environment_then_test(cli, hosted, settings, monkeypatch):
    backend, server = hosted
    setattr(settings, f"{backend.upper()}_BASE_URL", server.url)
    variable = f"{backend.upper()}_API_KEY"
    monkeypatch.setenv(variable, SECRET)
    added = cli("add", MODELS[backend], "--backend", backend)
    assert added.exit_code == 0, added.output
    assert f"({backend}, chat) at {server.url}" in added.output
    assert f"API key: taken from {variable}, stored encrypted." in added.output
    tested = cli("test", MODELS[backend], "--max-tokens", "16")
    assert tested.exit_code == 0, tested.output
    assert "5 tokens, 1 attempt(s)." in tested.output and "    return a + b  # s0" in tested.output
    overloaded = ("status", 529 if backend == "anthropic" else 503, {}, ERRORS[backend][529])
    server.script(overloaded, overloaded)
    failed = cli("test", MODELS[backend])
    assert failed.exit_code == 1 and "Gave up after 2 attempts" in failed.output and "[server_error" in failed.output
    server.script(("malformed",))
    malformed = cli("test", MODELS[backend])
    assert malformed.exit_code == 1 and "not a valid" in malformed.output
    server.api_key = "another-key-entirely"
    refused = cli("test", MODELS[backend])
    assert refused.exit_code == 1 and "[authentication" in refused.output
    listed = cli("list", "--json")
    outputs = [added.output, tested.output, failed.output, malformed.output, refused.output, listed.output]
    assert all(SECRET not in out for out in outputs)


def test_cli_style_completion_is_refused_for_chat_only_backends(cli, hosted):
    backend, server = hosted
    result = cli("add", "m", "--backend", backend, "--base-url", server.url, "--style", "completion")
    assert result.exit_code == 1 and f"The {backend} backend serves chat requests." in result.output
