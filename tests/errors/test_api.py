"""The errors API: analyze, pattern list/detail with filters, curator annotations and merges, tenancy and roles."""

import pytest

from errors.models import ErrorPattern
from errors.services import error_patterns_update
from tests.evaluations.suite_helpers import custom_suite_in

from .conftest import DEMO_ROWS, run_samples, samples_file

pytestmark = pytest.mark.django_db(transaction=True)
ANALYZE = "/api/v1/errors/analyze"
PATTERNS = "/api/v1/errors/patterns"


@pytest.fixture
def runs(world, settings, sandbox_environment):
    """Tenant A and B each ran the demo samples; B's patterns carry an annotation that A must never see."""
    out = {}
    for label, tenant in (("a", world.a), ("b", world.b)):
        custom_suite_in(tenant.project, tenant.user("curator"))
        evaluation = run_samples(tenant, samples_file(settings, f"{label}.jsonl", DEMO_ROWS), suite="demo")
        error_patterns_update(evaluation=evaluation)
        out[label] = evaluation
    ErrorPattern.objects.filter(project=world.b.project).update(title="B's secret title", notes="B only")
    return out


def test_analyze_summary_patterns_recommendations_and_groups(world, api, runs):
    api.force_authenticate(world.a.user("viewer"))
    body = {"evaluation_ids": [runs["a"].pk], "analysis_type": "quick", "group_by": ["model", "error_type"]}
    response = api.post(ANALYZE, body, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["summary"]["total_errors"] == 7
    assert data["summary"]["most_common_error"] == "semantic.name_error"
    assert data["summary"]["unique_patterns"] == len(data["patterns"]) == 6
    stored = set(ErrorPattern.objects.filter(project=world.a.project).values_list("pk", flat=True))
    assert {p["id"] for p in data["patterns"]} <= stored
    assert "examples" not in data["patterns"][0]
    assert {"model": "file", "error_type": "semantic.name_error", "count": 3} in data["groups"]
    assert any("`import math`" in r["recommendation"] for r in data["recommendations"])
    assert "B's secret" not in response.content.decode()

    deep = api.post(ANALYZE, {**body, "analysis_type": "deep"}, format="json").json()
    assert all(p["examples"] and p["signatures"] for p in deep["patterns"])
    sample_ids = {e["sample_id"] for p in deep["patterns"] for e in p["examples"]}
    assert all(e["evaluation_id"] == runs["a"].pk for p in deep["patterns"] for e in p["examples"])
    assert len(sample_ids) == 7


def test_analyze_refuses_evaluations_the_user_cannot_see(world, api, runs):
    api.force_authenticate(world.a.user("owner"))
    response = api.post(ANALYZE, {"evaluation_ids": [runs["a"].pk, runs["b"].pk]}, format="json")
    assert response.status_code == 404 and response.json()["message"] == "Not found."
    assert api.post(ANALYZE, {"evaluation_ids": []}, format="json").status_code == 400
    assert api.post(ANALYZE, {"evaluation_ids": [runs["a"].pk], "analysis_type": "x"}, format="json").status_code == 400
    api.force_authenticate(None)
    assert api.post(ANALYZE, {"evaluation_ids": [runs["a"].pk]}, format="json").status_code == 401


def test_pattern_list_filters_and_detail(world, api, runs):
    api.force_authenticate(world.a.user("viewer"))
    listed = api.get(PATTERNS).json()
    assert listed["count"] == 6
    assert {p["project"] for p in listed["results"]} == {world.a.project.pk}
    names = api.get(f"{PATTERNS}?error_type=semantic.name_error").json()["results"]
    assert len(names) == 2 and all(p["error_type"] == "semantic.name_error" for p in names)
    assert api.get(f"{PATTERNS}?family=syntax").json()["count"] == 1
    assert api.get(f"{PATTERNS}?model=file").json()["count"] == 6
    assert api.get(f"{PATTERNS}?model=other").json()["count"] == 0
    assert api.get(f"{PATTERNS}?project={world.b.project.pk}").json()["count"] == 0
    detail = api.get(f"{PATTERNS}/{names[0]['id']}").json()
    assert detail["examples"] and detail["suggested_fix"]
    foreign = ErrorPattern.objects.filter(project=world.b.project).first()
    assert api.get(f"{PATTERNS}/{foreign.pk}").status_code == 404


def test_curators_annotate_and_merge_others_may_not(world, api, runs):
    helper = ErrorPattern.objects.get(project=world.a.project, message="name <name> is not defined")
    module = ErrorPattern.objects.get(project=world.a.project, message="name <module> is not defined")
    for role in ("viewer", "evaluator"):
        api.force_authenticate(world.a.user(role))
        assert api.patch(f"{PATTERNS}/{helper.pk}", {"title": "x"}, format="json").status_code == 403
        assert api.post(f"{PATTERNS}/{module.pk}/merge", {"into": helper.pk}, format="json").status_code == 403
        recompute = api.post(f"{PATTERNS}/recompute", {"project": world.a.project.pk}, format="json")
        assert recompute.status_code == 403
    api.force_authenticate(world.a.user("curator"))
    response = api.patch(
        f"{PATTERNS}/{helper.pk}", {"title": "Helpers", "notes": "seen often", "frequency": 999}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["title"], response.json()["frequency"], response.json()["annotated_by"]) == (
        "Helpers",
        2,
        "a-curator",
    )
    assert api.put(f"{PATTERNS}/{helper.pk}", {"title": "x"}, format="json").status_code == 405
    foreign = ErrorPattern.objects.filter(project=world.b.project).first()
    refused = api.post(f"{PATTERNS}/{module.pk}/merge", {"into": foreign.pk}, format="json")
    assert refused.status_code == 400 and "does not exist" in str(refused.json()["extra"])
    merged = api.post(f"{PATTERNS}/{module.pk}/merge", {"into": helper.pk}, format="json")
    assert merged.status_code == 200 and merged.json()["frequency"] == 3
    assert api.get(PATTERNS).json()["count"] == 5
    assert api.get(f"{PATTERNS}?include_merged=true").json()["count"] == 6
    recompute = api.post(f"{PATTERNS}/recompute", {"project": world.a.project.pk}, format="json")
    assert recompute.json() == {"project": world.a.project.pk, "failures": 7, "patterns": 5}
    helper.refresh_from_db()
    assert (helper.title, helper.frequency) == ("Helpers", 3)
    # Another tenant's curator sees none of it.
    api.force_authenticate(world.b.user("curator"))
    assert api.patch(f"{PATTERNS}/{helper.pk}", {"title": "taken"}, format="json").status_code == 404
    assert api.post(f"{PATTERNS}/recompute", {"project": world.a.project.pk}, format="json").status_code == 400


def test_the_pattern_list_costs_a_fixed_number_of_queries(world, api, django_assert_max_num_queries):
    curator = world.a.user("curator")
    for i in range(30):
        ErrorPattern.objects.create(
            project=world.a.project, pattern_hash=f"{i:064d}", error_type="semantic.type_error", annotated_by=curator
        )
    api.force_authenticate(world.a.user("viewer"))
    with django_assert_max_num_queries(8):
        response = api.get(f"{PATTERNS}?page_size=50")
    assert response.json()["count"] == 30
