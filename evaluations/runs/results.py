"""Results of an evaluation: per-model aggregates (pass@k with intervals, error breakdown, metrics) and the detail.

One shape serves the API, the CLI's ``results.json`` and the stored summary: ``summary``, ``by_model``,
``detailed_results``. Everything is computed from the sample rows, never from counters.
"""

from collections import Counter, defaultdict

from ..models import Evaluation, EvaluationModel, Sample
from ..statistics import bootstrap_ci, describe, pass_at_k

NOT_ERRORS = {"passed", "failed"}
QUALITY_FIELDS = ("cyclomatic_complexity", "maintainability_index", "loc", "halstead_volume")
DETAIL_FIELDS = (
    "problem__task_id",
    "problem_id",
    "model__name",
    "strategy",
    "index",
    "passed",
    "status",
    "error_category",
    "error_type",
    "error_message",
    "error_line",
    "duration_s",
    "peak_memory_kb",
    "parts",
    "metrics",
    "flips",
    "completion",
    "extraction_method",
    "generation_latency_ms",
    "completion_tokens",
)
AGGREGATE_FIELDS = (
    "model_id",
    "strategy",
    "problem__task_id",
    "passed",
    "status",
    "error_category",
    "duration_s",
    "peak_memory_kb",
    "parts",
    "metrics",
    "flips",
    "generation_latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "from_cache",
)


def model_key(name: str, strategy: str, strategies: list[str]) -> str:
    return name if len(strategies) == 1 else f"{name}@{strategy}"


def _pass_at_k_block(per_problem: dict[str, tuple[int, int]], ks, *, resamples: int, seed: int) -> dict:
    values = pass_at_k(per_problem, ks) if per_problem else {}
    return {
        "pass_at_k": {f"pass@{k}": round(v, 6) for k, v in values.items()},
        "confidence_intervals": {
            f"pass@{k}": [round(x, 6) for x in bootstrap_ci(per_problem, k, resamples=resamples, seed=seed)]
            for k in values
        },
    }


def _model_block(run_model: EvaluationModel, strategy: str, rows: list[dict], config: dict) -> dict:
    per_problem: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    parts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        counts = per_problem[row["problem__task_id"]]
        counts[0] += 1
        counts[1] += row["passed"]
        for part, verdict in (row["parts"] or {}).items():
            part_counts = parts[part][row["problem__task_id"]]
            part_counts[0] += 1
            part_counts[1] += bool(verdict.get("passed")) if isinstance(verdict, dict) else 0
    ks = config.get("k") or [1]
    resamples, seed = config.get("bootstrap_resamples", 2000), config.get("seed", 0)
    block = {
        "model": run_model.name,
        "strategy": strategy,
        "backend": run_model.snapshot.get("backend"),
        "problems": len(per_problem),
        "samples": len(rows),
        "passed": sum(r["passed"] for r in rows),
        "pass_rate": round(sum(r["passed"] for r in rows) / len(rows), 6) if rows else 0.0,
        "error_rate": round(sum(r["status"] not in NOT_ERRORS for r in rows) / len(rows), 6) if rows else 0.0,
        **_pass_at_k_block({t: tuple(c) for t, c in per_problem.items()}, ks, resamples=resamples, seed=seed),
        "status_counts": dict(Counter(r["status"] for r in rows)),
        "error_categories": dict(Counter(r["error_category"] for r in rows if r["error_category"])),
        "execution_time_s": describe([r["duration_s"] for r in rows]),
        "peak_memory_kb": describe([r["peak_memory_kb"] for r in rows]),
        "quality": _quality(rows),
        "generation": {
            "latency_ms": describe([r["generation_latency_ms"] for r in rows]),
            "prompt_tokens": sum(r["prompt_tokens"] or 0 for r in rows),
            "completion_tokens": sum(r["completion_tokens"] or 0 for r in rows),
            "cost_usd": round(sum(r["cost_usd"] or 0 for r in rows), 6),
            "from_cache": sum(r["from_cache"] for r in rows),
        },
        "metrics": _plugin_aggregates(rows, config),
        "flaky_samples": sum(r["flips"] > 0 for r in rows),
        "verdict_flips": sum(r["flips"] for r in rows),
    }
    if parts and set(parts) != {"main"}:
        block["parts"] = {
            part: _pass_at_k_block({t: tuple(c) for t, c in counts.items()}, ks, resamples=resamples, seed=seed)
            for part, counts in sorted(parts.items())
        }
    return block


def _plugin_aggregates(rows: list[dict], config: dict) -> dict:
    """Each enabled plugin metric's own aggregate over the model's samples that have its result."""
    out = {}
    for name in config.get("metrics") or []:
        metric = _aggregator(name, (config.get("metric_params") or {}).get(name, {}))
        if metric is None or getattr(metric, "inline", False):
            continue
        out[name] = metric.aggregate([(r["metrics"] or {})[name] for r in rows if name in (r["metrics"] or {})])
    return out


# radon's letter ranks: cyclomatic complexity A 1-5, B 6-10, C 11-20, D 21-30, E 31-40, F 41+; maintainability
# index A > 19, B 10-19, C <= 9 (radon's own thresholds).
COMPLEXITY_RANKS = (("A", 5), ("B", 10), ("C", 20), ("D", 30), ("E", 40), ("F", float("inf")))
MAINTAINABILITY_RANKS = (("C", 9.999999), ("B", 19.999999), ("A", float("inf")))


def _ranks(values, ranks) -> dict[str, int]:
    counts = dict.fromkeys((name for name, _ in ranks), 0)
    for value in values:
        if value is not None:
            counts[next(name for name, bound in ranks if value <= bound)] += 1
    return counts


def _quality(rows: list[dict]) -> dict:
    """Each quality field's distribution (with quartiles), and samples per radon rank."""
    values = {f: [(r["metrics"] or {}).get(f) for r in rows] for f in QUALITY_FIELDS}
    out = {f: describe(v, quartiles=True) for f, v in values.items()}
    out["complexity_ranks"] = _ranks(values["cyclomatic_complexity"], COMPLEXITY_RANKS)
    out["maintainability_ranks"] = _ranks(values["maintainability_index"], MAINTAINABILITY_RANKS)
    return out


def _aggregator(name: str, params: dict):
    """The metric that aggregates ``name``'s stored values. Results must stay readable when the settings a metric
    was validated against have changed since (a model folder moved) or its plugin is gone: then its defaults
    aggregate, or nothing does."""
    from ..metrics import MetricError, get_metric, metric_class

    try:
        return get_metric(name, **params)
    except MetricError:
        pass
    except (TypeError, ValueError):
        pass
    try:
        cls = metric_class(name)
    except MetricError:
        return None
    metric = cls.__new__(cls)  # aggregation needs only the class's summary fields, not validated parameters
    metric.params = params
    return metric


def evaluation_aggregates(evaluation: Evaluation) -> tuple[dict, dict]:
    """(summary, by_model) computed from the rows."""
    config = evaluation.config
    strategies = list(config.get("strategies") or ["zero_shot"])
    models = list(evaluation.models.all())
    rows = list(Sample.objects.filter(evaluation=evaluation).values(*AGGREGATE_FIELDS))
    grouped: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for row in rows:
        grouped[(row["model_id"], row["strategy"])].append(row)
    by_model = {}
    plan = config.get("_plan") or {}
    for run_model in models:
        for strategy in strategies:
            block = _model_block(run_model, strategy, grouped.get((run_model.pk, strategy), []), config)
            block["unattempted_problems"] = sum(1 for n in (plan.get(str(run_model.pk)) or {}).values() if n == 0)
            by_model[model_key(run_model.name, strategy, strategies)] = block
    durations = [r["duration_s"] for r in rows if r["duration_s"] is not None]
    summary = {
        "evaluation_id": evaluation.pk,
        "status": evaluation.status,
        "suite": {"name": evaluation.suite.name, "version": evaluation.suite.version},
        "total_problems": len(evaluation.problem_ids),
        "total_evaluations": len(rows),
        "expected_evaluations": evaluation.total_samples,
        "passed": sum(r["passed"] for r in rows),
        "overall_pass_rate": round(sum(r["passed"] for r in rows) / len(rows), 6) if rows else 0.0,
        "average_execution_time": round(sum(durations) / len(durations), 6) if durations else None,
        "models": [m.name for m in models],
        "strategies": strategies,
        "k": config.get("k"),
    }
    return summary, by_model


def detailed_results(evaluation: Evaluation, *, include_raw: bool = False, queryset=None):
    """Each sample as a plain dict, in (model, problem, strategy, index) order; an iterator over ``queryset``."""
    fields = (*DETAIL_FIELDS, "raw_output") if include_raw else DETAIL_FIELDS
    rows = (queryset if queryset is not None else Sample.objects.filter(evaluation=evaluation)).order_by(
        "model__position", "problem__ordinal", "strategy", "index"
    )
    for row in rows.values(*fields).iterator(chunk_size=2000):
        yield detail_row(row)


def detail_row(row: dict) -> dict:
    out = {
        "task_id": row["problem__task_id"],
        "problem_id": row["problem_id"],
        "model": row["model__name"],
        "strategy": row["strategy"],
        "sample_index": row["index"],
        "passed": row["passed"],
        "status": row["status"],
        "error_category": row["error_category"],
        "error_type": row["error_type"],
        "error_message": row["error_message"],
        "error_line": row["error_line"],
        "execution_time": row["duration_s"],
        "peak_memory_kb": row["peak_memory_kb"],
        "parts": row["parts"],
        "metrics": row["metrics"],
        "flips": row["flips"],
        "completion": row["completion"],
        "extraction_method": row["extraction_method"],
        "generation_latency_ms": row["generation_latency_ms"],
        "completion_tokens": row["completion_tokens"],
    }
    if "raw_output" in row:
        out["raw_output"] = row["raw_output"]
    return out


def evaluation_document(evaluation: Evaluation, *, include_raw: bool | None = None) -> dict:
    """The whole result: what ``results.json`` holds, and what the API's results endpoint pages through."""
    summary, by_model = evaluation_aggregates(evaluation)
    raw = evaluation.config.get("include_raw", True) if include_raw is None else include_raw
    return {
        "summary": summary,
        "by_model": by_model,
        "config": {k: v for k, v in evaluation.config.items() if not k.startswith("_")},
        "reproducibility": evaluation.environment,
        "detailed_results": list(detailed_results(evaluation, include_raw=raw)),
    }
