"""Execution of a chunk's samples: programs into the sandbox, verdicts, flakiness re-runs, error categories, quality.

Pure of the ORM except for reading problems: the caller turns the returned ``Verdict`` values into rows.
"""

import queue
import threading
from dataclasses import dataclass, field, replace

from ..choices import SampleStatus
from ..classification import classify
from ..quality import code_quality
from ..sandbox.engine import SandboxPool
from ..sandbox.types import Harness, Limits, Outcome, OutcomeStatus, Program

_pools: dict[tuple, SandboxPool] = {}
_pools_lock = threading.Lock()
REEXECUTED = {
    OutcomeStatus.FAILED,
    OutcomeStatus.ERROR,
    OutcomeStatus.TIMEOUT,
    OutcomeStatus.MEMORY,
    OutcomeStatus.CRASHED,
}


def sandbox_pool(*, environment: str, parallel: bool) -> SandboxPool:
    """One pool per (environment, parallelism) per process: its backend probe is done once, not per chunk."""
    key = (environment, parallel)
    with _pools_lock:
        if key not in _pools:
            _pools[key] = SandboxPool(environment=environment, workers=None if parallel else 1)
        return _pools[key]


@dataclass(frozen=True)
class Candidate:
    """A sample to judge: its program, or why there is none."""

    key: tuple
    program: str
    harness: Harness | None
    limits: Limits | None
    extraction_failure: str = ""


@dataclass(frozen=True)
class Verdict:
    key: tuple
    status: str
    passed: bool
    error_category: str = ""
    error_type: str = ""
    error_message: str = ""
    error_line: int | None = None
    traceback_tail: str = ""
    output_tail: str = ""
    output_truncated: bool = False
    duration_s: float | None = None
    peak_memory_kb: int | None = None
    parts: dict = field(default_factory=dict)
    reexecutions: int = 0
    flips: int = 0
    metrics: dict = field(default_factory=dict)


def _verdict(key, outcome: Outcome) -> Verdict:
    status = str(outcome.status)
    return Verdict(
        key=key,
        status=status,
        passed=outcome.passed,
        error_category=classify(status, outcome.exception_type, outcome.exception_message),
        error_type=(outcome.exception_type or "")[:200],
        error_message=outcome.exception_message or "",
        error_line=outcome.line,
        traceback_tail=outcome.traceback_tail,
        output_tail=outcome.output_tail,
        output_truncated=outcome.output_truncated,
        duration_s=outcome.duration_s,
        peak_memory_kb=outcome.peak_memory_kb,
        parts=outcome.parts,
    )


def judge(
    candidates: list[Candidate],
    *,
    pool: SandboxPool,
    reexecute: int = 0,
    reexecute_timeout_multiplier: float = 2.0,
    quality: bool = True,
    stop: threading.Event | None = None,
) -> dict[tuple, Verdict]:
    """Every candidate's verdict, keyed like the candidates (only those that ran, when ``stop`` was set)."""
    verdicts: dict[tuple, Verdict] = {}
    programs: list[Program] = []
    by_id: dict[str, Candidate] = {}
    for number, candidate in enumerate(candidates):
        if candidate.extraction_failure:
            status = str(SampleStatus.EXTRACTION_FAILED)
            verdicts[candidate.key] = Verdict(
                key=candidate.key,
                status=status,
                passed=False,
                error_category=classify(status, None, None),
                error_message=candidate.extraction_failure,
            )
            continue
        program_id = str(number)
        by_id[program_id] = candidate
        programs.append(
            Program(id=program_id, code=candidate.program, harness=candidate.harness, limits=candidate.limits)
        )
    metrics: dict[str, dict] = {}
    measured: queue.SimpleQueue = queue.SimpleQueue()

    def measure_all() -> None:
        # Its own thread, fed as verdicts arrive: the host's analysis overlaps the jails' work, and no sandbox
        # thread waits on it before feeding its runner the next program.
        while (program_id := measured.get()) is not None:
            found = code_quality(by_id[program_id].program)
            metrics[program_id] = found.as_dict() if found is not None else {}

    analyst = threading.Thread(target=measure_all, name="quality-metrics", daemon=True)
    if quality:
        analyst.start()
    try:
        outcomes = pool.run(programs, on_outcome=(lambda o: measured.put(o.program_id)) if quality else None, stop=stop)
    finally:
        measured.put(None)
        if quality:
            analyst.join()
    for outcome in outcomes:
        candidate = by_id[outcome.program_id]
        verdicts[candidate.key] = replace(_verdict(candidate.key, outcome), metrics=metrics.get(outcome.program_id, {}))
    if reexecute and not (stop is not None and stop.is_set()):
        _reexecute(verdicts, outcomes, by_id, pool, reexecute, reexecute_timeout_multiplier)
    return verdicts


def _reexecute(verdicts, outcomes, by_id, pool, times: int, multiplier: float) -> None:
    """Run each failing sample ``times`` more (timeouts at ``multiplier`` x the limit) and count verdict flips.

    The recorded verdict stays the first one: re-runs measure how stable it is, they do not shop for a pass.
    """
    retry: list[Program] = []
    for outcome in outcomes:
        if outcome.status not in REEXECUTED:
            continue
        candidate = by_id[outcome.program_id]
        limits = candidate.limits or pool.limits
        if outcome.status == OutcomeStatus.TIMEOUT:
            limits = replace(limits, timeout_s=min(3600.0, limits.timeout_s * multiplier))
        for attempt in range(times):
            retry.append(
                Program(
                    id=f"{outcome.program_id}:{attempt}",
                    code=candidate.program,
                    harness=candidate.harness,
                    limits=limits,
                )
            )
    if not retry:
        return
    flips: dict[str, int] = {}
    for outcome in pool.run(retry):
        program_id = outcome.program_id.split(":", 1)[0]
        flips[program_id] = flips.get(program_id, 0) + (1 if outcome.passed else 0)
    for program_id, flipped in flips.items():
        key = by_id[program_id].key
        verdicts[key] = replace(verdicts[key], reexecutions=times, flips=flipped)
