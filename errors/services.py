"""Writes: diagnose an evaluation's failures into its project's patterns (incremental, idempotent), recompute a
project, and the curators' annotate and merge."""

from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import Project
from codequal.exceptions import ApplicationError
from evaluations.models import Evaluation, Problem, Sample

from .classification import diagnose
from .facts import SAMPLE_FIELDS, facts_from_sample
from .models import AnalyzedEvaluation, ErrorPattern, ErrorSignature, FailureDiagnosis
from .recommendations import merge_details, suggested_fix
from .signatures import Signature, construct_shape, nearest_cluster, signature_of

MAX_EXAMPLES = 5
SNIPPET_CHARS = 400
PROBLEM_FIELDS = ("id", "prompt", "entry_point", "test_spec", "metadata")


@dataclass(frozen=True)
class DiagnosedSample:
    sample_id: int
    model: str
    task_id: str
    leaf: str
    specifics: dict
    signature: Signature
    message: str
    snippet: str


def diagnose_samples(samples) -> list[DiagnosedSample]:
    """Leaf and signature of each failed sample in ``samples`` (a Sample queryset), in a stable order."""
    rows = list(samples.exclude(status="passed").order_by("pk").values(*SAMPLE_FIELDS))
    problem_ids = {row["problem_id"] for row in rows}
    problems = {p["id"]: p for p in Problem.objects.filter(pk__in=problem_ids).values(*PROBLEM_FIELDS)}
    out = []
    for row in rows:
        facts = facts_from_sample(row, problems.get(row["problem_id"], {}))
        diagnosis = diagnose(facts)
        out.append(
            DiagnosedSample(
                sample_id=row["id"],
                model=row["model__name"],
                task_id=row["problem__task_id"],
                leaf=diagnosis.leaf.value,
                specifics=diagnosis.specifics,
                signature=signature_of(facts, diagnosis),
                message=(row["error_message"] or "")[:300],
                snippet=(row["completion"] or "")[:SNIPPET_CHARS],
            )
        )
    return out


def _signature_rows(project: Project, signatures: list[Signature]) -> dict[str, ErrorSignature]:
    """Every signature's row, creating new ones in sorted order: each joins the most similar pattern of its leaf
    (signatures.CLUSTER_THRESHOLD) or starts a pattern. The same failures give the same patterns in any project."""
    known = {s.signature_hash: s for s in ErrorSignature.objects.filter(project=project).select_related("pattern")}
    new = sorted({s for s in signatures if s.hash not in known}, key=lambda s: (s.error_type, s.construct, s.message))
    heads: dict[str, list[ErrorPattern]] = defaultdict(list)
    for pattern in ErrorPattern.objects.filter(project=project, merged_into__isnull=True).order_by("pk"):
        heads[pattern.error_type].append(pattern)
    for signature in new:
        candidates = heads[signature.error_type]
        as_signatures = [Signature(p.pattern_hash, p.error_type, p.message, p.construct) for p in candidates]
        index = nearest_cluster(signature, as_signatures)
        if index is None:
            pattern, _ = ErrorPattern.objects.get_or_create(
                project=project,
                pattern_hash=signature.hash,
                defaults={
                    "error_type": signature.error_type,
                    "message": signature.message,
                    "construct": construct_shape(signature.construct),
                },
            )
            while pattern.merged_into_id:  # a merged head: its members belong to the pattern it went into
                pattern = pattern.merged_into
            if pattern.pattern_hash == signature.hash:
                candidates.append(pattern)
        else:
            pattern = candidates[index]
        known[signature.hash] = ErrorSignature.objects.create(
            project=project,
            pattern=pattern,
            signature_hash=signature.hash,
            error_type=signature.error_type,
            message=signature.message,
            construct=signature.construct,
        )
    return known


def _add_to_pattern(pattern: ErrorPattern, items: list[DiagnosedSample], evaluation: Evaluation, seen) -> None:
    pattern.frequency += len(items)
    models = dict(pattern.models_affected or {})
    details = pattern.details or {}
    for item in items:
        models[item.model] = models.get(item.model, 0) + 1
        details = merge_details(details, item.specifics)
    pattern.models_affected = dict(sorted(models.items()))
    pattern.details = details
    examples = list(pattern.examples or [])
    for item in items[: max(0, MAX_EXAMPLES - len(examples))]:
        examples.append(
            {
                "sample_id": item.sample_id,
                "evaluation_id": evaluation.pk,
                "model": item.model,
                "task_id": item.task_id,
                "message": item.message,
                "snippet": item.snippet,
            }
        )
    pattern.examples = examples
    pattern.first_seen = min(filter(None, [pattern.first_seen, seen]))
    pattern.last_seen = max(filter(None, [pattern.last_seen, seen]))
    if not pattern.fix_curated:
        pattern.suggested_fix = suggested_fix(pattern.error_type, pattern.details)
    pattern.save()


def error_patterns_update(*, evaluation: Evaluation) -> int:
    """Count ``evaluation``'s failed samples that are not yet counted into its project's patterns; returns how many
    were added (0 when run again: each sample is counted once)."""
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=evaluation.project_id)  # one writer per project
        fresh = Sample.objects.filter(evaluation=evaluation, diagnosis__isnull=True)
        diagnosed = diagnose_samples(fresh)
        signature_rows = _signature_rows(project, [d.signature for d in diagnosed])
        FailureDiagnosis.objects.bulk_create(
            [
                FailureDiagnosis(
                    sample_id=d.sample_id,
                    project=project,
                    evaluation=evaluation,
                    signature=signature_rows[d.signature.hash],
                    error_type=d.leaf,
                    model_name=d.model,
                    task_id=d.task_id,
                    specifics=d.specifics,
                )
                for d in diagnosed
            ],
            batch_size=500,
        )
        by_signature: dict[int, list[DiagnosedSample]] = defaultdict(list)
        for d in diagnosed:
            by_signature[signature_rows[d.signature.hash].pk].append(d)
        by_pattern: dict[int, list[DiagnosedSample]] = defaultdict(list)
        for row in ErrorSignature.objects.filter(pk__in=by_signature):
            row.frequency += len(by_signature[row.pk])
            row.save(update_fields=["frequency"])
            by_pattern[row.pattern_id].extend(by_signature[row.pk])
        seen = evaluation.finished_at or evaluation.created_at or timezone.now()
        for pattern in ErrorPattern.objects.filter(pk__in=by_pattern).order_by("pk"):
            _add_to_pattern(pattern, by_pattern[pattern.pk], evaluation, seen)
        record, _ = AnalyzedEvaluation.objects.get_or_create(evaluation=evaluation, defaults={"project": project})
        record.failures += len(diagnosed)
        record.save()
    return len(diagnosed)


def error_patterns_recompute(*, project: Project) -> int:
    """Recount every analyzed evaluation of ``project`` from its samples (after a classifier change or deleted
    evaluations). Signature -> pattern assignments, merges and annotations are kept; patterns left empty and never
    annotated are removed. Returns the failures counted."""
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=project.pk)
        FailureDiagnosis.objects.filter(project=project).delete()
        ErrorSignature.objects.filter(project=project).update(frequency=0)
        ErrorPattern.objects.filter(project=project).update(
            frequency=0, models_affected={}, details={}, examples=[], first_seen=None, last_seen=None
        )
        evaluation_ids = list(
            AnalyzedEvaluation.objects.filter(project=project)
            .order_by("evaluation_id")
            .values_list("evaluation_id", flat=True)
        )
        AnalyzedEvaluation.objects.filter(project=project).delete()
        total = sum(error_patterns_update(evaluation=e) for e in Evaluation.objects.filter(pk__in=evaluation_ids))
        empty = ErrorPattern.objects.filter(project=project, frequency=0, merged_into__isnull=True, title="", notes="")
        empty.filter(fix_curated=False, merged_patterns__isnull=True).delete()
    return total


def error_pattern_annotate(*, actor, pattern: ErrorPattern, **changes) -> ErrorPattern:
    """Set a pattern's curator fields (title, notes, suggested_fix); an empty suggested_fix restores the generated
    one. The caller has checked the curator role."""
    unknown = set(changes) - {"title", "notes", "suggested_fix"}
    if unknown:
        raise ApplicationError(f"Cannot annotate {', '.join(sorted(unknown))}.")
    for field in ("title", "notes"):
        if field in changes:
            setattr(pattern, field, (changes[field] or "").strip())
    if "suggested_fix" in changes:
        fix = (changes["suggested_fix"] or "").strip()
        pattern.fix_curated = bool(fix)
        pattern.suggested_fix = fix or suggested_fix(pattern.error_type, pattern.details)
    pattern.annotated_by = actor
    pattern.annotated_at = timezone.now()
    pattern.save()
    return pattern


def _add_counts(a: dict, b: dict) -> dict:
    out = dict(a or {})
    for key, value in (b or {}).items():
        out[key] = out.get(key, 0) + value
    return dict(sorted(out.items()))


def error_pattern_merge(*, actor, pattern: ErrorPattern, into: ErrorPattern) -> ErrorPattern:
    """Move ``pattern`` (its signatures, counts and examples) into ``into``; later failures with its signatures count
    there too. Both must be patterns of one project; the caller has checked the curator role on both."""
    if pattern.project_id != into.project_id:
        raise ApplicationError("Patterns can only be merged within one project.")
    if pattern.pk == into.pk or into.merged_into_id or pattern.merged_into_id:
        raise ApplicationError("Merge a pattern that is not merged into another one, into a different such pattern.")
    with transaction.atomic():
        ErrorSignature.objects.filter(pattern=pattern).update(pattern=into)
        ErrorPattern.objects.filter(merged_into=pattern).update(merged_into=into)
        into.frequency += pattern.frequency
        into.models_affected = _add_counts(into.models_affected, pattern.models_affected)
        into.details = {
            key: _add_counts((into.details or {}).get(key), (pattern.details or {}).get(key))
            for key in {*(into.details or {}), *(pattern.details or {})}
        }
        into.examples = (list(into.examples or []) + list(pattern.examples or []))[:MAX_EXAMPLES]
        into.first_seen = min(filter(None, [into.first_seen, pattern.first_seen]), default=None)
        into.last_seen = max(filter(None, [into.last_seen, pattern.last_seen]), default=None)
        if not into.fix_curated:
            into.suggested_fix = suggested_fix(into.error_type, into.details)
        into.annotated_by, into.annotated_at = actor, timezone.now()
        into.save()
        pattern.merged_into = into
        pattern.frequency, pattern.models_affected, pattern.examples = 0, {}, []
        pattern.annotated_by, pattern.annotated_at = actor, timezone.now()
        pattern.save()
    return into
