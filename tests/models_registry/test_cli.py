"""``codequalbench models add|list|test|import`` against the local protocol servers."""

import json

import pytest
from click.testing import CliRunner

from codequal.cli import main
from models_registry.crypto import decrypt_secret
from models_registry.models import ModelEndpoint
from tests.factories import UserFactory

from .conftest import SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture
def cli(world):
    UserFactory(username="root", is_superuser=True, is_staff=True)
    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(main, ["models", *args, "--project", "org-a/project-a"], input=input)

    return run


def test_import_list_and_test_against_ollama(cli, ollama, tmp_path):
    registry = tmp_path / "models.json"
    registry.write_text(
        json.dumps(
            {
                "codellama:7b": {
                    "backend": "ollama",
                    "base_url": ollama.url,
                    "parameters": 7000000000,
                    "context_window": 4096,
                    "capabilities": ["code", "completion"],
                }
            }
        )
    )
    imported = cli("import", str(registry))
    assert imported.exit_code == 0, imported.output
    assert "1 created, 0 updated, 0 unchanged." in imported.output
    listed = cli("list")
    assert "codellama:7b" in listed.output and "ollama" in listed.output and "unknown" in listed.output
    tested = cli("test", "codellama:7b", "--max-tokens", "16")
    assert tested.exit_code == 0, tested.output
    assert "codellama:7b: OK in" in tested.output and "5 tokens, 1 attempt(s)." in tested.output
    assert "    return a + b  # s0" in tested.output
    assert json.loads(cli("list", "--json").output)[0]["health_status"] == "healthy"


def test_add_with_a_key_from_stdin_and_test_failures(cli, openai_server):
    added = cli(
        "add",
        "gpt-test",
        "--backend",
        "openai",
        "--base-url",
        openai_server.url + "/v1",
        "--style",
        "chat",
        "--option",
        "temperature=0.1",
        "--api-key-stdin",
        input=SECRET + "\n",
    )
    assert added.exit_code == 0, added.output
    assert "API key: read from standard input, stored encrypted." in added.output
    row = ModelEndpoint.objects.get(name="gpt-test")
    assert decrypt_secret(row.api_key_encrypted) == SECRET and row.generation_options == {"temperature": 0.1}
    outputs = [added.output, cli("list").output, cli("list", "--json").output]

    assert cli("test", "gpt-test").exit_code == 0
    openai_server.script(*[("status", 503, {}, {"error": {"message": "overloaded"}})] * 2)
    failed = cli("test", "gpt-test")
    assert failed.exit_code == 1
    assert "Error: gpt-test: Gave up after 2 attempts: The server answered HTTP 503: overloaded [server_error" in (
        failed.output
    )
    openai_server.script(("malformed",))
    malformed = cli("test", "gpt-test")
    assert malformed.exit_code == 1 and "not a valid" in malformed.output
    outputs += [failed.output, malformed.output]
    assert all(SECRET not in out for out in outputs)


def test_add_takes_the_openai_key_from_the_environment_only_with_default_url(cli, settings, monkeypatch, openai_server):
    settings.OPENAI_BASE_URL = openai_server.url + "/v1"
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    added = cli("add", "gpt-test", "--backend", "openai")
    assert added.exit_code == 0, added.output
    assert "API key: taken from OPENAI_API_KEY, stored encrypted." in added.output and SECRET not in added.output
    assert cli("test", "gpt-test").exit_code == 0
    other = cli("add", "local", "--backend", "openai", "--base-url", openai_server.url + "/v1")
    assert "API key" not in other.output
    assert ModelEndpoint.objects.get(name="local").api_key_encrypted == ""


def test_errors_are_messages(cli, ollama):
    refused = cli("add", "m", "--backend", "ollama", "--base-url", "http://169.254.169.254")
    assert refused.exit_code == 1 and "link-local or cloud-metadata" in refused.output
    missing = cli("test", "nope")
    assert missing.exit_code == 1 and "No model endpoint 'nope' in org-a/project-a." in missing.output
    bad_option = cli("add", "m", "--backend", "ollama", "--base-url", ollama.url, "--option", "temperature")
    assert bad_option.exit_code == 1 and "use KEY=VALUE" in bad_option.output


def test_project_must_be_chosen_when_there_are_several(world):
    UserFactory(username="root", is_superuser=True, is_staff=True)
    result = CliRunner().invoke(main, ["models", "list"])
    assert result.exit_code == 1 and "Several projects" in result.output
    as_viewer = CliRunner().invoke(main, ["models", "list", "--user", "a-viewer"])
    assert as_viewer.exit_code == 0 and "No model endpoints in org-a/project-a." in as_viewer.output


def test_add_and_test_the_local_backends(cli, settings, tmp_path):
    settings.SAMPLES_DIR = tmp_path / "store"
    samples = tmp_path / "mine.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "    return False\n"}) + "\n")
    added = cli("add", "generated-elsewhere", "--backend", "samples", "--base-url", str(samples))
    assert added.exit_code == 0, added.output
    endpoint = ModelEndpoint.objects.get(name="generated-elsewhere")
    assert endpoint.base_url.startswith(str(settings.SAMPLES_DIR))  # a content-addressed copy, not the user's path
    tested = cli("test", "generated-elsewhere")
    assert tested.exit_code == 0 and "1 samples for 1 tasks" in tested.output, tested.output
    assert cli("add", "reference", "--backend", "reference").exit_code == 0
    health = cli("test", "reference")
    assert health.exit_code == 0 and "canonical solution" in health.output, health.output


@pytest.mark.parametrize(("backend", "fixture"), [("anthropic", "anthropic_server"), ("gemini", "gemini_server")])
def test_add_and_test_the_hosted_backends_against_their_protocol_servers(cli, request, backend, fixture):
    server = request.getfixturevalue(fixture)
    served = server.models[0]
    added = cli("add", served, "--backend", backend, "--base-url", server.url, "--api-key-stdin", input=SECRET + "\n")
    assert added.exit_code == 0, added.output
    tested = cli("test", served)
    assert tested.exit_code == 0 and f"{served}: OK" in tested.output, tested.output
    assert SECRET not in added.output + tested.output
