"""Tuning pages: a project's jobs and datasets, a job followed live with its loss curve and the tuned-vs-original
comparison, a dataset's counts and export; start, cancel, resume and compare jobs."""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from codequal.exceptions import ApplicationError, ConflictError
from evaluations.statistics import paired_comparison
from models_registry.selectors import model_endpoint_list
from tuning import services
from tuning.choices import DatasetSplit, ExportFormat, TuningJobStatus
from tuning.hyperparameters import Hyperparameters
from tuning.models import TuningExample, TuningJob
from tuning.selectors import loss_curve, tuning_dataset_list, tuning_job_list

from .. import charts, selectors
from ..forms import add_service_errors
from ..portal import portal_page, project_get, render_page

JOBS_PER_PAGE = 25
EXAMPLES_PER_PAGE = 25
DEFAULTS = Hyperparameters()


class TuningJobForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Also the name of the tuned model endpoint it registers.")
    base_model = forms.ModelChoiceField(queryset=None, help_text="An hf endpoint (a local checkpoint).")
    dataset = forms.ModelChoiceField(queryset=None)
    learning_rate = forms.FloatField(initial=DEFAULTS.learning_rate)
    epochs = forms.IntegerField(initial=DEFAULTS.epochs)
    batch_size = forms.IntegerField(initial=DEFAULTS.batch_size)
    warmup_steps = forms.IntegerField(initial=DEFAULTS.warmup_steps)
    max_steps = forms.IntegerField(initial=DEFAULTS.max_steps, help_text="0: the epochs decide.")
    lora_r = forms.IntegerField(initial=DEFAULTS.lora_r, label="LoRA rank")
    lora_alpha = forms.IntegerField(initial=DEFAULTS.lora_alpha, label="LoRA alpha")

    HYPERPARAMETERS = ("learning_rate", "epochs", "batch_size", "warmup_steps", "max_steps", "lora_r", "lora_alpha")
    FIELD_MAP = {"name": "name", "base_model": "base_model", **{h: h for h in HYPERPARAMETERS}}

    def __init__(self, *args, endpoints, datasets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model"].queryset = endpoints
        self.fields["dataset"].queryset = datasets
        self.fields["dataset"].label_from_instance = lambda d: f"{d} · {d.train_count} training examples"

    def hyperparameters(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.HYPERPARAMETERS}


def _facts(mapping: dict | None) -> list[tuple[str, object]]:
    """``(key, value)`` rows for a facts list: lists joined, missing values empty."""
    return [
        (key, ", ".join(map(str, value)) if isinstance(value, list | tuple) else "" if value is None else value)
        for key, value in sorted((mapping or {}).items())
    ]


def _job(user, pk: int, verb: str = "view") -> TuningJob:
    job = (
        TuningJob.objects.for_user(user, verb)
        .select_related("project__organization", "base_endpoint", "dataset", "resulting_endpoint")
        .select_related("comparison_evaluation")
        .filter(pk=pk)
        .first()
    )
    if job is None:
        raise Http404("No such tuning job.")
    return job


@portal_page
def job_list(request, project_id: int):
    project = project_get(user=request.user, pk=project_id)
    jobs = tuning_job_list(user=request.user, project=project).order_by("-pk")
    status = request.GET.get("status", "")
    if status in TuningJobStatus.values:
        jobs = jobs.filter(status=status)
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"project": project, "page": page, "status": status, "statuses": TuningJobStatus.choices}
    return render_page(request, "frontend/tuning/jobs.html", context, project=project)


@portal_page
def job_new(request, project_id: int):
    project = project_get(user=request.user, pk=project_id, action="evaluate")
    endpoints = model_endpoint_list(user=request.user, project=project).filter(backend="hf").order_by("name")
    datasets = tuning_dataset_list(user=request.user, project=project).order_by("name", "-version")
    form = TuningJobForm(request.POST or None, endpoints=endpoints, datasets=datasets)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = services.tuning_job_create(
                actor=request.user,
                project=project,
                dataset=data["dataset"],
                base_endpoint=data["base_model"],
                name=data["name"],
                hyperparameters=form.hyperparameters(),
            )
        except ConflictError as exc:  # a name taken: its ``fields`` carry the name, not a message
            form.add_error("name", exc.message)
        except ApplicationError as exc:
            fields = (exc.extra or {}).get("fields")
            if fields:
                add_service_errors(form, fields, TuningJobForm.FIELD_MAP)
            else:
                form.add_error(None, exc.message)
        else:
            messages.success(request, f"Tuning job “{job.name}” queued.")
            return redirect("frontend:tuning-job", job.pk)
    context = {"project": project, "form": form, "has_endpoints": endpoints.exists(), "has_datasets": datasets.exists()}
    return render_page(request, "frontend/tuning/new.html", context, project=project)


def loss_figure(steps: list[dict]) -> dict:
    """Training loss per step and validation loss where measured; drawn empty before the first step (live.js
    extends it as events arrive)."""
    validated = [s for s in steps if s["validation_loss"] is not None]
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "training loss",
            "x": [s["step"] for s in steps],
            "y": [s["loss"] for s in steps],
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "validation loss",
            "x": [s["step"] for s in validated],
            "y": [s["validation_loss"] for s in validated],
        },
    ]
    layout = charts._layout(xaxis={"title": {"text": "step"}}, yaxis={"title": {"text": "loss"}})
    return {"data": data, "layout": layout}


def _comparison(user, job: TuningJob) -> dict | None:
    """Tuned vs original on the held-out problems, from the comparison run's per-problem counts (database-side)."""
    evaluation = job.comparison_evaluation
    if evaluation is None:
        return None
    original = job.base_endpoint.name
    tuned = job.resulting_endpoint.name if job.resulting_endpoint else job.name
    out = {"evaluation": evaluation, "original": original, "tuned": tuned, "result": None, "message": ""}
    if not evaluation.is_finished:
        return out
    models = {m.name: m for m in selectors.run_models(user=user, evaluation=evaluation)}
    if original not in models or tuned not in models:
        out["message"] = "The comparison run does not hold both models."
        return out
    grouped = selectors.per_problem(selectors.problem_counts(user=user, evaluation=evaluation))
    strategy = (evaluation.config.get("strategies") or ["zero_shot"])[0]
    a, b = grouped.get((models[original].pk, strategy), {}), grouped.get((models[tuned].pk, strategy), {})
    try:
        out["result"] = paired_comparison(a, b, seed=int(evaluation.config.get("seed") or 0))
    except ValueError as exc:  # nothing judged in common
        out["message"] = str(exc)
    compare = reverse("frontend:compare", args=[evaluation.pk])
    out["compare_url"] = f"{compare}?models={models[original].pk}&models={models[tuned].pk}"
    return out


@portal_page
def job_detail(request, pk: int):
    job = _job(request.user, pk)
    steps = loss_curve(job)
    live_state = {
        "id": job.pk,
        "channel": services.channel(job),
        "status": job.status,
        "finished": job.is_finished,
        "last_step": steps[-1]["step"] if steps else 0,
        "api_url": reverse("tuning-job-detail", args=[job.pk]),
    }
    context = {
        "job": job,
        "project": job.project,
        "steps": len(steps),
        "figure": loss_figure(steps),
        "hyperparameters": _facts(job.hyperparameters),
        "metrics": _facts(job.metrics),
        "comparison": _comparison(request.user, job),
        "live_state": live_state,
        "can_cancel": job.status in (TuningJobStatus.PENDING, TuningJobStatus.RUNNING),
        "can_resume": job.status in services.RESUMABLE,
        "can_compare": job.status == TuningJobStatus.COMPLETED and job.resulting_endpoint_id is not None,
    }
    return render_page(request, "frontend/tuning/job.html", context, project=job.project)


def _act(request, pk: int, service, done: str):
    # Resolved with the evaluator's verb: a viewer, or another tenant, gets the same 404 as a missing job.
    job = _job(request.user, pk, verb="change")
    try:
        service(actor=request.user, job=job)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("frontend:tuning-job", job.pk)


@portal_page
@require_POST
def job_cancel_view(request, pk: int):
    return _act(request, pk, services.tuning_job_cancel, "Tuning job cancelled; resume continues from its checkpoint.")


@portal_page
@require_POST
def job_resume_view(request, pk: int):
    return _act(request, pk, services.tuning_job_resume, "Tuning job resumed from its last checkpoint.")


@portal_page
@require_POST
def job_compare_view(request, pk: int):
    return _act(
        request, pk, services.tuning_job_compare, "Evaluating the tuned model and the original on held-out problems."
    )


@portal_page
def dataset_list(request, project_id: int):
    project = project_get(user=request.user, pk=project_id)
    datasets = tuning_dataset_list(user=request.user, project=project).annotate(job_count=Count("jobs"))
    page = Paginator(datasets.order_by("-pk"), JOBS_PER_PAGE).get_page(request.GET.get("page"))
    return render_page(request, "frontend/tuning/datasets.html", {"project": project, "page": page}, project=project)


@portal_page
def dataset_detail(request, pk: int):
    dataset = (
        tuning_dataset_list(user=request.user)
        .select_related("project__organization", "created_by")
        .prefetch_related("source_evaluations")
        .filter(pk=pk)
        .first()
    )
    if dataset is None:
        raise Http404("No such dataset.")
    counts = dataset.counts or {}
    split = request.GET.get("split", "")
    examples = TuningExample.objects.for_user(request.user, "view").filter(dataset=dataset)
    if split in DatasetSplit.values:
        examples = examples.filter(split=split)
    page = Paginator(examples.order_by("split", "position"), EXAMPLES_PER_PAGE).get_page(request.GET.get("page"))
    export = reverse("tuning-dataset-export", args=[dataset.pk])
    context = {
        "dataset": dataset,
        "project": dataset.project,
        "examples_count": counts.get("examples") or {},
        "problems_count": counts.get("problems") or {},
        "by_error_type": sorted((counts.get("by_error_type") or {}).items()),
        "skipped": sorted((counts.get("skipped") or {}).items()),
        "options": _facts(dataset.options),
        "jobs": list(tuning_job_list(user=request.user, project=dataset.project).filter(dataset=dataset)),
        "exports": [
            (f"{split_label}, {fmt}", f"{export}?split={split_value}&format={fmt}")
            for split_value, split_label in DatasetSplit.choices
            for fmt in ExportFormat.values
        ],
        "page": page,
        "split": split if split in DatasetSplit.values else "",
        "splits": DatasetSplit.choices,
    }
    return render_page(request, "frontend/tuning/dataset.html", context, project=dataset.project)
