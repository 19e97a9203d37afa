"""An evaluation survives its worker's death and repeated chunks: counts stay exact and no sample is written twice.

The crash test runs real ``codequalbench worker`` processes (RQ's forking worker) against this test's PostgreSQL
database and Redis, kills one with SIGKILL mid-run, resumes with another, and checks the result against the
official verdicts the samples file carries.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.db.models import Count

from accounts.choices import ProjectRole
from codequal.jobs import in_process
from evaluations import jobs as evaluation_jobs
from evaluations.choices import ChunkStatus, EvaluationStatus
from evaluations.models import Evaluation, EvaluationChunk, EvaluationModel, Sample
from evaluations.runs import chunks as chunk_module
from evaluations.runs.services import evaluation_create, evaluation_resume
from models_registry.specs import endpoint_for_spec, parse_model_specs
from tests.evaluations.conftest import DEV_SAMPLES

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "codequalbench")
# Verdicts that depend on the execution environment, not on the platform: this completion imports httplib2, which
# was installed where the official verdicts were made and is absent from the jail.
ENVIRONMENT_DEPENDENT = {("HumanEval/60", 11): False}


def samples_slice(path: Path, tasks: int) -> dict[tuple[str, int], bool]:
    """The first ``tasks`` tasks of the dev file written to ``path``; returns the expected verdict per sample."""
    rows = [json.loads(line) for line in DEV_SAMPLES.read_text().splitlines() if line.strip()]
    kept = list(dict.fromkeys(r["task_id"] for r in rows))[:tasks]
    chosen = [r for r in rows if r["task_id"] in kept]
    path.write_text(
        "".join(json.dumps({"task_id": r["task_id"], "completion": r["completion"]}) + "\n" for r in chosen)
    )
    expected = {}
    for row in chosen:
        key = (row["task_id"], row["sample_index"])
        expected[key] = ENVIRONMENT_DEPENDENT.get(key, row["official_passed"])
    return expected


def create_run(tmp_path: Path, tenant, *, tasks: int, chunk_size: int) -> tuple[Evaluation, dict]:
    from evaluations.services import builtin_humaneval_install

    builtin_humaneval_install()
    evaluator = tenant.user(ProjectRole.EVALUATOR)
    expected = samples_slice(tmp_path / "slice.jsonl", tasks)
    endpoint = endpoint_for_spec(
        actor=evaluator, project=tenant.project, spec=parse_model_specs(f"samples:{tmp_path / 'slice.jsonl'}")[0]
    )
    config = {
        "models": [endpoint.name],
        "problems": {"suite": "humaneval", "task_ids": sorted({task for task, _ in expected})},
        "evaluation": {"samples_from_file": True, "chunk_size": chunk_size},
        "metrics": {"k": [1, 10]},
    }
    return evaluation_create(actor=evaluator, project=tenant.project, config=config), expected


def verdicts(evaluation: Evaluation) -> dict[tuple[str, int], bool]:
    rows = Sample.objects.filter(evaluation=evaluation).values_list("problem__task_id", "index", "passed")
    return {(task, index): passed for task, index, passed in rows}


def assert_exact(evaluation: Evaluation, expected: dict) -> None:
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.COMPLETED, evaluation.error_message
    samples = Sample.objects.filter(evaluation=evaluation)
    assert evaluation.total_samples == evaluation.completed_samples == samples.count() == len(expected)
    duplicated = samples.values("model", "problem", "strategy", "index").annotate(n=Count("pk")).filter(n__gt=1)
    assert not duplicated.exists()
    assert verdicts(evaluation) == expected
    assert evaluation.passed_samples == sum(expected.values())
    for run_model in EvaluationModel.objects.filter(evaluation=evaluation):
        assert run_model.completed_samples == samples.filter(model=run_model).count() == len(expected)
    assert set(EvaluationChunk.objects.filter(evaluation=evaluation).values_list("status", flat=True)) == {
        ChunkStatus.DONE
    }
    block = next(iter(evaluation.summary["by_model"].values()))
    assert (block["samples"], block["passed"]) == (len(expected), sum(expected.values()))


# --- the crash -----------------------------------------------------------------------------------------------------


def worker_env() -> dict[str, str]:
    """This process's environment with the database pointing at the test database pytest-django created."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}}
    # CODEQUAL_DATA_DIR (hence SAMPLES_DIR) and SANDBOX_ENVIRONMENTS_DIR are inherited from tests/settings.py.
    env["DATABASE_URL"] = f"postgres://{user}{password}@{host}{port}/{quote(db['NAME'], safe='')}"
    return env


def start_worker(log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        # Its own session: the worker and whatever it starts can be found and killed together.
        return subprocess.Popen(
            [CLI, "worker", "default"],
            cwd=REPO,
            env=worker_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _parent_of() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(pid: int) -> list[int]:
    parents = _parent_of()
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_worker(process) -> list[int]:
    """SIGKILL the worker and its work horse (RQ puts the horse in a process group of its own) and their children."""
    if process.poll() is not None:
        return []
    try:
        os.killpg(process.pid, signal.SIGSTOP)  # frozen, it cannot fork another horse while we look
    except ProcessLookupError:
        return []
    victims = descendants(process.pid)
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in victims) and time.monotonic() < deadline:
        time.sleep(0.05)
    return victims


def wait_until(predicate, *, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out waiting for {what}\n{tail}")


@pytest.mark.redis
def test_sigkilled_worker_then_resume_gives_exact_counts_and_no_duplicates(world, tmp_path):
    import django_rq

    if connection.vendor != "postgresql":
        pytest.skip("a worker process shares the test database only on PostgreSQL (set DATABASE_URL)")
    queue = django_rq.get_queue("default")
    queue.empty()
    log = tmp_path / "workers.log"
    # 40 problems x 20 samples in chunks of 4 problems: 10 chunks, each a job of its own in its own work horse.
    evaluation, expected = create_run(tmp_path, world.a, tasks=40, chunk_size=4)
    assert evaluation.total_samples == len(expected) == 800
    workers = [start_worker(log)]
    try:

        def inside_a_later_chunk():
            chunks = EvaluationChunk.objects.filter(evaluation=evaluation)
            return (
                chunks.filter(status=ChunkStatus.DONE).exists() and chunks.filter(status=ChunkStatus.RUNNING).exists()
            )

        wait_until(
            inside_a_later_chunk, timeout=120, what="the first worker to write a chunk and start another", log=log
        )
        victims = kill_worker(workers[0])
        assert workers[0].returncode == -signal.SIGKILL
        assert victims, "the worker had a work horse running a chunk when it was killed"
        evaluation.refresh_from_db()
        assert evaluation.status == EvaluationStatus.RUNNING
        assert 0 < evaluation.completed_samples < evaluation.total_samples
        assert EvaluationChunk.objects.filter(evaluation=evaluation, status=ChunkStatus.RUNNING).exists()
        rows_before = set(Sample.objects.filter(evaluation=evaluation).values_list("pk", flat=True))
        time.sleep(1)  # nothing of the dead worker writes any more
        assert set(Sample.objects.filter(evaluation=evaluation).values_list("pk", flat=True)) == rows_before

        # The jobs the dead worker left queued stay queued: the new worker runs them too, as no-ops or for real.
        evaluation = evaluation_resume(actor=world.a.user(ProjectRole.EVALUATOR), evaluation=evaluation)
        workers.append(start_worker(log))

        def finished():
            evaluation.refresh_from_db()
            return evaluation.is_finished

        wait_until(finished, timeout=240, what="the resumed evaluation to finish", log=log)
    finally:
        for worker in workers:
            kill_worker(worker)
        queue.empty()
    assert_exact(evaluation, expected)
    # The rows the dead worker had written are the same rows, kept rather than redone.
    assert rows_before <= set(Sample.objects.filter(evaluation=evaluation).values_list("pk", flat=True))


# --- a chunk run twice -----------------------------------------------------------------------------------------------


def test_a_chunk_run_twice_at_once_writes_each_sample_once(world, tmp_path, settings, monkeypatch, sandbox_environment):
    """Two runs of one chunk overlap (a redelivered job, a resume while the first worker lives): both generate and
    judge every sample, both write, and the rows and counters still come out exact."""
    settings.CODEQUAL_INLINE_JOBS = "sync"
    real_write = chunk_module._write
    writes = []

    def write_while_another_run_of_the_chunk_finishes_first(chunk, samples, errors):
        writes.append(len(samples))
        if len(writes) == 1:
            # Between this run's reads and its write, the chunk is handed out again and run to the end.
            EvaluationChunk.objects.filter(pk=chunk.pk).update(status=ChunkStatus.PENDING)
            evaluation_jobs.evaluation_chunk_run(chunk.pk)
            assert EvaluationChunk.objects.get(pk=chunk.pk).status == ChunkStatus.DONE
        real_write(chunk, samples, errors)

    monkeypatch.setattr(chunk_module, "_write", write_while_another_run_of_the_chunk_finishes_first)
    with in_process():
        evaluation, expected = create_run(tmp_path, world.a, tasks=4, chunk_size=2)
    assert writes[:2] == [40, 40], "both runs of the first chunk wrote all of its samples"
    assert_exact(evaluation, expected)

    # The same job delivered again once everything is done: nothing to claim, nothing changes.
    first = EvaluationChunk.objects.filter(evaluation=evaluation).order_by("ordinal").first()
    evaluation_jobs.evaluation_chunk_run(first.pk)
    EvaluationChunk.objects.filter(pk=first.pk).update(status=ChunkStatus.PENDING)
    Evaluation.objects.filter(pk=evaluation.pk).update(status=EvaluationStatus.RUNNING)
    evaluation_jobs.evaluation_chunk_run(first.pk)
    assert_exact(evaluation, expected)
