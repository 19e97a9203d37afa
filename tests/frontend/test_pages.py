"""Portal pages without a browser: rendering, query-count caps, roles and tenancy, inline errors, escaping."""

import pytest
from django.urls import reverse

from evaluations.models import Evaluation, Sample
from frontend.portal import CONTENT_SECURITY_POLICY

from .conftest import run_evaluation

pytestmark = pytest.mark.django_db

# Results and compare pages aggregate in the database: their query count does not depend on the samples.
RESULTS_QUERY_CAP = 16
COMPARE_QUERY_CAP = 10


def urls(evaluation, sample=None) -> dict[str, str]:
    project = evaluation.project_id
    found = {
        "dashboard": reverse("frontend:project", args=[project]),
        "evaluations": reverse("frontend:evaluations", args=[project]),
        "models": reverse("frontend:models", args=[project]),
        "results": reverse("frontend:evaluation", args=[evaluation.pk]),
        "compare": reverse("frontend:compare", args=[evaluation.pk]),
        "errors": reverse("frontend:errors", args=[evaluation.pk]),
    }
    if sample is not None:
        found["sample"] = reverse("frontend:sample", args=[evaluation.pk, sample.pk])
    return found


def test_every_page_renders_for_a_viewer_with_the_security_policy(client, finished_run, portal_world):
    sample = Sample.objects.filter(evaluation=finished_run).first()
    client.force_login(portal_world.a.user("viewer"))
    for name, url in urls(finished_run, sample).items():
        response = client.get(url)
        assert response.status_code == 200, name
        assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, name
        assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-eval" not in CONTENT_SECURITY_POLICY


def test_results_page_query_count_is_capped_and_flat(
    client,
    portal_world,
    finished_run,
    sandbox_environment,
    django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
):
    client.force_login(portal_world.a.user("evaluator"))
    with django_assert_max_num_queries(RESULTS_QUERY_CAP):
        small = client.get(urls(finished_run)["results"])
    assert small.status_code == 200
    bigger = run_evaluation(portal_world, django_capture_on_commit_callbacks, problems="0-11", samples=3)
    with django_assert_max_num_queries(RESULTS_QUERY_CAP):
        response = client.get(urls(bigger)["results"] + "?passed=true&page=2")
    assert response.status_code == 200
    assert b"pass@2" in response.content


def test_compare_page_query_count_and_paired_test(client, portal_world, finished_run, django_assert_max_num_queries):
    client.force_login(portal_world.a.user("viewer"))
    with django_assert_max_num_queries(COMPARE_QUERY_CAP):
        response = client.get(urls(finished_run)["compare"])
    assert response.status_code == 200
    (comparison,) = response.context["comparisons"]
    assert comparison["other"].name == "reference-b"
    assert comparison["result"].problems == 5 and comparison["result"].difference == 0
    assert comparison["result"].p_value == 1.0


def test_viewer_sees_no_create_or_edit_actions(client, portal_world, finished_run):
    project = portal_world.a.project.pk
    client.force_login(portal_world.a.user("viewer"))
    for url in (reverse("frontend:project", args=[project]), reverse("frontend:models", args=[project])):
        page = client.get(url).content.decode()
        assert "New evaluation" not in page and "Add model" not in page and "Test connection" not in page
    assert client.get(reverse("frontend:evaluation-new", args=[project])).status_code == 403
    assert client.get(reverse("frontend:model-new", args=[project])).status_code == 403
    # Cancel and resume resolve the run with the evaluator's verb: a viewer gets the same 404 as a stranger.
    assert client.post(reverse("frontend:evaluation-resume", args=[finished_run.pk])).status_code == 404

    client.force_login(portal_world.a.user("evaluator"))
    assert "New evaluation" in client.get(reverse("frontend:project", args=[project])).content.decode()


def test_other_tenants_and_anonymous(client, portal_world, finished_run):
    sample = Sample.objects.filter(evaluation=finished_run).first()
    client.force_login(portal_world.b.user("owner"))
    for name, url in urls(finished_run, sample).items():
        assert client.get(url).status_code == 404, name
    assert client.post(reverse("frontend:evaluation-cancel", args=[finished_run.pk])).status_code == 404
    client.logout()
    response = client.get(urls(finished_run)["results"])
    assert response.status_code == 302 and response["Location"].startswith(reverse("frontend:login"))


def test_new_evaluation_shows_config_errors_inline_then_starts(client, portal_world, sandbox_environment):
    project = portal_world.a.project
    client.force_login(portal_world.a.user("evaluator"))
    url = reverse("frontend:evaluation-new", args=[project.pk])
    suite = client.get(url).context["form"].fields["suite"].choices[0][0]
    form = {
        "suite": suite,
        "problem_range": "9-3",
        "samples_per_problem": 0,
        "max_memory_mb": 512,
        "chunk_size": 20,
        "k": "1,x",
        "strategies": ["zero_shot"],
    }
    response = client.post(url, form)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "models" in errors and "problem_range" in errors and "samples_per_problem" in errors and "k" in errors
    assert not Evaluation.objects.exists()

    form.update(models=["reference"], problem_range="0-1", samples_per_problem=1, k="1")
    response = client.post(url, form)
    evaluation = Evaluation.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("frontend:evaluation", args=[evaluation.pk])
    assert evaluation.total_samples == 2 and evaluation.created_by == portal_world.a.user("evaluator")


def test_model_key_is_write_only(client, portal_world, settings):
    settings.MODEL_ALLOW_LOOPBACK_URLS = True
    project = portal_world.a.project
    client.force_login(portal_world.a.user("evaluator"))
    secret = "sk-portal-secret-42"
    response = client.post(
        reverse("frontend:model-new", args=[project.pk]),
        {
            "name": "gpt",
            "backend": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key": secret,
            "max_concurrency": 2,
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    endpoint = project.model_endpoints.get(name="gpt")
    assert endpoint.has_api_key
    for url in (
        reverse("frontend:models", args=[project.pk]),
        reverse("frontend:model-edit", args=[project.pk, endpoint.pk]),
    ):
        assert secret not in client.get(url).content.decode()


def test_model_output_is_escaped_on_the_sample_page(client, portal_world, finished_run):
    sample = Sample.objects.filter(evaluation=finished_run).first()
    hostile = '    return "</code><script>alert(1)</script>"\n'
    Sample.objects.filter(pk=sample.pk).update(
        completion=hostile, passed=False, status="error", error_message="<img src=x onerror=alert(2)>"
    )
    client.force_login(portal_world.a.user("viewer"))
    page = client.get(urls(finished_run, sample)["sample"]).content.decode()
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(2)&gt;" in page


def test_failing_neighbours_link_to_the_previous_and_next_failure(client, portal_world, finished_run):
    samples = list(Sample.objects.filter(evaluation=finished_run).order_by("pk"))
    first, middle, last = samples[1], samples[4], samples[8]
    Sample.objects.filter(pk__in=[first.pk, last.pk]).update(passed=False, status="failed")
    client.force_login(portal_world.a.user("viewer"))
    response = client.get(urls(finished_run, middle)["sample"])
    assert response.context["previous_failing"] == first.pk and response.context["next_failing"] == last.pk


def test_plotly_is_served_locally(client, portal_world):
    import plotly

    client.force_login(portal_world.a.user("viewer"))
    response = client.get(reverse("frontend:plotly-js", args=[plotly.__version__]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    assert client.get(reverse("frontend:plotly-js", args=["0.0.0"])).status_code == 404


def test_errors_page_groups_failures_with_examples(client, portal_world, finished_run, django_assert_max_num_queries):
    samples = list(Sample.objects.filter(evaluation=finished_run).order_by("pk"))
    Sample.objects.filter(pk__in=[s.pk for s in samples[:3]]).update(
        passed=False, status="error", error_category="semantic.type", error_type="TypeError", error_message="bad <b>"
    )
    Sample.objects.filter(pk=samples[3].pk).update(
        passed=False, status="timeout", error_category="performance.timeout", error_type="Timeout"
    )
    client.force_login(portal_world.a.user("viewer"))
    with django_assert_max_num_queries(COMPARE_QUERY_CAP):
        response = client.get(urls(finished_run)["errors"])
    rows = {(r["model"], r["error_category"]): r for r in response.context["table"]}
    assert rows[("reference", "semantic.type")]["n"] == 3
    assert [e["pk"] for e in rows[("reference", "semantic.type")]["examples"]] == [samples[0].pk, samples[2].pk]
    assert rows[("reference", "performance.timeout")]["n"] == 1
    sunburst = response.context["figure"]["data"][0]
    assert "semantic" in sunburst["labels"] and "type error" in sunburst["labels"]

    model = samples[0].model_id
    listing = client.get(urls(finished_run)["errors"], {"model": model, "category": "semantic.type"}).context["listing"]
    assert [s.pk for s in listing.object_list] == [s.pk for s in samples[:3]]
    assert listing.object_list[0].error_excerpt == "bad <b>"


def test_cancel_and_resume_from_the_portal(client, portal_world, django_capture_on_commit_callbacks):
    from evaluations.runs.services import evaluation_create

    evaluator = portal_world.a.user("evaluator")
    config = {"models": ["reference"], "problems": {"suite": "humaneval", "range": "0-1"}}
    with django_capture_on_commit_callbacks(execute=False):
        evaluation = evaluation_create(actor=evaluator, project=portal_world.a.project, config=config)
    client.force_login(evaluator)
    page = client.get(urls(evaluation)["results"]).content.decode()
    assert "Cancel" in page and "Resume" not in page

    response = client.post(reverse("frontend:evaluation-cancel", args=[evaluation.pk]), follow=True)
    evaluation.refresh_from_db()
    assert evaluation.status == "cancelled"
    assert "Evaluation cancelled" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("frontend:evaluation-resume", args=[evaluation.pk]))
    evaluation.refresh_from_db()
    assert evaluation.status == "pending"
    # Cancelling twice is a conflict: shown as a message, not an error page.
    client.post(reverse("frontend:evaluation-cancel", args=[evaluation.pk]))
    response = client.post(reverse("frontend:evaluation-cancel", args=[evaluation.pk]), follow=True)
    assert response.status_code == 200 and "only pending or running ones can be cancelled" in response.content.decode()


def test_dashboard_figures_come_from_the_database(client, portal_world, finished_run, django_assert_max_num_queries):
    client.force_login(portal_world.a.user("viewer"))
    with django_assert_max_num_queries(COMPARE_QUERY_CAP):
        response = client.get(urls(finished_run)["dashboard"])
    metrics = response.context["metrics"]
    assert metrics["evaluations"] == 1 and metrics["models_tested"] == 2
    assert metrics["best"]["pass_at_1"] == 1.0 and metrics["best"]["evaluation"] == finished_run.pk
    trend = response.context["trend_figure"]["data"]
    assert {line["name"] for line in trend} == {"reference", "reference-b"}
    models = {e.name: e for e in client.get(urls(finished_run)["models"]).context["endpoints"]}
    assert models["reference"].last_pass_at_1 == 1.0 and models["reference"].last_evaluation_id == finished_run.pk


def test_malformed_filters_are_ignored(client, portal_world, finished_run):
    client.force_login(portal_world.a.user("viewer"))
    response = client.get(urls(finished_run)["results"], {"model": "x'", "problem": "1 OR 1", "category": "nope"})
    assert response.status_code == 200 and response.context["page"].paginator.count == 20
    assert client.get(urls(finished_run)["errors"], {"model": "abc"}).status_code == 200


def test_compare_across_runs_of_the_same_suite(
    client, portal_world, finished_run, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    later = run_evaluation(portal_world, django_capture_on_commit_callbacks, models=("reference",), problems="2-6")
    client.force_login(portal_world.a.user("viewer"))
    url = urls(finished_run)["compare"]
    assert [r.pk for r in client.get(url).context["candidates"]] == [later.pk]
    with django_assert_max_num_queries(COMPARE_QUERY_CAP + 4):
        response = client.get(url, {"with": later.pk})
    labels = [m.label for m in response.context["models"]]
    assert labels == [
        f"reference (run {finished_run.pk})",
        f"reference-b (run {finished_run.pk})",
        f"reference (run {later.pk})",
    ]
    across = response.context["comparisons"][-1]["result"]
    assert across.problems == 3  # HumanEval/2-4: the problems both runs have
    assert f"with={later.pk}" in response.context["chosen_query"]

    # Naming another tenant's run is the same 404 as naming a missing one.
    from evaluations.runs.services import evaluation_create
    from models_registry.services import model_endpoint_create

    stranger = portal_world.b.user("evaluator")
    model_endpoint_create(actor=stranger, project=portal_world.b.project, name="reference", backend="reference")
    with django_capture_on_commit_callbacks(execute=False):
        theirs = evaluation_create(
            actor=stranger,
            project=portal_world.b.project,
            config={"models": ["reference"], "problems": {"suite": "humaneval", "range": "0-4"}},
        )
    assert client.get(url, {"with": theirs.pk}).status_code == 404
    assert client.get(url, {"with": 999_999}).status_code == 404
