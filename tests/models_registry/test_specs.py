"""Ad-hoc model specs (``--models``): parsing, register-or-reuse, keys from the environment, samples files stored."""

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from accounts.models import AuditLog
from codequal.exceptions import ApplicationError
from models_registry.crypto import decrypt_secret
from models_registry.models import ModelEndpoint
from models_registry.services import model_endpoint_create
from models_registry.specs import ModelSpec, endpoint_for_spec, parse_model_specs, samples_file_store

from .conftest import SECRET

SAMPLES = [
    {"task_id": "HumanEval/0", "completion": "    return 0\n"},
    {"task_id": "HumanEval/1", "completion": "    return 1\n"},
]


def spec(text: str) -> ModelSpec:
    [parsed] = parse_model_specs(text)
    return parsed


def jsonl(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@pytest.fixture
def evaluator(world):
    return world.a.user("evaluator")


@pytest.fixture
def for_spec(world, evaluator):
    def resolve(text: str):
        return endpoint_for_spec(actor=evaluator, project=world.a.project, spec=spec(text))

    return resolve


@pytest.fixture
def samples_root(settings, tmp_path):
    settings.SAMPLES_DIR = tmp_path / "store" / "samples"  # not there yet: created on first use
    return settings.SAMPLES_DIR


@pytest.fixture(autouse=True)
def _no_keys_from_the_caller(monkeypatch, settings):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings.OLLAMA_HOST = "127.0.0.1:11434"


def created_entries(project) -> int:
    return AuditLog.objects.filter(project=project, action="model_endpoint_created").count()


# --- parsing ------------------------------------------------------------------------------------------------------


def test_parse_splits_items_and_backend_at_the_first_colon_only():
    parsed = parse_model_specs(" ollama:codellama:7b, openai:gpt-4o-mini,hf:/ckpt/star:coder ,reference,my-model ")
    assert parsed == [
        ModelSpec("ollama", "codellama:7b", "ollama:codellama:7b"),
        ModelSpec("openai", "gpt-4o-mini", "openai:gpt-4o-mini"),
        ModelSpec("hf", "/ckpt/star:coder", "hf:/ckpt/star:coder"),
        ModelSpec("reference", "", "reference"),
        ModelSpec(None, "my-model", "my-model"),
    ]
    assert spec("samples:/data/he.jsonl.gz") == ModelSpec("samples", "/data/he.jsonl.gz", "samples:/data/he.jsonl.gz")
    assert spec("anthropic:claude-3-5-haiku").backend == "anthropic" and spec("gemini:gemini-2.0").backend == "gemini"


def test_known_names_are_bare_names_even_with_a_colon():
    assert parse_model_specs("codellama:7b,hf:star", known_names=["codellama:7b", "hf:star"]) == [
        ModelSpec(None, "codellama:7b", "codellama:7b"),
        ModelSpec(None, "hf:star", "hf:star"),
    ]
    assert parse_model_specs("reference", known_names=["reference"]) == [ModelSpec("reference", "", "reference")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "No model given"),
        (" , ", "No model given"),
        ("reference,,ollama:x", "Model spec 2 of 'reference,,ollama:x' is empty"),
        ("reference,", "Model spec 2 of 'reference,' is empty"),
        ("codellama:7b", "'codellama:7b': unknown backend 'codellama' (one of ollama, openai"),
        ("olama:codellama:7b", "unknown backend 'olama'"),
        ("hf:", "'hf:': give the path of a checkpoint directory after 'hf:'"),
        ("hf:   ", "give the path of a checkpoint directory"),
        ("samples:", "'samples:': give the path of a samples file"),
        ("ollama:", "'ollama:': give a model name after 'ollama:'"),
        ("ollama", "'ollama': say what the ollama backend serves, as ollama:<target>"),
        ("reference:x", "'reference:x': the reference backend takes nothing after it"),
    ],
)
def test_parse_errors_name_the_spec(text, message):
    with pytest.raises(ApplicationError) as caught:
        parse_model_specs(text)
    assert message in caught.value.message


# --- register or reuse --------------------------------------------------------------------------------------------


def test_a_model_spec_registers_at_ollama_host_then_is_reused(world, for_spec, settings):
    settings.OLLAMA_HOST = "0.0.0.0:11500"
    endpoint = for_spec("ollama:codellama:7b")
    assert (endpoint.name, endpoint.model, endpoint.backend) == ("codellama:7b", "codellama:7b", "ollama")
    assert endpoint.base_url == "http://127.0.0.1:11500" and endpoint.api_style == "completion"
    assert endpoint.created_by == world.a.user("evaluator") and created_entries(world.a.project) == 1
    again = for_spec("ollama:codellama:7b")
    assert again.pk == endpoint.pk and again.updated_at == endpoint.updated_at
    assert ModelEndpoint.objects.count() == 1 and created_entries(world.a.project) == 1


def test_an_endpoint_registered_another_way_is_reused(world, evaluator, for_spec, settings):
    settings.OLLAMA_HOST = "http://127.0.0.1:11434/"
    mine = model_endpoint_create(
        actor=evaluator, project=world.a.project, name="llama", model="codellama:7b", backend="ollama"
    )
    named = model_endpoint_create(actor=evaluator, project=world.a.project, name="deepseek-coder", backend="ollama")
    assert for_spec("ollama:codellama:7b") == mine  # same backend, served model and URL (normalised)
    assert for_spec("ollama:deepseek-coder") == named  # served model = the name when ``model`` is blank
    assert ModelEndpoint.objects.count() == 2


def test_a_taken_name_gets_a_numeric_suffix(world, evaluator, for_spec, settings):
    model_endpoint_create(actor=evaluator, project=world.a.project, name="gpt-4o-mini", backend="ollama")
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    first = for_spec("openai:gpt-4o-mini")
    assert (first.name, first.model, first.backend) == ("gpt-4o-mini-2", "gpt-4o-mini", "openai")
    settings.OPENAI_BASE_URL = "http://127.0.0.1:10/v1"  # another server: another endpoint
    second = for_spec("openai:gpt-4o-mini")
    assert second.name == "gpt-4o-mini-3" and second.base_url == "http://127.0.0.1:10/v1"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    assert for_spec("openai:gpt-4o-mini") == first
    model_endpoint_create(actor=evaluator, project=world.a.project, name="reference", backend="ollama")
    assert for_spec("reference").name == "reference-2"


def test_the_project_is_the_callers(world, evaluator):
    theirs = endpoint_for_spec(actor=world.b.user("evaluator"), project=world.b.project, spec=spec("reference"))
    mine = endpoint_for_spec(actor=evaluator, project=world.a.project, spec=spec("reference"))
    assert mine != theirs and mine.project == world.a.project
    with pytest.raises(ApplicationError) as caught:
        endpoint_for_spec(actor=evaluator, project=world.b.project, spec=spec("reference"))
    assert caught.value.status_code == 403


def test_viewers_can_neither_register_nor_use(world, for_spec):
    for_spec("reference")
    for text in ("reference", "ollama:x"):
        with pytest.raises(ApplicationError) as caught:
            endpoint_for_spec(actor=world.a.user("viewer"), project=world.a.project, spec=spec(text))
        assert caught.value.status_code == 403


def test_reference_and_bare_names(world, for_spec):
    reference = for_spec("reference")
    assert (reference.name, reference.backend, reference.base_url) == ("reference", "reference", "")
    assert for_spec("reference") == reference
    codellama = for_spec("ollama:codellama:7b")
    known = ModelEndpoint.objects.values_list("name", flat=True)
    [bare] = parse_model_specs("codellama:7b", known_names=known)
    assert endpoint_for_spec(actor=world.a.user("evaluator"), project=world.a.project, spec=bare) == codellama
    with pytest.raises(ApplicationError) as caught:
        for_spec("no-such-model")
    assert caught.value.status_code == 404 and caught.value.message.startswith("'no-such-model': no model endpoint")


def test_registration_errors_name_the_spec(for_spec, settings):
    settings.MODEL_ALLOW_LOOPBACK_URLS = False
    with pytest.raises(ApplicationError) as caught:
        for_spec("ollama:codellama:7b")
    assert caught.value.message.startswith("'ollama:codellama:7b': Invalid model endpoint:")
    assert "base_url" in caught.value.extra["fields"] and caught.value.extra["spec"] == "ollama:codellama:7b"
    assert not ModelEndpoint.objects.exists()


# --- keys from the environment ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "variable", "url_setting"),
    [
        ("openai", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
        ("anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
        ("gemini", "GEMINI_API_KEY", "GEMINI_BASE_URL"),
    ],
)
def test_env_keys_are_stored_encrypted_and_never_shown(
    api, world, for_spec, settings, monkeypatch, backend, variable, url_setting
):
    setattr(settings, url_setting, "http://127.0.0.1:9")
    monkeypatch.setenv(variable, SECRET)
    endpoint = for_spec(f"{backend}:some-model")
    row = ModelEndpoint.objects.get(pk=endpoint.pk)
    assert row.api_key_source == "stored" and row.api_key_env == ""
    assert SECRET not in row.api_key_encrypted and decrypt_secret(row.api_key_encrypted) == SECRET
    api.force_authenticate(world.a.user("evaluator"))
    response = api.get(f"/api/v1/models/{endpoint.pk}")
    assert response.status_code == 200 and response.json()["has_api_key"] is True
    assert SECRET not in response.content.decode() and row.api_key_encrypted not in response.content.decode()
    assert SECRET not in str(list(AuditLog.objects.values_list("data", flat=True)))


def test_a_missing_key_is_no_error_and_a_reused_endpoint_keeps_its_key(for_spec, settings, monkeypatch):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    keyless = for_spec("openai:gpt-4o-mini")
    assert keyless.api_key_source == "none"
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert ModelEndpoint.objects.get(pk=for_spec("openai:gpt-4o-mini").pk).api_key_source == "none"
    monkeypatch.setenv("OLLAMA_API_KEY", SECRET)
    assert for_spec("ollama:codellama:7b").api_key_source == "none"  # ollama takes no key from anywhere


# --- samples files ------------------------------------------------------------------------------------------------


def test_samples_files_are_stored_by_content_once(samples_root, tmp_path):
    source = tmp_path / "he.jsonl"
    source.write_bytes(jsonl(SAMPLES))
    stored = samples_file_store(source)
    assert stored == samples_root / f"{hashlib.sha256(jsonl(SAMPLES)).hexdigest()}.jsonl"
    assert stored.read_bytes() == source.read_bytes()
    assert Path(samples_root).stat().st_mode & 0o777 == 0o700
    inode = stored.stat().st_ino
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(jsonl(SAMPLES))
    assert samples_file_store(copy) == stored and stored.stat().st_ino == inode  # the same content: left alone
    assert [p.name for p in Path(samples_root).iterdir()] == [stored.name]  # no staging left behind
    packed = tmp_path / "he.jsonl.gz"
    packed.write_bytes(gzip.compress(jsonl(SAMPLES)))
    gz_stored = samples_file_store(packed)
    assert gz_stored.name == f"{stored.stem}.jsonl.gz" and gz_stored.read_bytes() == packed.read_bytes()


def test_bad_samples_files_are_refused_with_line_and_field(samples_root, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(jsonl(SAMPLES) + b'{"task_id": "HumanEval/2"}\n')
    with pytest.raises(ApplicationError, match=r"bad\.jsonl line 3: needs a 'completion'"):
        samples_file_store(bad)
    with pytest.raises(ApplicationError, match="No samples file"):
        samples_file_store(tmp_path / "missing.jsonl")
    with pytest.raises(ApplicationError, match="No samples file"):
        samples_file_store(tmp_path)
    assert [p.name for p in Path(samples_root).iterdir()] == []


def test_a_samples_spec_registers_the_stored_file(world, for_spec, samples_root, tmp_path):
    source = tmp_path / "he.jsonl"
    source.write_bytes(jsonl(SAMPLES))
    digest = hashlib.sha256(jsonl(SAMPLES)).hexdigest()
    endpoint = for_spec(f"samples:{source}")
    assert endpoint.name == f"samples:he.jsonl@{digest[:8]}" and endpoint.backend == "samples"
    assert endpoint.base_url == str((samples_root / f"{digest}.jsonl").resolve())
    renamed = tmp_path / "other.jsonl"
    renamed.write_bytes(jsonl(SAMPLES))
    assert for_spec(f"samples:{source}") == endpoint == for_spec(f"samples:{renamed}")
    assert ModelEndpoint.objects.count() == 1 and len(list(Path(samples_root).iterdir())) == 1
    assert created_entries(world.a.project) == 1
    source.write_bytes(b"{oops\n")
    with pytest.raises(ApplicationError) as caught:
        for_spec(f"samples:{source}")
    assert caught.value.message.startswith(f"'samples:{source}': he.jsonl line 1: not valid JSON")


# --- hf ----------------------------------------------------------------------------------------------------------


def test_an_hf_spec_is_named_after_its_checkpoint_directory(for_spec, settings, tmp_path):
    settings.HF_MODEL_DIRS = [tmp_path]
    settings.HF_ALLOW_HUB = False
    checkpoint = tmp_path / "starcoder2-3b"
    checkpoint.mkdir()
    endpoint = for_spec(f"hf:{checkpoint}/")
    assert (endpoint.name, endpoint.backend, endpoint.base_url) == ("hf:starcoder2-3b", "hf", str(checkpoint))
    assert for_spec(f"hf:{checkpoint}") == endpoint == for_spec("hf:starcoder2-3b")  # relative: inside HF_MODEL_DIRS
    assert ModelEndpoint.objects.count() == 1
    with pytest.raises(ApplicationError) as caught:
        for_spec("hf:/no/such/dir")
    assert caught.value.message.startswith("'hf:/no/such/dir': Invalid model endpoint: Checkpoints are loaded from")
    assert list(caught.value.extra["fields"]) == ["base_url"]
