"""Evaluation pages: start a run (inline config errors), follow it live, read its results; cancel and resume."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from codequal.exceptions import ApplicationError
from evaluations.choices import ErrorCategory
from evaluations.runs.services import estimated_completion, evaluation_cancel, evaluation_create, evaluation_resume
from evaluations.selectors import suite_list
from models_registry.selectors import model_endpoint_list

from .. import charts, selectors
from ..forms import EvaluationForm, add_service_errors
from ..portal import portal_page, project_get, render_page

SAMPLES_PER_PAGE = 25
SAMPLE_FILTERS = ("model", "problem", "passed", "category")
CATEGORIES = {value for value, _ in ErrorCategory.choices}


def sample_filters(query, names=SAMPLE_FILTERS) -> dict[str, str]:
    """The sample-table filters of a query string, with anything malformed dropped (not an error page)."""
    valid = {
        "model": str.isdigit,
        "problem": str.isdigit,
        "passed": lambda v: v in ("true", "false"),
        "category": lambda v: v in CATEGORIES,
    }
    return {name: value if valid[name](value := query.get(name, "")) else "" for name in names}


@portal_page
def evaluation_new(request, project_id: int):
    project = project_get(user=request.user, pk=project_id, action="evaluate")
    endpoints = list(model_endpoint_list(user=request.user, project=project).order_by("name"))
    suites = list(suite_list(user=request.user, project=project).order_by("name", "-version"))
    form = EvaluationForm(request.POST or None, endpoints=endpoints, suites=suites)
    if request.method == "POST" and form.is_valid():
        try:
            evaluation = evaluation_create(actor=request.user, project=project, config=form.to_config())
        except ApplicationError as exc:
            fields = (exc.extra or {}).get("fields")
            if fields:
                add_service_errors(form, fields, EvaluationForm.FIELD_MAP)
            else:
                form.add_error(None, exc.message)
        else:
            messages.success(request, f"Evaluation {evaluation.pk} started: {evaluation.total_samples} samples.")
            return redirect("frontend:evaluation", evaluation.pk)
    context = {"form": form, "endpoints": endpoints}
    return render_page(request, "frontend/evaluations/new.html", context, project=project)


def _live_state(evaluation) -> dict:
    """What the page's live client starts from; the WebSocket events then move it on."""
    eta = estimated_completion(evaluation)
    return {
        "id": evaluation.pk,
        "channel": f"evaluation:{evaluation.pk}",
        "status": evaluation.status,
        "finished": evaluation.is_finished,
        "completed_samples": evaluation.completed_samples,
        "total_samples": evaluation.total_samples,
        "current_model": evaluation.current_model,
        "started_at": evaluation.started_at.isoformat() if evaluation.started_at else None,
        "eta": eta.isoformat() if eta else None,
        "api_url": reverse("evaluation-detail", args=[evaluation.pk]),
    }


@portal_page
def evaluation_detail(request, pk: int):
    evaluation = selectors.evaluation_get(user=request.user, pk=pk)
    models = selectors.run_models(user=request.user, evaluation=evaluation)
    names = {m.pk: m.name for m in models}
    counts = selectors.problem_counts(user=request.user, evaluation=evaluation)
    errors = selectors.error_counts(user=request.user, evaluation=evaluation)
    rows = selectors.pass_at_k_rows(evaluation, models, counts)
    filters = sample_filters(request.GET)
    samples = selectors.sample_page_queryset(user=request.user, evaluation=evaluation, filters=filters)
    page = Paginator(samples, SAMPLES_PER_PAGE).get_page(request.GET.get("page"))
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    figures = [
        ("chart-pass-at-k", charts.pass_at_k_bars(rows)),
        ("chart-heat-map", charts.heat_map(counts, names, reverse("frontend:evaluation", args=[evaluation.pk]))),
        ("chart-sunburst", charts.error_sunburst(errors, names)),
    ]
    if evaluation.is_finished:
        distributions = selectors.distributions(user=request.user, evaluation=evaluation)
        histograms = charts.metric_histograms(distributions, names)
    else:
        histograms = []
    context = {
        "evaluation": evaluation,
        "project": evaluation.project,
        "models": models,
        "pass_rows": rows,
        "figures": [(name, figure) for name, figure in figures if figure],
        "histograms": histograms,
        "page": page,
        "filters": filters,
        "filter_query": query,
        "categories": ErrorCategory.choices,
        "live_state": _live_state(evaluation),
        "eta": estimated_completion(evaluation),
        "can_resume": evaluation.status in ("failed", "cancelled"),
        "can_cancel": evaluation.status in ("pending", "running"),
    }
    return render_page(request, "frontend/evaluations/detail.html", context, project=evaluation.project)


def _act(request, pk: int, service, done: str):
    # Resolved with the "change" verb: a viewer, or another tenant, gets the same 404 as a missing run.
    evaluation = selectors.evaluation_get(user=request.user, pk=pk, verb="change")
    try:
        service(actor=request.user, evaluation=evaluation)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("frontend:evaluation", evaluation.pk)


@portal_page
@require_POST
def evaluation_cancel_view(request, pk: int):
    return _act(request, pk, evaluation_cancel, "Evaluation cancelled; resume runs what is missing.")


@portal_page
@require_POST
def evaluation_resume_view(request, pk: int):
    return _act(request, pk, evaluation_resume, "Evaluation resumed.")
