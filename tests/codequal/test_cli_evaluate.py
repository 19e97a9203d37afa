"""``codequalbench evaluate`` and ``resume`` as a user runs them: the installed script, embedded mode, real sandbox."""

import csv
import io
import json
from pathlib import Path

import pytest

from .test_cli import ok, run

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "humaneval-codegen16b-dev.jsonl"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("evaluate")
    ok(directory, "init", "--noinput")
    return directory


def test_the_readme_main_job(data_dir, tmp_path):
    out = tmp_path / "results.json"
    stdout = ok(
        data_dir, "evaluate", "--models", "reference", "--suite", "humaneval", "--problems", "0-4", "--output", str(out)
    )
    assert "pass@1" in stdout and "status completed" in stdout
    document = json.loads(out.read_text())
    assert document["summary"]["total_evaluations"] == 5 and document["summary"]["overall_pass_rate"] == 1.0
    assert document["by_model"]["reference"]["pass_at_k"] == {"pass@1": 1.0}
    first = document["detailed_results"][0]
    assert {"task_id", "model", "sample_index", "passed", "status", "error_category", "error_message"} <= set(first)
    assert document["reproducibility"]["sandbox"]["isolated"] is True


def test_config_file_options_threshold_and_exports(data_dir, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "models: [reference]\n"
        "problems: {suite: humaneval, range: 0-3}\n"
        "evaluation: {samples_per_problem: 3, timeout_seconds: 10}\n"
        "metrics: {k: [1, 3]}\n"
    )
    out = tmp_path / "r.csv"
    ok(data_dir, "evaluate", "--config", str(config), "--problems", "0-1", "--output", str(out), "--threshold", "1.0")
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 6 and {r["task_id"] for r in rows} == {"HumanEval/0", "HumanEval/1"}  # --problems won
    jsonl = tmp_path / "r_results.jsonl"
    ok(data_dir, "evaluate", "--config", str(config), "--output", str(jsonl))
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == 12 and all(r["result"] == "passed" and r["passed"] for r in records)


def test_a_pass_rate_below_the_threshold_exits_1(data_dir, tmp_path):
    result = run(
        data_dir,
        "evaluate",
        "--suite",
        "humaneval",
        "--samples-file",
        str(DEV),
        "--problems",
        "0-4",
        "--threshold",
        "0.9",
    )
    assert result.returncode == 1, result.stderr
    assert "Below the threshold 0.9" in result.stderr


def test_invalid_input_exits_2_naming_the_field_and_creates_nothing(data_dir, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("models: [reference]\nproblems: {suite: humaneval}\nevaluation: {samples_per_problem: 0}\n")
    result = run(data_dir, "evaluate", "--config", str(config))
    assert result.returncode == 2
    assert "evaluation.samples_per_problem" in result.stderr
    missing = run(data_dir, "evaluate", "--models", "reference", "--suite", "nosuch")
    assert missing.returncode == 2 and "No suite 'nosuch'" in missing.stderr
    assert run(data_dir, "evaluate").returncode != 0
