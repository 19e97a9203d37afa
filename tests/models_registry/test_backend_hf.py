"""The hf adapter with a tiny GPT-2 and BPE tokenizer that the test builds, saves and loads back from its folder."""

import math
import shutil
import sys

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from codequal.cli import main  # noqa: E402
from codequal.exceptions import ApplicationError  # noqa: E402
from models_registry.backends import (  # noqa: E402
    EndpointConfig,
    ErrorKind,
    FinishReason,
    GenerationOptions,
    GenerationRequest,
    Timeouts,
    backend_class,
    create_backend,
)
from models_registry.backends.hf import clear_model_cache  # noqa: E402
from models_registry.services import model_endpoint_create  # noqa: E402
from tests.factories import UserFactory  # noqa: E402
from tests.tiny_lm import humaneval_text, save, tiny_gpt2, tiny_tokenizer  # noqa: E402

from .helpers import FAST_RETRY  # noqa: E402

PROMPT = "def add(a, b):\n    "
CHAT_TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant: "


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """HF_MODEL_DIRS holding ``tiny`` (random weights), ``tiny-chat`` (with a chat template) and ``eos`` (which ends
    every text at once)."""
    root = tmp_path_factory.mktemp("hf-models")
    tokenizer = tiny_tokenizer()
    eos_id = tokenizer.eos_token_id
    model = tiny_gpt2(tokenizer)
    save(root / "tiny", model, tokenizer)
    tokenizer.chat_template = CHAT_TEMPLATE
    save(root / "tiny-chat", model, tokenizer)
    with torch.no_grad():  # the final norm outputs EOS's embedding, made long: EOS wins every step
        direction = model.transformer.wte.weight[eos_id] / model.transformer.wte.weight[eos_id].norm()
        model.transformer.wte.weight[eos_id] = direction * 10
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.copy_(direction * 10)
    save(root / "eos", model, transformers.PreTrainedTokenizerFast.from_pretrained(root / "tiny"))
    yield root
    clear_model_cache()


@pytest.fixture(autouse=True)
def _hf_settings(settings, models_dir):
    settings.HF_MODEL_DIRS = [models_dir]
    settings.HF_ALLOW_HUB = False
    settings.HF_DEVICE = "cpu"


@pytest.fixture(scope="module")
def reference(models_dir):
    """The checkpoint loaded directly, for the manual computations."""
    path = models_dir / "tiny"
    return transformers.GPT2LMHeadModel.from_pretrained(path).eval(), transformers.AutoTokenizer.from_pretrained(path)


def hf(location, **overrides):
    values = {
        "backend": "hf",
        "base_url": str(location),
        "model": "tiny",
        "timeouts": Timeouts(connect=2.0, read=5.0, total=60.0),
        "retry": FAST_RETRY,
        **overrides,
    }
    return create_backend(EndpointConfig(**values))


def generate(backend, prompt=PROMPT, n=1, **options):
    result = backend.generate(GenerationRequest(prompt=prompt, n=n, options=GenerationOptions(**options)))
    assert result.ok, result.error
    return result


def manual_logprobs(reference, ids: list[int], first: int) -> list[float]:
    model, _ = reference
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    logprobs = torch.log_softmax(logits, dim=-1)
    return [logprobs[i - 1, ids[i]].item() for i in range(first, len(ids))]


def test_registered_with_its_capabilities():
    caps = backend_class("hf").capabilities()
    assert caps.styles == {"completion", "chat"} and caps.native_n and caps.logprobs and caps.seed
    assert not caps.streaming


def test_loads_the_checkpoint_with_from_pretrained_and_reports_health(models_dir, reference):
    backend = hf(models_dir / "tiny")
    loaded = backend.loaded()
    assert isinstance(loaded.model, transformers.GPT2LMHeadModel) and not loaded.model.training
    for name, value in reference[0].state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], value), name
    report = backend.health()
    n_params = sum(p.numel() for p in reference[0].parameters())
    assert report.healthy and report.message == f"{n_params} parameters on cpu"
    assert backend.loaded() is loaded  # loaded once per process


def test_seeded_sampling_is_reproducible_and_n_samples_differ(models_dir):
    backend = hf(models_dir / "tiny")
    first = generate(backend, n=3, temperature=1.0, seed=7, max_tokens=16)
    again = generate(backend, n=3, temperature=1.0, seed=7, max_tokens=16)
    assert [s.text for s in first.samples] == [s.text for s in again.samples]
    assert [s.index for s in first.samples] == [0, 1, 2] and len({s.text for s in first.samples}) == 3
    other_seed = generate(backend, n=3, temperature=1.0, seed=8, max_tokens=16)
    assert [s.text for s in other_seed.samples] != [s.text for s in first.samples]
    unseeded = [generate(backend, temperature=1.0, max_tokens=16).samples[0].text for _ in range(2)]
    assert unseeded[0] != unseeded[1]
    assert first.prompt_tokens == 3 * len(backend.loaded().tokenizer(PROMPT).input_ids)
    assert all(s.latency_ms == first.samples[0].latency_ms for s in first.samples)


def test_temperature_zero_is_greedy_and_n_identical_samples(models_dir):
    backend = hf(models_dir / "tiny")
    result = generate(backend, n=3, temperature=0, max_tokens=12)
    assert len({s.text for s in result.samples}) == 1 and result.samples[0].text
    assert generate(backend, temperature=0, max_tokens=12, seed=3).samples[0].text == result.samples[0].text


def test_max_tokens_ends_with_length(models_dir):
    result = generate(hf(models_dir / "tiny"), n=2, temperature=1.0, seed=1, max_tokens=5)
    assert [(s.completion_tokens, s.finish_reason) for s in result.samples] == [(5, FinishReason.LENGTH)] * 2
    assert result.completion_tokens == 10


def test_stop_sequences_cut_the_text_and_end_with_stop(models_dir):
    backend = hf(models_dir / "tiny")
    options = {"temperature": 1.0, "seed": 11, "max_tokens": 40}
    full = generate(backend, logprobs=True, **options).samples[0]
    assert full.finish_reason == FinishReason.LENGTH and full.completion_tokens == 40
    stop = full.text[12:14]
    expected = full.text[: full.text.index(stop)]
    cut = generate(backend, stop=("never-there", stop), **options).samples[0]
    assert cut.text == expected and cut.finish_reason == FinishReason.STOP
    # Counted up to the token that completes the stop sequence; generation ended there.
    pieces = [t.token for t in full.logprobs]
    assert cut.completion_tokens == next(k for k in range(41) if stop in "".join(pieces[:k]))


def test_end_of_text_ends_with_stop(models_dir):
    result = generate(hf(models_dir / "eos"), n=2, temperature=1.0, seed=0, max_tokens=8)
    assert [(s.text, s.finish_reason, s.completion_tokens) for s in result.samples] == [("", FinishReason.STOP, 0)] * 2


def test_logprobs_are_the_models_own_and_agree_with_score(models_dir, reference):
    backend = hf(models_dir / "tiny")
    sample = generate(backend, temperature=1.0, seed=5, max_tokens=12, logprobs=True).samples[0]
    assert len(sample.logprobs) == sample.completion_tokens == 12
    assert "".join(t.token for t in sample.logprobs) == sample.text
    assert all(math.isfinite(t.logprob) and t.logprob <= 0 for t in sample.logprobs)
    # Every token decodes to a text of its own (an ASCII alphabet), so the tokens give back the ids generated.
    tokenizer = reference[1]
    by_text = {tokenizer.decode([i]): i for i in range(len(tokenizer))}
    prompt_ids = tokenizer(PROMPT).input_ids
    ids = prompt_ids + [by_text[t.token] for t in sample.logprobs]
    expected = manual_logprobs(reference, ids, len(prompt_ids))
    assert [t.logprob for t in sample.logprobs] == pytest.approx(expected, abs=1e-4)
    scored = backend.score(sample.logprobs[0].token, context=PROMPT)
    assert scored.logprobs == pytest.approx([sample.logprobs[0].logprob], abs=1e-4)
    assert generate(backend, max_tokens=4).samples[0].logprobs is None


def test_score_and_perplexity_match_a_manual_forward_pass(models_dir, reference):
    backend = hf(models_dir / "tiny")
    tokenizer = reference[1]
    text = "    return a + b\n"
    scored = backend.score(text, context=PROMPT)
    context_ids, text_ids = tokenizer(PROMPT).input_ids, tokenizer(text, add_special_tokens=False).input_ids
    expected = manual_logprobs(reference, context_ids + text_ids, len(context_ids))
    assert scored.logprobs == pytest.approx(expected, abs=1e-4)
    assert scored.token_count == len(text_ids) and "".join(scored.tokens) == text
    assert scored.total_logprob == pytest.approx(sum(expected), abs=1e-3)
    assert scored.perplexity == pytest.approx(math.exp(-sum(expected) / len(expected)), rel=1e-4)
    alone = backend.score(text)  # no context: the first token is scored after the BOS token
    assert alone.logprobs == pytest.approx(manual_logprobs(reference, [tokenizer.bos_token_id, *text_ids], 1), abs=1e-4)


def test_score_slides_a_window_over_long_texts(models_dir, reference):
    backend = hf(models_dir / "tiny")
    tokenizer = reference[1]
    text = "".join(humaneval_text(3_000))
    ids = [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False).input_ids]
    assert len(ids) > 2 * 256
    scored = backend.score(text)
    assert scored.token_count == len(ids) - 1 and math.isfinite(scored.perplexity) and scored.perplexity > 1
    assert scored.logprobs[:255] == pytest.approx(manual_logprobs(reference, ids[:256], 1), abs=1e-4)
    # Then windows of 256 tokens move on by 128: tokens 256..383 are read after tokens 128..255.
    assert scored.logprobs[255:383] == pytest.approx(manual_logprobs(reference, ids[128:384], 128), abs=1e-4)


def test_chat_uses_the_tokenizers_template_and_needs_one(models_dir):
    chat = hf(models_dir / "tiny-chat", api_style="chat")
    result = chat.generate(
        GenerationRequest(prompt="Write add()", system="You write Python.", options=GenerationOptions(max_tokens=4))
    )
    assert result.ok, result.error
    prompt = "system: You write Python.\nuser: Write add()\nassistant: "
    assert result.samples[0].prompt_tokens == len(chat.loaded().tokenizer(prompt).input_ids)
    refused = hf(models_dir / "tiny", api_style="chat").generate(GenerationRequest(prompt="x"))
    assert refused.error.kind == ErrorKind.CONFIGURATION and "no chat template" in refused.error.message


def test_a_prompt_longer_than_the_model_reads_is_a_clear_failure(models_dir):
    result = hf(models_dir / "tiny").generate(GenerationRequest(prompt="x = 1\n" * 300))
    assert result.error.kind == ErrorKind.CONFIGURATION and "reads at most 256" in result.error.message


def test_locations_inside_hf_model_dirs_only(models_dir, settings, tmp_path):
    validate = backend_class("hf").validate_location
    assert validate(str(models_dir / "tiny")) == str(models_dir / "tiny")
    assert validate("tiny") == str(models_dir / "tiny")
    for outside in (str(tmp_path), "/etc", "../../etc", str(models_dir / ".." / "x")):
        with pytest.raises(ValueError, match="HF_MODEL_DIRS"):
            validate(outside)
    (models_dir / "link").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="outside"):
        validate(str(models_dir / "link"))
    (models_dir / "link").unlink()
    with pytest.raises(ValueError, match="HF_ALLOW_HUB"):
        validate("bigcode/tiny_starcoder_py")
    settings.HF_ALLOW_HUB = True
    assert validate("bigcode/tiny_starcoder_py") == "bigcode/tiny_starcoder_py"
    # A relative path that is no directory yet is one to come, inside the first folder (a Hub id if it is org/name).
    assert validate("later/runs/1") == str(models_dir / "later" / "runs" / "1")


@pytest.mark.django_db
def test_registration_refuses_a_path_outside_with_a_field_error(world, models_dir, tmp_path):
    actor, project = world.a.user("evaluator"), world.a.project
    with pytest.raises(ApplicationError) as refused:
        model_endpoint_create(actor=actor, project=project, name="m", backend="hf", base_url=str(tmp_path))
    assert "HF_MODEL_DIRS" in refused.value.extra["fields"]["base_url"][0]
    with pytest.raises(ApplicationError) as hub:
        model_endpoint_create(actor=actor, project=project, name="m", backend="hf", base_url="org/name")
    assert "HF_ALLOW_HUB" in hub.value.extra["fields"]["base_url"][0]
    endpoint = model_endpoint_create(actor=actor, project=project, name="m", backend="hf", base_url="tiny")
    assert endpoint.base_url == str(models_dir / "tiny") and endpoint.api_style == "completion"


def test_a_missing_or_empty_directory_is_a_failure_value(models_dir):
    missing = hf(models_dir / "absent")
    result = missing.generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.NOT_FOUND and "No checkpoint directory" in result.error.message
    report = missing.health()
    assert not report.healthy and report.error.kind == ErrorKind.NOT_FOUND
    (models_dir / "empty").mkdir(exist_ok=True)
    empty = hf(models_dir / "empty").generate(GenerationRequest(prompt="x"))
    assert empty.error.kind == ErrorKind.CONFIGURATION and "no config.json" in empty.error.message
    shutil.rmtree(models_dir / "empty")


def test_missing_torch_gives_an_install_hint(models_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # as if the ml extra were not installed
    result = hf(models_dir / "tiny").generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.MISSING_DEPENDENCY and 'pip install -e ".[ml]"' in result.error.message


@pytest.mark.django_db
def test_cli_add_and_test(world, models_dir):
    UserFactory(username="root", is_superuser=True, is_staff=True)
    runner = CliRunner()

    def cli(*args):
        return runner.invoke(main, ["models", *args, "--project", "org-a/project-a"])

    added = cli("add", "tiny", "--backend", "hf", "--base-url", str(models_dir / "tiny"))
    assert added.exit_code == 0, added.output
    tested = cli("test", "tiny", "--max-tokens", "8")
    assert tested.exit_code == 0, tested.output
    assert "tiny: OK in" in tested.output and "8 tokens, 1 attempt(s)." in tested.output
