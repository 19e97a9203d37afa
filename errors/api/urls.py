from codequal.api.routers import OptionalSlashRouter

from . import views

router = OptionalSlashRouter()
router.register("errors/patterns", views.ErrorPatternViewSet, basename="error-pattern")
router.register("errors", views.ErrorAnalysisViewSet, basename="error-analysis")

urlpatterns = router.urls
