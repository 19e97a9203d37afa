"""Error pattern pages: a project's patterns (filtered, paginated), one pattern with its examples, and the curators'
rename / annotate, merge and recompute."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.http import Http404
from django.shortcuts import redirect
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from accounts.selectors import project_user_can
from codequal.exceptions import ApplicationError
from errors.choices import ErrorLeaf
from errors.filtersets import ErrorPatternFilterSet
from errors.models import ErrorPattern, FailureDiagnosis
from errors.selectors import error_pattern_list
from errors.services import error_pattern_annotate, error_pattern_merge, error_patterns_recompute

from ..portal import portal_page, project_get, render_page

PATTERNS_PER_PAGE = 25
MERGE_CHOICES = 500
FILTERS = ("family", "error_type", "model", "q")
LEAF_LABELS = dict(ErrorLeaf.choices)
FAMILIES = sorted({leaf.value.split(".", 1)[0] for leaf in ErrorLeaf})


class PatternAnnotateForm(forms.Form):
    title = forms.CharField(max_length=200, required=False, help_text="Empty: named after its error and message.")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "style": "width: 100%"}), required=False)
    suggested_fix = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "style": "width: 100%"}),
        required=False,
        help_text="Empty: the fix generated for this kind of error. A fix written here survives re-analysis.",
    )


class PatternMergeForm(forms.Form):
    into = forms.ModelChoiceField(queryset=ErrorPattern.objects.none(), label="Merge into")

    def __init__(self, *args, pattern: ErrorPattern, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Scoped with the curator's verb, within the pattern's project: any other id is "not a valid choice".
        targets = (
            ErrorPattern.objects.for_user(user, "change")
            .filter(project_id=pattern.project_id, merged_into__isnull=True)
            .exclude(pk=pattern.pk)
            .order_by("error_type", "-frequency", "pk")
        )
        self.fields["into"].queryset = targets
        self.fields["into"].choices = [("", "Choose a pattern…")] + [
            (p.pk, f"{p} · {p.frequency} failures") for p in targets[:MERGE_CHOICES]
        ]


def _pattern(user, pk: int, *, curate: bool = False) -> ErrorPattern:
    """The pattern if ``user`` sees its project (else 404); 403 if ``curate`` and they are not a curator there."""
    pattern = error_pattern_list(user=user, filters={"include_merged": True}).filter(pk=pk).first()
    if pattern is None:
        raise Http404("No such pattern.")
    if curate and not project_user_can(user=user, project=pattern.project, action="curate"):
        raise PermissionDenied("Curators annotate and merge patterns.")
    return pattern


def _filters(query) -> dict[str, str]:
    return {name: query.get(name, "").strip()[:200] for name in FILTERS}


@portal_page
def pattern_list(request, project_id: int):
    project = project_get(user=request.user, pk=project_id)
    patterns = error_pattern_list(user=request.user, filters={"project": project.pk})
    filters = _filters(request.GET)
    data = {k: [v] if k == "error_type" else v for k, v in filters.items() if v}  # error_type takes a list
    filterset = ErrorPatternFilterSet(data=data, queryset=patterns)
    page = Paginator(filterset.qs.order_by("-frequency", "pk"), PATTERNS_PER_PAGE).get_page(request.GET.get("page"))
    totals = patterns.aggregate(patterns=Count("pk"), failures=Sum("frequency"))
    models = (
        FailureDiagnosis.objects.for_user(request.user, "view")
        .filter(project=project)
        .order_by("model_name")
        .values_list("model_name", flat=True)
        .distinct()
    )
    context = {
        "project": project,
        "page": page,
        "filters": filters,
        "filter_query": urlencode({k: v for k, v in filters.items() if v}),
        "totals": totals,
        "families": FAMILIES,
        "leaves": ErrorLeaf.choices,
        "leaf_labels": LEAF_LABELS,
        "models": list(models),
        "can_curate": project_user_can(user=request.user, project=project, action="curate"),
    }
    return render_page(request, "frontend/errors/patterns.html", context, project=project)


def _detail(request, pattern: ErrorPattern, *, annotate_form=None, merge_form=None):
    can_curate = project_user_can(user=request.user, project=pattern.project, action="curate")
    if can_curate and not pattern.merged_into_id:
        annotate_form = annotate_form or PatternAnnotateForm(
            initial={
                "title": pattern.title,
                "notes": pattern.notes,
                "suggested_fix": pattern.suggested_fix if pattern.fix_curated else "",
            }
        )
        merge_form = merge_form or PatternMergeForm(pattern=pattern, user=request.user)
    else:
        annotate_form = merge_form = None
    context = {
        "project": pattern.project,
        "pattern": pattern,
        "error_label": LEAF_LABELS.get(pattern.error_type, pattern.error_type),
        "models_affected": sorted((pattern.models_affected or {}).items(), key=lambda kv: (-kv[1], kv[0])),
        "details": sorted((pattern.details or {}).items()),
        "signatures": list(pattern.signatures.order_by("-frequency", "pk")[:50]),
        "merged_patterns": list(pattern.merged_patterns.order_by("pk")),
        "can_curate": can_curate,
        "annotate_form": annotate_form,
        "merge_form": merge_form,
    }
    return render_page(request, "frontend/errors/pattern.html", context, project=pattern.project)


@portal_page
def pattern_detail(request, pk: int):
    return _detail(request, _pattern(request.user, pk))


@portal_page
@require_POST
def pattern_annotate(request, pk: int):
    pattern = _pattern(request.user, pk, curate=True)
    form = PatternAnnotateForm(request.POST)
    if not form.is_valid():
        return _detail(request, pattern, annotate_form=form)
    try:
        error_pattern_annotate(actor=request.user, pattern=pattern, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Pattern saved: the annotation survives re-analysis.")
    return redirect("frontend:pattern", pattern.pk)


@portal_page
@require_POST
def pattern_merge(request, pk: int):
    pattern = _pattern(request.user, pk, curate=True)
    form = PatternMergeForm(request.POST, pattern=pattern, user=request.user)
    if not form.is_valid():
        return _detail(request, pattern, merge_form=form)
    try:
        into = error_pattern_merge(actor=request.user, pattern=pattern, into=form.cleaned_data["into"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("frontend:pattern", pattern.pk)
    messages.success(request, f"Merged “{pattern}” into this pattern: {into.frequency} failures now.")
    return redirect("frontend:pattern", into.pk)


@portal_page
@require_POST
def patterns_recompute(request, project_id: int):
    project = project_get(user=request.user, pk=project_id, action="curate")
    failures = error_patterns_recompute(project=project)
    patterns = error_pattern_list(user=request.user, filters={"project": project.pk}).count()
    messages.success(request, f"Recounted {failures} failures into {patterns} patterns; annotations and merges kept.")
    return redirect("frontend:patterns", project.pk)
