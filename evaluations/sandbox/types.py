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
class TestPart:
    """One named group of tests (e.g. "base" and "plus"), judged on the trusted side.

    ``check``: run ``test`` (which defines ``check``) and call ``check(candidate)``. ``asserts``: run each statement
    with the entry point bound to the candidate. ``io``: call the candidate on each of ``inputs`` and compare with
    ``expected`` as EvalPlus does (exact, ``atol`` for floats, special ``oracle``s). ``record``: call the candidate on
    each input and report its outputs (how a suite's expected outputs are made from its canonical solution).
    ``inputs`` and ``expected`` are codec-encoded (jail/codec.py) so their exact types survive. A part that
    ``requires`` another runs only when that one passed.
    """

    __test__ = False  # not a pytest test class, despite its name

    name: str
    kind: str
    test: str = ""
    asserts: tuple[str, ...] = ()
    inputs: str = ""
    expected: str = ""
    atol: float = 0.0
    oracle: str = ""
    requires: str = ""
    check_function: str = "check"

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "test": self.test,
            "asserts": list(self.asserts),
            "inputs": self.inputs,
            "expected": self.expected,
            "atol": self.atol,
            "oracle": self.oracle,
            "requires": self.requires,
            "check_function": self.check_function,
        }


@dataclass(frozen=True)
class Harness:
    """How the trusted side tests a candidate: trusted ``setup`` code (e.g. the HumanEval prompt, whose helpers tests
    may use), then its parts in order. ``kind``/``test``/``asserts`` build a single part named "main"."""

    entry_point: str
    setup: str = ""
    parts: tuple[TestPart, ...] = ()
    kind: str = ""
    test: str = ""
    asserts: tuple[str, ...] = ()

    def resolved_parts(self) -> tuple[TestPart, ...]:
        if self.parts:
            return self.parts
        return (TestPart(name="main", kind=self.kind or "check", test=self.test, asserts=tuple(self.asserts)),)

    def as_dict(self) -> dict:
        return {
            "entry_point": self.entry_point,
            "setup": self.setup,
            "parts": [part.as_dict() for part in self.resolved_parts()],
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
    parts: dict = field(default_factory=dict)  # part name -> {"passed", "status", "failed_input"}
    details: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == OutcomeStatus.PASSED
