"""The real HumanEval samples of ../shared/datasets (CodeGen-16B): every failure categorized, patterns stable."""

from collections import Counter

import pytest

from errors.models import AnalyzedEvaluation, ErrorPattern, FailureDiagnosis
from errors.services import error_patterns_recompute, error_patterns_update
from evaluations.models import Sample

from .conftest import run_samples, samples_file

pytestmark = pytest.mark.django_db(transaction=True)


def patterns_of(project) -> dict:
    return {
        p.pattern_hash: (p.error_type, p.frequency, p.message, p.construct)
        for p in ErrorPattern.objects.filter(project=project, merged_into__isnull=True)
    }


def test_dev_samples_are_all_categorized_and_patterns_are_stable(world, settings, humaneval_installed, capsys):
    path = samples_file(settings, "humaneval-codegen16b-dev.jsonl")
    first = run_samples(world.a, path, suite="humaneval", model="codegen16b")
    failed = Sample.objects.filter(evaluation=first, passed=False).count()
    assert failed > 900
    # Analysed when the run finished (evaluation_finalize); asking again counts nothing twice.
    assert AnalyzedEvaluation.objects.get(evaluation=first).failures == failed
    assert error_patterns_update(evaluation=first) == 0
    leaves = Counter(FailureDiagnosis.objects.filter(evaluation=first).values_list("error_type", flat=True))
    assert sum(leaves.values()) == failed  # every failing sample has a category
    assert leaves["unknown"] / failed <= 0.02, leaves
    assert {"semantic.wrong_answer", "semantic.name_error", "syntax.incomplete_code"} <= set(leaves)
    a = patterns_of(world.a.project)
    assert 10 <= len(a) <= 100  # tens of patterns, not a thousand strings

    # The same samples in another project's run: the same patterns, hashes and counts.
    second = run_samples(world.b, path, suite="humaneval", model="codegen16b")
    error_patterns_update(evaluation=second)
    assert patterns_of(world.b.project) == a
    # Counting again, or recomputing, changes nothing.
    assert error_patterns_update(evaluation=first) == 0
    assert error_patterns_recompute(project=world.a.project) == failed
    assert patterns_of(world.a.project) == a

    top = sorted(a.values(), key=lambda p: -p[1])[:10]
    with capsys.disabled():
        print(f"\n{failed} failures, {len(a)} patterns; leaves: {dict(leaves.most_common())}")
        for error_type, frequency, message, construct in top:
            print(f"  {frequency:4d}  {error_type:28s} {message[:60]!r} {construct[:50]!r}")
