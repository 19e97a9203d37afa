"""Error pattern pages: the list (filters, pagination, capped queries), a pattern with its examples, the curators'
annotate, merge and recompute; viewers get no edit actions and a 403 on POST; another tenant's pattern is a 404."""

import pytest
from django.urls import reverse

from accounts.choices import ProjectRole
from errors.models import ErrorPattern
from evaluations.runs.services import evaluation_create
from frontend.portal import CONTENT_SECURITY_POLICY
from models_registry.services import model_endpoint_create
from tests.evaluations.suite_helpers import custom_suite_in
from tests.tuning.conftest import CANONICAL, ROWS, samples_file

from .conftest import _drain

pytestmark = pytest.mark.django_db

LIST_QUERY_CAP = 12
DETAIL_QUERY_CAP = 14


def failing_run(tenant, capture, tmp_path, settings, *, model: str = "file"):
    """A completed evaluation of a hand-made samples file (passes and failures of known kinds) on a custom suite;
    its failures are counted into the project's patterns when it finishes."""
    settings.SAMPLES_DIR = tmp_path
    rows = [
        {**row, **({"canonical_solution": CANONICAL[row["task_id"]]} if row["task_id"] in CANONICAL else {})}
        for row in ROWS
    ]
    custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR), name="patterns-demo", rows=rows)
    evaluator = tenant.user(ProjectRole.EVALUATOR)
    model_endpoint_create(
        actor=evaluator,
        project=tenant.project,
        name=model,
        backend="samples",
        base_url=str(samples_file(tmp_path / "samples.jsonl")),
    )
    config = {"models": [model], "problems": {"suite": "patterns-demo"}, "evaluation": {"samples_from_file": True}}
    with capture(execute=True):
        evaluation = evaluation_create(actor=evaluator, project=tenant.project, config=config)
    _drain(capture)
    evaluation.refresh_from_db()
    assert evaluation.status == "completed", evaluation.error_message
    return evaluation


@pytest.fixture
def patterns(portal_world, settings, tmp_path, sandbox_environment, django_capture_on_commit_callbacks):
    failing_run(portal_world.a, django_capture_on_commit_callbacks, tmp_path, settings)
    found = list(ErrorPattern.objects.filter(project=portal_world.a.project).order_by("-frequency", "pk"))
    assert len(found) >= 3, found
    return found


def test_list_shows_the_projects_patterns_with_filters_and_capped_queries(
    client, portal_world, patterns, django_assert_max_num_queries
):
    url = reverse("frontend:patterns", args=[portal_world.a.project.pk])
    client.force_login(portal_world.a.user(ProjectRole.VIEWER))
    with django_assert_max_num_queries(LIST_QUERY_CAP):
        response = client.get(url)
    assert response.status_code == 200 and response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    shown = [p.pk for p in response.context["page"].object_list]
    assert shown == [p.pk for p in patterns]
    assert response.context["totals"] == {"patterns": len(patterns), "failures": sum(p.frequency for p in patterns)}
    assert response.context["models"] == ["file"]
    page = response.content.decode()
    assert "Recompute" not in page  # a viewer has no curator action

    syntax = [p.pk for p in patterns if p.error_type.startswith("syntax.")]
    assert syntax, [p.error_type for p in patterns]
    assert [p.pk for p in client.get(url, {"family": "syntax"}).context["page"].object_list] == syntax
    leaf = patterns[0].error_type
    expected = [p.pk for p in patterns if p.error_type == leaf]
    assert [p.pk for p in client.get(url, {"error_type": leaf}).context["page"].object_list] == expected
    assert client.get(url, {"model": "nobody"}).context["page"].paginator.count == 0
    assert client.get(url, {"model": "file"}).context["page"].paginator.count == len(patterns)
    needle = patterns[0].message[:12]
    by_text = client.get(url, {"q": needle}).context["page"].object_list
    assert patterns[0].pk in [p.pk for p in by_text]
    # Malformed filters are dropped, not an error page.
    assert client.get(url, {"error_type": "nope", "page": "x"}).status_code == 200


def test_detail_links_examples_to_the_sample_viewer_and_escapes_them(
    client, portal_world, patterns, django_assert_max_num_queries
):
    pattern = patterns[0]
    ErrorPattern.objects.filter(pk=pattern.pk).update(
        examples=[{**pattern.examples[0], "snippet": "<script>alert(1)</script>", "message": "<img src=x>"}]
    )
    client.force_login(portal_world.a.user(ProjectRole.VIEWER))
    with django_assert_max_num_queries(DETAIL_QUERY_CAP):
        response = client.get(reverse("frontend:pattern", args=[pattern.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    example = pattern.examples[0]
    assert reverse("frontend:sample", args=[example["evaluation_id"], example["sample_id"]]) in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x>" not in page
    assert pattern.suggested_fix.split("\n")[0][:40] in page.replace("&#x27;", "'").replace("&quot;", '"')
    assert "Save annotation" not in page and "Merge" not in page
    assert response.context["annotate_form"] is None


def test_curator_annotates_and_merges(client, portal_world, patterns, django_assert_max_num_queries):
    curator = portal_world.a.user(ProjectRole.CURATOR)
    pattern, other = patterns[0], patterns[1]
    client.force_login(curator)
    with django_assert_max_num_queries(DETAIL_QUERY_CAP + 2):
        page = client.get(reverse("frontend:pattern", args=[pattern.pk]))
    assert "Save annotation" in page.content.decode()
    assert pattern.pk not in [c for c, _ in page.context["merge_form"].fields["into"].choices if c]

    too_long = client.post(reverse("frontend:pattern-annotate", args=[pattern.pk]), {"title": "x" * 201})
    assert too_long.status_code == 200 and "title" in too_long.context["annotate_form"].errors

    response = client.post(
        reverse("frontend:pattern-annotate", args=[pattern.pk]),
        {"title": "Adds a str to an int", "notes": "seen in <b>both</b> runs", "suggested_fix": "Cast first."},
        follow=True,
    )
    assert response.status_code == 200 and "annotation survives" in response.content.decode()
    pattern.refresh_from_db()
    assert (pattern.title, pattern.suggested_fix, pattern.fix_curated) == ("Adds a str to an int", "Cast first.", True)
    assert pattern.annotated_by == curator
    assert "seen in &lt;b&gt;both&lt;/b&gt; runs" in response.content.decode()

    bad = client.post(reverse("frontend:pattern-merge", args=[other.pk]), {"into": 999_999})
    assert bad.status_code == 200 and "into" in bad.context["merge_form"].errors
    response = client.post(reverse("frontend:pattern-merge", args=[other.pk]), {"into": pattern.pk})
    assert response.status_code == 302 and response["Location"] == reverse("frontend:pattern", args=[pattern.pk])
    other.refresh_from_db()
    pattern.refresh_from_db()
    assert other.merged_into == pattern and pattern.frequency == patterns[0].frequency + patterns[1].frequency
    merged_page = client.get(reverse("frontend:pattern", args=[other.pk])).content.decode()
    assert "Merged into" in merged_page and "Save annotation" not in merged_page
    listed = client.get(reverse("frontend:patterns", args=[portal_world.a.project.pk])).context["page"].object_list
    assert other.pk not in [p.pk for p in listed]


def test_recompute_keeps_annotations_and_merges(client, portal_world, patterns):
    pattern, other = patterns[0], patterns[1]
    curator = portal_world.a.user(ProjectRole.CURATOR)
    client.force_login(curator)
    client.post(reverse("frontend:pattern-annotate", args=[pattern.pk]), {"title": "kept"})
    client.post(reverse("frontend:pattern-merge", args=[other.pk]), {"into": pattern.pk})
    merged = ErrorPattern.objects.get(pk=pattern.pk).frequency
    response = client.post(reverse("frontend:patterns-recompute", args=[portal_world.a.project.pk]), follow=True)
    assert response.status_code == 200 and "annotations and merges kept" in response.content.decode()
    pattern.refresh_from_db()
    assert pattern.title == "kept" and pattern.frequency == merged
    assert ErrorPattern.objects.get(pk=other.pk).merged_into_id == pattern.pk


def test_viewers_and_evaluators_may_not_curate(client, portal_world, patterns):
    pattern = patterns[0]
    for role in (ProjectRole.VIEWER, ProjectRole.EVALUATOR):
        client.force_login(portal_world.a.user(role))
        assert client.post(reverse("frontend:pattern-annotate", args=[pattern.pk]), {"title": "x"}).status_code == 403
        assert (
            client.post(reverse("frontend:pattern-merge", args=[pattern.pk]), {"into": patterns[1].pk}).status_code
            == 403
        )
        recompute = reverse("frontend:patterns-recompute", args=[portal_world.a.project.pk])
        assert client.post(recompute).status_code == 403
    pattern.refresh_from_db()
    assert pattern.title == "" and pattern.merged_into is None
    # GET on an action is not allowed.
    assert client.get(reverse("frontend:pattern-annotate", args=[pattern.pk])).status_code == 405


def test_other_tenants_patterns_are_404_and_never_listed(
    client, portal_world, patterns, settings, tmp_path, django_capture_on_commit_callbacks
):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    failing_run(portal_world.b, django_capture_on_commit_callbacks, theirs, settings, model="their-file")
    their_patterns = list(ErrorPattern.objects.filter(project=portal_world.b.project))
    assert their_patterns

    client.force_login(portal_world.b.user(ProjectRole.OWNER))
    pattern = patterns[0]
    assert client.get(reverse("frontend:pattern", args=[pattern.pk])).status_code == 404
    assert client.post(reverse("frontend:pattern-annotate", args=[pattern.pk]), {"title": "x"}).status_code == 404
    assert client.post(reverse("frontend:pattern-merge", args=[pattern.pk]), {"into": pattern.pk}).status_code == 404
    assert client.get(reverse("frontend:patterns", args=[portal_world.a.project.pk])).status_code == 404
    assert client.post(reverse("frontend:patterns-recompute", args=[portal_world.a.project.pk])).status_code == 404
    mine = client.get(reverse("frontend:patterns", args=[portal_world.b.project.pk]))
    assert {p.pk for p in mine.context["page"].object_list} == {p.pk for p in their_patterns}
    assert mine.context["models"] == ["their-file"]

    # A curator of A cannot merge into B's pattern: it is not a choice.
    client.force_login(portal_world.a.user(ProjectRole.CURATOR))
    response = client.post(reverse("frontend:pattern-merge", args=[pattern.pk]), {"into": their_patterns[0].pk})
    assert response.status_code == 200 and "into" in response.context["merge_form"].errors
    pattern.refresh_from_db()
    assert pattern.merged_into is None
