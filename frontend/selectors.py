"""Reads behind the portal pages: every query starts from a tenant-scoped queryset and aggregates in the database.

No function here loads an evaluation's samples into Python: pages get per-(model, problem) and per-(model,
category) aggregates, histogram buckets, or one page of rows.
"""

from collections import defaultdict

from django.db.models import Count, F, FloatField, Max, Min, OuterRef, Q, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Floor, Substr
from django.http import Http404

from evaluations.choices import EvaluationStatus
from evaluations.models import Evaluation, EvaluationModel, Problem, Sample
from evaluations.runs.results import model_key
from evaluations.statistics import bootstrap_ci, pass_at_k
from models_registry.models import ModelEndpoint

HISTOGRAM_BINS = 20
# Metric -> (label, expression over Sample): real columns, or values inside the ``metrics`` JSON.
DISTRIBUTIONS = {
    "duration_s": ("Execution time (s)", F("duration_s")),
    "loc": ("Lines of code", Cast(KT("metrics__loc"), FloatField())),
    "cyclomatic_complexity": ("Cyclomatic complexity", Cast(KT("metrics__cyclomatic_complexity"), FloatField())),
    "maintainability_index": ("Maintainability index", Cast(KT("metrics__maintainability_index"), FloatField())),
}


def evaluation_get(*, user, pk: int, verb: str = "view") -> Evaluation:
    """The evaluation if ``user`` may ``verb`` it; 404 otherwise (another tenant's looks like a missing one)."""
    evaluation = (
        Evaluation.objects.for_user(user, verb).select_related("project__organization", "suite").filter(pk=pk).first()
    )
    if evaluation is None:
        raise Http404("No such evaluation.")
    return evaluation


def evaluation_list(*, user, project):
    return Evaluation.objects.for_user(user, "view").filter(project=project).select_related("suite")


def sample_get(*, user, evaluation: Evaluation, pk: int) -> Sample:
    sample = (
        Sample.objects.for_user(user, "view")
        .filter(evaluation=evaluation, pk=pk)
        .select_related("problem", "model")
        .first()
    )
    if sample is None:
        raise Http404("No such sample.")
    return sample


def _samples(user, evaluation: Evaluation):
    return Sample.objects.for_user(user, "view").filter(evaluation=evaluation)


def run_models(*, user, evaluation: Evaluation) -> list[EvaluationModel]:
    return list(EvaluationModel.objects.for_user(user, "view").filter(evaluation=evaluation).order_by("position"))


def trend_points(*, user, project, limit: int = 50) -> list[dict]:
    """pass@1 of each model in the project's last ``limit`` completed runs, oldest first (from stored summaries)."""
    rows = list(
        evaluation_list(user=user, project=project)
        .filter(status=EvaluationStatus.COMPLETED)
        .order_by("-finished_at")
        .values("pk", "name", "finished_at", "summary__by_model")[:limit]
    )
    points = []
    for row in reversed(rows):
        for model, block in (row["summary__by_model"] or {}).items():
            value = (block.get("pass_at_k") or {}).get("pass@1")
            if value is not None:
                points.append({"evaluation": row["pk"], "at": row["finished_at"], "model": model, "pass_at_1": value})
    return points


def project_metrics(*, user, project) -> dict:
    """Key figures of a project: runs by status, distinct models tested, best pass@1 and its trend."""
    runs = evaluation_list(user=user, project=project)
    by_status = dict(runs.order_by().values_list("status").annotate(n=Count("pk")))
    tested = (
        EvaluationModel.objects.for_user(user, "view")
        .filter(evaluation__project=project, completed_samples__gt=0)
        .values("name")
        .distinct()
        .count()
    )
    trend = trend_points(user=user, project=project)
    best = max(trend, key=lambda p: p["pass_at_1"], default=None)
    return {
        "evaluations": sum(by_status.values()),
        "by_status": by_status,
        "models_tested": tested,
        "best": best,
        "trend": trend,
    }


def endpoint_rows(*, user, project) -> list[ModelEndpoint]:
    """The project's model endpoints with their latest completed run (``last_evaluation``, ``last_pass_at_1``)."""
    last_run = (
        EvaluationModel.objects.filter(endpoint=OuterRef("pk"), evaluation__status=EvaluationStatus.COMPLETED)
        .order_by("-evaluation__finished_at")
        .values("evaluation_id")[:1]
    )
    endpoints = list(
        ModelEndpoint.objects.for_user(user, "view")
        .filter(project=project)
        .annotate(last_evaluation_id=Subquery(last_run))
        .order_by("name")
    )
    summaries = dict(
        Evaluation.objects.for_user(user, "view")
        .filter(pk__in={e.last_evaluation_id for e in endpoints if e.last_evaluation_id})
        .values_list("pk", "summary__by_model")
    )
    for endpoint in endpoints:
        blocks = summaries.get(endpoint.last_evaluation_id) or {}
        values = [
            (b.get("pass_at_k") or {}).get("pass@1") for key, b in blocks.items() if b.get("model") == endpoint.name
        ]
        endpoint.last_pass_at_1 = next((v for v in values if v is not None), None)
    return endpoints


def problem_counts(*, user, evaluation: Evaluation) -> list[dict]:
    """One row per (model, strategy, problem): samples ``n`` and passed ``c``, in model then suite order.

    Grouped on the sample table alone (its unique index covers the keys); problem names join in Python from the
    evaluation's own problem list.
    """
    rows = list(
        _samples(user, evaluation)
        .values("model_id", "strategy", "problem_id")
        .annotate(n=Count("pk"), c=Count("pk", filter=Q(passed=True)))
        .order_by()
    )
    problems = {
        pk: (ordinal, task_id)
        for pk, ordinal, task_id in Problem.objects.for_user(user, "view")
        .filter(pk__in=evaluation.problem_ids)
        .values_list("pk", "ordinal", "task_id")
    }
    for row in rows:
        row["problem__ordinal"], row["problem__task_id"] = problems.get(row["problem_id"], (0, str(row["problem_id"])))
    return sorted(rows, key=lambda r: (r["model_id"], r["strategy"], r["problem__ordinal"]))


def per_problem(counts: list[dict]) -> dict[tuple[int, str], dict[str, tuple[int, int]]]:
    """``(model_id, strategy) -> {task_id: (n, c)}`` from ``problem_counts``."""
    grouped: dict[tuple[int, str], dict[str, tuple[int, int]]] = defaultdict(dict)
    for row in counts:
        grouped[(row["model_id"], row["strategy"])][row["problem__task_id"]] = (row["n"], row["c"])
    return grouped


def pass_at_k_rows(evaluation: Evaluation, models: list[EvaluationModel], counts: list[dict]) -> list[dict]:
    """pass@k with bootstrap intervals per model: the stored summary once finished, else from the live counts."""
    stored = (evaluation.summary or {}).get("by_model") if evaluation.is_finished else None
    strategies = list(evaluation.config.get("strategies") or ["zero_shot"])
    grouped = per_problem(counts) if not stored else {}
    ks = evaluation.config.get("k") or [1]
    resamples = min(int(evaluation.config.get("bootstrap_resamples", 2000)), 2000)
    rows = []
    for run_model in models:
        for strategy in strategies:
            key = model_key(run_model.name, strategy, strategies)
            if stored is not None:
                block = stored.get(key) or {}
                values, intervals = block.get("pass_at_k") or {}, block.get("confidence_intervals") or {}
                samples, passed = block.get("samples", 0), block.get("passed", 0)
            else:
                problems = grouped.get((run_model.pk, strategy), {})
                values = {f"pass@{k}": v for k, v in pass_at_k(problems, ks).items()}
                intervals = {
                    name: bootstrap_ci(
                        problems, int(name[5:]), resamples=resamples, seed=evaluation.config.get("seed", 0)
                    )
                    for name in values
                }
                samples, passed = sum(n for n, _ in problems.values()), sum(c for _, c in problems.values())
            rows.append(
                {
                    "key": key,
                    "model": run_model,
                    "strategy": strategy,
                    "samples": samples,
                    "passed": passed,
                    "values": [(name, values[name], intervals.get(name)) for name in sorted(values, key=_k_order)],
                }
            )
    return rows


def _k_order(name: str) -> int:
    return int(name.split("@", 1)[1])


def error_counts(*, user, evaluation: Evaluation) -> list[dict]:
    """Failing samples per (model, error category), with the first and last sample ids as examples."""
    return list(
        _samples(user, evaluation)
        .filter(passed=False)
        .exclude(error_category="")
        .values("model_id", "error_category")
        .annotate(n=Count("pk"), first=Min("pk"), last=Max("pk"))
        .order_by("model_id", "-n", "error_category")
    )


def status_counts(*, user, evaluation: Evaluation) -> list[dict]:
    return list(
        _samples(user, evaluation).values("model_id", "status").annotate(n=Count("pk")).order_by("model_id", "status")
    )


def sample_briefs(*, user, evaluation: Evaluation, pks) -> dict[int, dict]:
    rows = (
        Sample.objects.for_user(user, "view")
        .filter(evaluation=evaluation, pk__in=list(pks))
        .values("pk", "problem__task_id", "error_type", "error_message", "index")
    )
    return {row["pk"]: row for row in rows}


def distributions(*, user, evaluation: Evaluation) -> dict[str, dict]:
    """Histogram buckets per metric and model, counted in the database: ``{metric: {label, centers, counts}}``."""
    samples = _samples(user, evaluation)
    bounds = _stored_bounds(evaluation) or samples.aggregate(
        **{f"{name}_min": Min(expr) for name, (_, expr) in DISTRIBUTIONS.items()},
        **{f"{name}_max": Max(expr) for name, (_, expr) in DISTRIBUTIONS.items()},
    )
    out = {}
    for name, (label, expr) in DISTRIBUTIONS.items():
        low, high = bounds[f"{name}_min"], bounds[f"{name}_max"]
        if low is None:
            continue
        width = (high - low) / HISTOGRAM_BINS or 1.0
        buckets = (
            samples.annotate(value=expr)
            .exclude(value__isnull=True)
            .annotate(bucket=Floor((F("value") - low) / width))
            .values("model_id", "bucket")
            .annotate(n=Count("pk"))
            .order_by()
        )
        counts: dict[int, list[int]] = defaultdict(lambda: [0] * HISTOGRAM_BINS)
        for row in buckets:
            counts[row["model_id"]][min(int(row["bucket"]), HISTOGRAM_BINS - 1)] += row["n"]
        out[name] = {
            "label": label,
            "centers": [low + width * (i + 0.5) for i in range(HISTOGRAM_BINS)],
            "counts": dict(counts),
        }
    return out


def _stored_bounds(evaluation: Evaluation) -> dict | None:
    """Each metric's range from a finished run's stored summary (it holds min and max per model), sparing a scan."""
    blocks = ((evaluation.summary or {}).get("by_model") or {}).values() if evaluation.is_finished else ()
    bounds: dict[str, float | None] = {}
    for name in DISTRIBUTIONS:
        stats = [
            (b.get("execution_time_s") if name == "duration_s" else (b.get("quality") or {}).get(name)) or {}
            for b in blocks
        ]
        lows = [s["min"] for s in stats if s.get("min") is not None]
        highs = [s["max"] for s in stats if s.get("max") is not None]
        if len(lows) != len(stats):
            return None  # an older summary without this metric: scan instead
        bounds[f"{name}_min"], bounds[f"{name}_max"] = (min(lows), max(highs)) if lows else (None, None)
    return bounds if blocks else None


def sample_page_queryset(*, user, evaluation: Evaluation, filters: dict):
    """Samples of the evaluation for the paginated table, filtered by model, problem, verdict and category.

    Ordered like the unique (evaluation, model, problem, strategy, index) index, so a page is an index range and
    counting needs no join.
    """
    samples = Sample.objects.for_user(user, "view").filter(evaluation=evaluation)
    if filters.get("model"):
        samples = samples.filter(model_id=filters["model"])
    if filters.get("problem"):
        samples = samples.filter(problem_id=filters["problem"])
    if filters.get("passed") in ("true", "false"):
        samples = samples.filter(passed=filters["passed"] == "true")
    if filters.get("category"):
        samples = samples.filter(error_category=filters["category"])
    return (
        samples.select_related("model", "problem")
        .only(
            "pk",
            "evaluation_id",
            "model__name",
            "problem__task_id",
            "strategy",
            "index",
            "passed",
            "status",
            "error_category",
            "error_type",
            "duration_s",
        )
        .annotate(error_excerpt=Substr("error_message", 1, 200))
        .order_by("model_id", "problem_id", "strategy", "index")
    )


def failing_neighbours(*, user, sample: Sample) -> tuple[int | None, int | None]:
    """The previous and next failing samples of the same evaluation (in insertion order)."""
    failing = Sample.objects.for_user(user, "view").filter(evaluation_id=sample.evaluation_id, passed=False)
    previous = failing.filter(pk__lt=sample.pk).order_by("-pk").values_list("pk", flat=True).first()
    following = failing.filter(pk__gt=sample.pk).order_by("pk").values_list("pk", flat=True).first()
    return previous, following


def model_totals(*, user, evaluation: Evaluation) -> list[dict]:
    return list(_samples(user, evaluation).values("model_id").annotate(n=Count("pk")).order_by("model_id"))
