from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

handler404 = "codequal.views.not_found"
handler500 = "codequal.views.server_failure"

urlpatterns = [
    path("health", views.health, name="health"),
    path("ready", views.ready, name="ready"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("models_registry.api.urls")),
    path("api/v1/", include("evaluations.api.urls")),
    path("api/v1/", include("errors.api.urls")),
    path("api/v1/", include("tuning.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/", views.not_found),
    path("", include("frontend.urls")),
]

if settings.REDIS_URL:
    urlpatterns.insert(2, path("admin/rq/", include("django_rq.urls")))
