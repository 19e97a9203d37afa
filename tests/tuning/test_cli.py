"""``codequalbench tune``: dataset, job, registered endpoint and the tuned-vs-original comparison from one command."""

import json

import pytest
from click.testing import CliRunner

from codequal.cli import main
from tuning.models import TuningJob

from .conftest import FAST_HYPERPARAMETERS

pytestmark = pytest.mark.django_db(transaction=True)


def test_tune_builds_trains_registers_and_compares(world, failing_evaluation, base_endpoint):
    project = world.a.project
    hyperparameters = {k: v for k, v in FAST_HYPERPARAMETERS.items() if k != "epochs"}
    args = [
        "tune",
        "--model", "tiny-base",
        "--errors", "syntax,type_error",
        "--epochs", "3",
        "--output", "tuned-model",
        "--evaluation", str(failing_evaluation.pk),
        "--held-out", "0.34",
        "--hyperparameters", json.dumps(hyperparameters),
        "--compare", "--max-tokens", "16",
        "--user", "a-evaluator",
        "--project", f"{project.organization.slug}/{project.slug}",
    ]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    job = TuningJob.objects.get(name="tuned-model")
    assert job.status == "completed" and job.hyperparameters["epochs"] == 3
    assert job.dataset.options["errors"] == ["syntax", "type_error"]
    assert "Dataset tuned-model-data v1" in result.output and f"Tuning job {job.pk}" in result.output
    assert "endpoint tuned-model registered" in result.output
    assert "Tuned tuned-model vs original tiny-base" in result.output and "McNemar" in result.output


def test_tune_explains_what_is_wrong(world, failing_evaluation, base_endpoint):
    project = f"{world.a.project.organization.slug}/{world.a.project.slug}"
    common = ["--user", "a-evaluator", "--project", project, "--evaluation", str(failing_evaluation.pk)]
    result = CliRunner().invoke(main, ["tune", "--model", "tiny-base", "--errors", "typo", "--output", "x", *common])
    assert result.exit_code == 2 and "Unknown error name 'typo'" in result.output
    result = CliRunner().invoke(main, ["tune", "--model", "file", "--output", "x", *common])
    assert result.exit_code == 2 and "only hf endpoints" in result.output
