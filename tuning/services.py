"""Writes for tuning: build a dataset, create / cancel / resume a job, register its result, compare it."""

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.choices import AuditAction
from accounts.models import Project
from accounts.selectors import project_user_can
from accounts.services import audit_record
from codequal.exceptions import ApplicationError, ConflictError
from codequal.jobs import enqueue
from codequal.realtime import notify
from evaluations.models import Evaluation, Problem, Sample
from models_registry.models import ModelEndpoint

from .choices import DatasetSplit, DatasetStrategy, TuningJobStatus, TuningStage
from .datasets import BuildOptions, build_examples, parse_error_terms
from .hyperparameters import HyperparameterError, parse_hyperparameters
from .models import TuningDataset, TuningExample, TuningJob

SAMPLE_FIELDS = (
    "id",
    "problem_id",
    "passed",
    "status",
    "error_category",
    "error_type",
    "error_message",
    "error_line",
    "traceback_tail",
    "output_tail",
    "parts",
    "completion",
    "finish_reason",
)
PROBLEM_FIELDS = ("id", "task_id", "ordinal", "prompt", "canonical_solution", "entry_point", "test_spec", "metadata")
RESUMABLE = (TuningJobStatus.FAILED, TuningJobStatus.CANCELLED)
_SLUG_RE = re.compile(r"[^A-Za-z0-9._-]+")


def _ensure_can_tune(actor, project: Project) -> None:
    if not project_user_can(user=actor, project=project, action="evaluate"):
        raise ApplicationError("Your role in this project does not allow tuning.", status_code=403)


def channel(job: TuningJob | int) -> str:
    return f"tuning:{job if isinstance(job, int) else job.pk}"


def publish(job: TuningJob, **extra) -> None:
    """A ``tuning_update`` event: stage, progress, loss (and whatever ``extra`` adds)."""
    payload = {
        "job": job.pk,
        "status": job.status,
        "stage": job.stage,
        "progress": job.progress,
        "loss": job.loss,
        "validation_loss": job.validation_loss,
        "step": job.current_step,
        "total_steps": job.total_steps,
        **extra,
    }
    notify(channel(job), "tuning_update", payload)


# --- datasets ----------------------------------------------------------------------------------------------------


def _strings(values: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in values or () if v and v.strip()))


@transaction.atomic
def tuning_dataset_create(
    *,
    actor,
    project: Project,
    name: str,
    evaluations: Iterable[Evaluation],
    strategy: str = DatasetStrategy.ERROR_SPECIFIC,
    errors: Iterable[str] | str | None = None,
    models: Iterable[str] | None = None,
    task_ids: Iterable[str] | None = None,
    suites: Iterable[str] | None = None,
    repair: bool = False,
    use_canonical: bool = True,
    held_out_fraction: float = 0.2,
    seed: int = 0,
) -> TuningDataset:
    """Build the next version of dataset ``name`` from the failures of ``evaluations`` (already scoped)."""
    _ensure_can_tune(actor, project)
    evaluations = list(evaluations)
    if not evaluations:
        raise ApplicationError("Name at least one evaluation to build the dataset from.")
    foreign = [e.pk for e in evaluations if e.project_id != project.pk]
    if foreign:
        raise ApplicationError(
            f"Evaluation {foreign[0]} is not in {project}.", extra={"fields": {"evaluations": foreign}}
        )
    if strategy not in DatasetStrategy.values:
        raise ApplicationError(f"Unknown strategy {strategy!r}; one of {', '.join(DatasetStrategy.values)}.")
    if not 0 <= held_out_fraction < 1:
        raise ApplicationError("held_out_fraction must be at least 0 and below 1.")
    try:
        terms = parse_error_terms(errors)
    except ValueError as exc:
        raise ApplicationError(str(exc), extra={"fields": {"errors": [str(exc)]}}) from exc
    name = (name or "").strip()[:200]
    if not name:
        raise ApplicationError("The dataset needs a name.", extra={"fields": {"name": ["Required."]}})
    options = {
        "strategy": strategy,
        "errors": list(terms),
        "models": list(_strings(models)),
        "task_ids": list(_strings(task_ids)),
        "suites": list(_strings(suites)),
        "repair": bool(repair),
        "use_canonical": bool(use_canonical),
        "held_out_fraction": float(held_out_fraction),
        "seed": int(seed),
    }
    samples = Sample.objects.filter(evaluation__in=[e.pk for e in evaluations])
    if options["models"]:
        samples = samples.filter(model__name__in=options["models"])
    if options["task_ids"]:
        samples = samples.filter(problem__task_id__in=options["task_ids"])
    if options["suites"]:
        samples = samples.filter(problem__suite__name__in=options["suites"])
    rows = list(samples.values(*SAMPLE_FIELDS))
    problems = {
        p["id"]: {**p, "suite": p.pop("suite__name"), "suite_version": p.pop("suite__version")}
        for p in Problem.objects.filter(pk__in={r["problem_id"] for r in rows}).values(
            *PROBLEM_FIELDS, "suite__name", "suite__version"
        )
    }
    build = BuildOptions(
        strategy=strategy,
        errors=terms,
        repair=options["repair"],
        use_canonical=options["use_canonical"],
        held_out_fraction=options["held_out_fraction"],
        seed=options["seed"],
    )
    result = build_examples(rows, problems, build)
    if not result.train:
        raise ApplicationError(
            "No training example: no failed sample matches the filters with a passing solution to learn from "
            f"({len(rows)} samples considered).",
            extra={"counts": result.counts()},
        )
    version = (TuningDataset.objects.filter(project=project, name=name).aggregate(v=Max("version"))["v"] or 0) + 1
    dataset = TuningDataset.objects.create(
        project=project,
        name=name,
        version=version,
        strategy=strategy,
        options=options,
        counts=result.counts(),
        held_out_problems=[
            {
                "suite": problems[pid]["suite"],
                "version": problems[pid]["suite_version"],
                "task_id": problems[pid]["task_id"],
                "problem_id": pid,
            }
            for pid in result.held_out_problems
        ],
        created_by=actor if actor.is_authenticated else None,
    )
    dataset.source_evaluations.set(evaluations)
    TuningExample.objects.bulk_create(
        TuningExample(
            dataset=dataset,
            project=project,
            split=split,
            position=position,
            problem_id=example.problem_id,
            task_id=example.task_id,
            source_sample_id=example.sample_id,
            input=example.input,
            output=example.output,
            rejected=example.rejected,
            error_type=example.error_type,
            error_names=list(example.error_names),
            difficulty=example.difficulty,
            content_hash=example.content_hash,
        )
        for split, examples in ((DatasetSplit.TRAIN, result.train), (DatasetSplit.HELD_OUT, result.held_out))
        for position, example in enumerate(examples)
    )
    audit_record(
        action=AuditAction.TUNING_DATASET_CREATED,
        actor=actor,
        project=project,
        target=dataset,
        data={
            "strategy": strategy,
            "evaluations": [e.pk for e in evaluations],
            "examples": dataset.counts.get("examples", {}),
        },
    )
    return dataset


def tuning_dataset_delete(*, actor, dataset: TuningDataset) -> None:
    _ensure_can_tune(actor, dataset.project)
    if dataset.jobs.exists():
        raise ConflictError("Tuning jobs were trained on this dataset; delete them first.")
    dataset.delete()


# --- jobs ----------------------------------------------------------------------------------------------------------


def job_work_dir(job: TuningJob) -> Path:
    return Path(settings.TUNING_ARTIFACTS_DIR) / f"job-{job.pk}"


def tuned_models_dir() -> Path:
    """Where merged checkpoints go: TUNING_MODELS_DIR, else ``tuned/`` in the first of HF_MODEL_DIRS."""
    roots = [Path(d).expanduser().resolve() for d in settings.HF_MODEL_DIRS]
    if not roots:
        raise ApplicationError("HF_MODEL_DIRS is empty: there is nowhere to put a tuned checkpoint.")
    configured = settings.TUNING_MODELS_DIR
    target = Path(configured).expanduser().resolve() if configured else roots[0] / "tuned"
    if not any(target.is_relative_to(root) for root in roots):
        raise ApplicationError(f"TUNING_MODELS_DIR ({target}) must lie inside one of HF_MODEL_DIRS.")
    return target


def _enqueue(job: TuningJob) -> None:
    enqueue("tuning.jobs.tuning_job_run", job.pk, queue="gpu", job_timeout=settings.TUNING_JOB_TIMEOUT)


@transaction.atomic
def tuning_job_create(
    *,
    actor,
    project: Project,
    dataset: TuningDataset,
    base_endpoint: ModelEndpoint,
    name: str,
    hyperparameters: Mapping | None = None,
) -> TuningJob:
    """Queue LoRA tuning of ``base_endpoint`` (an hf endpoint) on ``dataset``; ``name`` names the tuned endpoint."""
    _ensure_can_tune(actor, project)
    if dataset.project_id != project.pk or base_endpoint.project_id != project.pk:
        raise ApplicationError(f"The dataset and the base model must belong to {project}.")
    if base_endpoint.backend != "hf":
        raise ApplicationError(
            f"{base_endpoint.name} is a {base_endpoint.backend} endpoint: only hf endpoints (local checkpoints) can be "
            "tuned.",
            extra={"fields": {"base_model": ["Must be an hf endpoint."]}},
        )
    name = (name or "").strip()[:200]
    if not name:
        raise ApplicationError(
            "The job needs a name (the tuned endpoint's).", extra={"fields": {"name": ["Required."]}}
        )
    if ModelEndpoint.objects.filter(project=project, name=name).exists():
        raise ConflictError(f"A model endpoint named {name!r} exists already.", extra={"fields": {"name": [name]}})
    if TuningJob.objects.filter(project=project, name=name).exclude(status=TuningJobStatus.FAILED).exists():
        raise ConflictError(f"A tuning job named {name!r} exists already.", extra={"fields": {"name": [name]}})
    if not dataset.train_count:
        raise ApplicationError(f"{dataset} has no training example.")
    try:
        parsed = parse_hyperparameters(hyperparameters)
    except HyperparameterError as exc:
        raise ApplicationError(f"Invalid hyperparameters: {exc}", extra={"fields": exc.errors}) from exc
    job = TuningJob.objects.create(
        project=project,
        name=name,
        base_endpoint=base_endpoint,
        dataset=dataset,
        hyperparameters=parsed.as_dict(),
        created_by=actor if actor.is_authenticated else None,
    )
    audit_record(
        action=AuditAction.TUNING_JOB_CREATED,
        actor=actor,
        project=project,
        target=job,
        data={"base_model": base_endpoint.name, "dataset": str(dataset), "hyperparameters": job.hyperparameters},
    )
    publish(job)
    _enqueue(job)
    return job


def tuning_job_cancel(*, actor, job: TuningJob) -> TuningJob:
    """Stop a pending or running job; a running one saves a checkpoint at its next step, so resume continues there."""
    _ensure_can_tune(actor, job.project)
    changed = TuningJob.objects.filter(pk=job.pk, status__in=(TuningJobStatus.PENDING, TuningJobStatus.RUNNING)).update(
        status=TuningJobStatus.CANCELLED, finished_at=timezone.now()
    )
    job.refresh_from_db()
    if not changed:
        raise ConflictError(f"The job is {job.status}; only pending or running jobs can be cancelled.")
    audit_record(action=AuditAction.TUNING_JOB_CANCELLED, actor=actor, project=job.project, target=job)
    publish(job, message="The job was cancelled.")
    return job


@transaction.atomic
def tuning_job_resume(*, actor, job: TuningJob) -> TuningJob:
    """Run a failed or cancelled job again from its last checkpoint (steps after it are trained again)."""
    _ensure_can_tune(actor, job.project)
    changed = TuningJob.objects.filter(pk=job.pk, status__in=RESUMABLE).update(
        status=TuningJobStatus.PENDING, stage=TuningStage.QUEUED, finished_at=None, error_message=""
    )
    job.refresh_from_db()
    if not changed:
        raise ConflictError(f"The job is {job.status}; only failed or cancelled jobs can be resumed.")
    audit_record(
        action=AuditAction.TUNING_JOB_RESUMED,
        actor=actor,
        project=job.project,
        target=job,
        data={"from_step": job.current_step},
    )
    publish(job)
    _enqueue(job)
    return job


def tuning_job_delete(*, actor, job: TuningJob) -> None:
    """Delete a finished job and its artifacts (the tuned endpoint, if registered, stays)."""
    _ensure_can_tune(actor, job.project)
    if not job.is_finished:
        raise ConflictError(f"The job is {job.status}; cancel it before deleting it.")
    import shutil

    shutil.rmtree(job_work_dir(job), ignore_errors=True)
    job.delete()


def tuned_endpoint_register(*, job: TuningJob, checkpoint: Path) -> ModelEndpoint:
    """Register the merged checkpoint as an hf endpoint named after the job, like its base (as the job's creator)."""
    from models_registry.services import model_endpoint_create

    base = job.base_endpoint
    actor = job.created_by
    if actor is None:
        raise ApplicationError("The job's creator no longer exists: nobody to register the tuned endpoint as.")
    return model_endpoint_create(
        actor=actor,
        project=job.project,
        name=job.name,
        backend="hf",
        base_url=str(checkpoint),
        model=job.name,
        api_style=base.api_style,
        generation_options=dict(base.generation_options or {}),
        parameters=base.parameters,
        context_window=base.context_window,
        capabilities=list(base.capabilities or []),
        max_concurrency=base.max_concurrency,
    )


def tuning_job_compare(
    *, actor, job: TuningJob, samples_per_problem: int = 1, generation: Mapping | None = None
) -> Evaluation:
    """Evaluate the tuned endpoint and its base on the dataset's held-out problems (one evaluation, both models).

    Held-out problems of several suites: the suite holding most of them is used (an evaluation runs one suite).
    """
    from evaluations.runs.services import evaluation_create

    _ensure_can_tune(actor, job.project)
    if job.status != TuningJobStatus.COMPLETED or job.resulting_endpoint is None:
        raise ConflictError(f"The job is {job.status}: only a completed job with a tuned endpoint can be compared.")
    held = job.dataset.held_out_problems
    if not held:
        raise ApplicationError(f"{job.dataset} has no held-out problem to compare on.")
    suites: dict[tuple[str, int], list[str]] = {}
    for row in held:
        suites.setdefault((row["suite"], row["version"]), []).append(row["task_id"])
    (suite, version), task_ids = max(suites.items(), key=lambda item: len(item[1]))
    config = {
        "models": [job.base_endpoint.name, job.resulting_endpoint.name],
        "problems": {"suite": suite, "version": version, "task_ids": task_ids},
        "evaluation": {"samples_per_problem": samples_per_problem},
        "generation": {"temperature": 0.0, **dict(generation or {})},
    }
    with transaction.atomic():
        evaluation = evaluation_create(
            actor=actor, project=job.project, config=config, name=f"{job.name} vs {job.base_endpoint.name}"[:200]
        )
        TuningJob.objects.filter(pk=job.pk).update(comparison_evaluation=evaluation)
    job.refresh_from_db()
    return evaluation


def _slug(text: str) -> str:
    return _SLUG_RE.sub("-", text).strip("-.")[:80] or "model"


def tuned_checkpoint_dir(job: TuningJob) -> Path:
    return tuned_models_dir() / f"job-{job.pk}-{_slug(job.name)}"
