"""Every HumanEval+ and MBPP+ reference solution, imported through our importer, passes its own base and plus tests
when run through the sandbox with its Problem.harness(); the exceptions are listed with the evidence.

The imports (expected outputs recorded from each reference in the sandbox: minutes on two cores) happen once, in a
module-scoped fixture, inside a transaction rolled back at the end of the module.
"""

from pathlib import Path

import pytest
from django.db import transaction

from evaluations.importers import source_from_path
from evaluations.models import Problem
from evaluations.sandbox.engine import SandboxPool
from evaluations.sandbox.types import Limits, Program
from evaluations.services import suite_import
from tests.factories import UserFactory

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
HUMANEVAL_PLUS = DATASETS / "HumanEvalPlus-v0.1.10.jsonl.gz"
MBPP_PLUS = DATASETS / "MbppPlus-v0.2.0.jsonl.gz"
# Room for a reference solution, not a sample's limits: this is about the ground truth, not about speed.
REFERENCE_LIMITS = Limits(timeout_s=60.0, memory_mb=4096)

# MBPP+ problems whose reference cannot be judged by the platform, and why. None of them is a wrong reference.
MBPP_PLUS_UNJUDGEABLE = {
    "Mbpp/255": (
        "combinations_colors(l, n) = list(combinations_with_replacement(l, n)). Plus input #85 is "
        "(['Dog', 'Cat', 'CatBird', 'Bird', 'Fish'], 77): C(81, 4) = 1,663,740 tuples of 77 items, about 128 million "
        "references. Recording it fails: the jail cannot encode a value that size within the record step's 4 GB "
        "(UnrepresentableValue at input #88 of base + plus), so the problem is stored flagged and its tests cannot "
        "be judged. EvalPlus compares such outputs in-process. The reference is right; supporting it needs large "
        "expected outputs (e.g. compared on the trusted side by hash) or dropping that input."
    ),
}
MBPP_PLUS_FLAGGED_AT_IMPORT = {"Mbpp/255"}


@pytest.fixture(scope="module")
def plus_suites(django_db_setup, django_db_blocker, sandbox_environment):
    with django_db_blocker.unblock(), transaction.atomic():
        root = UserFactory(username="ground-truth-root", is_superuser=True, is_staff=True)
        reports = {
            name: suite_import(
                actor=root,
                project=None,
                name=name,
                source_format="evalplus",
                source=source_from_path(path),
                allow_broken=True,
                verify=False,  # the tests below are the verification
            )
            for name, path in (("humaneval-plus", HUMANEVAL_PLUS), ("mbpp-plus", MBPP_PLUS))
        }
        yield reports
        transaction.set_rollback(True)


def _run_references(suite) -> dict[str, object]:
    problems = list(Problem.objects.filter(suite=suite).order_by("ordinal"))
    programs = [
        Program(
            id=p.task_id,
            code=p.program_code(p.canonical_solution),
            harness=p.harness(),
            limits=REFERENCE_LIMITS,
        )
        for p in problems
    ]
    return {o.program_id: o for o in SandboxPool().run(programs)}


def _failures(outcomes) -> dict[str, str]:
    failing = {}
    for task_id, outcome in outcomes.items():
        parts = {name: part["status"] for name, part in outcome.parts.items()}
        if not outcome.passed or parts.get("base") != "passed" or parts.get("plus", "passed") != "passed":
            failing[task_id] = f"{outcome.status} {parts} {outcome.exception_type}: {outcome.exception_message}"
    return failing


@pytest.mark.timeout(1800)
@pytest.mark.django_db
def test_every_humaneval_plus_reference_passes_base_and_plus(plus_suites):
    report = plus_suites["humaneval-plus"]
    assert report.problems == 164 and report.flagged == []
    suite = report.suite
    assert Problem.objects.filter(suite=suite).exclude(test_spec__parts__1__name="plus").count() == 0

    outcomes = _run_references(suite)

    assert len(outcomes) == 164
    assert _failures(outcomes) == {}
    assert all(o.parts["plus"]["passed"] for o in outcomes.values())


@pytest.mark.timeout(1800)
@pytest.mark.django_db
def test_every_mbpp_plus_reference_passes_base_and_plus_except_the_documented(plus_suites):
    report = plus_suites["mbpp-plus"]
    assert report.problems == 378
    assert {f["task_id"] for f in report.flagged} == MBPP_PLUS_FLAGGED_AT_IMPORT
    # Its reference returns a value no exact encoding can carry at input #88; the inputs before it are slow, so on a
    # heavily loaded machine the 120 s recording limit can end it first. Either way it cannot be judged.
    reason = report.flagged[0]["reason"]
    assert "input #88: CandidateRaised: UnrepresentableValue" in reason or "timeout" in reason, reason

    outcomes = _run_references(report.suite)

    assert len(outcomes) == 378
    failing = _failures(outcomes)
    assert set(failing) == set(MBPP_PLUS_UNJUDGEABLE), failing


@pytest.mark.timeout(1800)
@pytest.mark.django_db
def test_wrong_answers_fail_the_plus_tests(plus_suites):
    """The recorded plus outputs are real oracles: plausible-but-wrong solutions that pass base fail plus."""
    suite = plus_suites["humaneval-plus"].suite
    problem = Problem.objects.get(suite=suite, task_id="HumanEval/0")
    off_by_one = "    return any(abs(a - b) <= threshold for i, a in enumerate(numbers) for b in numbers[i + 1 :])\n"
    mbpp = Problem.objects.get(suite=plus_suites["mbpp-plus"].suite, task_id="Mbpp/2")
    outcomes = SandboxPool(workers=2).run(
        [
            Program(id="he0", code=problem.program_code(off_by_one), harness=problem.harness()),
            Program(
                id="mbpp2",
                code=mbpp.program_code("def similar_elements(a, b):\n    return tuple(x for x in a if x in b)[:2]\n"),
                harness=mbpp.harness(),
            ),
        ]
    )
    for outcome in outcomes:
        assert outcome.parts["base"]["passed"], outcome
        assert outcome.parts["plus"]["status"] == "failed", outcome
