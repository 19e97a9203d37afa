"""The evaluation pipeline against the bare sandbox engine, on the same samples in the same invocation.

The engine side runs every program through one ``SandboxPool.run``, with the harnesses and limits the pipeline gives
them. The pipeline side is a whole evaluation of the same samples: ``evaluation_create`` with a samples endpoint, its
jobs in this process and synchronous, timed from the call until the run is finished: planning, chunk claims, sample
rows and counters, code-quality metrics, progress events and the final aggregates. The ratio of the two wall times is
what the platform costs on top of executing the programs.
"""

import cProfile
import importlib
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from django.db import connection
from django.test.utils import override_settings

from accounts.models import Project
from accounts.selectors import project_list
from accounts.services.projects import project_create
from codequal.exceptions import ApplicationError
from codequal.jobs import in_process

from ..models import BenchmarkSuite, Evaluation, Problem, Sample
from ..sandbox.engine import SandboxPool
from ..sandbox.types import Program
from ..services import HUMANEVAL_SUITE
from .chunks import problem_limits
from .config import parse_config
from .services import evaluation_create, suite_for_run

BENCH_PROJECT = "Pipeline benchmark"
DEFAULT_PROGRAMS = 3280
WARMUP_PROGRAMS = 8


@dataclass(frozen=True)
class PipelineFigures:
    """One measurement: both sides' wall time on the same programs, and whether their verdicts agree."""

    programs: int
    workload: str
    database: str
    sandbox: str
    runners: int
    engine_s: float
    pipeline_s: float
    engine_passed: int
    pipeline_passed: int
    verdicts_agree: int
    verdicts_differ: int
    evaluation_id: int
    evaluation_status: str
    completed_samples: int

    @property
    def ratio(self) -> float:
        return self.pipeline_s / self.engine_s

    @property
    def engine_rate(self) -> float:
        return self.programs / self.engine_s

    @property
    def pipeline_rate(self) -> float:
        return self.programs / self.pipeline_s

    def as_dict(self) -> dict:
        rates = {"ratio": self.ratio, "engine_per_s": self.engine_rate, "pipeline_per_s": self.pipeline_rate}
        return {**asdict(self), **rates}


def workload_rows(suite: BenchmarkSuite, *, samples_file: Path | None, programs: int) -> list[dict]:
    """``programs`` samples: the file's lines repeated (or cut) to that count, else the canonical solutions."""
    if samples_file is not None:
        rows = [json.loads(line) for line in Path(samples_file).read_text().splitlines() if line.strip()]
        rows = [{k: r[k] for k in ("task_id", "completion", "solution") if k in r} for r in rows]
    else:
        problems = Problem.objects.filter(suite=suite).order_by("ordinal")
        rows = [{"task_id": p.task_id, "completion": p.canonical_solution} for p in problems if p.canonical_solution]
    if not rows:
        raise ApplicationError("The benchmark has no samples to run.")
    rounds = -(-programs // len(rows))
    return (rows * rounds)[:programs]


def benchmark_project(actor) -> Project:
    """The project that holds benchmark runs, created beside the actor's first one on first use."""
    projects = project_list(user=actor)
    existing = projects.filter(name=BENCH_PROJECT).first()
    if existing is not None:
        return existing
    first = projects.order_by("pk").first()
    if first is None:
        raise ApplicationError("No project to put the benchmark beside: run `codequalbench init` first.")
    return project_create(actor=actor, organization=first.organization, name=BENCH_PROJECT)


def _keyed(rows: list[dict]) -> list[tuple[str, int, dict]]:
    """(task_id, sample index, row): sample i of a task is its i-th line, as the samples backend reads a file."""
    seen: dict[str, int] = {}
    keyed = []
    for row in rows:
        index = seen.get(row["task_id"], 0)
        seen[row["task_id"]] = index + 1
        keyed.append((row["task_id"], index, row))
    return keyed


def engine_programs(suite: BenchmarkSuite, rows: list[dict], config: dict) -> list[Program]:
    """The programs the pipeline would execute, with the same harness and limits, in its order (problem, index)."""
    parsed = parse_config(config)
    problems = {p.task_id: p for p in Problem.objects.filter(suite=suite)}
    harnesses = {}
    programs = []
    keyed = sorted(_keyed(rows), key=lambda item: (problems[item[0]].ordinal, item[1]))
    for task_id, index, row in keyed:
        problem = problems[task_id]
        if task_id not in harnesses:
            # The suite's own limits (timeout_mode "suite"): the calibrated mode is not benchmarked here.
            harnesses[task_id] = (problem.harness(), problem_limits(problem, parsed, None))
        harness, limits = harnesses[task_id]
        code = row["solution"] if "solution" in row else problem.program_code(row["completion"])
        programs.append(Program(id=f"{task_id}#{index}", code=code, harness=harness, limits=limits))
    return programs


def _run_engine(pool: SandboxPool, programs: list[Program]) -> tuple[float, dict[tuple[str, int], bool]]:
    started = time.perf_counter()
    outcomes = pool.run(programs)
    elapsed = time.perf_counter() - started
    verdicts = {}
    for outcome in outcomes:
        task_id, _, index = outcome.program_id.rpartition("#")
        verdicts[(task_id, int(index))] = outcome.passed
    return elapsed, verdicts


def _run_pipeline(actor, project: Project, config: dict, profile: Path | None) -> tuple[float, Evaluation]:
    # What a worker has imported before its first job: a once-per-process cost, not part of a run's.
    importlib.import_module("evaluations.jobs")
    profiler = cProfile.Profile() if profile else None
    with override_settings(CODEQUAL_INLINE_JOBS="sync"), in_process():
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        evaluation = evaluation_create(actor=actor, project=project, config=config, name="pipeline benchmark")
        evaluation.refresh_from_db()
        while not evaluation.is_finished:  # synchronous jobs: finished already, unless a job was lost
            time.sleep(0.05)
            evaluation.refresh_from_db()
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
    if profiler:
        profiler.dump_stats(str(profile))
    return elapsed, evaluation


def pipeline_benchmark(
    *, actor, samples_file: Path | None = None, programs: int = DEFAULT_PROGRAMS, profile: Path | None = None
) -> PipelineFigures:
    """Run the engine, then the pipeline, on the same ``programs`` samples; see the module's docstring."""
    from models_registry.specs import endpoint_for_spec, parse_model_specs

    project = benchmark_project(actor)
    suite = suite_for_run(actor=actor, project=project, name=HUMANEVAL_SUITE, version=None)
    rows = workload_rows(suite, samples_file=samples_file, programs=programs)
    with tempfile.TemporaryDirectory(prefix="cqb-pipeline-bench-") as tmp:
        path = Path(tmp) / f"{samples_file.stem if samples_file else 'canonical'}-x{len(rows)}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        endpoint = endpoint_for_spec(actor=actor, project=project, spec=parse_model_specs(f"samples:{path}")[0])
    config = {
        "models": [endpoint.name],
        "problems": {"suite": suite.name, "version": suite.version},
        "evaluation": {"samples_from_file": True},
        "metrics": {"k": [1]},
    }
    programs_list = engine_programs(suite, rows, config)
    pool = SandboxPool(environment=suite.environment)
    pool.run(programs_list[:WARMUP_PROGRAMS])  # both sides then find the jail's files in the page cache
    engine_s, engine_verdicts = _run_engine(pool, programs_list)
    pipeline_s, evaluation = _run_pipeline(actor, project, config, profile)
    rows_written = Sample.objects.filter(evaluation=evaluation).values_list("problem__task_id", "index", "passed")
    pipeline_verdicts = {(task_id, index): passed for task_id, index, passed in rows_written}
    agree = sum(1 for key, passed in engine_verdicts.items() if pipeline_verdicts.get(key) == passed)
    return PipelineFigures(
        programs=len(programs_list),
        workload=samples_file.name if samples_file else "canonical solutions",
        database=f"{connection.vendor} ({connection.settings_dict['NAME']})",
        sandbox=pool.backend,
        runners=pool.workers,
        engine_s=engine_s,
        pipeline_s=pipeline_s,
        engine_passed=sum(engine_verdicts.values()),
        pipeline_passed=sum(pipeline_verdicts.values()),
        verdicts_agree=agree,
        verdicts_differ=len(engine_verdicts) - agree,
        evaluation_id=evaluation.pk,
        evaluation_status=evaluation.status,
        completed_samples=evaluation.completed_samples,
    )
