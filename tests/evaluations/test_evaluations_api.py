"""The /api/v1/evaluations endpoints: start a run (JSON or YAML), follow it, read and export its results, cancel,
resume and delete it; roles, tenant isolation, and model keys that never come back.

Jobs run for real: synchronously in this process (``CODEQUAL_INLINE_JOBS=sync``) or, with REDIS_URL set, on RQ with a
burst worker; on the built-in HumanEval suite with the ``reference`` backend.
"""

import csv
import io
import json
from contextlib import contextmanager

import pytest

from accounts.models import AuditLog
from evaluations import jobs as evaluation_jobs
from evaluations.models import Evaluation, EvaluationChunk, Sample
from evaluations.services import builtin_humaneval_install
from models_registry.services import model_endpoint_create

URL = "/api/v1/evaluations"
SECRET = "sk-test-secret-123"

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_world(world, settings, sandbox_environment):
    """Tenant world plus HumanEval, a ``reference`` endpoint and an OpenAI endpoint holding a key, in project A."""
    settings.CODEQUAL_INLINE_JOBS = "sync"
    settings.MODEL_ALLOW_LOOPBACK_URLS = True
    builtin_humaneval_install()
    evaluator = world.a.user("evaluator")
    model_endpoint_create(actor=evaluator, project=world.a.project, name="reference", backend="reference")
    model_endpoint_create(
        actor=evaluator,
        project=world.a.project,
        name="gpt-keyed",
        backend="openai",
        base_url="http://127.0.0.1:9/v1",
        api_key=SECRET,
    )
    return world


@pytest.fixture
def run_jobs(settings, django_capture_on_commit_callbacks, monkeypatch):
    """Requests inside ``with run_jobs():`` have their jobs run before the block ends.

    With REDIS_URL they go to RQ and a real burst SimpleWorker (sharing this test's connection) runs them; without,
    they run synchronously in this process, as CODEQUAL_INLINE_JOBS=sync does.
    """
    # The inline runner closes stale connections after each job; inside a test's transaction that would drop it
    # (PostgreSQL; SQLite's in-memory test database ignores the close).
    monkeypatch.setattr("codequal.jobs.close_old_connections", lambda: None)
    queue = None
    if settings.REDIS_URL:
        import django_rq

        queue = django_rq.get_queue("default")
        queue.empty()

    def drain():
        from rq import SimpleWorker

        worker = SimpleWorker([queue], connection=queue.connection)
        while queue.count:
            with django_capture_on_commit_callbacks(execute=True):
                worker.work(burst=True)

    @contextmanager
    def running(execute: bool = True):
        with django_capture_on_commit_callbacks(execute=execute) as callbacks:
            yield callbacks
        if execute and queue is not None:
            drain()

    return running


def body(world, *, models=("reference",), problems="0-4", **config):
    return {
        "project": world.a.project.pk,
        "name": "smoke",
        "models": list(models),
        "problems": {"suite": "humaneval", "range": problems},
        "config": {"metrics": {"k": [1]}, **config},
    }


def start(api, world, run_jobs, user=None, **kwargs):
    api.force_authenticate(user or world.a.user("evaluator"))
    with run_jobs():
        response = api.post(URL, body(world, **kwargs), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_create_runs_to_completion_with_pass_at_1_of_one(api, run_world, run_jobs):
    created = start(api, run_world, run_jobs)

    assert set(created) >= {"evaluation_id", "status", "estimated_completion", "progress_url", "progress_channel"}
    eid = created["evaluation_id"]
    assert created["progress_channel"] == f"evaluation:{eid}" and created["progress_url"].startswith("/ws/")
    detail = api.get(f"{URL}/{eid}").json()
    assert detail["status"] == "completed" and detail["progress"] == 1.0
    assert (detail["total_samples"], detail["completed_samples"], detail["passed_samples"]) == (5, 5, 5)
    assert detail["models"] == ["reference"] and detail["models_completed"] == 1
    assert detail["suite"]["name"] == "humaneval" and detail["created_by"] == "a-evaluator"
    assert detail["started_at"] and detail["finished_at"] and detail["estimated_completion"] is None
    assert detail["config"]["problems"]["indices"] == [0, 1, 2, 3, 4] and detail["config"]["k"] == [1]
    assert not any(key.startswith("_") for key in detail["config"])
    assert detail["environment"]["suite"]["name"] == "humaneval"

    results = api.get(f"{URL}/{eid}/results").json()
    summary = results["summary"]
    assert (summary["total_problems"], summary["total_evaluations"], summary["overall_pass_rate"]) == (5, 5, 1.0)
    assert summary["average_execution_time"] > 0
    assert results["by_model"]["reference"]["pass_at_k"] == {"pass@1": 1.0}
    assert results["detailed_results"]["count"] == 5
    assert [r["task_id"] for r in results["detailed_results"]["results"]] == [f"HumanEval/{i}" for i in range(5)]
    audit = AuditLog.objects.filter(action="evaluation_created", project=run_world.a.project).get()
    assert audit.actor == run_world.a.user("evaluator")


def test_yaml_body_is_the_cli_config_file(api, run_world, run_jobs):
    document = (
        f"project: {run_world.a.project.pk}\n"
        "models: [reference]\n"
        "problems: {suite: humaneval, range: 0-1}\n"
        "evaluation:\n  samples_per_problem: 1\n"
        "metrics:\n  k: [1]\n"
    )
    api.force_authenticate(run_world.a.user("evaluator"))
    with run_jobs():
        response = api.post(URL, document, content_type="application/yaml")
    assert response.status_code == 201, response.json()
    assert Evaluation.objects.get(pk=response.json()["evaluation_id"]).status == "completed"

    bombs = {
        "text/yaml": "project: [1\n",  # not YAML
        "application/yaml": "a: &a [x, x]\nb: [*a, *a]\n",  # aliases refused
    }
    for content_type, text in bombs.items():
        refused = api.post(URL, text, content_type=content_type)
        assert refused.status_code == 400 and "YAML" in refused.json()["message"], refused.json()
    huge = "models: [" + "x, " * 400_000 + "x]\n"
    assert api.post(URL, huge, content_type="application/yaml").status_code == 400


def test_validation_errors_name_the_field(api, run_world, run_jobs):
    api.force_authenticate(run_world.a.user("evaluator"))
    missing = api.post(URL, {"project": run_world.a.project.pk, "problems": "humaneval"}, format="json")
    assert missing.status_code == 400 and "models" in missing.json()["extra"]["fields"]

    bad = body(run_world, evaluation={"samples_per_problem": 0, "timeout_mode": "sometimes"})
    response = api.post(URL, bad, format="json")
    assert response.status_code == 400
    data = response.json()
    assert data["message"].startswith("Invalid evaluation config")
    assert set(data["extra"]["fields"]) >= {"evaluation.samples_per_problem", "evaluation.timeout_mode"}

    beyond = api.post(URL, body(run_world, problems="160-170"), format="json").json()
    assert "problems.range" in beyond["extra"]["fields"]
    unknown = api.post(URL, {**body(run_world), "config": {"colour": {}}}, format="json").json()
    assert "config" in unknown["extra"]["fields"]
    missing_model = api.post(URL, body(run_world, models=("nope",)), format="json")
    assert missing_model.status_code == 404 and "nope" in missing_model.json()["message"]
    assert not Evaluation.objects.exists()


def test_tenancy_anonymous_roles_and_other_tenants(api, run_world, run_jobs):
    world = run_world
    eid = start(api, world, run_jobs, problems="0")["evaluation_id"]
    api.force_authenticate(None)
    assert api.get(URL).status_code == 401
    assert api.get(f"{URL}/{eid}").status_code == 401
    assert api.post(URL, body(world), format="json").status_code == 401

    # Viewers read, but neither start, cancel, resume nor delete.
    viewer = world.a.user("viewer")
    api.force_authenticate(viewer)
    assert [e["id"] for e in api.get(URL).json()["results"]] == [eid]
    assert api.get(f"{URL}/{eid}/results").status_code == 200
    assert api.get(f"{URL}/{eid}/export", {"format": "csv"}).status_code == 200
    assert api.post(URL, body(world), format="json").status_code == 403
    for verb in ("cancel", "resume"):
        assert api.post(f"{URL}/{eid}/{verb}").status_code == 403
    assert api.delete(f"{URL}/{eid}").status_code == 403

    # Another tenant's evaluation does not exist, whatever the route; its project is not a choice.
    for user in (world.b.user("owner"), world.outsider):
        api.force_authenticate(user)
        assert api.get(URL).json()["count"] == 0
        assert api.get(URL, {"project": world.a.project.pk}).json()["count"] == 0
        for suffix in ("", "/results", "/export"):
            response = api.get(f"{URL}/{eid}{suffix}")
            assert response.status_code == 404 and response.json()["message"] == "Not found."
        for verb in ("cancel", "resume"):
            assert api.post(f"{URL}/{eid}/{verb}").status_code == 404
        assert api.delete(f"{URL}/{eid}").status_code == 404
    api.force_authenticate(world.b.user("owner"))
    sneaky = api.post(URL, body(world), format="json")
    assert sneaky.status_code == 400 and "does not exist" in str(sneaky.json()["extra"]["fields"]["project"])
    assert Evaluation.objects.count() == 1


def test_list_filters_and_keeps_query_count_flat(api, run_world, run_jobs, django_assert_max_num_queries):
    api.force_authenticate(run_world.a.user("evaluator"))
    for _ in range(3):
        with run_jobs(execute=False):  # created, never run: cheap rows for the list
            assert api.post(URL, body(run_world, models=("reference", "gpt-keyed")), format="json").status_code == 201
    newest = Evaluation.objects.order_by("-pk").first()
    Evaluation.objects.filter(pk=newest.pk).update(status="cancelled")

    with django_assert_max_num_queries(6):
        page = api.get(URL).json()
    assert page["count"] == 3 and page["results"][0]["id"] == newest.pk  # newest first
    assert page["results"][1]["models"] == ["reference", "gpt-keyed"] and page["results"][1]["models_completed"] == 0
    assert [e["id"] for e in api.get(URL, {"status": "cancelled"}).json()["results"]] == [newest.pk]
    assert api.get(URL, {"status": "pending", "project": run_world.a.project.pk}).json()["count"] == 2
    assert api.get(URL, {"status": "sleeping"}).status_code == 400


def test_results_paginate_and_filter(api, run_world, run_jobs):
    eid = start(api, run_world, run_jobs, problems="0-5")["evaluation_id"]
    Sample.objects.filter(evaluation_id=eid, problem__task_id="HumanEval/3").update(
        passed=False, status="error", error_category="semantic.type", error_type="TypeError"
    )
    results = f"{URL}/{eid}/results"

    first = api.get(results, {"page_size": 4}).json()["detailed_results"]
    assert first["count"] == 6 and len(first["results"]) == 4 and first["next"] and first["previous"] is None
    second = api.get(results, {"page_size": 4, "page": 2}).json()["detailed_results"]
    assert [r["task_id"] for r in second["results"]] == ["HumanEval/4", "HumanEval/5"]

    def tasks(**query):
        return [r["task_id"] for r in api.get(results, query).json()["detailed_results"]["results"]]

    assert tasks(passed="false") == ["HumanEval/3"]
    assert tasks(status="error", error_category="semantic.type") == ["HumanEval/3"]
    assert len(tasks(passed="true", model="reference")) == 5
    assert tasks(model="someone-else") == []
    assert tasks(task_id="HumanEval/5") == ["HumanEval/5"]
    assert api.get(results, {"status": "confused"}).status_code == 400
    row = api.get(results, {"task_id": "HumanEval/0"}).json()["detailed_results"]["results"][0]
    assert row["model"] == "reference" and row["passed"] is True and row["completion"]


def test_the_three_exports_parse(api, run_world, run_jobs):
    eid = start(api, run_world, run_jobs, problems="0-2")["evaluation_id"]
    export = f"{URL}/{eid}/export"

    as_json = api.get(export, {"format": "json"})
    assert as_json["Content-Disposition"] == f'attachment; filename="evaluation-{eid}_results.json"'
    document = json.loads(as_json.content)
    assert set(document) >= {"summary", "by_model", "config", "reproducibility", "detailed_results"}
    assert document["summary"]["overall_pass_rate"] == 1.0 and len(document["detailed_results"]) == 3
    assert json.loads(api.get(export).content)["summary"]["evaluation_id"] == eid  # json is the default

    as_csv = api.get(export, {"format": "csv"})
    assert as_csv["Content-Type"].startswith("text/csv")
    assert as_csv["Content-Disposition"] == f'attachment; filename="evaluation-{eid}_results.csv"'
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode())))
    assert [(r["task_id"], r["passed"]) for r in rows] == [(f"HumanEval/{i}", "True") for i in range(3)]

    as_jsonl = api.get(export, {"format": "jsonl"})
    assert as_jsonl["Content-Disposition"] == f'attachment; filename="evaluation-{eid}_results.jsonl"'
    records = [json.loads(line) for line in as_jsonl.content.decode().splitlines()]
    assert len(records) == 3
    for record in records:
        assert set(record) >= {"task_id", "completion", "result", "passed"}
        assert record["result"] == "passed" and record["passed"] is True

    wrong = api.get(export, {"format": "xlsx"})
    assert wrong.status_code == 400 and "format" in wrong.json()["extra"]["fields"]


def test_cancel_of_a_finished_run_is_a_conflict(api, run_world, run_jobs):
    eid = start(api, run_world, run_jobs, problems="0")["evaluation_id"]
    response = api.post(f"{URL}/{eid}/cancel")
    assert response.status_code == 409
    assert response.json()["message"] == "The evaluation is completed; only pending or running ones can be cancelled."
    assert api.post(f"{URL}/{eid}/resume").status_code == 409


def test_resume_of_a_cancelled_run_completes_it_without_duplicates(api, run_world, run_jobs):
    api.force_authenticate(run_world.a.user("evaluator"))
    with run_jobs(execute=False):
        response = api.post(URL, body(run_world, evaluation={"chunk_size": 2}), format="json")
    eid = response.json()["evaluation_id"]
    chunks = list(EvaluationChunk.objects.filter(evaluation_id=eid).order_by("ordinal").values_list("pk", flat=True))
    assert len(chunks) == 3
    # The jobs by hand: the run starts, its first chunk is written, and the worker dies before the other two.
    with run_jobs(execute=False):
        evaluation_jobs.evaluation_start(eid)
        evaluation_jobs.evaluation_chunk_run(chunks[0])
    kept = set(Sample.objects.filter(evaluation_id=eid).values_list("pk", flat=True))
    assert len(kept) == 2

    cancelled = api.post(f"{URL}/{eid}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.post(f"{URL}/{eid}/cancel").status_code == 409
    partial = api.get(f"{URL}/{eid}/results").json()
    assert partial["summary"]["total_evaluations"] == 2 and partial["summary"]["expected_evaluations"] == 5

    with run_jobs():
        resumed = api.post(f"{URL}/{eid}/resume")
    assert resumed.status_code == 200, resumed.json()
    detail = api.get(f"{URL}/{eid}").json()
    assert detail["status"] == "completed" and detail["completed_samples"] == 5 and detail["models_completed"] == 1
    samples = Sample.objects.filter(evaluation_id=eid)
    assert samples.count() == 5 and kept <= set(samples.values_list("pk", flat=True))
    assert len(set(samples.values_list("problem_id", "index"))) == 5
    actions = list(
        AuditLog.objects.filter(target_type="evaluations.evaluation", target_id=str(eid))
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["evaluation_created", "evaluation_cancelled", "evaluation_resumed"]


def test_delete_only_finished_runs(api, run_world, run_jobs):
    api.force_authenticate(run_world.a.user("evaluator"))
    with run_jobs(execute=False):
        pending = api.post(URL, body(run_world, problems="0"), format="json").json()["evaluation_id"]
    response = api.delete(f"{URL}/{pending}")
    assert response.status_code == 409 and "cancel it" in response.json()["message"]

    done = start(api, run_world, run_jobs, problems="0")["evaluation_id"]
    assert api.delete(f"{URL}/{done}").status_code == 204
    assert not Evaluation.objects.filter(pk=done).exists() and not Sample.objects.filter(evaluation_id=done).exists()
    entry = AuditLog.objects.get(action="evaluation_deleted")
    assert entry.target_id == str(done) and entry.actor == run_world.a.user("evaluator")


def test_model_keys_never_appear_in_a_response(api, run_world, run_jobs):
    world = run_world
    api.force_authenticate(world.a.user("evaluator"))
    responses = []
    with run_jobs(execute=False):  # both models, never run: the keyed one would call a server
        responses.append(api.post(URL, body(world, models=("reference", "gpt-keyed")), format="json"))
    keyed = responses[0].json()["evaluation_id"]
    done = start(api, world, run_jobs, problems="0-1")["evaluation_id"]
    yaml_body = f"project: {world.a.project.pk}\nmodels: [gpt-keyed]\nproblems: {{suite: humaneval, range: '999'}}\n"
    responses.append(api.post(URL, yaml_body, content_type="application/yaml"))
    for eid in (keyed, done):
        responses += [
            api.get(URL),
            api.get(f"{URL}/{eid}"),
            api.get(f"{URL}/{eid}/results"),
            *(api.get(f"{URL}/{eid}/export", {"format": fmt}) for fmt in ("json", "csv", "jsonl")),
        ]
    responses += [
        api.post(f"{URL}/{keyed}/cancel"),
        api.post(f"{URL}/{keyed}/resume"),
        api.post(f"{URL}/{done}/cancel"),
    ]

    snapshot = api.get(f"{URL}/{keyed}").json()["environment"]["models"]
    assert [m["backend"] for m in snapshot] == ["reference", "openai"]  # the keyed endpoint is in there...
    for response in responses:
        assert response.status_code < 500, response.content[:300]
        assert SECRET.encode() not in response.content, response.content[:300]  # ...but never its key
