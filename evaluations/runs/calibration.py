"""Timeouts relative to the canonical solutions' runtime on this machine (as EvalPlus does), so that verdicts do not
depend on how fast the machine is: each problem's limit is max(min_timeout, factor x its reference's time)."""

from ..models import Evaluation, Problem
from ..sandbox.types import Limits, Program
from .execution import sandbox_pool

CALIBRATION_LIMIT_S = 60.0


def calibrate_timeouts(evaluation: Evaluation) -> dict[str, float]:
    config = evaluation.config
    factor, floor = float(config["timeout_factor"]), float(config["min_timeout_seconds"])
    problems = list(Problem.objects.filter(pk__in=evaluation.problem_ids))
    programs = [
        Program(
            id=str(problem.pk),
            code=problem.program_code(problem.canonical_solution),
            harness=problem.harness(),
            limits=Limits(timeout_s=CALIBRATION_LIMIT_S, memory_mb=int(config["max_memory_mb"])),
        )
        for problem in problems
        if problem.canonical_solution
    ]
    measured = {}
    pool = sandbox_pool(environment=evaluation.suite.environment, parallel=bool(config.get("parallel_execution", True)))
    for outcome in pool.run(programs):
        if outcome.passed and outcome.duration_s is not None:
            measured[outcome.program_id] = outcome.duration_s
    timeouts = {}
    for problem in problems:
        reference = measured.get(str(problem.pk))
        # A problem without a working reference keeps its suite's own limit.
        timeouts[str(problem.pk)] = round(max(floor, factor * reference), 3) if reference else problem.timeout_s
    environment = dict(evaluation.environment)
    environment["timeouts"] = timeouts
    environment["timeout_calibration"] = {"factor": factor, "min_timeout_seconds": floor, "measured": len(measured)}
    Evaluation.objects.filter(pk=evaluation.pk).update(environment=environment)
    evaluation.environment = environment
    return timeouts
