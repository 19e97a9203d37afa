"""``codequalbench benchmark pipeline`` on a few samples: the figures it prints parse, its evaluation is complete.

A smoke run, not a timing assertion: the figures themselves are measured on 3,000+ samples by hand.
"""

import json
import re

import pytest
from click.testing import CliRunner

from accounts.choices import ProjectRole
from codequal.cli import main
from evaluations.models import Evaluation, Sample
from evaluations.services import builtin_humaneval_install
from tests.evaluations.conftest import DEV_SAMPLES

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER = r"(\d+(?:\.\d+)?)"
LINES = {
    "engine": re.compile(rf"^engine\s*:\s*{NUMBER} s\s+{NUMBER} samples/s\s+passed (\d+)$", re.M),
    "pipeline": re.compile(
        rf"^pipeline\s*:\s*{NUMBER} s\s+{NUMBER} samples/s\s+passed (\d+)\s+\(evaluation (\d+) (\w+), (\d+) samples\)$",
        re.M,
    ),
    "ratio": re.compile(rf"^ratio\s*:\s*{NUMBER}x pipeline/engine", re.M),
    "verdicts": re.compile(r"^verdicts\s*:\s*(\d+) agree, (\d+) differ$", re.M),
    "database": re.compile(r"^database\s*:\s*(\w+) ", re.M),
}


def test_pipeline_benchmark_smoke(world, tmp_path, sandbox_environment):
    from django.db import connection

    builtin_humaneval_install()
    owner = world.a.user(ProjectRole.OWNER)
    figures_file = tmp_path / "figures.json"
    result = CliRunner().invoke(
        main,
        [
            "benchmark",
            "pipeline",
            "--programs",
            "60",
            "--samples-file",
            str(DEV_SAMPLES),
            "--user",
            owner.username,
            "--json",
            str(figures_file),
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    found = {name: pattern.search(result.output) for name, pattern in LINES.items()}
    assert all(found.values()), f"unparsed lines: {[n for n, m in found.items() if not m]}\n{result.output}"

    engine_s, engine_rate, engine_passed = found["engine"].groups()
    pipeline_s, pipeline_rate, pipeline_passed, evaluation_id, status, samples = found["pipeline"].groups()
    assert float(engine_s) > 0 and float(pipeline_s) > 0
    assert float(engine_rate) == pytest.approx(60 / float(engine_s), rel=0.05)
    assert float(pipeline_rate) == pytest.approx(60 / float(pipeline_s), rel=0.05)
    assert float(found["ratio"].group(1)) == pytest.approx(float(pipeline_s) / float(engine_s), abs=0.01)
    assert found["verdicts"].groups() == ("60", "0")
    assert engine_passed == pipeline_passed
    assert found["database"].group(1) == connection.vendor

    evaluation = Evaluation.objects.get(pk=int(evaluation_id))
    assert (status, int(samples)) == ("completed", 60)
    assert evaluation.status == "completed"
    assert (
        evaluation.total_samples == evaluation.completed_samples == Sample.objects.filter(evaluation=evaluation).count()
    )
    assert evaluation.passed_samples == int(pipeline_passed)
    assert evaluation.project.name == "Pipeline benchmark"
    assert evaluation.project.organization == world.a.organization

    figures = json.loads(figures_file.read_text())
    assert figures["programs"] == 60 and figures["evaluation_id"] == evaluation.pk
    assert figures["ratio"] == pytest.approx(figures["pipeline_s"] / figures["engine_s"])
