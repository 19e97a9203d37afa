"""Evaluation jobs (on RQ, or in-process without Redis). They take ids, reload rows and move status atomically.

``evaluation_start`` calibrates timeouts when asked and fans the pending chunks out; each ``evaluation_chunk_run``
claims its chunk (pending -> running, so a chunk enqueued twice runs once), writes its samples in one transaction
and, when it is the last, finalizes the evaluation.
"""

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from codequal.jobs import enqueue
from codequal.realtime import notify
from errors.services import error_patterns_update

from .choices import ChunkStatus, EvaluationStatus
from .models import Evaluation, EvaluationChunk
from .runs.chunks import ChunkIncomplete, chunk_process, evaluation_recount
from .runs.results import evaluation_aggregates
from .runs.services import chunk_job_timeout

logger = logging.getLogger(__name__)


def evaluation_start(evaluation_id: int) -> None:
    moved = Evaluation.objects.filter(pk=evaluation_id, status=EvaluationStatus.PENDING).update(
        status=EvaluationStatus.RUNNING, started_at=timezone.now()
    )
    if not moved:
        return  # cancelled meanwhile, or another start got here first
    evaluation = Evaluation.objects.get(pk=evaluation_id)
    try:
        if evaluation.config.get("timeout_mode") == "relative" and "timeouts" not in evaluation.environment:
            from .runs.calibration import calibrate_timeouts

            calibrate_timeouts(evaluation)
    except Exception as exc:
        logger.exception("timeout calibration failed for evaluation %s", evaluation_id)
        _fail(evaluation_id, f"Calibrating timeouts failed: {exc}")
        return
    notify(f"evaluation:{evaluation_id}", "progress", {"progress": evaluation.progress, "current_model": ""})
    pending = list(
        EvaluationChunk.objects.filter(evaluation_id=evaluation_id, status=ChunkStatus.PENDING).values_list(
            "pk", flat=True
        )
    )
    if not pending:
        evaluation_finalize(evaluation_id)
        return
    for chunk_id in pending:
        enqueue("evaluations.jobs.evaluation_chunk_run", chunk_id, job_timeout=chunk_job_timeout())


def evaluation_chunk_run(chunk_id: int) -> None:
    claimed = EvaluationChunk.objects.filter(
        pk=chunk_id, status=ChunkStatus.PENDING, evaluation__status=EvaluationStatus.RUNNING
    ).update(status=ChunkStatus.RUNNING, attempts=F("attempts") + 1, claimed_at=timezone.now())
    if not claimed:
        return
    chunk = EvaluationChunk.objects.select_related("evaluation__suite", "model__endpoint").get(pk=chunk_id)
    Evaluation.objects.filter(pk=chunk.evaluation_id).update(current_model=chunk.model.name)
    retries = int(chunk.evaluation.config.get("retry_attempts", 2))
    try:
        chunk_process(chunk)
    except Exception as exc:
        incomplete = isinstance(exc, ChunkIncomplete)
        if not incomplete:
            logger.exception("evaluation chunk %s failed", chunk_id)
        message = str(exc) if incomplete else f"{type(exc).__name__}: {exc}"
        again = chunk.attempts <= retries
        EvaluationChunk.objects.filter(pk=chunk_id).update(
            status=ChunkStatus.PENDING if again else ChunkStatus.FAILED,
            error_message=message[:5000],
            finished_at=None if again else timezone.now(),
        )
        notify(
            f"evaluation:{chunk.evaluation_id}",
            "error",
            {"type": "chunk_retry" if again else "chunk_failed", "message": f"{chunk.model.name}: {message[:500]}"},
        )
        if again:
            enqueue("evaluations.jobs.evaluation_chunk_run", chunk_id, job_timeout=chunk_job_timeout())
            return
    else:
        EvaluationChunk.objects.filter(pk=chunk_id, status=ChunkStatus.RUNNING).update(
            status=ChunkStatus.DONE, finished_at=timezone.now(), error_message=""
        )
    evaluation_finalize(chunk.evaluation_id)


def _fail(evaluation_id: int, message: str) -> None:
    Evaluation.objects.filter(pk=evaluation_id, status=EvaluationStatus.RUNNING).update(
        status=EvaluationStatus.FAILED, error_message=message[:5000], finished_at=timezone.now()
    )
    notify(f"evaluation:{evaluation_id}", "error", {"type": "failed", "message": message[:500]})


def evaluation_finalize(evaluation_id: int) -> bool:
    """Complete (or fail) a running evaluation once no chunk is pending or running; True if this call did it."""
    with transaction.atomic():
        evaluation = Evaluation.objects.select_for_update().filter(pk=evaluation_id).first()
        if evaluation is None or evaluation.status != EvaluationStatus.RUNNING:
            return False
        chunks = EvaluationChunk.objects.filter(evaluation_id=evaluation_id)
        if chunks.filter(status__in=(ChunkStatus.PENDING, ChunkStatus.RUNNING)).exists():
            return False
        evaluation_recount(evaluation_id)
        evaluation.refresh_from_db()
        failed = list(chunks.filter(status=ChunkStatus.FAILED).values_list("error_message", flat=True))
        missing = evaluation.total_samples - evaluation.completed_samples
        status = EvaluationStatus.COMPLETED if not failed and missing <= 0 else EvaluationStatus.FAILED
        evaluation.status = status
        evaluation.finished_at = timezone.now()
        if status == EvaluationStatus.FAILED:
            evaluation.error_message = (
                f"{missing} of {evaluation.total_samples} samples are missing after {len(failed)} failed chunk(s): "
                + "; ".join(m for m in failed[:3] if m)
                + " — fix the cause and resume the evaluation to complete only what is missing."
            )[:5000]
        summary, by_model = evaluation_aggregates(evaluation)
        evaluation.summary = {"summary": summary, "by_model": by_model}
        evaluation.save(update_fields=["status", "finished_at", "error_message", "summary", "updated_at"])
        # Error patterns learn from every finished run, once it is committed (idempotent per evaluation).
        transaction.on_commit(lambda: _update_patterns(evaluation))
        channel = f"evaluation:{evaluation_id}"
        if status == EvaluationStatus.FAILED:
            notify(channel, "error", {"type": "failed", "message": evaluation.error_message[:500]})
        notify(channel, "complete", {"status": status, "summary": summary, "metrics": by_model})
    return True


def _update_patterns(evaluation: Evaluation) -> None:
    # The run is complete and committed whatever happens here: a failure of the analysis is logged, not raised into
    # the job (it can be redone with a recompute).
    try:
        error_patterns_update(evaluation=evaluation)
    except Exception:
        logger.exception("error patterns of evaluation %s were not updated", evaluation.pk)
