"""Tuning fixtures: a real evaluation of a hand-made samples file on a custom suite, and a tiny GPT-2 + BPE tokenizer
built here and saved into a temporary HF_MODEL_DIRS."""

import json

import pytest

from accounts.choices import ProjectRole
from codequal.jobs import in_process
from evaluations.runs.services import evaluation_create
from models_registry.services import model_endpoint_create
from tests.evaluations.suite_helpers import custom_suite_in
from tests.tiny_lm import save, tiny_gpt2, tiny_tokenizer

SUITE = "tune-demo"


def _row(task_id, signature, doc, tests, entry, **extra):
    return {
        "task_id": task_id,
        "prompt": f'def {signature}:\n    """{doc}"""\n',
        "entry_point": entry,
        "tests": tests,
        **extra,
    }


ROWS = [
    _row("t/add", "add(a, b)", "Return a + b.", ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"], "add"),
    _row("t/neg", "neg(a)", "Return -a.", ["assert neg(2) == -2"], "neg"),
    _row("t/double", "double(x)", "Return twice x.", ["assert double(3) == 6"], "double"),
    _row("t/square", "square(x)", "Return x squared.", ["assert square(3) == 9"], "square"),
    _row("t/inc", "inc(x)", "Return x plus one.", ["assert inc(1) == 2"], "inc"),
    _row("t/first", "first(xs)", "Return the first item.", ["assert first([1, 2]) == 1"], "first"),
]
# Completions per task: passing ones, and failures of known kinds (the comment says which).
SAMPLES = {
    "t/add": [
        "    return a + b\n",
        "    return (a + b\n",  # syntax: missing parenthesis
        "    return a + str(b)\n",  # semantic.type
        "    return a + str(b)\n",  # the same failure again
    ],
    "t/neg": ["    return -a\n", "    return -c\n", "    return a\n"],  # name; assertion
    "t/double": ["    return 2 * x\n", "    return x + x\n", "    return 2 * (x\n", "    return x + '2'\n"],
    "t/square": ["    return x * x\n", "    return y * y\n"],  # name
    "t/inc": ["    return x + 1\n", "    return 1 + x\n", "    return x + 2\n"],  # assertion
    "t/first": ["    return xs[1]\n", "    return xs + 1\n"],  # assertion; type (no passing sample at all)
}
CANONICAL = {"t/first": "    return xs[0]\n"}


def samples_file(path):
    lines = [json.dumps({"task_id": task, "completion": c}) for task, cs in SAMPLES.items() for c in cs]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def failing_evaluation(world, settings, tmp_path):
    """A completed evaluation of the samples file above, in tenant A's project."""
    settings.CODEQUAL_INLINE_JOBS = "sync"
    settings.SAMPLES_DIR = tmp_path
    tenant = world.a
    rows = [
        {**row, **({"canonical_solution": CANONICAL[row["task_id"]]} if row["task_id"] in CANONICAL else {})}
        for row in ROWS
    ]
    custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR), name=SUITE, rows=rows)
    evaluator = tenant.user(ProjectRole.EVALUATOR)
    model_endpoint_create(
        actor=evaluator,
        project=tenant.project,
        name="file",
        backend="samples",
        base_url=str(samples_file(tmp_path / "samples.jsonl")),
    )
    config = {"models": ["file"], "problems": {"suite": SUITE}, "evaluation": {"samples_from_file": True}}
    with in_process():
        evaluation = evaluation_create(actor=evaluator, project=tenant.project, config=config)
    evaluation.refresh_from_db()
    assert evaluation.status == "completed", evaluation.error_message
    return evaluation


# --- a tiny causal LM -------------------------------------------------------------------------------------------------


def build_tiny_model(directory):
    """A tiny GPT-2 whose embeddings are far larger than GPT-2's 0.02: the (tied) output head can then move logits,
    so that a LoRA on the blocks alone learns something within a few steps."""
    tokenizer = tiny_tokenizer()
    return save(directory, tiny_gpt2(tokenizer, initializer_range=0.4), tokenizer)


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    root = tmp_path_factory.mktemp("tuning-models")
    build_tiny_model(root / "tiny")
    return root


@pytest.fixture
def tuning_settings(settings, tiny_models_dir, tmp_path):
    """HF_MODEL_DIRS with the tiny model (and this test's folder for tuned checkpoints); artifacts in tmp."""
    from models_registry.backends.hf import clear_model_cache

    tuned = tmp_path / "hf-tuned"
    tuned.mkdir()
    settings.HF_MODEL_DIRS = [tiny_models_dir, tuned]
    settings.HF_ALLOW_HUB = False
    settings.HF_DEVICE = "cpu"
    settings.TUNING_MODELS_DIR = str(tuned)
    settings.TUNING_ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.CODEQUAL_INLINE_JOBS = "sync"
    settings.REDIS_URL = ""  # jobs run in this process when the creating transaction commits (the RQ test restores it)
    yield settings
    clear_model_cache()


@pytest.fixture
def base_endpoint(world, tuning_settings, tiny_models_dir):
    return model_endpoint_create(
        actor=world.a.user(ProjectRole.EVALUATOR),
        project=world.a.project,
        name="tiny-base",
        backend="hf",
        base_url=str(tiny_models_dir / "tiny"),
    )


# Small and fast: the whole job in a couple of seconds on two CPU cores, and the loss visibly falls.
FAST_HYPERPARAMETERS = {
    "learning_rate": 1e-2,
    "batch_size": 2,
    "epochs": 12,
    "warmup_steps": 0,
    "evaluation_steps": 4,
    "save_steps": 5,
    "max_length": 96,
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "target_modules": ["c_attn", "c_proj", "c_fc"],
}
