"""The host side of the sandbox: warm runners (one jail each) and a pool that spreads programs over them."""

import collections
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import queue
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from pathlib import Path

from django.conf import settings

from .backends import MODULE_SEPARATOR, Backend, SandboxUnavailable, make_backend
from .cgroups import RunnerCgroup
from .environment import ExecutionEnvironment, environment_get
from .jail.common import RUN, loads_json
from .types import Harness, Limits, Outcome, OutcomeStatus, Program

logger = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
F_SETPIPE_SZ = 1031
PIPE_BYTES = 1 << 20
# Host-side allowance on top of a program's own timeout before the whole jail is presumed stuck and replaced.
HOST_GRACE_S = 10.0
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT, signal.SIGSYS}


JAIL_MODULES = ("codec.py", "common.py", "candidate.py", "harness.py", "supervisor.py")
# Packages that take long to import (numpy: ~100 ms of CPU a program, and its BLAS threads) and that real programs
# often use. A program whose source names one runs on a runner that imported it before forking the program, as the
# official harness's parent process has numpy imported; programs that do not name it keep the lean runner (a fork
# of a runner with numpy loaded costs about three times as much). Which runner a program gets depends only on its
# source, so it is the same on every run, and the outcome records it.
ON_DEMAND_PRELOAD = ("numpy",)


@cache
def runner_source() -> bytes:
    """The jail modules as one script: in the jail they share a namespace, so their cross-imports are blanked (which
    keeps line numbers in tracebacks those of the files). The bootstrap compiles one module at a time (they are
    separated by MODULE_SEPARATOR): the compiler's peak memory is then that of the largest module, and less of it
    stays behind in the runner, whose every resident page is copied into each program's process at fork."""
    here = Path(__file__).parent / "jail"
    parts = []
    for name in JAIL_MODULES:
        lines = (here / name).read_text().splitlines()
        parts.append("\n".join("" if "# jail: concatenated" in line else line for line in lines))
    return MODULE_SEPARATOR.join(part.encode() for part in parts)


@lru_cache(maxsize=4096)
def encoded_harness(harness: Harness) -> tuple[bytes, str]:
    """The harness as sent to the jail, and a key under which the jail caches its compiled form."""
    data = json.dumps(harness.as_dict()).encode()
    return data, hashlib.sha256(data).hexdigest()


class RunnerBroken(Exception):
    pass


def _pipe() -> tuple[int, int]:
    r, w = os.pipe2(os.O_CLOEXEC)
    with contextlib.suppress(OSError):
        fcntl.fcntl(w, F_SETPIPE_SZ, PIPE_BYTES)
    return r, w


def _unread(fd: int) -> int:
    buf = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return struct.unpack("i", buf)[0]


class JailRunner:
    """One runner process (under the backend's jail) that executes programs one at a time."""

    def __init__(self, backend: Backend, environment: ExecutionEnvironment, preload: tuple[str, ...] = ()):
        self.backend = backend
        self.environment = environment
        self.preload = preload  # imported before programs fork, on top of the backend's own list
        self.proc: subprocess.Popen | None = None
        self.executed = 0
        self.info: dict = {}
        self._fds: dict[str, int] = {}
        self._config: dict = {}
        self.cgroup: RunnerCgroup | None = None
        self.retire = False  # replace this runner before its next program
        self._limits_sent: Limits | None = None  # the limits the supervisor holds (sent only when they change)

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        ctl_in_r, ctl_in_w = _pipe()
        ctl_out_r, ctl_out_w = _pipe()
        spec_r, spec_w = _pipe()
        code_r, code_w = _pipe()
        verdict_r, verdict_w = _pipe()
        jail_fds = [ctl_in_r, ctl_out_w, spec_r, code_r, verdict_w]
        config = self._config = self.backend.runner_config(self.environment)
        config["fds"] = jail_fds
        config["preload"] = [*config.get("preload", []), *self.preload]
        # cgroups where the platform may make them (see cgroups.py); the runner joins them through these fds.
        self.cgroup = RunnerCgroup.create() if self.backend.host_cgroups else None
        cgroup_fds = self.cgroup.join_fds() if self.cgroup else []
        config["cgroup_fds"] = cgroup_fds
        try:
            self.proc = subprocess.Popen(
                self.backend.command(self.environment, ctl_in_r),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=[*jail_fds, *cgroup_fds],
                start_new_session=True,
                **self.backend.popen_kwargs(),
            )
        finally:
            for fd in [*jail_fds, *cgroup_fds]:
                os.close(fd)
        self._fds = {"ctl_in": ctl_in_w, "ctl_out": ctl_out_r, "spec": spec_w, "code": code_w, "verdict": verdict_r}
        self._limits_sent = None
        for name in ("ctl_in", "spec", "code", "verdict"):
            os.set_blocking(self._fds[name], False)
        deadline = time.monotonic() + 60
        self._send(self._fds["ctl_in"], runner_source(), deadline)
        self._send(self._fds["ctl_in"], json.dumps(config).encode(), deadline)
        ready = self._recv_json(self._fds["ctl_out"], deadline)
        if not ready or not ready.get("ready"):
            stderr = self._stderr_text()
            self.stop()
            raise SandboxUnavailable(f"The {self.backend.name} sandbox did not start: {stderr or 'no answer'}")
        self.info = ready
        self.executed = 0
        if self.cgroup and ready.get("cgroup") != "joined":
            logger.warning("sandbox runner could not join its cgroup (%s); rlimits only", ready.get("cgroup"))
            self.cgroup.remove()
            self.cgroup = None

    def _stderr_text(self) -> str:
        if self.proc is None or self.proc.stderr is None:
            return ""
        if self.proc.poll() is None:
            return ""
        try:
            return self.proc.stderr.read().decode("utf-8", "replace").strip()[-1000:]
        except (OSError, ValueError):
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None and "ctl_in" in self._fds:
            # Ask politely first, so the jail's processes are reaped (and accounted) by their parents.
            try:
                self._send(self._fds["ctl_in"], b'{"op":"exit"}', time.monotonic() + 1)
                self.proc.wait(timeout=2)
            except (RunnerBroken, subprocess.TimeoutExpired):
                pass
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait()
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = {}
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        self.backend.cleanup(self._config)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and not self.retire

    # --- I/O --------------------------------------------------------------------------------------------------------
    def _send(self, fd: int, payload: bytes, deadline: float) -> None:
        self._write_raw(fd, _HEADER.pack(len(payload)) + payload, deadline)

    def _read_exact(self, fd: int, n: int, deadline: float) -> bytes:
        chunks, got = [], 0
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunnerBroken("the runner did not answer in time")
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(fd, n - got)
            if not chunk:
                raise RunnerBroken("the runner went away")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _recv_json(self, fd: int, deadline: float):
        (n,) = _HEADER.unpack(self._read_exact(fd, 4, deadline))
        return loads_json(self._read_exact(fd, n, deadline))

    def _drain_verdict(self, buffer: bytearray) -> None:
        fd = self._fds["verdict"]
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(fd, 1 << 20):
                buffer += chunk

    @staticmethod
    def _parse_verdict(data: bytes) -> dict | None:
        if len(data) < 4:
            return None
        (n,) = _HEADER.unpack(data[:4])
        if len(data) != 4 + n:
            return None
        try:
            verdict = loads_json(data[4:])
        except ValueError:
            return None
        return verdict if isinstance(verdict, dict) else None

    def _await_report(self, deadline: float, verdict: bytearray) -> dict:
        """Wait for R's report while draining T's verdict (which may exceed a pipe's capacity)."""
        ctl, vfd = self._fds["ctl_out"], self._fds["verdict"]
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunnerBroken("the runner did not answer in time")
            readable, _, _ = select.select([ctl, vfd], [], [], remaining)
            if vfd in readable:
                self._drain_verdict(verdict)
            if ctl in readable:
                report = self._recv_json(ctl, deadline)
                # T wrote its verdict before telling R it was done, so all of it is in the pipe by now.
                self._drain_verdict(verdict)
                return report

    # --- one program ------------------------------------------------------------------------------------------------
    def execute(self, program: Program, limits: Limits) -> Outcome:
        spec, spec_key = encoded_harness(program.harness)
        code = json.dumps({"code": program.code, "entry_point": program.harness.entry_point}).encode()
        # What the harness is to be told, which the supervisor passes on without parsing it.
        request = {"spec_len": len(spec), "spec_key": spec_key, "code_len": len(code)}
        deadline = time.monotonic() + limits.timeout_s + HOST_GRACE_S
        if self.cgroup is not None:
            self.cgroup.prepare(limits)
        request = json.dumps(request, separators=(",", ":"))
        if limits == self._limits_sent:
            header = RUN + request.encode()
        else:
            header = json.dumps({"op": "run", "limits": limits.as_dict(), "request": request}).encode()
            self._limits_sent = limits
        self._send(self._fds["ctl_in"], header, deadline)
        self._write_raw(self._fds["spec"], spec, deadline)
        self._write_raw(self._fds["code"], code, deadline)
        verdict_bytes = bytearray()
        report = self._await_report(deadline, verdict_bytes)
        self.executed += 1
        verdict = self._parse_verdict(bytes(verdict_bytes))
        # T reads the spec and the program before it judges, so a verdict means both were read; without one, T may
        # have died before reading them, and then the pipes are out of step and this runner must go.
        if (verdict is None or verdict.get("status") == "harness_error") and (
            _unread(self._fds["spec"]) or _unread(self._fds["code"])
        ):
            raise RunnerBroken("a program's input was not consumed")
        if not self.backend.pipes_are_local and (report.get("harness_lost") or not report.get("spec_acknowledged")):
            # The jail's ends of the pipes are out of sight (in a container): whatever is left in them could put
            # the next program out of step, so this runner is replaced.
            self.retire = True
        outcome = outcome_from(program.id, report, verdict, self.backend.name)
        if self.preload:
            outcome.details["preloaded"] = list(self.preload)
        return self.cgroup.settle(outcome) if self.cgroup is not None else outcome

    def _write_raw(self, fd: int, data: bytes, deadline: float) -> None:
        """Write everything to a non-blocking pipe, waiting only when it is full (rare: pipes hold 1 MiB)."""
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view) :]
                continue
            except BlockingIOError:
                pass
            except OSError as exc:
                raise RunnerBroken(f"the runner's pipe broke: {exc}") from exc
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunnerBroken("the runner stopped reading")
            select.select([], [fd], [], remaining)


def outcome_from(program_id: str, report: dict, verdict: dict | None, backend: str) -> Outcome:
    """Combine the supervisor's report (time, exit, resources) and the harness's verdict into one outcome."""
    common = {
        "program_id": program_id,
        "duration_s": report.get("elapsed_s"),
        "cpu_s": report.get("cpu_s"),
        "peak_memory_kb": report.get("peak_memory_kb"),
        "output_tail": report.get("output", ""),
        "output_truncated": bool(report.get("output_truncated")),
        "backend": backend,
    }
    exit_info = report.get("candidate_exit") or {}
    details = {
        "candidate_exit": exit_info,
        "output_bytes": report.get("output_bytes", 0),
        "supervisor_cpu_s": report.get("supervisor_cpu_s"),
    }
    if report.get("timed_out"):
        return Outcome(status=OutcomeStatus.TIMEOUT, details=details, **common)
    if not report.get("spec_acknowledged"):
        return Outcome(
            status=OutcomeStatus.CRASHED, exception_message="the checker did not start", details=details, **common
        )
    if report.get("harness_lost"):
        details["harness_lost"] = True
    if report.get("answered_elsewhere"):
        details["answered_elsewhere"] = True
    fields = {}
    if verdict:
        fields = {
            "exception_type": verdict.get("type"),
            "exception_message": verdict.get("message"),
            "line": verdict.get("line") if isinstance(verdict.get("line"), int) else None,
            "traceback_tail": verdict.get("traceback") or "",
        }
        details["phase"] = verdict.get("phase")
        details["harness_cpu_s"] = verdict.get("harness_cpu_s")
        if "outputs" in verdict:
            details["outputs"] = verdict["outputs"]
        if verdict.get("failed_input") is not None:
            details["failed_input"] = verdict["failed_input"]
    signal_number = exit_info.get("signal")
    if verdict is None:
        status = OutcomeStatus.EXITED_EARLY  # the checker was killed before it could judge
    elif verdict.get("status") == "harness_error":
        status = OutcomeStatus.CRASHED
        details["harness_error"] = True
    elif report.get("candidate_exited_early") or verdict.get("status") == "exited_early":
        if signal_number in CRASH_SIGNALS:
            status = OutcomeStatus.CRASHED
        elif signal_number == signal.SIGXCPU:
            status = OutcomeStatus.TIMEOUT
        else:
            status = OutcomeStatus.EXITED_EARLY
            if not fields.get("exception_type"):  # the harness itself saw nothing wrong: say what the supervisor saw
                fields.update(exception_type="CandidateExited", exception_message=_left_early(report))
    else:
        try:
            status = OutcomeStatus(verdict.get("status"))
        except ValueError:
            status = OutcomeStatus.CRASHED
    parts = verdict.get("parts") if verdict else None
    return Outcome(
        status=status, details=details, parts=parts if isinstance(parts, dict) else {}, **{**common, **fields}
    )


def _left_early(report: dict) -> str:
    if report.get("answered_elsewhere"):
        return (
            "the program's answers came from another process than the one started for it (it forked and left the "
            "answering to a child)"
        )
    return "the program's process exited before its tests finished"


class _Shelf:
    """On-demand runners (those that import a package such as numpy before forking), shared by one run's workers, and
    the programs put aside for them. A worker takes an idle runner of the kind a program needs; when every one of that
    kind is busy (or still starting), it puts the program aside, for the worker that holds one to run next, and goes on
    with other programs. It starts another runner of that kind only for a program it did not put aside, or once it has
    nothing else to do. Such programs are few, so a run usually starts one such runner (each costs ~0.2 s of CPU to
    import numpy) rather than one for each worker that meets such a program while the first is busy or starting."""

    def __init__(self):
        self._idle: dict[tuple[str, ...], list[JailRunner]] = {}
        self._busy: collections.Counter = collections.Counter()  # taken (or being started), per kind
        self._aside: dict[tuple[str, ...], collections.deque] = {}
        self._lock = threading.Lock()

    def take(self, preload: tuple[str, ...], item, may_put_aside: bool) -> tuple[JailRunner | None, bool]:
        """(an idle runner, False); (None, True): ``item`` is put aside, one of its kind being busy; (None, False):
        the caller is to start one."""
        with self._lock:
            idle = self._idle.get(preload)
            if idle:
                self._busy[preload] += 1
                return idle.pop(), False
            if may_put_aside and self._busy[preload]:
                self._aside.setdefault(preload, collections.deque()).append(item)
                return None, True
            self._busy[preload] += 1
            return None, False

    def next_aside(self, preload: tuple[str, ...]):
        """A program put aside for this kind of runner (for the worker that holds one), or None."""
        with self._lock:
            waiting = self._aside.get(preload)
            return waiting.popleft() if waiting else None

    def any_aside(self):
        """A program put aside, of whatever kind (for a worker with nothing else to do), or None."""
        with self._lock:
            for waiting in self._aside.values():
                if waiting:
                    return waiting.popleft()
            return None

    def put(self, preload: tuple[str, ...], runner: JailRunner) -> None:
        with self._lock:
            self._busy[preload] -= 1
            self._idle.setdefault(preload, []).append(runner)

    def lost(self, preload: tuple[str, ...]) -> None:
        """A runner taken from here (or being started) is gone."""
        with self._lock:
            self._busy[preload] -= 1

    def close(self) -> None:
        with self._lock:
            runners = [runner for idle in self._idle.values() for runner in idle]
            self._idle.clear()
        for runner in runners:
            runner.stop()


class SandboxPool:
    """Warm runners, one per worker thread, recycled after a number of programs or any anomaly."""

    def __init__(
        self,
        *,
        backend: str | None = None,
        environment: str | ExecutionEnvironment | None = None,
        workers: int | None = None,
        limits: Limits | None = None,
    ):
        self.backend_name = backend
        self.environment = (
            environment if isinstance(environment, ExecutionEnvironment) else environment_get(environment or "default")
        )
        self.workers = workers or int(settings.SANDBOX_WORKERS) or default_workers()
        self.limits = limits or default_limits()
        self.recycle_after = int(settings.SANDBOX_RECYCLE_AFTER)
        self._probe = make_backend(backend)
        self.isolated = self._probe.isolated
        self.backend = self._probe.name
        site = self.environment.site_packages
        self.on_demand = tuple(m for m in ON_DEMAND_PRELOAD if site is not None and (site / m).is_dir())

    def _new_runner(self, preload: tuple[str, ...] = ()) -> JailRunner:
        # Backends keep no per-runner state (cleanup gets each runner's config), so one serves every runner and
        # the bwrap availability probe runs once per pool, not once per runner.
        runner = JailRunner(self._probe, self.environment, preload)
        runner.start()
        return runner

    def preload_for(self, program: Program) -> tuple[str, ...]:
        """The on-demand packages the runner for this program imports (those its source names)."""
        return tuple(m for m in self.on_demand if m in program.code)

    def run(
        self,
        programs: Iterable[Program],
        on_outcome: Callable[[Outcome], None] | None = None,
        stop: threading.Event | None = None,
    ) -> list[Outcome]:
        """Execute every program; the outcomes come back in the programs' order.

        Setting ``stop`` ends the run early: programs already running finish, no new one starts, and only the
        outcomes of those that ran come back.
        """
        items = list(programs)
        results: list[Outcome | None] = [None] * len(items)
        work: queue.Queue = queue.Queue()
        for index, program in enumerate(items):
            work.put((index, program))
        errors: list[BaseException] = []
        lock = threading.Lock()

        shelf = _Shelf()

        def worker():
            own: JailRunner | None = None  # this worker's lean runner
            held: JailRunner | None = None  # an on-demand runner taken from the shelf
            held_kind: tuple[str, ...] = ()
            try:
                while True:
                    if stop is not None and stop.is_set():
                        return
                    # While it holds an on-demand runner, a worker first runs the programs put aside for its kind.
                    item = shelf.next_aside(held_kind) if held is not None else None
                    if held is not None and item is None:
                        shelf.put(held_kind, held)
                        held = None
                    from_aside = item is not None
                    if item is None:
                        try:
                            item = work.get_nowait()
                        except queue.Empty:
                            item, from_aside = shelf.any_aside(), True
                            if item is None:
                                return
                    index, program = item
                    preload = self.preload_for(program)
                    if preload:
                        if held is None:
                            held, put_aside = shelf.take(preload, item, may_put_aside=not from_aside)
                            if put_aside:
                                continue
                            held_kind = preload
                            if held is None:
                                held = self._new_runner(preload)
                        runner = held
                    else:
                        runner = own
                    if runner is None or not runner.alive or runner.executed >= self.recycle_after:
                        if runner is not None:
                            runner.stop()
                            if preload:
                                held = None
                            else:
                                own = None
                        runner = self._new_runner(preload)
                        if preload:
                            held = runner
                        else:
                            own = runner
                    limits = program.limits or self.limits
                    try:
                        outcome = runner.execute(program, limits)
                    except RunnerBroken as exc:
                        logger.warning("sandbox runner replaced after %s: %s", program.id, exc)
                        runner.stop()
                        if runner is own:
                            own = None
                        else:
                            held = None
                            shelf.lost(held_kind)
                        outcome = Outcome(
                            program_id=program.id,
                            status=OutcomeStatus.CRASHED,
                            exception_message=f"sandbox runner failed: {exc}",
                            backend=self.backend,
                        )
                    results[index] = outcome
                    if on_outcome is not None:
                        with lock:
                            on_outcome(outcome)
            except BaseException as exc:
                errors.append(exc)
            finally:
                for runner in (own, held):
                    if runner is not None:
                        runner.stop()

        threads = [
            threading.Thread(target=worker, name=f"sandbox-{i}", daemon=True)
            for i in range(min(self.workers, max(1, len(items))))
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            shelf.close()
        if errors:
            raise errors[0]
        return [r for r in results if r is not None]


def default_workers() -> int:
    """One runner per core, plus one: a runner spends part of each program waiting on its processes, and the extra
    one keeps the cores busy meanwhile (about 10% more programs per second on two cores, 14-19% on real samples).
    The price: a program still running when the others are busy gets ~3/4 of a core instead of a whole one (the
    official harness gives it ~0.70 with its default of 4 workers, ~0.95 with one per core), and its time limit is
    wall-clock (docs/sandbox.md, "Speed")."""
    return len(os.sched_getaffinity(0)) + 1


def default_limits() -> Limits:
    return Limits(
        timeout_s=float(settings.SANDBOX_TIMEOUT_S),
        memory_mb=int(settings.SANDBOX_MEMORY_MB),
        output_bytes=int(settings.SANDBOX_OUTPUT_BYTES),
        max_processes=int(settings.SANDBOX_MAX_PROCESSES),
    )


def run_programs(programs: Iterable[Program], **pool_options) -> list[Outcome]:
    return SandboxPool(**pool_options).run(programs)
