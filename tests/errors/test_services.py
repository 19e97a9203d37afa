"""Patterns from finished evaluations: incremental and idempotent updates, recompute, annotations and merges."""

import pytest

from codequal.exceptions import ApplicationError
from errors.models import AnalyzedEvaluation, ErrorPattern, ErrorSignature, FailureDiagnosis
from errors.services import (
    error_pattern_annotate,
    error_pattern_merge,
    error_patterns_recompute,
    error_patterns_update,
)
from tests.evaluations.suite_helpers import custom_suite_in

from .conftest import DEMO_ROWS, run_samples, samples_file

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(world, settings, sandbox_environment):
    custom_suite_in(world.a.project, world.a.user("curator"))
    return run_samples(world.a, samples_file(settings, "demo.jsonl", DEMO_ROWS), suite="demo")


def snapshot(project):
    return {
        p.pattern_hash: (p.error_type, p.frequency, p.models_affected, p.message, p.construct)
        for p in ErrorPattern.objects.filter(project=project, merged_into__isnull=True)
    }


def test_update_counts_each_failed_sample_once(world, demo):
    # Analysed once when the run finished (evaluation_finalize): asking again counts nothing twice.
    assert AnalyzedEvaluation.objects.get(evaluation=demo).failures == 7
    assert error_patterns_update(evaluation=demo) == 0
    leaves = sorted(FailureDiagnosis.objects.filter(evaluation=demo).values_list("error_type", flat=True))
    assert leaves == [
        "semantic.attribute_error",
        "semantic.import_error",
        "semantic.name_error",
        "semantic.name_error",
        "semantic.name_error",
        "semantic.wrong_answer",
        "syntax.incomplete_code",
    ]
    before = snapshot(world.a.project)
    assert sum(f for _, f, *_ in before.values()) == 7
    assert error_patterns_update(evaluation=demo) == 0  # the same evaluation again: nothing changes
    assert snapshot(world.a.project) == before
    assert AnalyzedEvaluation.objects.get(evaluation=demo).failures == 7
    helper = ErrorPattern.objects.get(project=world.a.project, message="name <name> is not defined")
    assert helper.frequency == 2 and helper.models_affected == {"file": 2}
    assert "`helper`" in helper.suggested_fix and len(helper.examples) == 2
    assert {e["task_id"] for e in helper.examples} == {"demo/add", "demo/neg"}
    module = ErrorPattern.objects.get(project=world.a.project, message="name <module> is not defined")
    assert "`import math`" in module.suggested_fix
    torch = ErrorPattern.objects.get(project=world.a.project, error_type="semantic.import_error")
    assert "`torch`" in torch.suggested_fix
    assert helper.first_seen == demo.finished_at


def test_a_second_run_adds_to_the_same_patterns(world, demo, settings):
    error_patterns_update(evaluation=demo)
    first = snapshot(world.a.project)
    again = run_samples(world.a, samples_file(settings, "demo.jsonl", DEMO_ROWS), suite="demo")
    assert AnalyzedEvaluation.objects.get(evaluation=again).failures == 7  # analysed when it finished
    assert error_patterns_update(evaluation=again) == 0
    second = snapshot(world.a.project)
    assert set(second) == set(first)
    assert {h: v[1] for h, v in second.items()} == {h: 2 * v[1] for h, v in first.items()}


def test_annotations_and_merges_survive_recompute(world, demo):
    error_patterns_update(evaluation=demo)
    curator = world.a.user("curator")
    helper = ErrorPattern.objects.get(project=world.a.project, message="name <name> is not defined")
    module = ErrorPattern.objects.get(project=world.a.project, message="name <module> is not defined")
    error_pattern_annotate(actor=curator, pattern=helper, title="Undefined helpers", notes="n", suggested_fix="Define.")
    merged_into = error_pattern_merge(actor=curator, pattern=module, into=helper)
    assert merged_into.frequency == 3 and merged_into.models_affected == {"file": 3}
    before = snapshot(world.a.project)

    assert error_patterns_recompute(project=world.a.project) == 7
    helper.refresh_from_db()
    module.refresh_from_db()
    assert (helper.title, helper.notes, helper.suggested_fix, helper.fix_curated) == (
        "Undefined helpers",
        "n",
        "Define.",
        True,
    )
    assert helper.annotated_by == curator and module.merged_into == helper
    assert snapshot(world.a.project) == before  # the merge holds after re-analysis: 3 failures in one pattern
    assert ErrorSignature.objects.filter(pattern=helper).count() == 2

    error_pattern_annotate(actor=curator, pattern=helper, suggested_fix="")  # back to the generated fix
    helper.refresh_from_db()
    assert not helper.fix_curated and "`helper`" in helper.suggested_fix


def test_merge_refuses_across_projects_and_onto_itself(world, demo, settings):
    error_patterns_update(evaluation=demo)
    pattern = ErrorPattern.objects.filter(project=world.a.project).first()
    with pytest.raises(ApplicationError):
        error_pattern_merge(actor=None, pattern=pattern, into=pattern)
    custom_suite_in(world.b.project, world.b.user("curator"))
    other = run_samples(world.b, samples_file(settings, "b.jsonl", DEMO_ROWS[:2]), suite="demo")
    error_patterns_update(evaluation=other)
    foreign = ErrorPattern.objects.get(project=world.b.project)
    with pytest.raises(ApplicationError, match="within one project"):
        error_pattern_merge(actor=None, pattern=pattern, into=foreign)
    # Each project has its own patterns, even for the same signature.
    assert ErrorPattern.objects.filter(pattern_hash=foreign.pattern_hash).count() == 2
