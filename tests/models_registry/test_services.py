"""Services: registry import (all or nothing), permissions, defaults."""

import pytest

from codequal.exceptions import ApplicationError, ConflictError
from models_registry.models import ModelEndpoint
from models_registry.selectors import endpoint_backend
from models_registry.services import (
    model_endpoint_create,
    model_endpoint_update,
    model_registry_import,
)

pytestmark = pytest.mark.django_db

REGISTRY = {
    "codellama:7b": {
        "backend": "ollama",
        "parameters": 7000000000,
        "context_window": 4096,
        "capabilities": ["code", "completion"],
    },
    "deepseek-coder:6.7b": {"backend": "ollama", "api_style": "chat", "generation_options": {"temperature": 0.2}},
}


def test_import_creates_then_leaves_alone_or_updates(world, ollama):
    actor, project = world.a.user("evaluator"), world.a.project
    registry = {name: {**spec, "base_url": ollama.url} for name, spec in REGISTRY.items()}
    summary = model_registry_import(actor=actor, project=project, registry=registry)
    assert summary.created == ("codellama:7b", "deepseek-coder:6.7b") and summary.unchanged == ()
    row = ModelEndpoint.objects.get(name="codellama:7b")
    assert (row.parameters, row.context_window, row.capabilities) == (7000000000, 4096, ["code", "completion"])
    again = model_registry_import(actor=actor, project=project, registry=registry)
    assert again.unchanged == ("codellama:7b", "deepseek-coder:6.7b")
    registry["codellama:7b"]["context_window"] = 16384
    updated = model_registry_import(actor=actor, project=project, registry=registry, update_existing=True)
    assert updated.updated == ("codellama:7b", "deepseek-coder:6.7b")
    assert ModelEndpoint.objects.get(name="codellama:7b").context_window == 16384


def test_import_is_all_or_nothing(world, ollama):
    registry = {
        "good": {"backend": "ollama", "base_url": ollama.url},
        "bad": {"backend": "ollama", "base_url": ollama.url, "context_window": "large"},
    }
    with pytest.raises(ApplicationError, match="bad: Invalid model endpoint: Must be a whole number"):
        model_registry_import(actor=world.a.user("evaluator"), project=world.a.project, registry=registry)
    assert not ModelEndpoint.objects.exists()


def test_import_rejects_unknown_keys_and_backends(world):
    actor, project = world.a.user("evaluator"), world.a.project
    with pytest.raises(ApplicationError, match="unknown keys api_key"):
        model_registry_import(actor=actor, project=project, registry={"m": {"backend": "ollama", "api_key": "x"}})
    with pytest.raises(ApplicationError, match="Unknown backend 'vllm'"):
        model_registry_import(actor=actor, project=project, registry={"m": {"backend": "vllm"}})


def test_viewers_cannot_register_even_through_the_service(world):
    with pytest.raises(ApplicationError) as caught:
        model_endpoint_create(actor=world.a.user("viewer"), project=world.a.project, name="m", backend="ollama")
    assert caught.value.status_code == 403


def test_default_base_url_comes_from_ollama_host(world, settings):
    settings.OLLAMA_HOST = "0.0.0.0:11500"  # Ollama's own "listen everywhere" form
    endpoint = model_endpoint_create(
        actor=world.a.user("evaluator"), project=world.a.project, name="m", backend="ollama"
    )
    assert endpoint.base_url == "http://127.0.0.1:11500"


def test_renaming_onto_an_existing_name_conflicts(world, ollama):
    actor, project = world.a.user("evaluator"), world.a.project
    model_endpoint_create(actor=actor, project=project, name="a", backend="ollama", base_url=ollama.url)
    b = model_endpoint_create(actor=actor, project=project, name="b", backend="ollama", base_url=ollama.url)
    with pytest.raises(ConflictError):
        model_endpoint_update(actor=actor, endpoint=b, name="a")


def test_changing_the_url_resets_health_and_the_adapter_follows_the_row(world, ollama):
    actor, project = world.a.user("evaluator"), world.a.project
    endpoint = model_endpoint_create(
        actor=actor,
        project=project,
        name="codellama:7b",
        backend="ollama",
        base_url=ollama.url,
        generation_options={"seed": 5},
        max_concurrency=3,
    )
    endpoint.health_status = "healthy"
    endpoint.save()
    same = model_endpoint_update(actor=actor, endpoint=endpoint, base_url=ollama.url + "/", capabilities=[])
    assert same.health_status == "healthy" and same.base_url == ollama.url  # the same URL, normalised
    moved = ollama.url.replace("127.0.0.1", "localhost")
    endpoint = model_endpoint_update(actor=actor, endpoint=endpoint, base_url=moved)
    assert endpoint.health_status == "unknown"
    endpoint = model_endpoint_update(actor=actor, endpoint=endpoint, base_url=ollama.url)
    config = endpoint_backend(endpoint).config
    assert (config.base_url, config.model, config.max_concurrency) == (ollama.url, "codellama:7b", 3)
    assert config.default_options.seed == 5 and config.limiter_key == f"endpoint:{endpoint.pk}"
    assert "api_key" not in repr(config)


def test_endpoint_changes_are_audited_without_the_key(world):
    from accounts.models import AuditLog
    from models_registry.services import model_endpoint_create, model_endpoint_delete, model_endpoint_update

    actor = world.a.user("evaluator")
    endpoint = model_endpoint_create(
        actor=actor, project=world.a.project, name="audited", backend="ollama", api_key="sk-audit-secret"
    )
    model_endpoint_update(actor=actor, endpoint=endpoint, api_key="sk-audit-second", name="audited-2")
    model_endpoint_delete(actor=actor, endpoint=endpoint)
    entries = list(AuditLog.objects.filter(project=world.a.project, action__startswith="model_endpoint").order_by("pk"))
    assert [e.action for e in entries] == ["model_endpoint_created", "model_endpoint_updated", "model_endpoint_deleted"]
    assert entries[1].data == {"changed": ["api_key", "name"]}
    assert all(e.actor == actor for e in entries)
    assert "sk-audit" not in str([e.data for e in entries]) + str([e.target_repr for e in entries])
