import pytest

from evaluations.runs.services import evaluation_create
from evaluations.sandbox.environment import environment_ensure
from evaluations.services import builtin_humaneval_install
from models_registry.services import model_endpoint_create


@pytest.fixture(scope="session")
def sandbox_environment():
    return environment_ensure()


@pytest.fixture
def portal_world(world, settings, monkeypatch):
    """The tenant world with HumanEval and two ``reference`` endpoints in project A."""
    settings.CODEQUAL_INLINE_JOBS = "sync"
    # The inline runner closes stale connections after each job; inside a test's transaction that would drop it.
    monkeypatch.setattr("codequal.jobs.close_old_connections", lambda: None)
    if settings.REDIS_URL:
        import django_rq

        django_rq.get_queue("default").empty()
    builtin_humaneval_install()
    evaluator = world.a.user("evaluator")
    for name in ("reference", "reference-b"):
        model_endpoint_create(actor=evaluator, project=world.a.project, name=name, backend="reference")
    return world


def _drain(capture) -> None:
    """With REDIS_URL the jobs went to RQ: run them on a burst SimpleWorker that shares this test's connection."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return
    import django_rq
    from rq import SimpleWorker

    queue = django_rq.get_queue("default")
    worker = SimpleWorker([queue], connection=queue.connection)
    while queue.count:
        with capture(execute=True):
            worker.work(burst=True)


def run_evaluation(world, capture, *, models=("reference", "reference-b"), problems="0-4", samples=2):
    """An evaluation run to completion: inline and synchronously, or on a burst RQ worker when Redis is set."""
    config = {
        "models": list(models),
        "problems": {"suite": "humaneval", "range": problems},
        "evaluation": {"samples_per_problem": samples},
        "metrics": {"k": [1, 2]},
    }
    with capture(execute=True):
        evaluation = evaluation_create(actor=world.a.user("evaluator"), project=world.a.project, config=config)
    _drain(capture)
    evaluation.refresh_from_db()
    return evaluation


@pytest.fixture
def finished_run(portal_world, sandbox_environment, django_capture_on_commit_callbacks):
    evaluation = run_evaluation(portal_world, django_capture_on_commit_callbacks)
    assert evaluation.status == "completed", evaluation.error_message
    return evaluation
