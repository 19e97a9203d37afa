from django.urls import path

from .portal import with_security_headers
from .views import accounts, analysis, assets, endpoints, evaluations, projects

app_name = "frontend"

urlpatterns = [
    path("", accounts.home, name="home"),
    path("login/", with_security_headers(accounts.PortalLoginView.as_view()), name="login"),
    path("logout/", with_security_headers(accounts.PortalLogoutView.as_view()), name="logout"),
    path("tokens/", accounts.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", accounts.token_revoke, name="token-revoke"),
    path("switch/", projects.switch, name="switch"),
    path("projects/<int:project_id>/", projects.dashboard, name="project"),
    path("projects/<int:project_id>/evaluations/", projects.evaluations, name="evaluations"),
    path("projects/<int:project_id>/evaluations/new/", evaluations.evaluation_new, name="evaluation-new"),
    path("projects/<int:project_id>/models/", endpoints.endpoint_list, name="models"),
    path("projects/<int:project_id>/models/new/", endpoints.endpoint_edit, name="model-new"),
    path("projects/<int:project_id>/models/<int:pk>/edit/", endpoints.endpoint_edit, name="model-edit"),
    path("projects/<int:project_id>/models/<int:pk>/test/", endpoints.endpoint_test, name="model-test"),
    path("evaluations/<int:pk>/", evaluations.evaluation_detail, name="evaluation"),
    path("evaluations/<int:pk>/cancel/", evaluations.evaluation_cancel_view, name="evaluation-cancel"),
    path("evaluations/<int:pk>/resume/", evaluations.evaluation_resume_view, name="evaluation-resume"),
    path("evaluations/<int:pk>/samples/<int:sample_id>/", analysis.sample_detail, name="sample"),
    path("evaluations/<int:pk>/compare/", analysis.compare, name="compare"),
    path("evaluations/<int:pk>/errors/", analysis.errors, name="errors"),
    path("assets/plotly-<str:version>.min.js", assets.plotly_js, name="plotly-js"),
]
