"""Reads for tuning, from the tenant-scoped querysets: datasets, jobs, loss curves, tuned-vs-original comparison."""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict

from accounts.models import Project
from evaluations.models import Sample
from evaluations.statistics import paired_comparison

from .choices import DatasetSplit, ExportFormat
from .datasets import export_line
from .models import TuningDataset, TuningExample, TuningJob, TuningStep


def tuning_dataset_list(*, user, project: Project | None = None):
    datasets = TuningDataset.objects.for_user(user, "view")
    return datasets.filter(project=project) if project is not None else datasets


def tuning_job_list(*, user, project: Project | None = None):
    jobs = TuningJob.objects.for_user(user, "view").select_related("base_endpoint", "dataset", "resulting_endpoint")
    return jobs.filter(project=project) if project is not None else jobs


def loss_curve(job: TuningJob) -> list[dict]:
    """Every recorded step: step, epoch, loss, validation_loss (None where not measured), learning_rate."""
    return list(
        TuningStep.objects.filter(job=job)
        .order_by("step")
        .values("step", "epoch", "loss", "validation_loss", "learning_rate")
    )


def dataset_export_lines(dataset: TuningDataset, *, split: str = DatasetSplit.TRAIN, fmt: str = ExportFormat.SFT):
    """The JSONL lines of one split, in training order."""
    rows = TuningExample.objects.filter(dataset=dataset, split=split).order_by("position")
    if fmt == ExportFormat.PREFERENCE:
        rows = rows.exclude(rejected="")
    fields = ("input", "output", "rejected", "error_type", "difficulty")
    for row in rows.values(*fields).iterator(chunk_size=1000):
        yield export_line(row, fmt)


def _per_problem(evaluation_id: int, model_name: str) -> dict[str, tuple[int, int]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    rows = Sample.objects.filter(evaluation_id=evaluation_id, model__name=model_name)
    for task_id, passed in rows.values_list("problem__task_id", "passed").iterator():
        counts[task_id][0] += 1
        counts[task_id][1] += bool(passed)
    return {task: (n, c) for task, (n, c) in counts.items()}


def tuning_comparison(job: TuningJob) -> dict | None:
    """The tuned model (b) against its base (a) on the held-out problems: pass@1 of each, the paired bootstrap CI of
    the difference and McNemar's exact p (evaluations.statistics.paired_comparison). None before a comparison ran."""
    evaluation = job.comparison_evaluation
    if evaluation is None:
        return None
    original = job.base_endpoint.name
    tuned = job.resulting_endpoint.name if job.resulting_endpoint else job.name
    out = {
        "evaluation": evaluation.pk,
        "status": evaluation.status,
        "original": original,
        "tuned": tuned,
        "result": None,
    }
    if not evaluation.is_finished:
        return out
    a, b = _per_problem(evaluation.pk, original), _per_problem(evaluation.pk, tuned)
    try:
        result = paired_comparison(a, b, seed=int(evaluation.config.get("seed") or 0))
    except ValueError as exc:  # no problem in common: nothing was judged
        out["message"] = str(exc)
        return out
    out["result"] = asdict(result)
    return out


def comparison_lines(comparison: dict) -> Iterator[str]:
    """The comparison as the CLI prints it."""
    yield f"Tuned {comparison['tuned']} vs original {comparison['original']} (evaluation {comparison['evaluation']})"
    result = comparison.get("result")
    if not result:
        yield f"  status: {comparison['status']}" + (f" ({comparison['message']})" if comparison.get("message") else "")
        return
    yield f"  problems: {result['problems']}"
    yield f"  pass@1 original: {result['pass_at_1_a']:.4f}   tuned: {result['pass_at_1_b']:.4f}"
    yield (
        f"  difference (tuned - original): {result['difference']:+.4f}, 95% paired-bootstrap CI "
        f"[{result['ci_low']:+.4f}, {result['ci_high']:+.4f}]"
    )
    yield (
        f"  solved by original only: {result['a_only']}, tuned only: {result['b_only']}, both: {result['both']}, "
        f"neither: {result['neither']}; McNemar exact p = {result['p_value']:.4f}"
    )
