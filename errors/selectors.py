"""Reads: patterns a user may see, and the analysis of evaluations already resolved through the scoped selector."""

from collections import Counter, defaultdict

from evaluations.models import Evaluation, Sample

from .choices import AnalysisType, ErrorLeaf
from .models import ErrorPattern, ErrorSignature
from .recommendations import merge_details, suggested_fix
from .services import diagnose_samples
from .signatures import cluster_signatures, construct_shape

QUICK_PATTERNS = 20
EXAMPLES_PER_PATTERN = 3


def error_pattern_list(*, user, filters: dict | None = None):
    """Patterns of the user's projects (merged ones hidden unless asked), most frequent first."""
    filters = filters or {}
    qs = ErrorPattern.objects.for_user(user, "view").select_related("project", "merged_into", "annotated_by")
    if not filters.get("include_merged"):
        qs = qs.filter(merged_into__isnull=True)
    if filters.get("project"):
        qs = qs.filter(project_id=filters["project"])
    if filters.get("error_type"):
        qs = qs.filter(error_type__in=filters["error_type"])
    return qs


def evaluations_for_analysis(*, user, ids: list[int]) -> list[Evaluation]:
    """The evaluations ``user`` may see, in the order asked; None when any id is not visible (the caller's 404)."""
    found = {e.pk: e for e in Evaluation.objects.for_user(user, "view").filter(pk__in=ids).select_related("project")}
    return [found[i] for i in ids] if all(i in found for i in ids) else None


def _stored_patterns(evaluations: list[Evaluation], hashes: set[str]) -> dict[tuple[int, str], ErrorPattern]:
    """(project id, signature hash) -> the project's pattern for that signature. Only the evaluations' own projects:
    another project's curation never shows in this analysis."""
    projects = {e.project_id for e in evaluations}
    rows = ErrorSignature.objects.filter(project_id__in=projects, signature_hash__in=hashes).select_related("pattern")
    return {(row.project_id, row.signature_hash): row.pattern for row in rows}


def _pattern_out(key, group: list, stored: ErrorPattern | None, *, deep: bool) -> dict:
    head = group[0][1]
    details: dict = {}
    for _, item in group:
        details = merge_details(details, item.specifics)
    error_type = stored.error_type if stored else head.leaf
    out = {
        "id": stored.pk if stored else None,
        "pattern_hash": stored.pattern_hash if stored else key,
        "error_type": error_type,
        "title": stored.title if stored else "",
        "message": stored.message if stored else head.signature.message,
        "construct": stored.construct if stored else construct_shape(head.signature.construct),
        "frequency": len(group),
        "models_affected": dict(sorted(Counter(item.model for _, item in group).items())),
        "suggested_fix": stored.suggested_fix if stored and stored.fix_curated else suggested_fix(error_type, details),
    }
    if deep:
        out["signatures"] = sorted({item.signature.hash for _, item in group})
        out["examples"] = [
            {"sample_id": item.sample_id, "evaluation_id": evaluation_id, "model": item.model, "task_id": item.task_id}
            | {"message": item.message, "snippet": item.snippet}
            for evaluation_id, item in group[:EXAMPLES_PER_PATTERN]
        ]
    return out


def error_analysis(*, evaluations: list[Evaluation], analysis_type: str, group_by: list[str]) -> dict:
    """Failures of ``evaluations`` classified, signed and grouped into patterns (the projects' stored patterns where
    the signature is known, else clusters of this analysis), with recommendations. Reads only."""
    diagnosed = []
    for evaluation in evaluations:
        diagnosed += [(evaluation.pk, d) for d in diagnose_samples(Sample.objects.filter(evaluation=evaluation))]
    project_of = {e.pk: e.project_id for e in evaluations}
    stored = _stored_patterns(evaluations, {d.signature.hash for _, d in diagnosed})
    unknown = [d.signature for e, d in diagnosed if (project_of[e], d.signature.hash) not in stored]
    clusters = cluster_signatures(unknown)
    groups: dict[object, list] = defaultdict(list)
    owner: dict[object, ErrorPattern | None] = {}
    for evaluation_id, item in diagnosed:
        pattern = stored.get((project_of[evaluation_id], item.signature.hash))
        key = pattern.pk if pattern else clusters[item.signature.hash]
        groups[key].append((evaluation_id, item))
        owner[key] = pattern
    deep = analysis_type == AnalysisType.DEEP
    patterns = [_pattern_out(key, group, owner[key], deep=deep) for key, group in groups.items()]
    patterns.sort(key=lambda p: (-p["frequency"], p["error_type"], p["pattern_hash"]))
    leaves = Counter(item.leaf for _, item in diagnosed)
    shown = patterns if deep else patterns[:QUICK_PATTERNS]
    result = {
        "summary": {
            "total_errors": len(diagnosed),
            "unique_patterns": len(patterns),
            "most_common_error": leaves.most_common(1)[0][0] if leaves else None,
            "error_types": dict(leaves.most_common()),
        },
        "patterns": shown,
        "recommendations": [
            {
                "error_type": p["error_type"],
                "pattern_hash": p["pattern_hash"],
                "frequency": p["frequency"],
                "share": round(p["frequency"] / len(diagnosed), 4),
                "recommendation": p["suggested_fix"],
            }
            for p in patterns[:10]
            if p["error_type"] != ErrorLeaf.UNKNOWN
        ],
        "groups": _groups(diagnosed, group_by),
    }
    return result


def _groups(diagnosed: list, group_by: list[str]) -> list[dict]:
    if not group_by:
        return []
    values = {
        "model": lambda item: item.model,
        "error_type": lambda item: item.leaf,
        "task_id": lambda item: item.task_id,
    }
    counts = Counter(tuple(values[g](item) for g in group_by) for _, item in diagnosed)
    return [
        {**dict(zip(group_by, key, strict=True)), "count": count}
        for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
