from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from codequal.api.exceptions import ErrorSerializer
from codequal.api.negotiation import FileFormatNegotiation
from codequal.api.viewsets import ScopedGenericViewSet

from .. import services
from ..filtersets import TuningDatasetFilterSet, TuningJobFilterSet
from ..models import TuningDataset, TuningJob
from ..selectors import dataset_export_lines
from . import serializers as s

ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer}


class _CreateReadDelete(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    ScopedGenericViewSet,
):
    lookup_value_regex = r"[0-9]+"


@extend_schema_view(
    create=extend_schema(
        request=s.TuningDatasetCreateSerializer,
        responses={201: s.TuningDatasetSerializer, **ERRORS},
        description="Build the next version of a dataset from evaluation failures: filter by error names (families "
        "like `syntax`, full names, or last parts like `type_error`), models, task ids, suites; split by problem "
        "into train and held-out sets; deduplicated.",
    ),
    destroy=extend_schema(responses={204: None, **ERRORS}, description="Delete a dataset no job was trained on."),
)
class TuningDatasetViewSet(_CreateReadDelete):
    """Tuning datasets of your projects. Building and deleting them needs the evaluator role."""

    queryset = TuningDataset.objects.all()
    serializer_class = s.TuningDatasetSerializer
    filterset_class = TuningDatasetFilterSet
    ordering_fields = ["created_at", "name", "version"]

    def get_serializer_class(self):
        return s.TuningDatasetCreateSerializer if self.action == "create" else s.TuningDatasetSerializer

    def filter_scoped_queryset(self, queryset):
        return queryset.prefetch_related("source_evaluations")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        return Response(s.TuningDatasetSerializer(serializer.instance).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.tuning_dataset_delete(actor=self.request.user, dataset=instance)

    @extend_schema(
        parameters=[s.DatasetExportQuerySerializer],
        responses={
            (200, "application/jsonl"): OpenApiResponse(
                OpenApiTypes.STR,
                description='sft: {"input","output","error_type","difficulty"} per line; preference: '
                '{"prompt","chosen","rejected","error_type","difficulty"}.',
            ),
            400: ErrorSerializer,
            404: ErrorSerializer,
        },
        description="Download one split as JSONL, in training order.",
    )
    @action(
        detail=True,
        methods=["get"],
        scope_verb="view",
        filter_backends=[],
        renderer_classes=[JSONRenderer],
        content_negotiation_class=FileFormatNegotiation,
    )
    def export(self, request, pk=None):
        dataset = self.get_object()
        query = s.DatasetExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        split, fmt = query.validated_data["split"], query.validated_data["format"]
        body = "".join(dataset_export_lines(dataset, split=split, fmt=fmt))
        response = HttpResponse(body, content_type="application/jsonl")
        filename = f"{dataset.name}-v{dataset.version}-{split}-{fmt}.jsonl"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


@extend_schema_view(
    create=extend_schema(
        request=s.TuningJobCreateSerializer,
        responses={201: s.TuningJobSerializer, **ERRORS},
        description="Queue LoRA fine-tuning of an hf endpoint on a dataset (RQ `gpu` queue; in-process without "
        "Redis). Follow it on the WebSocket channel `tuning:<id>` (`tuning_update`: stage, progress, loss). On "
        "success the tuned model is registered as an hf endpoint named `name`.",
    ),
    retrieve=extend_schema(responses={200: s.TuningJobDetailSerializer, 404: ErrorSerializer}),
    destroy=extend_schema(
        responses={204: None, **ERRORS}, description="Delete a finished job and its artifacts (not its endpoint)."
    ),
)
class TuningJobViewSet(_CreateReadDelete):
    """Tuning jobs of your projects, newest first: status, progress, loss curve, tuned-vs-original comparison.
    Starting, cancelling, resuming and comparing them needs the evaluator role."""

    queryset = TuningJob.objects.all()
    serializer_class = s.TuningJobSerializer
    filterset_class = TuningJobFilterSet
    ordering_fields = ["created_at", "started_at", "finished_at", "status", "name"]

    def get_serializer_class(self):
        if self.action == "create":
            return s.TuningJobCreateSerializer
        return s.TuningJobDetailSerializer if self.action == "retrieve" else s.TuningJobSerializer

    def filter_scoped_queryset(self, queryset):
        return queryset.select_related("base_endpoint", "resulting_endpoint", "comparison_evaluation")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        return Response(s.TuningJobSerializer(serializer.instance).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.tuning_job_delete(actor=self.request.user, job=instance)

    @extend_schema(
        request=None,
        responses={200: s.TuningJobSerializer, **ERRORS},
        description="Stop a pending or running job; a running one checkpoints at its next step.",
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = services.tuning_job_cancel(actor=request.user, job=self.get_object())
        return Response(s.TuningJobSerializer(job).data)

    @extend_schema(
        request=None,
        responses={200: s.TuningJobSerializer, **ERRORS},
        description="Run a failed or cancelled job again from its last checkpoint.",
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        job = services.tuning_job_resume(actor=request.user, job=self.get_object())
        return Response(s.TuningJobSerializer(job).data)

    @extend_schema(
        request=s.TuningCompareSerializer,
        responses={201: s.TuningCompareOutputSerializer, **ERRORS},
        description="Evaluate the tuned endpoint and the original on the dataset's held-out problems (one "
        "evaluation with both); the job's `comparison` then holds the paired comparison.",
    )
    @action(detail=True, methods=["post"])
    def compare(self, request, pk=None):
        job = self.get_object()
        body = s.TuningCompareSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        evaluation = services.tuning_job_compare(actor=request.user, job=job, **body.validated_data)
        data = {"job": s.TuningJobSerializer(job).data, "evaluation": evaluation.pk}
        return Response(data, status=status.HTTP_201_CREATED)
