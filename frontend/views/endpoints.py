"""Model endpoint pages: list with health and last results, add and edit (keys write-only), test connection."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from codequal.exceptions import ApplicationError
from models_registry import services
from models_registry.models import ModelEndpoint

from .. import selectors
from ..forms import ModelEndpointForm, add_service_errors
from ..portal import portal_page, project_get, render_page


def _endpoint(request, project, pk: int, verb: str) -> ModelEndpoint:
    endpoint = ModelEndpoint.objects.for_user(request.user, verb).filter(project=project, pk=pk).first()
    if endpoint is None:
        raise Http404("No such model.")
    return endpoint


@portal_page
def endpoint_list(request, project_id: int):
    project = project_get(user=request.user, pk=project_id)
    endpoints = selectors.endpoint_rows(user=request.user, project=project)
    return render_page(request, "frontend/models/list.html", {"endpoints": endpoints}, project=project)


@portal_page
def endpoint_edit(request, project_id: int, pk: int | None = None):
    project = project_get(user=request.user, pk=project_id, action="evaluate")
    endpoint = _endpoint(request, project, pk, "change") if pk else None
    initial = None
    if endpoint is not None:
        initial = {f: getattr(endpoint, f) for f in ("name", "backend", "model", "base_url", "api_style")}
        initial["max_concurrency"] = endpoint.max_concurrency
    form = ModelEndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            fields = form.service_fields(editing=endpoint is not None)
            if endpoint is None:
                endpoint = services.model_endpoint_create(actor=request.user, project=project, **fields)
                messages.success(request, f"Model “{endpoint.name}” added.")
            else:
                endpoint = services.model_endpoint_update(actor=request.user, endpoint=endpoint, **fields)
                messages.success(request, f"Model “{endpoint.name}” saved.")
            return redirect("frontend:models", project.pk)
        except ApplicationError as exc:
            fields = (exc.extra or {}).get("fields")
            if fields:
                add_service_errors(form, fields, ModelEndpointForm.FIELD_MAP)
            else:
                form.add_error(None, exc.message)
    context = {"form": form, "endpoint": endpoint}
    return render_page(request, "frontend/models/edit.html", context, project=project)


@portal_page
@require_POST
def endpoint_test(request, project_id: int, pk: int):
    """Check that the server answers for the model; the outcome is recorded as the endpoint's health."""
    project = project_get(user=request.user, pk=project_id, action="evaluate")
    endpoint = _endpoint(request, project, pk, "change")
    report = services.model_endpoint_check_health(actor=request.user, endpoint=endpoint)
    if report.healthy:
        messages.success(request, f"{endpoint.name}: connection works ({round(report.latency_ms)} ms).")
    else:
        messages.error(request, f"{endpoint.name}: {report.message}")
    return redirect("frontend:models", project.pk)
