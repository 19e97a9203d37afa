"""What goes into the sandbox and what comes out: frozen values, no ORM, no I/O."""

from dataclasses import dataclass, field, replace
from enum import StrEnum


class OutcomeStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # a test assertion failed
    ERROR = "error"  # the program raised (at load or in a call)
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASHED = "crashed"  # killed by a signal, or the sandbox itself failed
    EXITED_EARLY = "exited_early"  # exited, or killed the checker, before the tests finished


@dataclass(frozen=True)
class Limits:
    """Per-program limits; the defaults follow the official HumanEval harness where it has one."""

    timeout_s: float = 3.0
    memory_mb: int = 512
    output_bytes: int = 1 << 20
    max_processes: int = 64
    max_open_files: int = 256
    max_file_bytes: int = 16 << 20

    def __post_init__(self):
        if not 0 < self.timeout_s <= 3600:
            raise ValueError("timeout_s must be in (0, 3600]")
        if not 16 <= self.memory_mb <= 65536:
            raise ValueError("memory_mb must be in [16, 65536]")
        if not 0 <= self.output_bytes <= 64 << 20:
            raise ValueError("output_bytes must be in [0, 64 MiB]")
        if not 1 <= self.max_processes <= 4096:
            raise ValueError("max_processes must be in [1, 4096]")

    def as_dict(self) -> dict:
        return {
            "timeout_s": self.timeout_s,
            "memory_mb": self.memory_mb,
            "output_bytes": self.output_bytes,
            "max_processes": self.max_processes,
            "max_open_files": self.max_open_files,
            "max_file_bytes": self.max_file_bytes,
        }

    def with_overrides(self, **overrides) -> "Limits":
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class Harness:
    """How the trusted side tests the candidate.

    ``kind="check"``: run ``setup`` (e.g. the HumanEval prompt, whose helpers tests may use) and ``test``, then call
    ``check(candidate)``. ``kind="asserts"``: run ``setup``, then each assert statement with the entry point bound to
    the candidate.
    """

    kind: str
    entry_point: str
    test: str = ""
    setup: str = ""
    asserts: tuple[str, ...] = ()
    check_function: str = "check"

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "entry_point": self.entry_point,
            "test": self.test,
            "setup": self.setup,
            "asserts": list(self.asserts),
            "check_function": self.check_function,
        }


@dataclass(frozen=True)
class Program:
    """One untrusted program: its full source (prompt + completion) and how to judge it."""

    id: str
    code: str
    harness: Harness
    limits: Limits | None = None


@dataclass(frozen=True)
class Outcome:
    program_id: str
    status: OutcomeStatus
    exception_type: str | None = None
    exception_message: str | None = None
    line: int | None = None
    traceback_tail: str = ""
    duration_s: float | None = None
    cpu_s: float | None = None
    peak_memory_kb: int | None = None
    output_tail: str = ""
    output_truncated: bool = False
    backend: str = ""
    details: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == OutcomeStatus.PASSED
