from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from codequal.api.exceptions import ErrorSerializer
from codequal.api.viewsets import ScopedReadOnlyModelViewSet

from .. import services
from ..filtersets import BenchmarkSuiteFilterSet, ProblemFilterSet
from ..models import BenchmarkSuite, Problem
from . import serializers as s


class BenchmarkSuiteViewSet(mixins.DestroyModelMixin, ScopedReadOnlyModelViewSet):
    """Built-in suites (everyone may read them) and your projects' custom suites. Importing and deleting custom
    suites needs the curator role; built-in suites are read-only."""

    queryset = BenchmarkSuite.objects.all()
    serializer_class = s.BenchmarkSuiteSerializer
    filterset_class = BenchmarkSuiteFilterSet
    ordering_fields = ["name", "version", "created_at", "problem_count"]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def filter_scoped_queryset(self, queryset):
        return queryset.select_related("created_by")

    def perform_destroy(self, instance):
        services.suite_delete(actor=self.request.user, suite=instance)

    @extend_schema(
        request={"multipart/form-data": s.SuiteImportInputSerializer, "application/json": s.SuiteImportInputSerializer},
        responses={201: s.SuiteImportOutputSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        description=(
            "Import a new version of a suite from an uploaded file (multipart `file`) or a `url`. All problems or "
            "none: errors name the line and field. Expected outputs are recorded by running each reference solution "
            "in the sandbox, which can take minutes for large suites."
        ),
    )
    @action(detail=False, methods=["post"], url_path="import", scope_verb="curate")
    def import_suite(self, request):
        data = s.SuiteImportInputSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        v = data.validated_data
        upload = v.get("file")
        source = services.suite_source_load(
            url=v.get("url"), data=upload.read() if upload else None, filename=upload.name if upload else "upload"
        )
        report = services.suite_import(
            actor=request.user,
            project=v["project"],
            name=v["name"],
            source_format=v["format"],
            source=source,
            title=v["title"],
            description=v["description"],
            allow_broken=v["allow_broken"],
        )
        out = {
            "suite": report.suite,
            "message": report.summary(),
            "problems": report.problems,
            "verified": report.verified,
            "flagged": report.flagged,
        }
        return Response(s.SuiteImportOutputSerializer(out).data, status=status.HTTP_201_CREATED)


class ProblemViewSet(ScopedReadOnlyModelViewSet):
    """Problems of the suites you can see; filter by suite, difficulty, category. Problems never change."""

    queryset = Problem.objects.all()
    serializer_class = s.ProblemSerializer
    filterset_class = ProblemFilterSet
    ordering_fields = ["ordinal", "task_id", "difficulty", "category"]

    def get_serializer_class(self):
        return s.ProblemDetailSerializer if self.action == "retrieve" else s.ProblemSerializer

    def filter_scoped_queryset(self, queryset):
        return queryset.select_related("suite")
