from django.urls import path

from .portal import with_security_headers
from .views import accounts, analysis, assets, endpoints, errors, evaluations, projects, tuning

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
    path("projects/<int:project_id>/patterns/", errors.pattern_list, name="patterns"),
    path("projects/<int:project_id>/patterns/recompute/", errors.patterns_recompute, name="patterns-recompute"),
    path("patterns/<int:pk>/", errors.pattern_detail, name="pattern"),
    path("patterns/<int:pk>/annotate/", errors.pattern_annotate, name="pattern-annotate"),
    path("patterns/<int:pk>/merge/", errors.pattern_merge, name="pattern-merge"),
    path("projects/<int:project_id>/tuning/", tuning.job_list, name="tuning-jobs"),
    path("projects/<int:project_id>/tuning/new/", tuning.job_new, name="tuning-job-new"),
    path("projects/<int:project_id>/tuning/datasets/", tuning.dataset_list, name="tuning-datasets"),
    path("tuning/<int:pk>/", tuning.job_detail, name="tuning-job"),
    path("tuning/<int:pk>/cancel/", tuning.job_cancel_view, name="tuning-job-cancel"),
    path("tuning/<int:pk>/resume/", tuning.job_resume_view, name="tuning-job-resume"),
    path("tuning/<int:pk>/compare/", tuning.job_compare_view, name="tuning-job-compare"),
    path("tuning/datasets/<int:pk>/", tuning.dataset_detail, name="tuning-dataset"),
    path("assets/plotly-<str:version>.min.js", assets.plotly_js, name="plotly-js"),
]
