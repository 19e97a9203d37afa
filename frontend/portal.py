"""Plumbing shared by every portal page: sign-in, security headers, the project in scope and the navigation."""

from functools import wraps

import plotly
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render

from accounts.models import Project
from accounts.selectors import project_list, project_user_can

# Portal pages run no inline script and load nothing from other origins; model output rendered in them cannot
# execute. Plotly adds inline styles, hence style-src 'unsafe-inline' (styles cannot run code).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)


def with_security_headers(view):
    """Adds the portal's Content-Security-Policy (and friends) to every response of ``view``."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    return wrapped


def portal_page(view):
    """A signed-in page with the portal's security headers."""
    return with_security_headers(login_required(view))


def project_get(*, user, pk: int, action: str = "view") -> Project:
    """The project ``pk`` if ``user`` may see it (else 404); 403 if they see it but may not do ``action``."""
    project = project_list(user=user).filter(pk=pk).first()
    if project is None:
        raise Http404("No such project.")
    if action != "view" and not project_user_can(user=user, project=project, action=action):
        raise PermissionDenied("Your role in this project does not allow this.")
    return project


def render_page(request, template: str, context: dict, *, project: Project | None = None, status: int = 200):
    """Render ``template`` inside the layout: project switcher, current project and role-aware navigation."""
    projects = list(project_list(user=request.user).order_by("organization__name", "name"))
    can_evaluate = bool(project and project_user_can(user=request.user, project=project, action="evaluate"))
    layout = {
        "switcher_projects": projects,
        "current_project": project,
        "can_evaluate": can_evaluate,
        "plotly_version": plotly.__version__,
    }
    return render(request, template, {**layout, **context}, status=status)
