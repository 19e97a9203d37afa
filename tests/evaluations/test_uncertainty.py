"""``perplexity``: scored by a tiny GPT-2 the test builds (checked against a direct PyTorch computation), from given
backend logprobs, and in a real evaluation."""

import json
import math

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from accounts.choices import ProjectRole  # noqa: E402
from codequal.jobs import in_process  # noqa: E402
from evaluations.metrics import MetricError, MetricInput, get_metric  # noqa: E402
from evaluations.metrics.uncertainty import NO_SOURCE, uncertain_regions  # noqa: E402
from evaluations.models import Sample  # noqa: E402
from evaluations.runs.services import evaluation_create  # noqa: E402
from models_registry.backends.hf import clear_model_cache  # noqa: E402
from models_registry.services import model_endpoint_create  # noqa: E402
from tests.evaluations.suite_helpers import custom_suite_in  # noqa: E402
from tests.tiny_lm import save, tiny_gpt2, tiny_tokenizer  # noqa: E402

PROMPT = 'def add(a, b):\n    """Return a + b."""\n'
COMPLETION = "    total = a + b\n    if total:\n        return total\n    return a + b\n"
TRAINING = [
    PROMPT + COMPLETION,
    "def neg(a):\n    return -a\n",
    "for i in range(10):\n    print(i, i * i)\n",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
    "import math\nprint(math.sqrt(2), [x for x in 'abc' if x != 'b'])\n",
]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """HF_MODEL_DIRS holding ``tiny`` (256 positions) and ``short`` (16 positions: long texts need windows)."""
    root = tmp_path_factory.mktemp("hf-models")
    tokenizer = tiny_tokenizer(TRAINING * 5, vocab_size=200)
    for name, positions in (("tiny", 256), ("short", 16)):
        save(root / name, tiny_gpt2(tokenizer, positions=positions), tokenizer)
    (root / "empty").mkdir()
    yield root
    clear_model_cache()


@pytest.fixture(autouse=True)
def _hf_settings(settings, models_dir):
    settings.HF_MODEL_DIRS = [models_dir]
    settings.HF_ALLOW_HUB = False
    settings.HF_DEVICE = "cpu"


@pytest.fixture(scope="module")
def reference(models_dir):
    path = models_dir / "tiny"
    return transformers.GPT2LMHeadModel.from_pretrained(path).eval(), transformers.AutoTokenizer.from_pretrained(path)


def sample(completion=COMPLETION, *, prompt=PROMPT, token_logprobs=None, index=0) -> MetricInput:
    return MetricInput(
        key=(1, "zero_shot", index),
        task_id="demo/add",
        language="python",
        prompt=prompt,
        completion=completion,
        program=prompt + completion,
        reference_program="",
        passed=True,
        status="passed",
        token_logprobs=token_logprobs,
    )


def direct(reference, prompt: str, completion: str):
    """Log p and entropy of each completion token, from one plain forward pass over prompt + completion."""
    model, tokenizer = reference
    context = tokenizer(prompt).input_ids
    ids = context + tokenizer(completion, add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    logp = torch.log_softmax(logits[len(context) - 1 : len(ids) - 1], dim=-1)
    chosen = logp[torch.arange(len(ids) - len(context)), torch.tensor(ids[len(context) :])]
    entropy = -(logp.exp() * logp).sum(-1)
    return chosen.tolist(), entropy.tolist(), [tokenizer.decode([t]) for t in ids[len(context) :]]


def test_perplexity_and_entropy_equal_a_direct_pytorch_computation(models_dir, reference):
    metric = get_metric("perplexity", model=str(models_dir / "tiny"))
    result = metric.compute(sample())
    logprobs, entropies, tokens = direct(reference, PROMPT, COMPLETION)
    assert result["source"] == "model" and result["token_count"] == len(logprobs)
    assert result["perplexity"] == pytest.approx(math.exp(-sum(logprobs) / len(logprobs)), rel=1e-6, abs=1e-6)
    assert result["mean_entropy"] == pytest.approx(sum(entropies) / len(entropies), rel=1e-6, abs=1e-6)
    assert result["confidence"] == pytest.approx(sum(math.exp(v) for v in logprobs) / len(logprobs), rel=1e-6)
    assert [t for t, _ in result["token_perplexities"]] == tokens and "".join(tokens) == COMPLETION
    assert [p for _, p in result["token_perplexities"]] == pytest.approx([math.exp(-v) for v in logprobs], rel=1e-5)
    # A random model over a 200-token vocabulary: the entropy is close to log(200), never above it.
    assert all(0 < e <= math.log(200) + 1e-9 for e in entropies)
    # Regions: the lines whose tokens' mean log p is more than a standard deviation below the mean line's.
    per_line, offset = {}, 0
    for token, value in zip(tokens, logprobs, strict=True):
        per_line.setdefault(COMPLETION.count("\n", 0, offset) + 1, []).append(value)
        offset += len(token)
    means = {line: sum(values) / len(values) for line, values in per_line.items()}
    centre = sum(means.values()) / len(means)
    cut = centre - (sum((m - centre) ** 2 for m in means.values()) / len(means)) ** 0.5
    flagged = {line for line, m in means.items() if m < cut}
    regions = result["high_uncertainty_regions"]
    assert regions and {n for r in regions for n in range(r["start_line"], r["end_line"] + 1)} == flagged
    for region in regions:
        assert region["text"] == "\n".join(COMPLETION.split("\n")[region["start_line"] - 1 : region["end_line"]])
    assert [r["mean_logprob"] for r in regions] == sorted(r["mean_logprob"] for r in regions)
    json.dumps(result, allow_nan=False)


def test_a_batch_gives_each_sample_its_own_values(models_dir, reference):
    metric = get_metric("perplexity", model=str(models_dir / "tiny"), batch_size=3)
    completions = [COMPLETION, "    return a + b\n", "    return b + a  # swapped\n", "    pass\n", COMPLETION * 2]
    results = metric.compute_batch([sample(c, index=i) for i, c in enumerate(completions)])
    for completion, result in zip(completions, results, strict=True):
        logprobs, entropies, _ = direct(reference, PROMPT, completion)
        assert result["perplexity"] == pytest.approx(math.exp(-sum(logprobs) / len(logprobs)), rel=1e-6)
        assert result["mean_entropy"] == pytest.approx(sum(entropies) / len(entropies), rel=1e-6)


def test_texts_longer_than_the_model_reads_are_scored_in_windows(models_dir):
    metric = get_metric("perplexity", model=str(models_dir / "short"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(models_dir / "short")
    result = metric.compute(sample(COMPLETION * 3))
    assert result["token_count"] == len(tokenizer(COMPLETION * 3, add_special_tokens=False).input_ids) > 16
    assert math.isfinite(result["perplexity"]) and result["perplexity"] > 1
    assert "".join(t for t, _ in result["token_perplexities"]) == COMPLETION * 3


def test_backend_logprobs_are_used_when_given():
    lines = ["    x = 1\n", "    y = zzz\n", "    return x\n"]
    entries = [("    x", -0.1), (" = 1\n", -0.2), ("    y", -0.1), (" = zzz", -6.0), ("\n", -0.2)]
    entries += [("    return", -0.1), (" x\n", -0.3)]
    completion = "".join(lines)
    result = get_metric("perplexity").compute(sample(completion, token_logprobs=tuple(entries)))
    values = [v for _, v in entries]
    assert result["source"] == "logprobs" and result["token_count"] == 7
    assert result["perplexity"] == pytest.approx(math.exp(-sum(values) / 7), rel=1e-12)
    assert result["confidence"] == pytest.approx(sum(math.exp(v) for v in values) / 7, rel=1e-12)
    assert result["mean_entropy"] is None  # no top alternatives: the entropy is unknown
    assert result["token_perplexities"][3] == [" = zzz", pytest.approx(math.exp(6.0), rel=1e-6)]
    [region] = result["high_uncertainty_regions"]
    assert (region["start_line"], region["end_line"], region["tokens"]) == (2, 2, 3)
    assert region["text"] == "    y = zzz" and region["mean_logprob"] == pytest.approx(-6.3 / 3)
    # A generation that wraps the completion in a fence: lines still count from the completion's first.
    fenced = (("```python\n", -0.5), *entries, ("```", -0.1))
    result = get_metric("perplexity").compute(sample(completion, token_logprobs=fenced))
    assert result["regions_in"] == "completion" and result["token_count"] == 9
    assert [(r["start_line"], r["end_line"]) for r in result["high_uncertainty_regions"]] == [(2, 2)]


def test_top_logprobs_give_a_lower_bound_of_the_entropy():
    top = {"a": math.log(0.5), "b": math.log(0.25)}
    result = get_metric("perplexity").compute(sample("ab", token_logprobs=(("a", math.log(0.5), top),) * 2))
    expected = -(0.5 * math.log(0.5) + 0.25 * math.log(0.25) + 0.25 * math.log(0.25))
    assert result["mean_entropy"] == pytest.approx(expected, rel=1e-12)


def test_regions_are_empty_when_nothing_stands_out():
    text = "a\nb\nc\n"
    assert uncertain_regions(["a\n", "b\n", "c\n"], [-1.0] * 3, text=text, start=0, limit=3) == []
    assert uncertain_regions(["a\n", "b\n"], [-0.1, -9.0], text="a\nb\n", start=0, limit=3) == []  # two lines
    assert uncertain_regions(["a"], [-5.0], text="a", start=0, limit=3) == []


def test_no_model_and_no_logprobs_is_a_clear_error_on_the_sample(models_dir):
    [result] = get_metric("perplexity").compute_batch([sample()])
    assert result == {"error": NO_SOURCE}
    with pytest.raises(ValueError, match="no token logprobs"):
        get_metric("perplexity").compute(sample())
    [result] = get_metric("perplexity", source="logprobs").compute_batch([sample()])
    assert "no token logprobs" in result["error"]
    # A checkpoint that cannot load fails the samples it would score, not those with logprobs.
    metric = get_metric("perplexity", model=str(models_dir / "empty"))
    scored, given = metric.compute_batch([sample(), sample(token_logprobs=(("x", -1.0),))])
    assert "config.json" in scored["error"] and given["perplexity"] == pytest.approx(math.e)


def test_a_model_that_fails_fails_only_the_samples_it_scores(models_dir, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr("evaluations.metrics.uncertainty._forward", out_of_memory)
    metric = get_metric("perplexity", model=str(models_dir / "tiny"))
    scored, given = metric.compute_batch([sample(), sample(token_logprobs=(("x", -1.0),))])
    assert scored == {"error": "RuntimeError: CUDA out of memory"} and given["perplexity"] == pytest.approx(math.e)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"model": "/etc"}, "outside"),
        ({"source": "model"}, "needs a model"),
        ({"source": "guess"}, "source must be"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_regions": "3"}, "max_regions"),
        ({"model": 3}, "string"),
    ],
)
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(MetricError, match=message):
        get_metric("perplexity", **params)


@pytest.mark.django_db(transaction=True)
def test_an_evaluation_records_perplexity_and_aggregates_it(world, settings, tmp_path, models_dir):
    settings.CODEQUAL_INLINE_JOBS = "sync"
    settings.SAMPLES_DIR = tmp_path
    tenant = world.a
    custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR))
    rows = [{"task_id": "demo/add", "completion": "    return a + b\n"}, {"task_id": "demo/add", "completion": ""}]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    evaluator = tenant.user(ProjectRole.EVALUATOR)
    model_endpoint_create(
        actor=evaluator, project=tenant.project, name="file", backend="samples", base_url=str(tmp_path / "s.jsonl")
    )
    config = {
        "models": ["file"],
        "problems": {"suite": "demo", "task_ids": ["demo/add"]},
        "evaluation": {"samples_from_file": True},
        "metrics": {"enable": ["perplexity"], "perplexity": {"model": "tiny"}},
    }
    with in_process():
        evaluation = evaluation_create(actor=evaluator, project=tenant.project, config=config)
    evaluation.refresh_from_db()
    assert evaluation.status == "completed", evaluation.error_message
    values = [s.metrics.get("perplexity") for s in Sample.objects.filter(evaluation=evaluation).order_by("index")]
    assert values[0]["perplexity"] > 1 and values[0]["source"] == "model"
    aggregate = evaluation.summary["by_model"]["file"]["metrics"]["perplexity"]
    assert aggregate["perplexity"]["count"] == 1 and aggregate["perplexity"]["mean"] == values[0]["perplexity"]
