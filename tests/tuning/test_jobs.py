"""A tuning job end to end on CPU with a tiny GPT-2: through the queue, loss falls, cancel, resume, the adapter
changes the model, the tuned endpoint is registered and evaluated, and tuned-vs-original is compared."""

import os
from pathlib import Path

import pytest

from accounts.choices import ProjectRole
from codequal.exceptions import ApplicationError, ConflictError
from codequal.jobs import in_process
from evaluations.models import Sample
from models_registry.services import model_endpoint_create, model_endpoint_test
from tuning import jobs as tuning_jobs
from tuning import services
from tuning.hyperparameters import HyperparameterError, Hyperparameters, parse_hyperparameters
from tuning.models import TuningJob, TuningStep
from tuning.selectors import comparison_lines, loss_curve, tuning_comparison
from tuning.training import checkpoints, load_base, load_tuned, select_device

from .conftest import FAST_HYPERPARAMETERS

pytestmark = pytest.mark.django_db(transaction=True)
torch = pytest.importorskip("torch")
pytest.importorskip("peft")


@pytest.fixture
def dataset(world, failing_evaluation):
    return services.tuning_dataset_create(
        actor=world.a.user(ProjectRole.EVALUATOR),
        project=world.a.project,
        name="all-failures",
        evaluations=[failing_evaluation],
        held_out_fraction=0.34,
        seed=1,
    )


@pytest.fixture
def events(monkeypatch):
    sent = []
    monkeypatch.setattr(services, "notify", lambda channel, kind, payload: sent.append((channel, kind, payload)))
    return sent


def create_job(world, dataset, base_endpoint, name="tiny-tuned", **overrides):
    return services.tuning_job_create(
        actor=world.a.user(ProjectRole.EVALUATOR),
        project=world.a.project,
        dataset=dataset,
        base_endpoint=base_endpoint,
        name=name,
        hyperparameters={**FAST_HYPERPARAMETERS, **overrides},
    )


def greedy(model, tokenizer, prompt: str) -> list[int]:
    ids = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    return out[0, ids.input_ids.shape[1] :].tolist()


def test_a_job_trains_registers_its_endpoint_and_is_compared_with_the_original(
    world, dataset, base_endpoint, events, capsys
):
    job = create_job(world, dataset, base_endpoint)  # in-process: runs when the creating transaction commits
    job.refresh_from_db()
    assert job.status == "completed", job.error_message
    assert (job.stage, job.progress, job.current_step) == ("done", 1.0, job.total_steps)
    assert job.metrics["device"] == "cpu" and job.metrics["steps_per_second"] > 0

    curve = loss_curve(job)
    losses = [row["loss"] for row in curve]
    assert [row["step"] for row in curve] == list(range(1, job.total_steps + 1)) and job.total_steps >= 20
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses
    validated = [row["step"] for row in curve if row["validation_loss"] is not None]
    assert validated == [s for s in range(1, job.total_steps + 1) if s % 4 == 0 or s == job.total_steps]
    assert job.validation_loss == curve[-1]["validation_loss"]

    kinds = {(channel, kind) for channel, kind, _ in events}
    assert kinds == {(f"tuning:{job.pk}", "tuning_update")}
    stages = [payload["stage"] for _, _, payload in events]
    assert stages[0] == "queued" and {"loading", "training", "saving", "registering"} <= set(stages)
    assert stages[-1] == "done" and all({"stage", "progress", "loss"} <= set(p) for _, _, p in events)

    # The adapter loads back onto the base and changes what it writes.
    base_location = base_endpoint.base_url
    base_model, tokenizer = load_base(base_location)
    tuned_model, _ = load_tuned(base_location, Path(job.artifact_path))
    prompt = dataset.examples.filter(split="train").first().input
    assert greedy(tuned_model, tokenizer, prompt) != greedy(base_model, tokenizer, prompt)

    # The tuned endpoint: an hf endpoint on the merged checkpoint, answering differently from its base.
    tuned = job.resulting_endpoint
    assert (tuned.name, tuned.backend, tuned.project_id) == ("tiny-tuned", "hf", world.a.project.pk)
    evaluator = world.a.user(ProjectRole.EVALUATOR)
    tuned_answer = model_endpoint_test(actor=evaluator, endpoint=tuned, prompt=prompt, max_tokens=12)
    base_answer = model_endpoint_test(actor=evaluator, endpoint=base_endpoint, prompt=prompt, max_tokens=12)
    assert tuned_answer.success and base_answer.success and tuned_answer.response != base_answer.response

    # Tuned vs original on the held-out problems: one evaluation with both, and the paired comparison.
    with in_process():
        evaluation = services.tuning_job_compare(actor=evaluator, job=job, generation={"max_tokens": 24})
    evaluation.refresh_from_db()
    assert evaluation.status == "completed", evaluation.error_message
    held = {p["task_id"] for p in dataset.held_out_problems}
    judged = Sample.objects.filter(evaluation=evaluation)
    assert set(judged.values_list("problem__task_id", flat=True)) == held
    assert set(judged.values_list("model__name", flat=True)) == {"tiny-base", "tiny-tuned"}
    comparison = tuning_comparison(TuningJob.objects.get(pk=job.pk))
    assert comparison["result"]["problems"] == len(held)
    assert set(comparison["result"]) >= {"pass_at_1_a", "pass_at_1_b", "difference", "ci_low", "ci_high", "p_value"}
    with capsys.disabled():
        print("\nloss curve:", [(r["step"], round(r["loss"], 4), r["validation_loss"]) for r in curve])
        print("\n".join(comparison_lines(comparison)))


def test_cancel_stops_at_the_next_step_and_resume_continues_from_the_last_checkpoint(
    world, dataset, base_endpoint, monkeypatch
):
    evaluator = world.a.user(ProjectRole.EVALUATOR)
    original = tuning_jobs.JobCallbacks.on_step
    plan = {"cancel_at": 7, "crash_at": None}

    def on_step(self, record):
        if record.step == plan["crash_at"]:
            raise RuntimeError("the worker died")
        if record.step == plan["cancel_at"]:
            services.tuning_job_cancel(actor=evaluator, job=self.job)
        return original(self, record)

    monkeypatch.setattr(tuning_jobs.JobCallbacks, "on_step", on_step)
    job = create_job(world, dataset, base_endpoint)
    job.refresh_from_db()
    assert (job.status, job.current_step) == ("cancelled", 7)
    assert job.checkpoint_path.endswith("step-00000007") and job.resulting_endpoint is None
    with pytest.raises(ConflictError):
        services.tuning_job_cancel(actor=evaluator, job=job)

    # Resumed, then killed at step 12: the checkpoint of step 10 (save_steps 5) survives.
    plan.update(cancel_at=None, crash_at=12)
    services.tuning_job_resume(actor=evaluator, job=job)
    job.refresh_from_db()
    assert job.status == "failed" and "the worker died" in job.error_message
    assert job.metrics["resumed_from_step"] == 7
    assert [int(p.name.split("-")[1]) for p in checkpoints(services.job_work_dir(job))] == [7, 10]

    plan.update(crash_at=None)
    services.tuning_job_resume(actor=evaluator, job=job)
    job.refresh_from_db()
    assert job.status == "completed", job.error_message
    assert job.metrics["resumed_from_step"] == 10
    steps = list(TuningStep.objects.filter(job=job).values_list("step", flat=True))
    assert steps == list(range(1, job.total_steps + 1))
    with pytest.raises(ConflictError):
        services.tuning_job_resume(actor=evaluator, job=job)


def test_jobs_refuse_bad_input(world, dataset, base_endpoint):
    evaluator = world.a.user(ProjectRole.EVALUATOR)
    remote = model_endpoint_create(actor=evaluator, project=world.a.project, name="remote", backend="ollama")
    with pytest.raises(ApplicationError, match="only hf endpoints"):
        create_job(world, dataset, remote)
    with pytest.raises(ApplicationError, match="Invalid hyperparameters") as bad:
        create_job(world, dataset, base_endpoint, learning_rate=-1, colour="red")
    assert set(bad.value.extra["fields"]) == {"learning_rate", "colour"}
    with pytest.raises(ConflictError, match="exists already"):
        create_job(world, dataset, base_endpoint, name="tiny-base")
    with pytest.raises(ApplicationError) as denied:
        services.tuning_job_create(
            actor=world.a.user(ProjectRole.VIEWER),
            project=world.a.project,
            dataset=dataset,
            base_endpoint=base_endpoint,
            name="x",
        )
    assert denied.value.status_code == 403
    assert not TuningJob.objects.exists()


def test_hyperparameter_defaults_and_device_choice(monkeypatch):
    defaults = parse_hyperparameters({})
    assert (defaults.learning_rate, defaults.batch_size, defaults.epochs) == (5e-5, 8, 3)
    assert (defaults.warmup_steps, defaults.evaluation_steps, defaults.save_steps) == (100, 50, 1000)
    assert parse_hyperparameters({"target_modules": "q_proj, v_proj"}).target_modules == ("q_proj", "v_proj")
    with pytest.raises(HyperparameterError):
        parse_hyperparameters({"batch_size": 2.5})
    assert Hyperparameters().as_dict()["target_modules"] == []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device(torch, "auto") == "cuda"
    assert select_device(torch, "cpu") == "cpu"


@pytest.mark.redis
def test_the_job_runs_on_the_gpu_queue_with_a_real_worker(world, dataset, base_endpoint, settings):
    import django_rq
    from rq import SimpleWorker

    settings.REDIS_URL = os.environ["REDIS_URL"]
    queue = django_rq.get_queue("gpu")
    queue.empty()
    job = create_job(world, dataset, base_endpoint, epochs=3)
    job.refresh_from_db()
    assert job.status == "pending" and queue.count == 1
    # A non-forking worker shares this test's database connection (the style guide's RQ integration tests).
    assert SimpleWorker([queue], connection=queue.connection).work(burst=True)
    job.refresh_from_db()
    assert job.status == "completed", job.error_message
    assert TuningStep.objects.filter(job=job).count() == job.total_steps and job.resulting_endpoint is not None
