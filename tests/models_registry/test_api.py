"""The /api/v1/models endpoints: CRUD, write-only keys, SSRF guard, and what a user sees from /test and /health."""

import logging

import pytest

from models_registry.crypto import decrypt_secret
from models_registry.models import ModelEndpoint

from .conftest import SECRET

pytestmark = pytest.mark.django_db

URL = "/api/v1/models"


def register(api, world, server, **extra):
    api.force_authenticate(world.a.user("evaluator"))
    body = {
        "project": world.a.project.pk,
        "name": "gpt-test",
        "backend": "openai",
        "base_url": server.url + "/v1",
        "api_key": SECRET,
        "capabilities": ["code", "Chat"],
        "generation_options": {"temperature": 0.2},
        **extra,
    }
    response = api.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    return response


def test_create_stores_the_key_encrypted_and_never_returns_it(api, world, openai_server):
    data = register(api, world, openai_server).json()
    assert "api_key" not in data and SECRET not in str(data)
    assert data["has_api_key"] is True and data["api_key_source"] == "stored"
    assert data["capabilities"] == ["code", "chat"]
    assert data["health_status"] == "unknown"
    row = ModelEndpoint.objects.get(pk=data["id"])
    assert row.created_by == world.a.user("evaluator")
    assert SECRET not in row.api_key_encrypted and decrypt_secret(row.api_key_encrypted) == SECRET


def test_the_registry_json_fields(api, world, ollama):
    api.force_authenticate(world.a.user("evaluator"))
    body = {
        "project": world.a.project.pk,
        "name": "codellama:7b",
        "backend": "ollama",
        "base_url": ollama.url,
        "parameters": 7000000000,
        "context_window": 4096,
        "capabilities": ["code", "completion"],
    }
    data = api.post(URL, body, format="json").json()
    assert (data["parameters"], data["context_window"], data["has_api_key"]) == (7000000000, 4096, False)
    listed = api.get(URL, {"project": world.a.project.pk, "backend": "ollama"}).json()
    assert [m["name"] for m in listed["results"]] == ["codellama:7b"]


def test_viewers_read_but_cannot_register_or_test(api, world, openai_server):
    endpoint_id = register(api, world, openai_server).json()["id"]
    api.force_authenticate(world.a.user("viewer"))
    assert api.get(f"{URL}/{endpoint_id}").status_code == 200
    body = {"project": world.a.project.pk, "name": "x", "backend": "ollama"}
    assert api.post(URL, body, format="json").status_code == 403
    assert api.post(f"{URL}/{endpoint_id}/test", {"prompt": "x"}, format="json").status_code == 403
    assert api.patch(f"{URL}/{endpoint_id}", {"name": "y"}, format="json").status_code == 403
    assert openai_server.requests == []


def test_duplicate_name_is_a_conflict(api, world, openai_server):
    register(api, world, openai_server)
    response = api.post(
        URL,
        {"project": world.a.project.pk, "name": "gpt-test", "backend": "openai", "base_url": openai_server.url},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["message"] == "A model endpoint with that name already exists in this project."


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local or cloud-metadata"),
        ("http://metadata.google.internal/", "cloud-metadata host"),
        ("http://10.0.0.5:8000/v1", "MODEL_ALLOW_PRIVATE_URLS=true"),
        ("http://user:pass@127.0.0.1:8000/v1", "credentials"),
    ],
)
def test_ssrf_guard_on_create(api, world, base_url, expected):
    api.force_authenticate(world.a.user("evaluator"))
    body = {"project": world.a.project.pk, "name": "m", "backend": "openai", "base_url": base_url}
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert expected in " ".join(response.json()["extra"]["fields"]["base_url"])
    assert not ModelEndpoint.objects.exists()


def test_loopback_refused_when_the_setting_is_off(api, world, settings):
    settings.MODEL_ALLOW_LOOPBACK_URLS = False
    api.force_authenticate(world.a.user("evaluator"))
    body = {"project": world.a.project.pk, "name": "m", "backend": "ollama"}  # default: OLLAMA_HOST on localhost
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert "MODEL_ALLOW_LOOPBACK_URLS=true" in response.json()["message"]


def test_invalid_options_and_capabilities_name_the_field(api, world, ollama):
    api.force_authenticate(world.a.user("evaluator"))
    body = {
        "project": world.a.project.pk,
        "name": "m",
        "backend": "ollama",
        "base_url": ollama.url,
        "generation_options": {"temperature": 5, "colour": "red"},
        "capabilities": ["code", "no spaces allowed"],
    }
    fields = api.post(URL, body, format="json").json()["extra"]["fields"]
    assert any("temperature: must be between 0 and 2" in m for m in fields["generation_options"])
    assert any("colour: unknown option" in m for m in fields["generation_options"])
    assert "capabilities" in fields


def test_api_key_env_must_be_allowlisted(api, world, openai_server, settings, monkeypatch):
    api.force_authenticate(world.a.user("evaluator"))
    body = {"project": world.a.project.pk, "name": "m", "backend": "openai", "base_url": openai_server.url + "/v1"}
    refused = api.post(URL, {**body, "api_key_env": "SECRET_KEY"}, format="json")
    assert refused.status_code == 400 and "MODEL_API_KEY_ENV_ALLOWLIST" in refused.json()["message"]
    both = api.post(URL, {**body, "api_key": "sk-1234", "api_key_env": "OPENAI_API_KEY"}, format="json")
    assert both.status_code == 400 and "not both" in both.json()["message"]
    settings.MODEL_API_KEY_ENV_ALLOWLIST = ["CQB_TEST_OPENAI_KEY"]
    monkeypatch.setenv("CQB_TEST_OPENAI_KEY", SECRET)
    created = api.post(URL, {**body, "api_key_env": "CQB_TEST_OPENAI_KEY"}, format="json").json()
    assert created["api_key_source"] == "env" and created["api_key_env"] == "CQB_TEST_OPENAI_KEY"
    result = api.post(f"{URL}/{created['id']}/test", {"prompt": "x"}, format="json").json()
    assert result["success"] is True
    assert openai_server.requests[-1]["headers"]["authorization"] == f"Bearer {SECRET}"


def test_update_keeps_replaces_or_removes_the_key(api, world, openai_server):
    endpoint_id = register(api, world, openai_server).json()["id"]
    detail = f"{URL}/{endpoint_id}"
    assert api.patch(detail, {"max_concurrency": 2}, format="json").json()["has_api_key"] is True
    assert decrypt_secret(ModelEndpoint.objects.get(pk=endpoint_id).api_key_encrypted) == SECRET
    api.patch(detail, {"api_key": "sk-other-key-123"}, format="json")
    assert decrypt_secret(ModelEndpoint.objects.get(pk=endpoint_id).api_key_encrypted) == "sk-other-key-123"
    data = api.patch(detail, {"api_key": ""}, format="json").json()
    assert data["has_api_key"] is False and data["api_key_source"] == "none"


def test_test_endpoint_success(api, world, openai_server):
    endpoint_id = register(api, world, openai_server).json()["id"]
    response = api.post(f"{URL}/{endpoint_id}/test", {"prompt": "def add(a, b):\n", "max_tokens": 16}, format="json")
    assert response.status_code == 200
    data = response.json()
    assert data["success"] is True
    assert data["response"] == "    return a + b  # s0"
    assert data["tokens_generated"] == 5 and data["latency_ms"] > 0
    sent = openai_server.requests[-1]["body"]
    assert (sent["max_tokens"], sent["temperature"]) == (16, 0.2)  # the endpoint's default options apply
    endpoint = api.get(f"{URL}/{endpoint_id}").json()
    assert endpoint["health_status"] == "healthy" and endpoint["health_checked_at"]


@pytest.mark.parametrize(
    ("script", "kind", "words"),
    [
        ([("status", 500, {}, {"error": {"message": "boom"}})] * 2, "server_error", "Gave up after 2 attempts"),
        ([("sleep", 1.0)] * 2, "timeout", "read timeout"),
        ([("malformed",)], "malformed_response", "not a valid"),
        (
            [("status", 404, {}, {"error": {"message": "The model `gpt-test` does not exist"}})],
            "not_found",
            "does not exist",
        ),
    ],
)
def test_test_endpoint_failures_are_a_message_not_a_500(api, world, openai_server, settings, script, kind, words):
    endpoint_id = register(api, world, openai_server).json()["id"]
    openai_server.script(*script)
    response = api.post(f"{URL}/{endpoint_id}/test", {"prompt": "x"}, format="json")
    assert response.status_code == 200
    data = response.json()
    assert data["success"] is False and data["response"] == "" and data["tokens_generated"] is None
    assert data["error_kind"] == kind and words in data["message"]
    endpoint = api.get(f"{URL}/{endpoint_id}").json()
    assert endpoint["health_status"] == "unhealthy" and words in endpoint["health_error"]


def test_a_person_waiting_gets_capped_timeouts_and_one_retry(api, world, openai_server, settings):
    settings.MODEL_READ_TIMEOUT = 30.0
    settings.MODEL_MAX_RETRIES = 4
    settings.MODEL_TEST_TIMEOUT = 0.3
    endpoint_id = register(api, world, openai_server).json()["id"]
    openai_server.script(("sleep", 1.0), ("sleep", 1.0), ("sleep", 1.0))
    data = api.post(f"{URL}/{endpoint_id}/test", {"prompt": "x"}, format="json").json()
    assert data["success"] is False and data["attempts"] == 2
    assert "The server sent nothing for 0.3s (read timeout)." in data["message"]
    assert len([r for r in openai_server.requests if r["path"] == "/v1/completions"]) == 2


def test_test_endpoint_against_ollama_streaming(api, world, ollama):
    api.force_authenticate(world.a.user("evaluator"))
    body = {"project": world.a.project.pk, "name": "codellama:7b", "backend": "ollama", "base_url": ollama.url}
    endpoint_id = api.post(URL, {**body, "stream": True}, format="json").json()["id"]
    data = api.post(f"{URL}/{endpoint_id}/test", {"prompt": "def add(a, b):\n", "max_tokens": 4}, format="json").json()
    assert data["success"] is True and data["response"] == "    return a + b"
    assert data["tokens_generated"] == 4 and data["message"] == "The model answered."
    sent = next(r["body"] for r in ollama.requests if r["path"] == "/api/generate")
    assert sent["stream"] is True and sent["options"]["num_predict"] == 4
    ollama.script(("status", 200, {}, {"error": "model requires more system memory (5.6 GiB) than is available"}))
    failed = api.post(f"{URL}/{endpoint_id}/test", {"prompt": "x"}, format="json").json()
    assert failed["success"] is False and "more system memory" in failed["message"]


def test_test_endpoint_with_no_server(api, world, openai_server):
    endpoint_id = register(api, world, openai_server).json()["id"]
    openai_server.close()
    data = api.post(f"{URL}/{endpoint_id}/test", {"prompt": "x"}, format="json").json()
    assert data["success"] is False and data["error_kind"] == "connection"
    assert "Could not connect" in data["message"]


def test_test_endpoint_rechecks_the_url_policy(api, world, openai_server, settings):
    endpoint_id = register(api, world, openai_server).json()["id"]
    settings.MODEL_ALLOW_LOOPBACK_URLS = False
    data = api.post(f"{URL}/{endpoint_id}/test", {"prompt": "x"}, format="json").json()
    assert data["success"] is False and data["error_kind"] == "url_refused"
    assert openai_server.requests == []


def test_test_endpoint_input_is_validated(api, world, openai_server):
    endpoint_id = register(api, world, openai_server).json()["id"]
    response = api.post(f"{URL}/{endpoint_id}/test", {"max_tokens": 0}, format="json")
    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == {"prompt", "max_tokens"}


def test_undecryptable_key_is_a_clear_failure(api, world, openai_server, settings):
    endpoint_id = register(api, world, openai_server).json()["id"]
    settings.MODEL_KEY_ENCRYPTION_KEYS = ["a-different-key-than-before"]
    data = api.post(f"{URL}/{endpoint_id}/test", {"prompt": "x"}, format="json").json()
    assert data["success"] is False and "cannot be decrypted" in data["message"]


def test_health_action(api, world, openai_server):
    endpoint_id = register(api, world, openai_server).json()["id"]
    data = api.post(f"{URL}/{endpoint_id}/health").json()
    assert data == {
        "healthy": True,
        "message": "The server serves gpt-test.",
        "latency_ms": data["latency_ms"],
        "models": ["gpt-test"],
        "health_status": "healthy",
    }


def test_delete(api, world, openai_server):
    endpoint_id = register(api, world, openai_server).json()["id"]
    assert api.delete(f"{URL}/{endpoint_id}").status_code == 204
    assert not ModelEndpoint.objects.filter(pk=endpoint_id).exists()


def test_the_key_never_appears_in_responses_or_logs(api, world, openai_server, caplog):
    for name in (None, "httpx2", "httpcore2", "openai"):  # every logger, the HTTP clients' debug output included
        caplog.set_level(logging.DEBUG, logger=name)
    seen = [register(api, world, openai_server).content]
    endpoint_id = ModelEndpoint.objects.get().pk
    openai_server.script(("status", 429, {"Retry-After": "0"}), ("status", 500))
    for call in (
        lambda: api.get(URL),
        lambda: api.get(f"{URL}/{endpoint_id}"),
        lambda: api.post(f"{URL}/{endpoint_id}/test", {"prompt": "x"}, format="json"),
        lambda: api.post(f"{URL}/{endpoint_id}/health"),
        lambda: api.patch(f"{URL}/{endpoint_id}", {"api_key": "sk-wrong-but-secret-42"}, format="json"),
        # The server echoes the (wrong) key it was sent in its 401 body.
        lambda: api.post(f"{URL}/{endpoint_id}/test", {"prompt": "x"}, format="json"),
        lambda: api.get(f"{URL}/{endpoint_id}"),
        lambda: api.options(URL),
        lambda: api.get("/api/schema/"),
    ):
        seen.append(call().content)
    assert b"Incorrect API key provided" in seen[-4]
    everything = b"\n".join(seen).decode() + "\n".join(r.getMessage() for r in caplog.records)
    assert any("retry" in r.getMessage() for r in caplog.records)  # the retries were logged...
    assert any(r.name.startswith("openai") for r in caplog.records)
    assert SECRET not in everything and "sk-wrong-but-secret-42" not in everything  # ...without the key


def test_creating_under_another_tenants_project_is_refused_without_detail(api, world, ollama):
    api.force_authenticate(world.b.user("owner"))
    body = {"project": world.a.project.pk, "name": "sneaky", "backend": "ollama", "base_url": ollama.url}
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert "does not exist" in str(response.json()["extra"]["fields"]["project"])
    assert not ModelEndpoint.objects.exists()


def test_list_query_count_does_not_grow_with_rows(api, world, ollama, django_assert_max_num_queries):
    from models_registry.services import model_endpoint_create

    for i in range(12):
        model_endpoint_create(
            actor=world.a.user("evaluator"),
            project=world.a.project,
            name=f"m{i}",
            backend="ollama",
            base_url=ollama.url,
        )
    api.force_authenticate(world.a.user("viewer"))
    with django_assert_max_num_queries(8):
        assert api.get(URL).json()["count"] == 12
