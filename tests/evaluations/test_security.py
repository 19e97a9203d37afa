"""``security``: bandit's findings on programs with known issues (test ids and CWEs), clean code, the score formula,
per-model counts, and no file written."""

import pytest

from evaluations.metrics import MetricError, MetricInput, get_metric
from evaluations.metrics.security import findings, security_score

pytest.importorskip("bandit")

PROMPT = "def handle(data, command):\n"
CLEAN = PROMPT + "    return sorted(set(data))[:3] + [command.strip()]\n"


def sample(program: str, *, language="python", index=0) -> MetricInput:
    return MetricInput(
        key=(1, "zero_shot", index),
        task_id="demo/handle",
        language=language,
        prompt=PROMPT,
        completion=program.removeprefix(PROMPT),
        program=program,
        reference_program="",
        passed=True,
        status="passed",
    )


@pytest.mark.parametrize(
    ("body", "test_id", "cwe", "severity", "line"),
    [
        ("    return eval(command)\n", "B307", 78, "medium", 2),
        ("    import pickle\n    return pickle.loads(data)\n", "B301", 502, "medium", 3),
        ("    import subprocess\n    return subprocess.run(command, shell=True)\n", "B602", 78, "high", 3),
        ('    password = "hunter2"\n    return password\n', "B105", 259, "low", 2),
        ("    import yaml\n    return yaml.load(data)\n", "B506", 20, "medium", 3),
    ],
)
def test_known_issues_are_found_with_their_test_id_cwe_and_line(body, test_id, cwe, severity, line):
    result = get_metric("security").compute(sample(PROMPT + body))
    [finding] = [f for f in result["findings"] if f["test_id"] == test_id]
    assert finding["cwe"] == cwe and finding["severity"] == severity
    assert finding["line"] == line  # of the program, the prompt's line 1 included
    assert finding["confidence"] in ("low", "medium", "high") and finding["message"]
    assert 0 < result["score"] < 1 and result["count"] == len(result["findings"])


def test_clean_code_scores_one():
    result = get_metric("security").compute(sample(CLEAN))
    assert result == {"score": 1.0, "count": 0, "low": 0, "medium": 0, "high": 0, "findings": []}


def test_the_score_is_one_over_one_plus_the_weighted_findings():
    high_high = {"severity": "high", "confidence": "high"}
    medium_high = {"severity": "medium", "confidence": "high"}
    low_medium = {"severity": "low", "confidence": "medium"}
    assert security_score([]) == 1.0
    assert security_score([high_high]) == pytest.approx(0.5)
    assert security_score([medium_high, low_medium]) == pytest.approx(1 / (1 + 0.5 + 0.25 * 2 / 3))
    # Findings only ever lower it.
    assert security_score([high_high, high_high]) < security_score([high_high]) < security_score([medium_high])


def test_nosec_does_not_hide_a_finding_and_asserts_are_skipped_by_default():
    program = PROMPT + "    assert data\n    return eval(command)  # nosec\n"
    assert [f["test_id"] for f in get_metric("security").compute(sample(program))["findings"]] == ["B307"]
    kept = get_metric("security", skip=[]).compute(sample(program))
    assert [f["test_id"] for f in kept["findings"]] == ["B101", "B307"]
    only_high = get_metric("security", skip=[], min_severity="medium").compute(sample(program))
    assert [f["test_id"] for f in only_high["findings"]] == ["B307"]


def test_unparsable_or_non_python_programs_fail_on_their_sample():
    metric = get_metric("security")
    broken, other = metric.compute_batch([sample(PROMPT + "    return (\n"), sample(CLEAN, language="javascript")])
    assert "cannot read the program" in broken["error"]
    assert "Python only" in other["error"]


def test_the_aggregate_counts_findings_per_model():
    metric = get_metric("security")
    values = metric.compute_batch(
        [
            sample(PROMPT + "    return eval(command)\n", index=0),
            sample(PROMPT + "    return eval(command) + eval(data)\n", index=1),
            sample(CLEAN, index=2),
            sample(PROMPT + "    return (\n", index=3),
        ]
    )
    out = metric.aggregate(values)
    assert out["findings"] == 3 and out["samples_with_findings"] == 2 and out["failed_samples"] == 1
    assert out["by_test"] == {"B307": 3} and out["by_cwe"] == {"78": 3}
    assert out["by_severity"] == {"low": 0, "medium": 3, "high": 0}
    assert out["score"]["count"] == 3 and out["score"]["max"] == 1.0


def test_scanning_is_in_memory_and_fast(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import time

    program = PROMPT + "    import pickle\n    return pickle.loads(data)\n" * 20
    findings(program)  # bandit's plugins load once
    started = time.perf_counter()
    for _ in range(50):
        assert len(findings(program)) == 40
    assert (time.perf_counter() - started) / 50 < 0.1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "params", [{"skip": "B101"}, {"min_severity": "critical"}, {"min_confidence": 2}, {"colour": "red"}]
)
def test_bad_parameters_are_refused(params):
    with pytest.raises(MetricError, match="security"):
        get_metric("security", **params)
