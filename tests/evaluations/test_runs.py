"""Evaluation runs end to end through the services and jobs: real sandbox, real backends against local servers.

Jobs run in-process and synchronously (CODEQUAL_INLINE_JOBS=sync, and in-process even when REDIS_URL is set), so
each evaluation has finished when ``evaluation_create`` returns.
"""

import asyncio
import json
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from accounts.choices import ProjectRole
from codequal.exceptions import ApplicationError, ConflictError
from codequal.jobs import in_process
from codequal.realtime import group_name, user_may_follow
from evaluations.models import Evaluation, GenerationCacheEntry, Sample
from evaluations.runs.config import ConfigError, parse_config
from evaluations.runs.services import evaluation_cancel, evaluation_create, evaluation_resume
from models_registry.services import model_endpoint_create
from tests.evaluations.suite_helpers import custom_suite_in
from tests.models_registry.servers import FakeOllama

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _inline(settings, sandbox_environment):
    settings.CODEQUAL_INLINE_JOBS = "sync"
    settings.MODEL_ALLOW_LOOPBACK_URLS = True
    settings.MODEL_MAX_RETRIES = 1
    settings.MODEL_RETRY_BACKOFF = 0.01
    settings.MODEL_RETRY_BACKOFF_MAX = 0.02
    with in_process():
        yield


@pytest.fixture
def ollama():
    server = FakeOllama()
    yield server
    server.close()


@pytest.fixture
def tenant(world):
    return world.a


@pytest.fixture
def evaluator(tenant):
    return tenant.user(ProjectRole.EVALUATOR)


@pytest.fixture
def humaneval_installed(db):
    from evaluations.services import builtin_humaneval_install

    return builtin_humaneval_install().suite


def run(actor, project, **config):
    config.setdefault("problems", {"suite": "demo"})
    return evaluation_create(actor=actor, project=project, config=config)


def test_reference_run_completes_and_every_canonical_solution_passes(tenant, evaluator, humaneval_installed):
    model_endpoint_create(actor=evaluator, project=tenant.project, name="reference", backend="reference")
    evaluation = run(
        evaluator,
        tenant.project,
        models=["reference"],
        problems={"suite": "humaneval", "range": "0-4"},
        evaluation={"samples_per_problem": 2},
        metrics={"k": [1, 2]},
    )
    evaluation.refresh_from_db()
    assert evaluation.status == "completed", evaluation.error_message
    assert (evaluation.total_samples, evaluation.completed_samples, evaluation.passed_samples) == (10, 10, 10)
    block = evaluation.summary["by_model"]["reference"]
    assert block["pass_at_k"] == {"pass@1": 1.0, "pass@2": 1.0}
    assert block["confidence_intervals"]["pass@1"] == [1.0, 1.0]
    assert block["quality"]["cyclomatic_complexity"]["count"] == 10
    quality = block["quality"]
    assert quality["maintainability_index"]["p25"] <= quality["maintainability_index"]["p75"]
    assert sum(quality["complexity_ranks"].values()) == sum(quality["maintainability_ranks"].values()) == 10
    assert evaluation.environment["suite"] == {
        "name": "humaneval",
        "version": humaneval_installed.version,
        "sha256": humaneval_installed.content_sha256,
    }
    assert evaluation.environment["sandbox"]["backend"]
    assert "numpy" in evaluation.environment["packages"]


def test_completion_model_verdicts_categories_and_the_cache(tenant, evaluator, ollama):
    custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR))
    model_endpoint_create(
        actor=evaluator, project=tenant.project, name="codellama:7b", backend="ollama", base_url=ollama.url
    )
    first = run(evaluator, tenant.project, models=["codellama:7b"], evaluation={"samples_per_problem": 3})
    first.refresh_from_db()
    assert first.status == "completed", first.error_message
    rows = {(s.problem.task_id, s.index): s for s in Sample.objects.filter(evaluation=first).select_related("problem")}
    assert len(rows) == 6
    # The fake model answers "    return a + b  # s<i>": right for add(a, b), a NameError inside neg(a).
    assert all(rows[("demo/add", i)].passed for i in range(3))
    neg = rows[("demo/neg", 0)]
    assert (neg.passed, neg.status, neg.error_category, neg.error_type) == (
        False,
        "error",
        "semantic.name",
        "NameError",
    )
    assert neg.completion.startswith("    return a + b") and neg.raw_output.startswith("    return a + b")
    generate_calls = [r for r in ollama.requests if r["path"] == "/api/generate"]
    assert len(generate_calls) == 6
    assert all(call["body"]["options"]["stop"] for call in generate_calls)  # the HumanEval stop sequences
    # The same evaluation again: every sample comes from the cache, the model is not called.
    second = run(evaluator, tenant.project, models=["codellama:7b"], evaluation={"samples_per_problem": 3})
    second.refresh_from_db()
    assert second.status == "completed"
    assert len([r for r in ollama.requests if r["path"] == "/api/generate"]) == 6
    assert set(Sample.objects.filter(evaluation=second).values_list("from_cache", flat=True)) == {True}
    assert GenerationCacheEntry.objects.filter(project=tenant.project).count() == 6


def test_chat_output_without_code_is_an_extraction_failure_not_a_model_error(tenant, evaluator, ollama):
    custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR))
    model_endpoint_create(
        actor=evaluator,
        project=tenant.project,
        name="chatty",
        backend="ollama",
        model="codellama:7b",
        api_style="chat",
        base_url=ollama.url,
    )
    answer = {
        "model": "codellama:7b",
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": "I am sorry, I cannot write that function."},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 10,
        "eval_count": 9,
    }
    ollama.script(("status", 200, {}, answer), ("status", 200, {}, answer))
    evaluation = run(evaluator, tenant.project, models=["chatty"])
    evaluation.refresh_from_db()
    assert evaluation.status == "completed", evaluation.error_message
    samples = list(Sample.objects.filter(evaluation=evaluation))
    assert {(s.status, s.error_category) for s in samples} == {("extraction_failed", "extraction_failed")}
    assert all(s.raw_output == answer["message"]["content"] and s.extraction_error for s in samples)
    chat = [r for r in ollama.requests if r["path"] == "/api/chat"]
    assert "```python" in chat[0]["body"]["messages"][-1]["content"]  # the instruct wrapper


def test_failed_generation_fails_the_run_clearly_and_resume_completes_only_the_missing(tenant, evaluator, ollama):
    custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR))
    model_endpoint_create(
        actor=evaluator, project=tenant.project, name="codellama:7b", backend="ollama", base_url=ollama.url
    )
    # demo/add is generated first; then demo/neg meets a server error on every attempt (1 try + 1 retry).
    ollama.script(("ok",), ("status", 500), ("status", 500))
    evaluation = run(
        evaluator, tenant.project, models=["codellama:7b"], evaluation={"retry_attempts": 0, "max_concurrent": 1}
    )
    evaluation.refresh_from_db()
    assert evaluation.status == "failed"
    assert "1 of 2 samples are missing" in evaluation.error_message and "resume" in evaluation.error_message
    assert Sample.objects.filter(evaluation=evaluation).count() == 1
    evaluation = evaluation_resume(actor=evaluator, evaluation=evaluation)
    evaluation.refresh_from_db()
    assert evaluation.status == "completed", evaluation.error_message
    assert Sample.objects.filter(evaluation=evaluation).count() == evaluation.completed_samples == 2
    assert len([r for r in ollama.requests if r["path"] == "/api/generate"]) == 4  # 1 ok, 2 failed, 1 on resume


def test_cancel_before_start_then_resume(tenant, evaluator, humaneval_installed):
    model_endpoint_create(actor=evaluator, project=tenant.project, name="reference", backend="reference")
    with transaction.atomic():  # the job starts on commit: cancel first
        evaluation = run(
            evaluator, tenant.project, models=["reference"], problems={"suite": "humaneval", "range": "0-2"}
        )
        evaluation_cancel(actor=evaluator, evaluation=evaluation)
    evaluation.refresh_from_db()
    assert evaluation.status == "cancelled" and evaluation.completed_samples == 0
    with pytest.raises(ConflictError):
        evaluation_cancel(actor=evaluator, evaluation=evaluation)
    evaluation = evaluation_resume(actor=evaluator, evaluation=evaluation)
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.completed_samples, evaluation.passed_samples) == ("completed", 3, 3)
    with pytest.raises(ConflictError):
        evaluation_resume(actor=evaluator, evaluation=evaluation)


def _samples_file(settings, tmp_path, rows) -> str:
    settings.SAMPLES_DIR = tmp_path / "samples"
    settings.SAMPLES_DIR.mkdir()
    path = settings.SAMPLES_DIR / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_reexecution_counts_verdicts_that_flip_and_keeps_the_first(tenant, evaluator, settings, tmp_path):
    custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR))
    slow = "    import time\n    time.sleep(0.6)\n    return a + b\n"
    path = _samples_file(settings, tmp_path, [{"task_id": "demo/add", "completion": slow}])
    model_endpoint_create(actor=evaluator, project=tenant.project, name="slow", backend="samples", base_url=path)
    evaluation = run(
        evaluator,
        tenant.project,
        models=["slow"],
        problems={"suite": "demo", "task_ids": ["demo/add"]},
        evaluation={"timeout_seconds": 0.3, "reexecute_failures": 2, "reexecute_timeout_multiplier": 5},
    )
    sample = Sample.objects.get(evaluation=evaluation)
    assert (sample.status, sample.error_category) == ("timeout", "performance.timeout")
    assert (sample.reexecutions, sample.flips) == (2, 2)  # with 1.5 s it passes: a machine-speed verdict
    evaluation.refresh_from_db()
    assert evaluation.summary["by_model"]["slow"]["flaky_samples"] == 1


def test_samples_file_per_task_counts_and_unattempted_problems(tenant, evaluator, settings, tmp_path):
    custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR))
    rows = [{"task_id": "demo/add", "completion": "    return a + b\n"}] * 3
    rows.append({"task_id": "demo/add", "completion": "    return a - b\n"})
    path = _samples_file(settings, tmp_path, rows)
    model_endpoint_create(actor=evaluator, project=tenant.project, name="file", backend="samples", base_url=path)
    evaluation = run(evaluator, tenant.project, models=["file"], evaluation={"samples_from_file": True})
    evaluation.refresh_from_db()
    assert evaluation.status == "completed", evaluation.error_message
    block = evaluation.summary["by_model"]["file"]
    assert (block["samples"], block["passed"], block["unattempted_problems"]) == (4, 3, 1)
    assert block["pass_at_k"]["pass@1"] == 0.75


def test_samples_file_for_another_suite_is_refused(tenant, evaluator, settings, tmp_path):
    custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR))
    path = _samples_file(settings, tmp_path, [{"task_id": "HumanEval/0", "completion": "    pass\n"}])
    model_endpoint_create(actor=evaluator, project=tenant.project, name="file", backend="samples", base_url=path)
    with pytest.raises(ApplicationError, match="HumanEval/0"):
        run(evaluator, tenant.project, models=["file"])
    assert not Evaluation.objects.exists()


def test_relative_timeouts_are_calibrated_on_the_canonical_solutions(tenant, evaluator, humaneval_installed):
    model_endpoint_create(actor=evaluator, project=tenant.project, name="reference", backend="reference")
    evaluation = run(
        evaluator,
        tenant.project,
        models=["reference"],
        problems={"suite": "humaneval", "range": "0-2"},
        evaluation={"timeout_mode": "relative", "timeout_factor": 4, "min_timeout_seconds": 0.5},
    )
    evaluation.refresh_from_db()
    assert evaluation.status == "completed"
    timeouts = evaluation.environment["timeouts"]
    assert set(timeouts) == {str(pk) for pk in evaluation.problem_ids}
    assert all(0.5 <= t < 3.0 for t in timeouts.values())
    assert evaluation.environment["timeout_calibration"]["measured"] == 3


def test_roles_and_validation(world, tenant, evaluator, humaneval_installed):
    model_endpoint_create(actor=evaluator, project=tenant.project, name="reference", backend="reference")
    viewer = tenant.user(ProjectRole.VIEWER)
    with pytest.raises(ApplicationError) as refused:
        run(viewer, tenant.project, models=["reference"], problems={"suite": "humaneval"})
    assert refused.value.status_code == 403
    with pytest.raises(ApplicationError, match="No model endpoint"):
        run(evaluator, tenant.project, models=["nope"], problems={"suite": "humaneval"})
    with pytest.raises(ApplicationError) as bad:
        run(evaluator, tenant.project, models=["reference"], problems={"suite": "humaneval", "range": "160-170"})
    assert "problems.range" in bad.value.extra["fields"]
    # A project's custom suite is invisible from another tenant's project.
    custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR))
    other = world.b.user(ProjectRole.EVALUATOR)
    model_endpoint_create(actor=other, project=world.b.project, name="reference", backend="reference")
    with pytest.raises(ApplicationError, match="No suite 'demo'"):
        run(other, world.b.project, models=["reference"], problems={"suite": "demo"})
    with pytest.raises(ApplicationError) as foreign:
        run(evaluator, world.b.project, models=["reference"], problems={"suite": "humaneval"})
    assert foreign.value.status_code == 403
    assert not Evaluation.objects.exists()


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"problems": {"suite": "x"}}, "models"),
        ({"models": ["m"]}, "problems"),
        ({"models": ["m"], "problems": {"suite": "x", "range": "5-2"}}, "problems.range"),
        (
            {"models": ["m"], "problems": {"suite": "x"}, "evaluation": {"samples_per_problem": 0}},
            "evaluation.samples_per_problem",
        ),
        (
            {"models": ["m"], "problems": {"suite": "x"}, "evaluation": {"timeout_mode": "fixed"}},
            "evaluation.timeout_seconds",
        ),
        ({"models": ["m"], "problems": {"suite": "x"}, "generation": {"temperature": 5}}, "generation.temperature"),
        (
            {"models": ["m"], "problems": {"suite": "x"}, "prompting": {"strategies": ["telepathy"]}},
            "prompting.telepathy",
        ),
        ({"models": ["m"], "problems": {"suite": "x"}, "metrics": {"k": [0]}}, "metrics.k"),
        ({"models": ["m"], "problems": {"suite": "x"}, "surprise": 1}, "surprise"),
        ({"models": ["m", "m"], "problems": {"suite": "x"}}, "models"),
    ],
)
def test_config_errors_name_the_field(config, field):
    with pytest.raises(ConfigError) as error:
        parse_config(config)
    assert field in error.value.errors


def test_config_round_trips_through_storage():
    from evaluations.runs.config import RunConfig

    parsed = parse_config(
        {
            "models": ["a", "b"],
            "problems": {"suite": "humaneval", "range": "0-3,7", "filter": {"difficulty": ["easy"]}},
            "evaluation": {"samples_per_problem": 5, "timeout_seconds": 30, "max_memory_mb": 256},
            "metrics": {"enable": ["quality_metrics"], "k": [10, 1]},
            "output": {"format": "json", "include_raw": False},
        }
    )
    assert parsed.problems.indices == (0, 1, 2, 3, 7)
    assert parsed.k == (1, 10) and parsed.timeout_mode == "fixed"
    assert RunConfig.from_stored(json.loads(json.dumps(parsed.as_dict()))) == parsed


def test_progress_result_and_complete_events_reach_the_evaluation_channel(
    tenant, evaluator, world, humaneval_installed
):
    model_endpoint_create(actor=evaluator, project=tenant.project, name="reference", backend="reference")
    layer = get_channel_layer()

    def create_subscribed(listener):
        with transaction.atomic():  # the run starts on commit, once the listener has joined the group
            evaluation = run(
                evaluator, tenant.project, models=["reference"], problems={"suite": "humaneval", "range": "0-1"}
            )
            async_to_sync(layer.group_add)(group_name(f"evaluation:{evaluation.pk}"), listener)
        return evaluation

    async def scenario():
        # One event loop for the layer's whole conversation (channels-redis keeps its connections per loop).
        listener = await layer.new_channel()
        evaluation = await sync_to_async(create_subscribed)(listener)
        events = []
        while not events or events[-1]["type"] != "complete":
            events.append((await asyncio.wait_for(layer.receive(listener), 10))["message"])
        return evaluation, events

    evaluation, events = async_to_sync(scenario)()
    kinds = [e["type"] for e in events]
    assert kinds.count("result") == 2 and "progress" in kinds
    assert {e["task_id"] for e in events if e["type"] == "result"} == {"HumanEval/0", "HumanEval/1"}
    assert events[-1]["summary"]["total_evaluations"] == 2
    assert events[-1]["metrics"]["reference"]["pass_at_k"]["pass@1"] == 1.0
    assert user_may_follow(tenant.user(ProjectRole.VIEWER), f"evaluation:{evaluation.pk}")
    assert not user_may_follow(world.b.user(ProjectRole.OWNER), f"evaluation:{evaluation.pk}")


def test_a_models_key_never_reaches_rows_events_results_exports_or_logs(tenant, evaluator, caplog):
    """The fake server echoes a wrong key in its 401 (as some servers do): nothing we keep or show may hold it."""
    from evaluations.runs.exports import export_csv, export_humaneval_jsonl
    from evaluations.runs.results import evaluation_document
    from tests.models_registry.servers import FakeOpenAI

    server = FakeOpenAI(api_key="sk-right-key-000000")
    secret = "sk-wrong-key-7Hq2SECRET91xZ"
    try:
        custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR))
        model_endpoint_create(
            actor=evaluator,
            project=tenant.project,
            name="gpt-test",
            backend="openai",
            base_url=f"{server.url}/v1",
            api_key=secret,
        )
        with caplog.at_level("DEBUG"):
            evaluation = run(evaluator, tenant.project, models=["gpt-test"], evaluation={"retry_attempts": 0})
    finally:
        server.close()
    evaluation.refresh_from_db()
    assert evaluation.status == "failed" and "[redacted]" in evaluation.error_message
    assert server.requests and any(secret in str(r["headers"]) for r in server.requests)  # it was really sent
    document = evaluation_document(evaluation)
    kept = [
        json.dumps(document, default=str),
        export_csv(document["detailed_results"]),
        export_humaneval_jsonl(document["detailed_results"]),
        json.dumps(list(Evaluation.objects.values()), default=str),
        json.dumps(list(evaluation.chunks.values()), default=str),
        caplog.text,
    ]
    assert all(secret not in text for text in kept)


def test_cancel_stops_a_running_chunk_promptly(tenant, evaluator, settings, tmp_path):
    from codequal.jobs import wait_for_inline_jobs

    settings.CODEQUAL_INLINE_JOBS = "thread"
    custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR))
    slow = "    import time\n    time.sleep(0.25)\n    return a + b\n"
    path = _samples_file(settings, tmp_path, [{"task_id": "demo/add", "completion": slow}] * 60)
    model_endpoint_create(actor=evaluator, project=tenant.project, name="slow", backend="samples", base_url=path)
    evaluation = run(
        evaluator,
        tenant.project,
        models=["slow"],
        problems={"suite": "demo", "task_ids": ["demo/add"]},
        evaluation={"samples_from_file": True, "parallel_execution": False},
    )
    deadline = time.monotonic() + 30
    while Evaluation.objects.get(pk=evaluation.pk).status == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # a few programs into the chunk (60 x 0.25 s in one runner: about 15 s in all)
    cancelled_at = time.monotonic()
    evaluation_cancel(actor=evaluator, evaluation=evaluation)
    assert wait_for_inline_jobs(timeout=10), "the chunk did not stop"
    assert time.monotonic() - cancelled_at < 3.0
    evaluation.refresh_from_db()
    assert evaluation.status == "cancelled" and Sample.objects.filter(evaluation=evaluation).count() == 0
