"""One chunk (a model on a slice of problems): generate what is missing, judge it, write it in one transaction."""

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, replace

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Q

from codequal.realtime import notify
from models_registry.prompting import PromptTask, get_strategy
from models_registry.selectors import endpoint_config

from ..choices import EvaluationStatus
from ..metrics import MetricInput
from ..models import Evaluation, EvaluationChunk, EvaluationModel, Problem, Sample
from ..sandbox.types import Limits
from .config import RunConfig
from .execution import Candidate, judge, sandbox_pool
from .generation import Generator, Job

logger = logging.getLogger(__name__)


class ChunkIncomplete(Exception):
    """Some samples of the chunk could not be generated; what was generated is written, the rest is retried."""


@dataclass(frozen=True)
class ChunkReport:
    written: int
    passed: int
    generation_errors: tuple[str, ...]


SNAPSHOT_FIELDS = ("backend", "model", "base_url", "api_style", "stream", "generation_options", "max_concurrency")


def endpoint_snapshot(endpoint) -> dict:
    """What an evaluation records of an endpoint: enough to reproduce, never its key."""
    return {
        "backend": endpoint.backend,
        "model": endpoint.served_model,
        "base_url": endpoint.base_url,
        "api_style": endpoint.api_style,
        "stream": endpoint.stream,
        "generation_options": endpoint.generation_options,
        "max_concurrency": endpoint.max_concurrency,
        "endpoint_id": endpoint.pk,
        "name": endpoint.name,
    }


def _backend_for(run_model: EvaluationModel):
    from models_registry.backends import GenerationOptions, create_backend

    endpoint = run_model.endpoint
    if endpoint is None:
        raise ChunkIncomplete(f"The model endpoint {run_model.name!r} was deleted; this run cannot generate for it.")
    snap = run_model.snapshot
    config = replace(
        endpoint_config(endpoint),
        backend=snap["backend"],
        model=snap["model"],
        base_url=snap["base_url"],
        api_style=snap["api_style"],
        stream=snap["stream"],
        default_options=GenerationOptions.from_mapping(snap["generation_options"]),
    )
    return create_backend(config)


def prompt_task(problem: Problem) -> PromptTask:
    return PromptTask(
        task_id=problem.task_id,
        prompt=problem.prompt,
        entry_point=problem.entry_point,
        reference=problem.canonical_solution,
        prompt_is_code=problem.metadata.get("prompt_is_code", True),
    )


def problem_limits(problem: Problem, config: RunConfig, evaluation: Evaluation) -> Limits:
    if config.timeout_mode == "fixed":
        timeout = config.timeout_seconds
    elif config.timeout_mode == "relative":
        calibrated = (evaluation.environment.get("timeouts") or {}).get(str(problem.pk))
        timeout = calibrated if calibrated is not None else problem.timeout_s
    else:
        timeout = problem.timeout_s
    return Limits(timeout_s=float(timeout), memory_mb=config.max_memory_mb)


def expected_counts(evaluation: Evaluation) -> dict[tuple[int, int], int]:
    """Samples expected per (model id, problem id), as fixed at creation."""
    plan = evaluation.config.get("_plan") or {}
    return {(int(m), int(p)): n for m, per in plan.items() for p, n in per.items()}


def chunk_process(chunk: EvaluationChunk) -> ChunkReport:
    evaluation = chunk.evaluation
    config = RunConfig.from_stored(evaluation.config)
    run_model = chunk.model
    plan = (evaluation.config.get("_plan") or {}).get(str(run_model.pk), {})
    problems = {p.pk: p for p in Problem.objects.filter(pk__in=chunk.problem_ids)}
    have = set(
        Sample.objects.filter(evaluation=evaluation, model=run_model, problem_id__in=chunk.problem_ids).values_list(
            "problem_id", "strategy", "index"
        )
    )
    strategies = [get_strategy(name, **config.strategy_params.get(name, {})) for name in config.strategies]
    jobs = []
    for problem_id in chunk.problem_ids:
        n = int(plan.get(str(problem_id), 0))
        task = prompt_task(problems[problem_id])
        for strategy in strategies:
            missing = tuple(i for i in range(n) if (problem_id, strategy.key, i) not in have)
            if missing:
                jobs.append(Job(problem_id=problem_id, task=task, strategy=strategy, indices=missing))
    if not jobs:
        return ChunkReport(written=0, passed=0, generation_errors=())
    with _backend_for(run_model) as backend:
        generator = Generator(
            backend=backend,
            project_id=evaluation.project_id,
            endpoint_fingerprint=hashlib.sha256(json.dumps(run_model.snapshot, sort_keys=True).encode()).hexdigest(),
            api_style=run_model.snapshot["api_style"],
            options=config.options,
            concurrency=config.max_concurrent or run_model.snapshot.get("max_concurrency") or 4,
        )
        results = generator.run(jobs)
    if _cancelled(evaluation.pk):
        return ChunkReport(written=0, passed=0, generation_errors=())
    verbatim = backend.capabilities().verbatim
    candidates, rows = [], {}
    harnesses = {}
    for result in results:
        problem = problems[result.job.problem_id]
        if problem.pk not in harnesses:
            harnesses[problem.pk] = (problem.harness(), problem_limits(problem, config, evaluation))
        harness, limits = harnesses[problem.pk]
        for generated in result.samples:
            extracted = result.job.strategy.postprocess(
                generated.text,
                result.job.task,
                api_style=run_model.snapshot["api_style"],
                verbatim=verbatim,
                program=generated.program,
                stop=result.stop,
            )
            key = (problem.pk, result.job.strategy.key, generated.index)
            failure = extracted.failure
            program = generated.text if generated.program else problem.program_code(extracted.completion)
            candidates.append(
                Candidate(key=key, program=program, harness=harness, limits=limits, extraction_failure=failure)
            )
            rows[key] = (generated, extracted)
    with CancelWatch(evaluation.pk) as cancelled:
        verdicts = judge(
            candidates,
            pool=sandbox_pool(environment=evaluation.suite.environment, parallel=config.parallel_execution),
            reexecute=config.reexecute_failures,
            reexecute_timeout_multiplier=config.reexecute_timeout_multiplier,
            quality="quality_metrics" in config.metrics,
            stop=cancelled,
        )
    if cancelled.is_set():
        return ChunkReport(written=0, passed=0, generation_errors=())  # the generations stay cached for a resume
    extra = plugin_metrics(config, candidates, rows, problems, verdicts)
    if extra:
        verdicts = {key: replace(v, metrics={**v.metrics, **extra.get(key, {})}) for key, v in verdicts.items()}
    samples = [
        _sample_row(evaluation, run_model, key, generated, extracted, verdicts[key], include_raw=config.include_raw)
        for key, (generated, extracted) in rows.items()
    ]
    errors = tuple(f"{problems[r.job.problem_id].task_id}: {r.error}" for r in results if r.error)
    _write(chunk, samples, errors)
    _publish(evaluation, run_model, problems, samples)
    return ChunkReport(written=len(samples), passed=sum(s.passed for s in samples), generation_errors=errors)


def plugin_metrics(config: RunConfig, candidates, rows, problems, verdicts) -> dict[tuple, dict]:
    """The enabled plugin metrics of every sample that has a program: {key: {metric name: its result}}."""
    from ..metrics import get_metric

    metrics = [get_metric(n, **config.metric_params.get(n, {})) for n in config.metrics]
    metrics = [m for m in metrics if not getattr(m, "inline", False)]
    if not metrics:
        return {}
    inputs = []
    for candidate in candidates:
        if candidate.extraction_failure:
            continue
        generated, extracted = rows[candidate.key]
        problem = problems[candidate.key[0]]
        verdict = verdicts[candidate.key]
        inputs.append(
            MetricInput(
                key=candidate.key,
                task_id=problem.task_id,
                language=problem.language,
                prompt=problem.prompt,
                completion=generated.text if generated.program else extracted.completion,
                program=candidate.program,
                reference_program=problem.program_code(problem.canonical_solution)
                if problem.canonical_solution
                else "",
                passed=verdict.passed,
                status=verdict.status,
                token_logprobs=generated.token_logprobs,
            )
        )
    found: dict[tuple, dict] = {}
    for metric in metrics:
        for sample, value in zip(inputs, metric.compute_batch(inputs), strict=True):
            found.setdefault(sample.key, {})[metric.name] = value
    return found


def _sample_row(evaluation, run_model, key, generated, extracted, verdict, *, include_raw: bool) -> Sample:
    problem_id, strategy, index = key
    return Sample(
        evaluation=evaluation,
        project_id=evaluation.project_id,
        model=run_model,
        problem_id=problem_id,
        strategy=strategy,
        index=index,
        raw_output=generated.text if include_raw else "",
        completion=generated.text if generated.program else extracted.completion,
        extraction_method=str(extracted.method),
        extraction_error=extracted.failure,
        finish_reason=generated.finish_reason,
        generation_latency_ms=generated.latency_ms,
        prompt_tokens=generated.prompt_tokens,
        completion_tokens=generated.completion_tokens,
        mean_logprob=generated.mean_logprob,
        cost_usd=generated.cost_usd,
        from_cache=generated.from_cache,
        status=verdict.status,
        passed=verdict.passed,
        error_category=verdict.error_category,
        error_type=verdict.error_type,
        error_message=verdict.error_message[:10000],
        error_line=verdict.error_line,
        traceback_tail=verdict.traceback_tail,
        output_tail=verdict.output_tail,
        output_truncated=verdict.output_truncated,
        duration_s=verdict.duration_s,
        peak_memory_kb=verdict.peak_memory_kb,
        parts=verdict.parts,
        flips=verdict.flips,
        reexecutions=verdict.reexecutions,
        metrics=verdict.metrics,
    )


def _cancelled(evaluation_id: int) -> bool:
    return Evaluation.objects.filter(pk=evaluation_id, status=EvaluationStatus.CANCELLED).exists()


class CancelWatch:
    """Sets its event when the evaluation is cancelled (checked every ``interval`` seconds) while execution runs."""

    def __init__(self, evaluation_id: int, interval: float = 0.5):
        self.evaluation_id = evaluation_id
        self.interval = interval
        self.event = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="cancel-watch", daemon=True)

    def _watch(self) -> None:
        try:
            while not self._done.wait(self.interval):
                try:
                    cancelled = _cancelled(self.evaluation_id)
                except DatabaseError:  # e.g. SQLite busy while the chunk's writer holds the lock: ask again
                    continue
                if cancelled:
                    self.event.set()
                    return
        finally:
            connection.close()  # this thread's own database connection

    def __enter__(self) -> threading.Event:
        self._thread.start()
        return self.event

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join()


def _write(chunk: EvaluationChunk, samples: list[Sample], errors: tuple[str, ...]) -> None:
    """The chunk's rows in one transaction; a sample already written (a resumed or doubled chunk) is left alone."""
    with transaction.atomic():
        Sample.objects.bulk_create(samples, ignore_conflicts=True, batch_size=500)
        evaluation_recount(chunk.evaluation_id)
        if errors:
            raise_later = "; ".join(errors[:5]) + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else "")
            EvaluationChunk.objects.filter(pk=chunk.pk).update(error_message=raise_later)
    if errors:
        raise ChunkIncomplete(f"{len(errors)} problem(s) could not be generated: {'; '.join(errors[:3])}")


def evaluation_recount(evaluation_id: int) -> None:
    """Counters from the rows themselves: exact however many workers wrote, crashed or repeated a chunk."""
    counts = Sample.objects.filter(evaluation_id=evaluation_id).aggregate(
        total=Count("pk"), passed=Count("pk", filter=Q(passed=True))
    )
    Evaluation.objects.filter(pk=evaluation_id).update(
        completed_samples=counts["total"], generated_samples=counts["total"], passed_samples=counts["passed"]
    )
    per_model = Sample.objects.filter(evaluation_id=evaluation_id).values("model_id").annotate(total=Count("pk"))
    for row in per_model:
        EvaluationModel.objects.filter(pk=row["model_id"]).update(completed_samples=row["total"])


def _publish(evaluation: Evaluation, run_model: EvaluationModel, problems: dict, samples: list[Sample]) -> None:
    channel = f"evaluation:{evaluation.pk}"
    by_problem: dict[int, list[Sample]] = {}
    for sample in samples:
        by_problem.setdefault(sample.problem_id, []).append(sample)
    for problem_id, group in by_problem.items():
        notify(
            channel,
            "result",
            {
                "problem_id": problem_id,
                "task_id": problems[problem_id].task_id,
                "model": run_model.name,
                "passed": all(s.passed for s in group),
                "samples": len(group),
                "passed_samples": sum(s.passed for s in group),
            },
        )
    current = Evaluation.objects.only("completed_samples", "total_samples").get(pk=evaluation.pk)
    notify(
        channel,
        "progress",
        {
            "progress": current.progress,
            "current_model": run_model.name,
            "completed_samples": current.completed_samples,
            "total_samples": current.total_samples,
        },
    )
