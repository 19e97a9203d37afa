"""The one place that enqueues background work.

With REDIS_URL set, jobs go to RQ (queues "default" and "gpu", run by ``codequalbench worker``). Without it they run
in this process: in a background thread per queue (the web stays responsive) or synchronously when
CODEQUAL_INLINE_JOBS=sync (the CLI waits for its jobs anyway). Either way a job starts only after the transaction
that created its rows has committed, and receives ids, never model instances.
"""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

QUEUES = ("default", "gpu")

_executors: dict[str, ThreadPoolExecutor] = {}
_force_in_process = threading.Event()
_pending: set[Future] = set()
_lock = threading.Lock()


def _resolve(func: Callable | str) -> Callable:
    return import_string(func) if isinstance(func, str) else func


def _run_inline(func: Callable | str, args: tuple, kwargs: dict) -> None:
    try:
        _resolve(func)(*args, **kwargs)
    except Exception:
        # The job's own runner records failures on its row; this keeps a crash from vanishing silently.
        logger.exception("in-process job %s failed", func)
        raise
    finally:
        close_old_connections()


def _executor(queue: str) -> ThreadPoolExecutor:
    with _lock:
        if queue not in _executors:
            # One worker per queue mirrors one RQ worker per queue: jobs of a queue run one after another.
            _executors[queue] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"cqb-{queue}")
        return _executors[queue]


def enqueue(func: Callable | str, *args, queue: str = "default", job_timeout: int | None = None, **kwargs) -> None:
    """Run ``func(*args, **kwargs)`` on ``queue`` once the current transaction commits."""
    if queue not in QUEUES:
        raise ValueError(f"Unknown queue {queue!r}; expected one of {QUEUES}.")

    def dispatch():
        if settings.REDIS_URL and not _force_in_process.is_set():
            import django_rq

            django_rq.get_queue(queue).enqueue(func, *args, job_timeout=job_timeout, **kwargs)
        elif settings.CODEQUAL_INLINE_JOBS == "sync":
            _run_inline(func, args, kwargs)
        else:
            future = _executor(queue).submit(_run_inline, func, args, kwargs)
            with _lock:
                _pending.add(future)
            future.add_done_callback(_forget)

    transaction.on_commit(dispatch)


def _forget(future: Future) -> None:
    with _lock:
        _pending.discard(future)


def wait_for_inline_jobs(timeout: float | None = None) -> bool:
    """Block until the in-process jobs submitted so far have finished; False if ``timeout`` ran out first."""
    with _lock:
        pending = set(_pending)
    _, not_done = wait(pending, timeout=timeout)
    return not not_done


@contextmanager
def in_process():
    """Run the jobs enqueued meanwhile in this process (in background threads), even with Redis configured.

    For commands that do the work themselves (``codequalbench evaluate --inline``) rather than hand it to workers.
    """
    _force_in_process.set()
    try:
        yield
    finally:
        _force_in_process.clear()
