"""``ast_similarity`` (the LCS against a plain dynamic programme, invariances, failures), and a real evaluation with
``ast_similarity`` and ``security`` enabled: per-sample values and per-model aggregates in the results."""

import json
import random

import pytest

from accounts.choices import ProjectRole
from codequal.jobs import in_process
from evaluations.metrics import MetricInput, get_metric
from evaluations.metrics.similarity import ast_similarity, lcs_length, node_types
from evaluations.models import Sample
from evaluations.runs.results import evaluation_document
from evaluations.runs.services import evaluation_create
from models_registry.services import model_endpoint_create
from tests.evaluations.suite_helpers import custom_suite_in

PROMPT = 'def total(xs):\n    """Sum of xs."""\n'
CANONICAL = "    result = 0\n    for x in xs:\n        result += x\n    return result\n"


def sample(completion: str, *, reference=PROMPT + CANONICAL, language="python") -> MetricInput:
    return MetricInput(
        key=(1, "zero_shot", 0),
        task_id="demo/total",
        language=language,
        prompt=PROMPT,
        completion=completion,
        program=PROMPT + completion,
        reference_program=reference,
        passed=True,
        status="passed",
    )


def lcs_by_table(a, b) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def test_the_bit_parallel_lcs_agrees_with_the_table():
    rng = random.Random(0)
    for _ in range(300):
        a = [rng.choice("abcd") for _ in range(rng.randint(0, 40))]
        b = [rng.choice("abcde") for _ in range(rng.randint(0, 40))]
        assert lcs_length(a, b) == lcs_length(b, a) == lcs_by_table(a, b)


def test_identical_and_renamed_programs_score_one():
    assert ast_similarity(PROMPT + CANONICAL, PROMPT + CANONICAL)["similarity"] == 1.0
    renamed = "    acc = 0\n    for item in xs:\n        acc += item\n    return acc\n"
    assert get_metric("ast_similarity").compute(sample(renamed))["similarity"] == 1.0


def test_the_value_is_the_dice_coefficient_of_the_node_type_sequences():
    completion = "    return sum(xs)\n"
    a, b = node_types(PROMPT + completion), node_types(PROMPT + CANONICAL)
    assert a[:3] == ["Module", "FunctionDef", "arguments"] and "Load" not in a
    result = get_metric("ast_similarity").compute(sample(completion))
    assert result == {
        "similarity": round(2 * lcs_by_table(a, b) / (len(a) + len(b)), 6),
        "nodes": len(a),
        "reference_nodes": len(b),
    }
    assert 0 < result["similarity"] < 1
    # Symmetric, and a closer structure scores higher.
    assert ast_similarity(PROMPT + CANONICAL, PROMPT + completion)["similarity"] == result["similarity"]
    loop = "    result = 0\n    for x in xs:\n        result = result + x\n    return result\n"
    assert result["similarity"] < get_metric("ast_similarity").compute(sample(loop))["similarity"] < 1


def test_failures_name_their_reason():
    metric = get_metric("ast_similarity")
    broken, missing, other, bad_reference = metric.compute_batch(
        [
            sample("    return (\n"),
            sample("    return 0\n", reference=""),
            sample("    return 0\n", language="javascript"),
            sample("    return 0\n", reference="def (:\n"),
        ]
    )
    assert broken["error"].startswith("ValueError: The program does not parse")
    assert "no canonical solution" in missing["error"]
    assert "Python only" in other["error"]
    assert "canonical solution does not parse" in bad_reference["error"]


ROWS = [
    {
        "task_id": "demo/total",
        "prompt": PROMPT,
        "canonical_solution": CANONICAL,
        "entry_point": "total",
        "tests": ["assert total([1, 2, 3]) == 6"],
    }
]


@pytest.mark.django_db(transaction=True)
def test_an_evaluation_reports_similarity_and_security_per_sample_and_per_model(world, settings, tmp_path):
    settings.CODEQUAL_INLINE_JOBS = "sync"
    settings.SAMPLES_DIR = tmp_path
    tenant = world.a
    custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR), rows=ROWS)
    completions = [CANONICAL, "    return eval('+'.join(map(str, xs)))\n", "    return (\n"]
    (tmp_path / "s.jsonl").write_text(
        "".join(json.dumps({"task_id": "demo/total", "completion": c}) + "\n" for c in completions)
    )
    evaluator = tenant.user(ProjectRole.EVALUATOR)
    model_endpoint_create(
        actor=evaluator, project=tenant.project, name="file", backend="samples", base_url=str(tmp_path / "s.jsonl")
    )
    config = {
        "models": ["file"],
        "problems": {"suite": "demo"},
        "evaluation": {"samples_from_file": True},
        "metrics": {"enable": ["quality_metrics", "ast_similarity", "security"]},
    }
    with in_process():
        evaluation = evaluation_create(actor=evaluator, project=tenant.project, config=config)
    evaluation.refresh_from_db()
    assert evaluation.status == "completed", evaluation.error_message
    metrics = [s.metrics for s in Sample.objects.filter(evaluation=evaluation).order_by("index")]
    assert metrics[0]["ast_similarity"]["similarity"] == 1.0 and metrics[0]["security"]["score"] == 1.0
    assert [f["test_id"] for f in metrics[1]["security"]["findings"]] == ["B307"]
    assert 0 < metrics[1]["ast_similarity"]["similarity"] < 1
    assert "error" in metrics[2]["ast_similarity"] and "error" in metrics[2]["security"]
    document = evaluation_document(evaluation)
    block = document["by_model"]["file"]["metrics"]
    assert block["ast_similarity"]["similarity"]["count"] == 2 and block["ast_similarity"]["failed_samples"] == 1
    assert block["security"]["by_test"] == {"B307": 1} and block["security"]["samples_with_findings"] == 1
    assert document["detailed_results"][1]["metrics"]["security"]["count"] == 1
