from codequal.api.routers import OptionalSlashRouter

from . import views

router = OptionalSlashRouter()
router.register("models", views.ModelEndpointViewSet, basename="model-endpoint")

urlpatterns = router.urls
