from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.models import Project
from codequal.api.exceptions import ErrorSerializer
from codequal.api.permissions import ScopedPermission
from codequal.api.viewsets import ScopedGenericViewSet

from .. import selectors, services
from ..filtersets import ErrorPatternFilterSet
from ..models import ErrorPattern
from . import serializers as s

NOT_FOUND = {404: ErrorSerializer}


@extend_schema_view(
    partial_update=extend_schema(
        responses={200: s.ErrorPatternDetailSerializer, 400: ErrorSerializer, 403: ErrorSerializer, **NOT_FOUND},
        description="Curators: set the title, notes or suggested_fix (empty restores the generated fix). Kept across "
        "re-analysis and recompute.",
    )
)
class ErrorPatternViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, ScopedGenericViewSet
):
    """Error patterns of your projects, most frequent first; filter by project, error_type, family, model. Merged
    patterns are hidden unless include_merged. Annotating, merging and recomputing need the curator role."""

    queryset = ErrorPattern.objects.all()
    serializer_class = s.ErrorPatternSerializer
    filterset_class = ErrorPatternFilterSet
    ordering_fields = ["frequency", "last_seen", "first_seen", "error_type", "title"]
    http_method_names = ["get", "patch", "post", "head", "options"]

    def get_serializer_class(self):
        return s.ErrorPatternSerializer if self.action == "list" else s.ErrorPatternDetailSerializer

    def filter_scoped_queryset(self, queryset):
        return queryset.select_related("annotated_by")

    @extend_schema(
        request=s.MergeInputSerializer,
        responses={200: s.ErrorPatternDetailSerializer, 400: ErrorSerializer, 403: ErrorSerializer, **NOT_FOUND},
        description="Merge this pattern into `into` (same project): its signatures, counts and examples move there, "
        "and later failures with its signatures count there too.",
    )
    @action(detail=True, methods=["post"], scope_verb="change")
    def merge(self, request, pk=None):
        pattern = self.get_object()
        data = s.MergeInputSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        into = services.error_pattern_merge(actor=request.user, pattern=pattern, into=data.validated_data["into"])
        return Response(s.ErrorPatternDetailSerializer(into, context=self.get_serializer_context()).data)

    @extend_schema(
        request=s.RecomputeInputSerializer,
        responses={200: s.RecomputeOutputSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        description="Recount a project's patterns from its analyzed evaluations; annotations and merges are kept.",
    )
    @action(detail=False, methods=["post"], scope_verb="change", filter_backends=[], pagination_class=None)
    def recompute(self, request):
        data = s.RecomputeInputSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        project = data.validated_data["project"]
        if not Project.objects.for_user(request.user, "curate").filter(pk=project.pk).exists():
            self.permission_denied(request, message=ScopedPermission.message)
        failures = services.error_patterns_recompute(project=project)
        patterns = ErrorPattern.objects.filter(project=project, merged_into__isnull=True).count()
        return Response(
            s.RecomputeOutputSerializer({"project": project.pk, "failures": failures, "patterns": patterns}).data
        )


class ErrorAnalysisViewSet(ScopedGenericViewSet):
    """Error analysis of evaluations you can see."""

    queryset = ErrorPattern.objects.all()
    serializer_class = s.AnalyzeOutputSerializer

    @extend_schema(
        request=s.AnalyzeInputSerializer,
        responses={200: s.AnalyzeOutputSerializer, 400: ErrorSerializer, **NOT_FOUND},
        description="Classify and group the failures of `evaluation_ids` into patterns with recommendations. `quick`: "
        "the top patterns; `deep`: every pattern with its signatures and examples. `group_by` counts failures per "
        "model, error_type and/or task_id. An evaluation you cannot see answers 404.",
    )
    @action(detail=False, methods=["post"], scope_verb="view", filter_backends=[], pagination_class=None)
    def analyze(self, request):
        data = s.AnalyzeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        evaluations = selectors.evaluations_for_analysis(
            user=request.user, ids=list(dict.fromkeys(v["evaluation_ids"]))
        )
        if evaluations is None:
            raise NotFound()
        result = selectors.error_analysis(
            evaluations=evaluations, analysis_type=v["analysis_type"], group_by=list(dict.fromkeys(v["group_by"]))
        )
        return Response(s.AnalyzeOutputSerializer(result).data)
