"""cgroup v2 limits for sandbox runners where the platform may create a cgroup subtree; rlimits alone otherwise.

Each runner (bubblewrap or subprocess backend) gets ``<ours>/codequal-sandbox-<pid>/runner-<id>/`` with two leaves:
``jail`` holds the supervisor and the harness, ``program`` holds each program's process tree. The host opens both
leaves' ``cgroup.procs`` and hands the descriptors to the runner; the supervisor and then every candidate write "0"
(themselves) to them before anything else. The kernel checks the rights of whoever opened the file, so an
unprivileged process inside the jail is placed but has no way to leave (the jail has no /sys, and the descriptor is
closed before any program code runs). Per program the host sets ``memory.max`` (no swap), ``pids.max`` and
``cpu.max``, then reads ``memory.peak`` and the ``memory.events``/``pids.events`` counters and kills whatever is left
with ``cgroup.kill``. The rlimits stay as well; when no subtree can be made they are the only limits.

The Docker backend does not use this: the engine gives each container a cgroup of its own.
"""

import atexit
import contextlib
import errno
import logging
import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .types import Limits, Outcome, OutcomeStatus

logger = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("cpu", "memory", "pids")
ENABLE = " ".join("+" + name for name in CONTROLLERS)
CPU_PERIOD_US = 100_000
PROGRAM_CPUS = 1  # a program's process tree may use one core's worth of CPU time


@dataclass(frozen=True)
class CgroupSupport:
    usable: bool
    reason: str  # where (usable) or why not
    path: Path | None = None  # this process's own cgroup directory


def _read(path: Path) -> str:
    with open(path) as fh:
        return fh.read()


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def own_cgroup(proc_cgroup: str) -> str | None:
    """This process's cgroup v2 path from the text of /proc/self/cgroup (its "0::" line)."""
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


def detect(root: Path = ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> CgroupSupport:
    """Whether runners can get cgroup v2 limits here, without changing anything."""
    if not (root / "cgroup.controllers").is_file():
        unified = root / "unified" / "cgroup.controllers"
        if unified.is_file():
            offered = _read(unified).split()
            return CgroupSupport(
                False,
                f"cgroup v1 (hybrid hierarchy): memory, pids and cpu are v1 controllers; {unified.parent} is "
                f"cgroup v2 but offers {', '.join(offered) or 'no controllers'}",
            )
        return CgroupSupport(False, f"no cgroup v2 hierarchy mounted at {root}")
    try:
        relative = own_cgroup(_read(proc_cgroup))
    except OSError as exc:
        return CgroupSupport(False, f"cannot read {proc_cgroup}: {exc}")
    if relative is None:
        return CgroupSupport(False, f"this process is in no cgroup v2 ({proc_cgroup} has no '0::' line)")
    ours = root / relative.lstrip("/")
    try:
        offered = set(_read(ours / "cgroup.controllers").split())
    except OSError as exc:
        return CgroupSupport(False, f"cannot read {ours}/cgroup.controllers: {exc}")
    missing = [name for name in CONTROLLERS if name not in offered]
    if missing:
        return CgroupSupport(False, f"cgroup v2 controllers {', '.join(missing)} are not delegated to {ours}")
    for path in (ours, ours / "cgroup.subtree_control", ours / "cgroup.procs"):
        if not os.access(path, os.W_OK):
            return CgroupSupport(False, f"cgroup v2 not delegated: {path} is read-only for this process")
    return CgroupSupport(True, f"cgroup v2 under {ours}", ours)


def _prepare_base(ours: Path) -> Path:
    """Enable the controllers below our cgroup and make this process's subtree for runners."""
    if not set(CONTROLLERS) <= set(_read(ours / "cgroup.subtree_control").split()):
        try:
            _write(ours / "cgroup.subtree_control", ENABLE)
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            # "No internal processes": a cgroup that holds processes cannot enable controllers for its children.
            # Move this process into a leaf of its own (what systemd asks of services with Delegate=yes).
            leaf = ours / "platform"
            leaf.mkdir(exist_ok=True)
            _write(leaf / "cgroup.procs", str(os.getpid()))
            try:
                _write(ours / "cgroup.subtree_control", ENABLE)
            except OSError:
                _write(ours / "cgroup.procs", str(os.getpid()))  # other processes live there: give up, move back
                raise
    base = ours / f"codequal-sandbox-{os.getpid()}"
    base.mkdir(exist_ok=True)
    _write(base / "cgroup.subtree_control", ENABLE)
    atexit.register(_remove_tree, base)
    return base


_lock = threading.Lock()
_state: dict = {}


def sandbox_cgroup_base() -> Path | None:
    """This process's cgroup subtree for runners, made once; None (said once in the log) where none can be made."""
    with _lock:
        if "base" in _state:
            return _state["base"]
        support, base = detect(), None
        if support.usable:
            try:
                base = _prepare_base(support.path)
            except OSError as exc:
                support = CgroupSupport(False, f"cannot set up a cgroup subtree under {support.path}: {exc}")
        if base is None:
            # The common case (no delegated cgroup v2): rlimits are the documented fallback, and `codequalbench
            # status` shows which applies; a warning on every command would be noise.
            logger.info("sandbox: no cgroup limits (%s); programs are limited by rlimits only", support.reason)
        else:
            logger.info("sandbox: per-program cgroup v2 limits under %s", base)
        _state.update(base=base, reason=support.reason)
        return base


def limits_summary(backend: str) -> str:
    """How programs' resources are limited, for `codequalbench status` (changes nothing)."""
    if backend == "docker":
        return "the Docker engine's cgroup per container, plus rlimits per program"
    support = detect()
    if support.usable:
        return f"cgroup v2 per program ({support.reason}), plus rlimits"
    return f"rlimits only ({support.reason})"


def _parse_events(text: str) -> dict[str, int]:
    counts = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            counts[key] = int(value)
    return counts


def _kill_and_wait(path: Path, timeout_s: float = 2.0) -> None:
    """Kill every process in ``path`` (and below) and wait until it is empty."""
    try:
        _write(path / "cgroup.kill", "1")
    except OSError:
        # Kernels before 5.14 have no cgroup.kill: signal each process this cgroup lists.
        with contextlib.suppress(OSError):
            for pid in _read(path / "cgroup.procs").split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if "populated 0" in _read(path / "cgroup.events"):
                return
        except OSError:
            return
        time.sleep(0.005)


def _remove_tree(path: Path) -> None:
    if not path.is_dir():
        return
    _kill_and_wait(path)
    for dirpath, _dirs, _files in sorted(os.walk(path), key=lambda item: -item[0].count("/")):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)


class RunnerCgroup:
    """One runner's cgroups: ``jail`` for the supervisor and harness, ``program`` for each program's tree."""

    def __init__(self, path: Path):
        self.path = path
        self.jail = path / "jail"
        self.program = path / "program"
        self._peak_fd: int | None = None
        self._peak_resettable = False
        self._before: dict[str, int] = {}

    @classmethod
    def create(cls, base: Path | None = None) -> "RunnerCgroup | None":
        base = base if base is not None else sandbox_cgroup_base()
        if base is None:
            return None
        cgroup = cls(base / f"runner-{secrets.token_hex(6)}")
        try:
            cgroup.path.mkdir()
            _write(cgroup.path / "cgroup.subtree_control", ENABLE)
            cgroup.jail.mkdir()
            cgroup.program.mkdir()
            _write(cgroup.program / "cpu.max", f"{PROGRAM_CPUS * CPU_PERIOD_US} {CPU_PERIOD_US}")
            with contextlib.suppress(FileNotFoundError):  # absent without swap accounting: then there is no swap
                _write(cgroup.program / "memory.swap.max", "0")
        except OSError as exc:
            logger.warning("sandbox: cannot create the runner cgroup %s: %s", cgroup.path, exc)
            cgroup.remove()
            return None
        return cgroup

    def join_fds(self) -> list[int]:
        """Descriptors of the jail's and the program's ``cgroup.procs``, opened here, for the runner to join by."""
        return [os.open(self.jail / "cgroup.procs", os.O_WRONLY), os.open(self.program / "cgroup.procs", os.O_WRONLY)]

    def _counters(self) -> dict[str, int]:
        memory = _parse_events(_read(self.program / "memory.events"))
        pids = _parse_events(_read(self.program / "pids.events"))
        return {
            "oom_kill": memory.get("oom_kill", 0),
            "memory_max": memory.get("max", 0),
            "pids_max": pids.get("max", 0),
        }

    def prepare(self, limits: Limits) -> None:
        """Set one program's limits and start counting; called before the program is sent."""
        _write(self.program / "memory.max", str(limits.memory_mb * 1024 * 1024))
        _write(self.program / "pids.max", str(limits.max_processes))
        if self._peak_fd is None:
            try:
                self._peak_fd = os.open(self.program / "memory.peak", os.O_RDWR | os.O_CLOEXEC)
            except OSError:
                self._peak_fd = -1  # kernels before 5.19 have no memory.peak
        if self._peak_fd >= 0:
            try:
                os.write(self._peak_fd, b"reset")  # 6.12+: the peak seen through this descriptor restarts now
                self._peak_resettable = True
            except OSError:
                self._peak_resettable = False
        self._before = self._counters()

    def settle(self, outcome: Outcome) -> Outcome:
        """Kill what is left of the program, and fold the cgroup's counters and peak into its outcome."""
        _kill_and_wait(self.program)
        after = self._counters()
        moved = {key: after[key] - self._before.get(key, 0) for key in after}
        facts = dict(moved)
        changes = {}
        if self._peak_resettable:
            peak_kb = int(os.pread(self._peak_fd, 64, 0).split()[0]) // 1024
            facts["peak_memory_kb"] = peak_kb
            changes["peak_memory_kb"] = peak_kb
        if moved["oom_kill"] and outcome.status not in (OutcomeStatus.PASSED, OutcomeStatus.TIMEOUT):
            changes["status"] = OutcomeStatus.MEMORY  # the kernel killed part of the program at memory.max
        return replace(outcome, details={**outcome.details, "cgroup": facts}, **changes)

    def remove(self) -> None:
        if self._peak_fd is not None and self._peak_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._peak_fd)
        self._peak_fd = None
        _remove_tree(self.path)


def usable_here() -> tuple[bool, str]:
    """For tests: whether runner cgroups work on this machine, and why not."""
    support = detect()
    if not support.usable:
        return False, support.reason
    if shutil.which("bwrap") is None:
        return False, "bwrap is not installed"
    return True, support.reason
