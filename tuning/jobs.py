"""The tuning job (RQ ``gpu`` queue, or in-process without Redis): takes an id, claims the row, trains, registers.

The row is the truth: the job moves pending -> running atomically (a job enqueued twice runs once), records every
step's loss, and stops at the next step once the row is no longer running (cancelled). Failures land on the row
with their traceback tail; ``tuning_job_resume`` runs it again from the newest checkpoint.
"""

import logging
import time
import traceback
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from models_registry.backends.hf import validate_model_location
from models_registry.models import ModelEndpoint

from . import services
from .choices import DatasetSplit, DatasetStrategy, TuningJobStatus, TuningStage
from .hyperparameters import from_stored
from .models import TuningExample, TuningJob, TuningStep
from .training import StepRecord, TrainingCallbacks, TrainingSpec, merge_adapter, train

logger = logging.getLogger(__name__)
PUBLISH_EVERY_S = 1.0  # live loss events at most this often (the rows have every step)


def tuning_job_run(job_id: int) -> None:
    moved = TuningJob.objects.filter(pk=job_id, status=TuningJobStatus.PENDING).update(
        status=TuningJobStatus.RUNNING, stage=TuningStage.LOADING, started_at=timezone.now(), error_message=""
    )
    if not moved:
        return  # cancelled meanwhile, or another worker got it first
    job = TuningJob.objects.select_related("base_endpoint", "dataset", "project", "created_by").get(pk=job_id)
    services.publish(job)
    try:
        _run(job)
    except Exception as exc:
        logger.exception("tuning job %s failed", job_id)
        tail = "".join(traceback.format_exception(exc)[-3:])
        TuningJob.objects.filter(pk=job_id, status=TuningJobStatus.RUNNING).update(
            status=TuningJobStatus.FAILED,
            error_message=f"{type(exc).__name__}: {exc}\n\n{tail}"[:5000],
            finished_at=timezone.now(),
        )
        job.refresh_from_db()
        services.publish(job, message=job.error_message[:500])


def _pairs(job: TuningJob, split: str) -> tuple[tuple[str, str], ...]:
    rows = TuningExample.objects.filter(dataset=job.dataset, split=split).order_by("position")
    return tuple(rows.values_list("input", "output"))


def _run(job: TuningJob) -> None:
    location = validate_model_location(job.base_endpoint.base_url)
    hub = not Path(location).is_absolute()
    spec = TrainingSpec(
        base_location=location,
        work_dir=services.job_work_dir(job),
        train=_pairs(job, DatasetSplit.TRAIN),
        validation=_pairs(job, DatasetSplit.HELD_OUT),
        hyperparameters=from_stored(job.hyperparameters),
        shuffle=job.dataset.strategy != DatasetStrategy.CURRICULUM,
        device=settings.HF_DEVICE,
        local_files_only=not (hub and settings.HF_ALLOW_HUB),
    )
    callbacks = JobCallbacks(job)
    result = train(spec, callbacks)
    metrics = {
        **job.metrics,
        "device": result.device,
        "steps_per_second": result.steps_per_second,
        "resumed_from_step": result.resumed_from,
        "train_examples": len(spec.train),
        "validation_examples": len(spec.validation),
        **_loss_summary(job),
    }
    if result.stopped:
        TuningJob.objects.filter(pk=job.pk).update(metrics=metrics)
        return
    callbacks.on_stage(TuningStage.SAVING)
    checkpoint = merge_adapter(
        location, result.adapter_dir, services.tuned_checkpoint_dir(job), local_files_only=spec.local_files_only
    )
    callbacks.on_stage(TuningStage.REGISTERING)
    endpoint = ModelEndpoint.objects.filter(project=job.project, name=job.name, base_url=str(checkpoint)).first()
    if endpoint is None:  # a resumed job may have registered it already
        endpoint = services.tuned_endpoint_register(job=job, checkpoint=checkpoint)
    TuningJob.objects.filter(pk=job.pk, status=TuningJobStatus.RUNNING).update(
        status=TuningJobStatus.COMPLETED,
        stage=TuningStage.DONE,
        progress=1.0,
        metrics=metrics,
        artifact_path=str(result.adapter_dir),
        resulting_endpoint=endpoint,
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    services.publish(job, endpoint=endpoint.name)


def _loss_summary(job: TuningJob) -> dict:
    steps = list(TuningStep.objects.filter(job=job).order_by("step").values_list("loss", flat=True))
    if not steps:
        return {}
    return {"first_loss": steps[0], "last_loss": steps[-1], "min_loss": min(steps)}


class JobCallbacks(TrainingCallbacks):
    """Records each step on the job's rows and answers whether the job is still running."""

    def __init__(self, job: TuningJob):
        self.job = job
        self._published = 0.0

    def _refresh_and_publish(self, force: bool = False, **extra) -> None:
        now = time.monotonic()
        if force or now - self._published >= PUBLISH_EVERY_S:
            self._published = now
            self.job.refresh_from_db()
            services.publish(self.job, **extra)

    def on_stage(self, stage: str) -> None:
        TuningJob.objects.filter(pk=self.job.pk, status=TuningJobStatus.RUNNING).update(stage=stage)
        self._refresh_and_publish(force=True)

    def on_start(self, *, total_steps: int, start_step: int, device: str) -> None:
        # Steps after the checkpoint are trained again: their earlier losses go.
        TuningStep.objects.filter(job=self.job, step__gt=start_step).delete()
        metrics = {**self.job.metrics, "device": device, "resumed_from_step": start_step}
        TuningJob.objects.filter(pk=self.job.pk).update(
            total_steps=total_steps, current_step=start_step, metrics=metrics
        )
        self.job.metrics = metrics

    def on_step(self, record: StepRecord) -> bool:
        TuningStep.objects.update_or_create(
            job=self.job,
            step=record.step,
            defaults={
                "epoch": record.epoch,
                "loss": record.loss,
                "validation_loss": record.validation_loss,
                "learning_rate": record.learning_rate,
            },
        )
        values = {
            "current_step": record.step,
            "progress": round(record.step / record.total_steps, 4),
            "loss": record.loss,
        }
        if record.validation_loss is not None:
            values["validation_loss"] = record.validation_loss
        # The step happened (and a stop checkpoints it) whether or not the job was cancelled meanwhile.
        TuningJob.objects.filter(pk=self.job.pk).update(**values)
        self._refresh_and_publish(force=record.step == record.total_steps)
        return TuningJob.objects.filter(pk=self.job.pk, status=TuningJobStatus.RUNNING).exists()

    def on_checkpoint(self, step: int, path: Path) -> None:
        TuningJob.objects.filter(pk=self.job.pk).update(checkpoint_path=str(path))
