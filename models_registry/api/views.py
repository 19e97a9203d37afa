from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from codequal.api.exceptions import ErrorSerializer
from codequal.api.viewsets import ScopedModelViewSet

from .. import services
from ..filtersets import ModelEndpointFilterSet
from ..models import ModelEndpoint
from . import serializers as s


class ModelEndpointViewSet(ScopedModelViewSet):
    """Model endpoints of your projects. Registering, changing and testing them needs the evaluator role."""

    queryset = ModelEndpoint.objects.all()
    serializer_class = s.ModelEndpointSerializer
    filterset_class = ModelEndpointFilterSet
    ordering_fields = ["name", "created_at", "parameters", "health_checked_at"]

    def filter_scoped_queryset(self, queryset):
        return queryset.select_related("project")

    def perform_destroy(self, instance):
        services.model_endpoint_delete(actor=self.request.user, endpoint=instance)

    @extend_schema(
        request=s.EndpointTestInputSerializer,
        responses={
            200: s.EndpointTestOutputSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
        description="Generate one short completion. A failing model answers 200 with success=false and a message.",
    )
    @action(detail=True, methods=["post"], scope_verb="evaluate")
    def test(self, request, pk=None):
        endpoint = self.get_object()
        data = s.EndpointTestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.model_endpoint_test(actor=request.user, endpoint=endpoint, **data.validated_data)
        return Response(s.EndpointTestOutputSerializer(result).data)

    @extend_schema(
        request=None,
        responses={200: s.EndpointHealthSerializer, 403: ErrorSerializer, 404: ErrorSerializer},
        description="Ask the server whether it serves this model; records the outcome on the endpoint.",
    )
    @action(detail=True, methods=["post"], scope_verb="evaluate")
    def health(self, request, pk=None):
        endpoint = self.get_object()
        report = services.model_endpoint_check_health(actor=request.user, endpoint=endpoint)
        out = {
            "healthy": report.healthy,
            "message": report.message,
            "latency_ms": report.latency_ms,
            "models": list(report.models),
            "health_status": endpoint.health_status,
        }
        return Response(s.EndpointHealthSerializer(out).data)
