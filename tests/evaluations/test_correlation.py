"""Spearman's rho and its p-values against hand-checked values (closed forms of the t-distribution for small degrees
of freedom, a hand count of permutations), scipy when it happens to be installed, and per-model correlation of a
results document."""

import itertools
import json
import math
import random

import pytest

from accounts.choices import ProjectRole
from codequal.jobs import in_process
from evaluations.correlation import (
    VariableError,
    available_variables,
    betainc,
    correlate,
    rankdata,
    sample_value,
    spearman,
    t_test_p_value,
)
from evaluations.models import Sample
from evaluations.runs.services import evaluation_create
from models_registry.services import model_endpoint_create
from tests.evaluations.suite_helpers import custom_suite_in


def test_ranks_average_ties():
    assert rankdata([10, 20, 20, 5, 20]).tolist() == [2, 4, 4, 1, 4]
    assert rankdata([1, 0, 1, 0]).tolist() == [3.5, 1.5, 3.5, 1.5]


def test_rho_and_the_exact_p_value_of_a_hand_counted_case():
    # d = (-1, 1, -1, 1, 0): rho = 1 - 6 * 4 / (5 * 24) = 0.8. Of the 120 orders of five ranks, 8 have sum d^2 <= 4
    # (the identity, 4 single adjacent swaps, 3 pairs of disjoint ones) and 8 (their reverses) rho <= -0.8.
    found = spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    assert (found.n, found.rho, found.method) == (5, pytest.approx(0.8), "exact")
    assert found.p_value == pytest.approx(16 / 120)


def test_the_t_p_value_matches_closed_forms():
    # n = 5 (df 3): p = 1 - (2/pi) * (theta + sin(theta) cos(theta)), theta = atan(t / sqrt(3)); t = 0.8 sqrt(3/0.36).
    found = spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], method="t")
    theta = math.atan(0.8 * math.sqrt(3 / 0.36) / math.sqrt(3))
    assert found.p_value == pytest.approx(1 - 2 / math.pi * (theta + math.sin(theta) * math.cos(theta)), abs=1e-12)
    assert found.p_value == pytest.approx(0.104088, abs=1e-6)
    for rho in (0.1, 0.5, 0.9, -0.7):
        t = abs(rho) * math.sqrt(1 / (1 - rho * rho))  # df 1 (n = 3): the Cauchy distribution
        assert t_test_p_value(rho, 3) == pytest.approx(1 - 2 / math.pi * math.atan(t), abs=1e-12)
        t = abs(rho) * math.sqrt(2 / (1 - rho * rho))  # df 2 (n = 4)
        assert t_test_p_value(rho, 4) == pytest.approx(1 - t / math.sqrt(2 + t * t), abs=1e-12)
    assert t_test_p_value(1.0, 10) == 0.0 and t_test_p_value(0.0, 10) == pytest.approx(1.0)


def test_passing_against_a_metric_with_ties():
    # Five passes with the five lowest values: rx = (8,)*5 + (3,)*5, ry = 1..10, rho = -sqrt(62.5 / 82.5) and
    # t = 5 exactly (df 8): p = 1 - sin(theta) * (1 + c/2 + 3c^2/8 + 15c^3/48), c = cos(theta)^2 = 8/33.
    found = spearman([1] * 5 + [0] * 5, list(range(1, 11)))
    assert found.rho == pytest.approx(-math.sqrt(62.5 / 82.5)) and found.method == "t"
    c = 8 / 33
    expected = 1 - 5 / math.sqrt(33) * (1 + c / 2 + 3 * c**2 / 8 + 15 * c**3 / 48)
    assert found.p_value == pytest.approx(expected, abs=1e-12)


def test_the_exact_p_value_is_the_share_of_permutations_at_least_as_extreme():
    x, y = [1, 0, 1, 1, 0, 0, 1], [0.3, 0.9, 0.1, 0.4, 0.8, 0.5, 0.2]
    found = spearman(x, y)
    rhos = [spearman(x, [y[i] for i in order], method="t").rho for order in itertools.permutations(range(7))]
    assert found.p_value == pytest.approx(sum(abs(r) >= abs(found.rho) - 1e-12 for r in rhos) / len(rhos))


def test_undefined_cases_say_why():
    assert spearman([1, 0], [0.1, 0.2]).note == "fewer than 3 samples"
    constant = spearman([1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4])
    assert (constant.rho, constant.p_value, constant.note) == (None, None, "a variable is constant")


def test_betainc_symmetry_and_ends():
    for a, b, x in ((0.5, 0.5, 0.3), (4.0, 0.5, 0.8), (30.0, 0.5, 0.97), (2.0, 3.0, 0.4)):
        assert betainc(a, b, x) + betainc(b, a, 1 - x) == pytest.approx(1.0, abs=1e-12)
    assert betainc(2.0, 3.0, 0.0) == 0.0 and betainc(2.0, 3.0, 1.0) == 1.0
    assert betainc(1.0, 1.0, 0.37) == pytest.approx(0.37, abs=1e-14)  # the uniform distribution


def test_agrees_with_scipy_when_it_is_installed():
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(1)
    for n in (10, 25, 200):
        x = [rng.random() < 0.4 for _ in range(n)]
        y = [round(rng.gauss(0, 1) + (0.5 if passed else 0), 1) for passed in x]
        found, expected = spearman(x, y), stats.spearmanr(x, y)
        assert found.rho == pytest.approx(expected.statistic, abs=1e-12)
        assert found.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-15)


def row(model, passed, metrics, *, strategy="zero_shot", **fields):
    return {"task_id": "T/0", "model": model, "strategy": strategy, "passed": passed, "metrics": metrics, **fields}


def test_sample_values_by_name():
    metrics = {
        "maintainability_index": 71.5,
        "perplexity": {"perplexity": 3.5, "mean_entropy": None, "confidence": 0.4},
        "security": {"score": 0.5, "count": 1},
        "codebleu": {"codebleu": 0.62, "dataflow_match": 0.5},
        "ast_similarity": {"error": "ValueError: no canonical solution"},
    }
    sample = row("m", True, metrics, execution_time=0.25)
    expected = {
        "maintainability_index": 71.5,
        "perplexity": 3.5,
        "confidence": 0.4,
        "perplexity.mean_entropy": None,
        "security": 0.5,
        "security.count": 1.0,
        "codebleu": 0.62,
        "dataflow_match": 0.5,
        "ast_similarity": None,
        "execution_time": 0.25,
        "nothing": None,
    }
    assert {name: sample_value(sample, name) for name in expected} == expected
    assert "security.count" in available_variables([sample]) and "ast_similarity" not in available_variables([sample])


def test_correlate_per_model_with_counts_and_missing_values():
    rows = [row("a", i % 2 == 0, {"perplexity": {"perplexity": 1.0 + i}}) for i in range(6)]
    rows += [row("a", True, {"perplexity": {"error": "boom"}})]
    rows += [row("b", p, {"perplexity": {"perplexity": v}}) for p, v in ((1, 1.2), (1, 1.5), (0, 3.0), (0, 9.0))]
    out = correlate(iter(rows), ["pass_rate", "perplexity"])
    assert out["variables"] == ["perplexity"] and set(out["models"]) == {"a", "b"}
    a = out["models"]["a"]
    assert a["samples"] == 7 and a["pass_rate"] == pytest.approx(4 / 7)
    assert a["correlations"]["perplexity"] == {
        "n": 6,
        **{k: v for k, v in spearman([1, 0, 1, 0, 1, 0], [1, 2, 3, 4, 5, 6]).__dict__.items() if k != "n"},
    }
    b = out["models"]["b"]["correlations"]["perplexity"]
    assert b["rho"] == pytest.approx(-math.sqrt(0.8)) and b["method"] == "exact" and b["n"] == 4


def test_several_strategies_key_models_as_by_model_does():
    rows = [row("m", i % 2 == 0, {"x": float(i)}, strategy=s) for s in ("zero_shot", "few_shot") for i in range(4)]
    assert set(correlate(rows, ["x"])["models"]) == {"m@zero_shot", "m@few_shot"}


def test_a_variable_no_sample_has_is_a_clear_error():
    rows = [row("m", True, {"security": {"score": 1.0}}), row("m", False, {"maintainability_index": 50.0})]
    with pytest.raises(VariableError, match="No sample has 'codebleu'") as error:
        correlate(rows, ["pass_rate", "codebleu", "security"])
    assert error.value.available == ["maintainability_index", "security", "security.score"]
    assert "enable" in str(error.value)
    with pytest.raises(VariableError, match="at least one variable"):
        correlate(rows, ["pass_rate"])


# --- the API ----------------------------------------------------------------------------------------------------------

PROMPT = 'def total(xs):\n    """Sum of xs."""\n'
SUITE = [
    {
        "task_id": "demo/total",
        "prompt": PROMPT,
        "canonical_solution": "    result = 0\n    for x in xs:\n        result += x\n    return result\n",
        "entry_point": "total",
        "tests": ["assert total([1, 2, 3]) == 6"],
    }
]
# Two pass, two fail, and the last does not parse (it has no AST similarity and no quality metrics).
COMPLETIONS = [
    SUITE[0]["canonical_solution"],
    "    return sum(xs)\n",
    "    return 0\n",
    "    return len(xs)\n",
    "    return (\n",
]


@pytest.fixture
def evaluation(world, settings, tmp_path):
    settings.CODEQUAL_INLINE_JOBS = "sync"
    settings.SAMPLES_DIR = tmp_path
    tenant = world.a
    custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR), rows=SUITE)
    lines = [json.dumps({"task_id": "demo/total", "completion": c}) + "\n" for c in COMPLETIONS]
    (tmp_path / "s.jsonl").write_text("".join(lines))
    evaluator = tenant.user(ProjectRole.EVALUATOR)
    model_endpoint_create(
        actor=evaluator, project=tenant.project, name="file", backend="samples", base_url=str(tmp_path / "s.jsonl")
    )
    config = {
        "models": ["file"],
        "problems": {"suite": "demo"},
        "evaluation": {"samples_from_file": True},
        "metrics": {"enable": ["quality_metrics", "ast_similarity"]},
    }
    with in_process():
        created = evaluation_create(actor=evaluator, project=tenant.project, config=config)
    created.refresh_from_db()
    assert created.status == "completed", created.error_message
    return created


@pytest.mark.django_db(transaction=True)
def test_the_api_correlates_passing_with_metrics(api, world, evaluation):
    url = f"/api/v1/evaluations/{evaluation.pk}/correlate/"
    api.force_authenticate(world.a.user(ProjectRole.VIEWER))
    response = api.get(url, {"variables": "pass_rate,ast_similarity,maintainability_index"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["variables"] == ["ast_similarity", "maintainability_index"] and body["outcome"] == "passed"
    block = body["models"]["file"]
    rows = list(Sample.objects.filter(evaluation=evaluation).order_by("index").values("passed", "metrics"))
    assert block["samples"] == len(rows) == 5 and block["pass_rate"] == 0.4
    similar = [(r["passed"], r["metrics"]["ast_similarity"]["similarity"]) for r in rows[:4]]
    expected = spearman([p for p, _ in similar], [v for _, v in similar])
    assert block["correlations"]["ast_similarity"] == {
        "n": 4,
        "rho": pytest.approx(expected.rho),
        "p_value": pytest.approx(expected.p_value),
        "method": "exact",
        "note": "",
    }
    assert block["correlations"]["maintainability_index"]["n"] == 4  # the sample that does not parse has none

    missing = api.get(url, {"variables": "pass_rate,perplexity"})
    assert missing.status_code == 400
    assert "No sample has 'perplexity'" in missing.json()["message"]
    assert "ast_similarity" in missing.json()["extra"]["available"]
    assert api.get(url).status_code == 400  # variables are required
    assert api.get(url, {"variables": "ast_similarity", "method": "magic"}).status_code == 400

    api.force_authenticate(world.b.user(ProjectRole.VIEWER))
    assert api.get(url, {"variables": "ast_similarity"}).status_code == 404
    api.force_authenticate(None)
    assert api.get(url, {"variables": "ast_similarity"}).status_code == 401
