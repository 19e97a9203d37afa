from datetime import timedelta
from itertools import groupby

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import services
from accounts.models import ApiToken
from accounts.selectors import project_overview
from accounts.throttles import login_throttle_wait
from codequal.exceptions import ApplicationError

from ..portal import portal_page, render_page


class PortalLoginView(auth_views.LoginView):
    """Session sign-in for the portal, throttled and audited like the API login."""

    template_name = "frontend/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        wait = login_throttle_wait(request)
        if wait is not None:
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, f"Too many sign-in attempts. Try again in {int(wait) + 1} seconds.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        services.login_succeeded(request=self.request, user=form.get_user(), method="session")
        return response

    def form_invalid(self, form):
        services.login_failed(request=self.request, username=form.data.get("username", ""), method="session")
        return super().form_invalid(form)


class PortalLogoutView(auth_views.LogoutView):
    """Session sign-out, audited."""

    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            services.logout_recorded(request=request, user=request.user)
        return super().post(request, *args, **kwargs)


@portal_page
def home(request):
    projects = list(project_overview(user=request.user).select_related("organization"))
    organizations = [(org, list(items)) for org, items in groupby(projects, key=lambda p: p.organization)]
    return render_page(request, "frontend/home.html", {"organizations": organizations})


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, help_text="Leave empty for no expiry."
    )


@portal_page
def tokens(request):
    created_key = None
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            _, created_key = services.api_token_create(
                user=request.user, name=form.cleaned_data["name"], expires_at=expires_at, request=request
            )
            form = TokenForm()
        except ApplicationError as exc:
            form.add_error(None, exc.message)
    rows = ApiToken.objects.for_user(request.user, "view")
    return render_page(request, "frontend/tokens.html", {"form": form, "tokens": rows, "created_key": created_key})


@portal_page
@require_POST
def token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken.objects.for_user(request.user, "delete"), pk=pk)
    services.api_token_revoke(actor=request.user, token=token, request=request)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("frontend:tokens")
