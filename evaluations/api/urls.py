from django.urls import path

from codequal.api.routers import OptionalSlashRouter

from . import views

router = OptionalSlashRouter()
router.register("suites", views.BenchmarkSuiteViewSet, basename="suite")
router.register("problems", views.ProblemViewSet, basename="problem")
router.register("evaluations", views.EvaluationViewSet, basename="evaluation")

urlpatterns = [path("metrics", views.MetricListView.as_view(), name="metric-list"), *router.urls]
