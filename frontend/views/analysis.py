"""Looking into a run: one sample, models compared on the same problems, and failures by category."""

from django.core.paginator import Paginator

from evaluations.choices import ErrorCategory
from evaluations.statistics import paired_comparison

from .. import charts, selectors
from ..highlight import code_tokens
from ..portal import portal_page, render_page
from .evaluations import sample_filters

EXAMPLES_PER_PAGE = 25
COMPARE_PROBLEMS_PER_PAGE = 50


@portal_page
def sample_detail(request, pk: int, sample_id: int):
    evaluation = selectors.evaluation_get(user=request.user, pk=pk)
    sample = selectors.sample_get(user=request.user, evaluation=evaluation, pk=sample_id)
    previous, following = selectors.failing_neighbours(user=request.user, sample=sample)
    context = {
        "evaluation": evaluation,
        "sample": sample,
        "prompt_tokens": code_tokens(sample.problem.prompt),
        "completion_tokens": code_tokens(sample.completion),
        "metrics": sorted((sample.metrics or {}).items()),
        "parts": sorted((sample.parts or {}).items()),
        "previous_failing": previous,
        "next_failing": following,
    }
    return render_page(request, "frontend/evaluations/sample.html", context, project=evaluation.project)


MAX_OTHER_RUNS = 3
CANDIDATE_RUNS = 8


def _chosen_models(request, models):
    wanted = set(request.GET.getlist("models"))
    chosen = [m for m in models if str(m.pk) in wanted]
    return chosen if len(chosen) >= 2 else models


def _runs(request, evaluation) -> list:
    """The run, plus up to three other runs of the same suite (``?with=<id>``) whose models join the comparison."""
    runs = [evaluation]
    for value in request.GET.getlist("with")[:MAX_OTHER_RUNS]:
        if not value.isdigit() or int(value) in {r.pk for r in runs}:
            continue
        other = selectors.evaluation_get(user=request.user, pk=int(value))
        if other.suite_id == evaluation.suite_id:
            runs.append(other)
    return runs


@portal_page
def compare(request, pk: int):
    """Each model against the first one chosen (the baseline): paired bootstrap CI of Δpass@1 and McNemar's p."""
    evaluation = selectors.evaluation_get(user=request.user, pk=pk)
    runs = _runs(request, evaluation)
    models, counts = [], []
    for run in runs:
        for run_model in selectors.run_models(user=request.user, evaluation=run):
            run_model.label = run_model.name if len(runs) == 1 else f"{run_model.name} (run {run.pk})"
            models.append(run_model)
        counts.extend(selectors.problem_counts(user=request.user, evaluation=run))
    chosen = _chosen_models(request, models)
    strategies = list(evaluation.config.get("strategies") or ["zero_shot"])
    strategy = request.GET.get("strategy") if request.GET.get("strategy") in strategies else strategies[0]
    grouped = selectors.per_problem(counts)
    baseline = chosen[0] if chosen else None
    resamples = min(int(evaluation.config.get("bootstrap_resamples", 2000)), 2000)
    comparisons = []
    for other in chosen[1:]:
        a, b = grouped.get((baseline.pk, strategy), {}), grouped.get((other.pk, strategy), {})
        try:
            result = paired_comparison(a, b, resamples=resamples, seed=0)
        except ValueError as exc:
            comparisons.append({"other": other, "result": None, "problem": str(exc)})
        else:
            comparisons.append({"other": other, "result": result, "problem": ""})
    table = _problem_table(counts, chosen, strategy)
    page = Paginator(table, COMPARE_PROBLEMS_PER_PAGE).get_page(request.GET.get("page"))
    candidates = (
        selectors.evaluation_list(user=request.user, project=evaluation.project)
        .filter(suite=evaluation.suite, status="completed")
        .exclude(pk=evaluation.pk)
        .order_by("-pk")[:CANDIDATE_RUNS]
    )
    query = [f"models={m.pk}" for m in chosen] + [f"with={r.pk}" for r in runs[1:]] + [f"strategy={strategy}"]
    context = {
        "evaluation": evaluation,
        "runs": runs,
        "candidates": list(candidates),
        "models": models,
        "chosen": chosen,
        "baseline": baseline,
        "strategy": strategy,
        "strategies": strategies,
        "comparisons": comparisons,
        "figure": charts.compare_bars([c for c in comparisons if c["result"]]),
        "page": page,
        "chosen_query": "&".join(query),
    }
    return render_page(request, "frontend/evaluations/compare.html", context, project=evaluation.project)


def _problem_table(counts, chosen, strategy) -> list[dict]:
    """Problems (suite order) with each chosen model's passed/samples; problems where the models disagree first."""
    ids = [m.pk for m in chosen]
    problems: dict[int, dict] = {}
    for row in counts:
        if row["strategy"] != strategy or row["model_id"] not in ids:
            continue
        entry = problems.setdefault(
            row["problem_id"],
            {"problem_id": row["problem_id"], "task_id": row["problem__task_id"], "ordinal": row["problem__ordinal"]},
        )
        entry[row["model_id"]] = (row["c"], row["n"])
    table = []
    for entry in problems.values():
        cells = [entry.get(pk) for pk in ids]
        rates = {round(c / n, 6) for c, n in (cell for cell in cells if cell) if n}
        table.append({**entry, "cells": cells, "disagree": len(rates) > 1})
    return sorted(table, key=lambda e: (not e["disagree"], e["ordinal"]))


@portal_page
def errors(request, pk: int):
    """Failures per model and category with example samples; one (model, category) lists all its samples."""
    evaluation = selectors.evaluation_get(user=request.user, pk=pk)
    models = selectors.run_models(user=request.user, evaluation=evaluation)
    names = {m.pk: m.name for m in models}
    rows = selectors.error_counts(user=request.user, evaluation=evaluation)
    totals = {row["model_id"]: row["n"] for row in selectors.model_totals(user=request.user, evaluation=evaluation)}
    briefs = selectors.sample_briefs(
        user=request.user, evaluation=evaluation, pks={r["first"] for r in rows} | {r["last"] for r in rows}
    )
    labels = dict(ErrorCategory.choices)
    table = [
        {
            **row,
            "model": names.get(row["model_id"], row["model_id"]),
            "label": labels.get(row["error_category"], row["error_category"]),
            "share": row["n"] / totals[row["model_id"]] if totals.get(row["model_id"]) else 0,
            "examples": [briefs[i] for i in dict.fromkeys((row["first"], row["last"])) if i in briefs],
        }
        for row in rows
    ]
    filters = {**sample_filters(request.GET, ("model", "category")), "passed": "false"}
    listing = None
    if filters["model"] or filters["category"]:
        samples = selectors.sample_page_queryset(user=request.user, evaluation=evaluation, filters=filters)
        listing = Paginator(samples, EXAMPLES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "evaluation": evaluation,
        "table": table,
        "figure": charts.error_sunburst(rows, names),
        "models": models,
        "categories": ErrorCategory.choices,
        "filters": filters,
        "listing": listing,
        "filter_query": f"model={filters['model']}&category={filters['category']}",
    }
    return render_page(request, "frontend/evaluations/errors.html", context, project=evaluation.project)
