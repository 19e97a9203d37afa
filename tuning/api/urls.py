from codequal.api.routers import OptionalSlashRouter

from . import views

router = OptionalSlashRouter()
# Datasets first: "tuning/datasets" must not be read as a job id (job ids are digits only anyway).
router.register("tuning/datasets", views.TuningDatasetViewSet, basename="tuning-dataset")
router.register("tuning", views.TuningJobViewSet, basename="tuning-job")

urlpatterns = router.urls
