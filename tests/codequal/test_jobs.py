import pytest
from django.db import transaction

from accounts.models import AuditLog
from codequal import jobs

JOB = "tests.codequal.jobs_for_tests.record_project_note"


def _notes():
    return list(AuditLog.objects.filter(data__has_key="note").values_list("data__note", flat=True))


@pytest.mark.django_db(transaction=True)
def test_inline_sync_runs_after_commit_only(world, settings):
    settings.REDIS_URL = ""
    settings.CODEQUAL_INLINE_JOBS = "sync"
    with transaction.atomic():
        jobs.enqueue(JOB, world.a.project.pk, "kept")
        assert _notes() == [], "a job must not start before its transaction commits"
    assert _notes() == ["kept"]
    with pytest.raises(RuntimeError), transaction.atomic():
        jobs.enqueue(JOB, world.a.project.pk, "rolled back")
        raise RuntimeError("abort")
    assert _notes() == ["kept"]


@pytest.mark.django_db(transaction=True)
def test_inline_thread_runs_in_background(world, settings):
    settings.REDIS_URL = ""
    settings.CODEQUAL_INLINE_JOBS = "thread"
    jobs.enqueue(JOB, world.a.project.pk, "from a thread")
    jobs.enqueue("tests.codequal.jobs_for_tests.explode")
    jobs.enqueue(JOB, world.a.project.pk, "after a failure", queue="gpu")
    assert jobs.wait_for_inline_jobs(timeout=30)
    assert sorted(_notes()) == ["after a failure", "from a thread"]


def test_unknown_queue_is_refused():
    with pytest.raises(ValueError, match="Unknown queue"):
        jobs.enqueue(JOB, 1, "x", queue="fast")


@pytest.mark.redis
@pytest.mark.django_db
def test_rq_queue_and_real_worker(world, django_capture_on_commit_callbacks):
    import django_rq
    from rq import SimpleWorker

    queue = django_rq.get_queue("default")
    queue.empty()
    with django_capture_on_commit_callbacks(execute=True):
        jobs.enqueue(JOB, world.a.project.pk, "via rq")
    assert queue.count == 1
    assert _notes() == []
    # A non-forking worker shares this test's database connection, as the style guide prescribes.
    worker = SimpleWorker([queue], connection=queue.connection)
    assert worker.work(burst=True)
    assert _notes() == ["via rq"]
    assert queue.count == 0
    assert django_rq.get_queue("gpu").name == "gpu"
