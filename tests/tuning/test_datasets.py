"""The dataset builder on a real evaluation: filters, error names, split without leakage, dedup, curriculum order,
contrastive pairs and the JSONL export."""

import json

import pytest

from accounts.choices import ProjectRole
from codequal.exceptions import ApplicationError
from evaluations.models import Sample
from tuning import datasets
from tuning.choices import DatasetSplit, DatasetStrategy, ExportFormat
from tuning.datasets import names_match, parse_error_terms, sample_error_names, split_problems, term_matches
from tuning.models import TuningExample
from tuning.selectors import dataset_export_lines
from tuning.services import tuning_dataset_create

from .conftest import SAMPLES

pytestmark = pytest.mark.django_db(transaction=True)


def build(world, evaluation, **options):
    options.setdefault("name", "fixes")
    return tuning_dataset_create(
        actor=world.a.user(ProjectRole.EVALUATOR), project=world.a.project, evaluations=[evaluation], **options
    )


def examples(dataset, split=None):
    rows = TuningExample.objects.filter(dataset=dataset).order_by("split", "position")
    return list(rows.filter(split=split) if split else rows)


def test_error_names_match_families_full_names_and_last_parts():
    assert term_matches("syntax", "syntax.missing_tokens") and term_matches("syntax", "syntax.missing_parenthesis")
    assert term_matches("type_error", "semantic.type_error") and term_matches("semantic.type", "semantic.type")
    assert not term_matches("syntax", "semantic.type") and not term_matches("type", "semantic.type_error")
    # A coarse row answers to its fine counterpart too, so fine names filter without the error-analysis app.
    specific, names = sample_error_names({"error_category": "semantic.type", "passed": False}, classifier=None)
    assert specific == "semantic.type_error" and names == {"semantic.type", "semantic.type_error"}
    assert names_match(("type_error",), names) and names_match(("semantic",), names)
    assert not names_match(("syntax", "name_error"), names)
    assert parse_error_terms(" Syntax, type_error,syntax ") == ("syntax", "type_error")
    with pytest.raises(ValueError, match="Unknown error name 'typo_error'"):
        parse_error_terms("syntax,typo_error")


def test_fine_names_come_from_the_error_analysis_app_when_it_is_there(failing_evaluation, monkeypatch):
    pytest.importorskip("errors.classification")
    row = Sample.objects.filter(evaluation=failing_evaluation, completion="    return (a + b\n").values().first()
    problem = {"prompt": 'def add(a, b):\n    """Return a + b."""\n', "entry_point": "add", "test_spec": {}}
    specific, names = sample_error_names(row, problem, datasets.fine_classifier())
    assert row["error_category"].startswith("syntax.") and row["error_category"] in names
    from errors.choices import ErrorLeaf

    fine = {leaf.value for leaf in ErrorLeaf}
    assert specific in fine and specific.startswith("syntax.") and specific in names
    monkeypatch.setattr(datasets, "fine_classifier", lambda: None)
    _, coarse_only = sample_error_names(row, problem, datasets.fine_classifier())
    assert row["error_category"] in coarse_only and all(n.startswith("syntax.") for n in coarse_only)


def test_error_filter_keeps_only_matching_failures_with_a_passing_output(world, failing_evaluation):
    dataset = build(world, failing_evaluation, errors="syntax,type_error", held_out_fraction=0)
    rows = examples(dataset)
    assert rows and all(r.split == DatasetSplit.TRAIN for r in rows)
    assert {r.task_id for r in rows} == {"t/add", "t/double", "t/first"}
    for row in rows:
        assert names_match(("syntax", "type_error"), row.error_names), row.error_names
        assert row.input.startswith("def ") and row.output in (*SAMPLES[row.task_id], "    return xs[0]\n")
        source = Sample.objects.get(pk=row.source_sample_id)
        assert not source.passed and source.problem_id == row.problem_id
    # t/first never passed: its output is the canonical solution.
    assert [r.output for r in rows if r.task_id == "t/first"] == ["    return xs[0]\n"]
    assert set(dataset.counts["by_error_type"]) <= {e for r in rows for e in [r.error_type]}
    assert dataset.options["errors"] == ["syntax", "type_error"] and dataset.version == 1
    # Filters by model and task narrow further; nothing left is an error, not an empty dataset.
    narrow = build(world, failing_evaluation, errors="syntax", task_ids=["t/add"], models=["file"], held_out_fraction=0)
    assert {r.task_id for r in examples(narrow)} == {"t/add"} and narrow.version == 2
    with pytest.raises(ApplicationError, match="No training example"):
        build(world, failing_evaluation, errors="syntax", models=["someone-else"])
    with pytest.raises(ApplicationError, match="Unknown error name"):
        build(world, failing_evaluation, errors="nonsense")


def test_duplicates_are_dropped_and_repair_inputs_carry_the_attempt(world, failing_evaluation):
    plain = build(world, failing_evaluation, errors="semantic.type", held_out_fraction=0)
    # t/add failed twice with the same type error, and t/double once: one prompt -> solution pair per output.
    add = [r for r in examples(plain) if r.task_id == "t/add"]
    assert len(add) == 1 and plain.counts["skipped"]["duplicates"] >= 1
    repair = build(world, failing_evaluation, name="repair", errors="semantic.type", repair=True, held_out_fraction=0)
    add = [r for r in examples(repair) if r.task_id == "t/add"]
    assert len(add) == 1, "the same failed attempt twice is one example"
    assert add[0].input.startswith("# A previous attempt failed with TypeError")
    assert "#     return a + str(b)" in add[0].input and add[0].input.endswith('"""Return a + b."""\n')
    assert len({r.content_hash for r in examples(repair)}) == len(examples(repair))


def test_split_is_by_problem_without_leakage(world, failing_evaluation):
    dataset = build(world, failing_evaluation, held_out_fraction=0.4, seed=3)
    train = {r.problem_id for r in examples(dataset, DatasetSplit.TRAIN)}
    held = {r.problem_id for r in examples(dataset, DatasetSplit.HELD_OUT)}
    assert train and held and not train & held
    assert {p["problem_id"] for p in dataset.held_out_problems} == held
    assert all(p["suite"] == "tune-demo" and p["version"] == 1 for p in dataset.held_out_problems)
    assert dataset.counts["problems"] == {"train": len(train), "held_out": len(held)}
    assert dataset.counts["examples"]["held_out"] == len(examples(dataset, DatasetSplit.HELD_OUT))
    # Seeded: the same seed holds out the same problems, another seed (usually) others.
    again = build(world, failing_evaluation, held_out_fraction=0.4, seed=3)
    assert {p["task_id"] for p in again.held_out_problems} == {p["task_id"] for p in dataset.held_out_problems}
    assert split_problems([1, 2, 3, 4, 5], 0.2, 0) and len(split_problems([1, 2], 0.9, 0)) == 1
    assert split_problems([1], 0.5, 0) == set() and split_problems([1, 2, 3], 0, 0) == set()


def test_curriculum_orders_easy_to_hard_by_measured_pass_rate(world, failing_evaluation):
    dataset = build(world, failing_evaluation, strategy=DatasetStrategy.CURRICULUM, held_out_fraction=0)
    rows = examples(dataset, DatasetSplit.TRAIN)
    difficulties = [r.difficulty for r in rows]
    assert difficulties == sorted(difficulties) and len(set(difficulties)) > 2
    for row in rows:
        outcomes = list(
            Sample.objects.filter(evaluation=failing_evaluation, problem=row.problem).values_list("passed", flat=True)
        )
        assert row.difficulty == pytest.approx(1 - sum(outcomes) / len(outcomes), abs=1e-4)
    assert rows[0].task_id == "t/inc" and rows[-1].task_id == "t/first"


def test_contrastive_pairs_and_the_jsonl_export(world, failing_evaluation):
    dataset = build(world, failing_evaluation, strategy=DatasetStrategy.CONTRASTIVE, held_out_fraction=0.3)
    rows = examples(dataset)
    assert rows and all(r.rejected and r.rejected != r.output for r in rows)
    for row in rows:
        assert Sample.objects.get(pk=row.source_sample_id).completion == row.rejected
        passing = Sample.objects.filter(evaluation=failing_evaluation, problem=row.problem, passed=True)
        assert row.output in set(passing.values_list("completion", flat=True)) | {"    return xs[0]\n"}
    sft = [json.loads(line) for line in dataset_export_lines(dataset)]
    assert len(sft) == dataset.train_count
    assert all(set(line) == {"input", "output", "error_type", "difficulty"} for line in sft)
    assert all(isinstance(line["difficulty"], float) and line["error_type"] for line in sft)
    pairs = [json.loads(line) for line in dataset_export_lines(dataset, split="held_out", fmt=ExportFormat.PREFERENCE)]
    assert len(pairs) == dataset.held_out_count
    assert all(set(p) == {"prompt", "chosen", "rejected", "error_type", "difficulty"} for p in pairs)


def test_only_evaluators_of_the_project_build_datasets(world, failing_evaluation):
    with pytest.raises(ApplicationError) as denied:
        tuning_dataset_create(
            actor=world.a.user(ProjectRole.VIEWER), project=world.a.project, name="x", evaluations=[failing_evaluation]
        )
    assert denied.value.status_code == 403
    with pytest.raises(ApplicationError, match="is not in"):
        tuning_dataset_create(
            actor=world.b.user(ProjectRole.OWNER), project=world.b.project, name="x", evaluations=[failing_evaluation]
        )
