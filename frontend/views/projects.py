"""Project pages: the dashboard (key figures, pass@1 trend, recent runs), the runs list, and the switcher."""

from django.core.paginator import Paginator
from django.shortcuts import redirect

from .. import charts, selectors
from ..portal import portal_page, project_get, render_page

RUNS_PER_PAGE = 25


@portal_page
def switch(request):
    """The layout's project switcher posts here (GET, works without JavaScript)."""
    try:
        pk = int(request.GET.get("project", ""))
    except ValueError:
        return redirect("frontend:home")
    project = project_get(user=request.user, pk=pk)
    return redirect("frontend:project", project.pk)


@portal_page
def dashboard(request, project_id: int):
    project = project_get(user=request.user, pk=project_id)
    metrics = selectors.project_metrics(user=request.user, project=project)
    recent = list(
        selectors.evaluation_list(user=request.user, project=project).prefetch_related("models").order_by("-pk")[:10]
    )
    context = {
        "project": project,
        "metrics": metrics,
        "recent": recent,
        "trend_figure": charts.pass_at_1_trend(metrics["trend"]),
    }
    return render_page(request, "frontend/project/dashboard.html", context, project=project)


@portal_page
def evaluations(request, project_id: int):
    project = project_get(user=request.user, pk=project_id)
    runs = selectors.evaluation_list(user=request.user, project=project).prefetch_related("models").order_by("-pk")
    status = request.GET.get("status", "")
    if status:
        runs = runs.filter(status=status)
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"project": project, "page": page, "status": status}
    return render_page(request, "frontend/project/evaluations.html", context, project=project)
