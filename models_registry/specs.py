"""Ad-hoc model specs (``--models ollama:codellama:7b,openai:gpt-4o-mini,hf:/ckpt,samples:/s.jsonl,reference``).

A spec is ``backend:target`` (split at the first colon only: ``ollama:codellama:7b``), ``reference`` alone, or the
bare name of an endpoint already registered in the project. ``endpoint_for_spec`` registers the endpoint a spec
describes through ``model_endpoint_create`` (validation, SSRF guard, audit) or reuses the project's matching one.
"""

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import Q

from accounts.models import Project
from accounts.selectors import project_user_can
from codequal.exceptions import ApplicationError

from .backends import UnknownBackend, backend_class
from .backends.local import MAX_SAMPLES_FILE_BYTES, SamplesFileError, read_samples_file, samples_dir
from .choices import Backend
from .models import ModelEndpoint
from .selectors import model_endpoint_list
from .services import model_endpoint_create
from .urlguard import validate_base_url
from .validation import default_base_url

# Backends whose target is a model served at a URL; the others' target is a path (or nothing, for reference).
MODEL_BACKENDS = (Backend.OLLAMA, Backend.OPENAI, Backend.ANTHROPIC, Backend.GEMINI)
PATH_BACKENDS = (Backend.HF, Backend.SAMPLES)
# The variable each hosted backend's own tools read the key from.
KEY_VARIABLES = {
    Backend.OPENAI: "OPENAI_API_KEY",
    Backend.ANTHROPIC: "ANTHROPIC_API_KEY",
    Backend.GEMINI: "GEMINI_API_KEY",
}
_NAME_MAX = 200  # ModelEndpoint.name
_EXAMPLE = "e.g. ollama:codellama:7b, openai:gpt-4o-mini, hf:/path/to/checkpoint, samples:/path/file.jsonl, reference"


@dataclass(frozen=True)
class ModelSpec:
    """One item of ``--models``: ``backend`` None means ``target`` names an endpoint registered in the project."""

    backend: str | None
    target: str
    raw: str


def parse_model_specs(text: str, *, known_names: Iterable[str] = ()) -> list[ModelSpec]:
    """Parse a comma-separated list of specs; raises ApplicationError naming the first bad one.

    ``known_names`` (the project's endpoint names) are taken as bare names even when they hold a colon, so that
    ``codellama:7b`` or ``samples:he.jsonl@1a2b3c4d`` (names this module gives) can be given again as listed;
    ``reference`` alone always means the reference backend.
    """
    known = set(known_names)
    items = [item.strip() for item in (text or "").split(",")]
    if not any(items):
        raise ApplicationError(f"No model given; {_EXAMPLE}.")
    specs = []
    for position, item in enumerate(items, start=1):
        if not item:
            raise ApplicationError(f"Model spec {position} of {text.strip()!r} is empty (a stray comma?).")
        specs.append(_parse_one(item, known))
    return specs


def _parse_one(item: str, known: set[str]) -> ModelSpec:
    if item in known and item.lower() != Backend.REFERENCE:
        return ModelSpec(backend=None, target=item, raw=item)
    prefix, colon, target = item.partition(":")
    backend, target = prefix.strip().lower(), target.strip()
    if backend == Backend.REFERENCE:
        if target:
            raise ApplicationError(f"{item!r}: the reference backend takes nothing after it; give just 'reference'.")
        return ModelSpec(backend=Backend.REFERENCE, target="", raw=item)
    if not colon:
        if backend in Backend.values:
            raise ApplicationError(f"{item!r}: say what the {backend} backend serves, as {backend}:<target>.")
        return ModelSpec(backend=None, target=item, raw=item)
    if backend not in Backend.values:
        raise ApplicationError(
            f"{item!r}: unknown backend {prefix!r} (one of {', '.join(Backend.values)}), "
            "and no endpoint of that name is registered in the project."
        )
    if not target:
        what = "the path of a checkpoint directory" if backend == Backend.HF else "a model name"
        if backend == Backend.SAMPLES:
            what = "the path of a samples file (.jsonl or .jsonl.gz)"
        raise ApplicationError(f"{item!r}: give {what} after '{backend}:'.")
    return ModelSpec(backend=backend, target=target, raw=item)


def samples_file_store(path) -> Path:
    """Copy a valid samples file into SAMPLES_DIR as ``<sha256>.jsonl`` (or ``.jsonl.gz``); returns the stored path.

    The copy, not the original, is validated and hashed (``read_samples_file``: the SHA-256 of its lines), so what is
    stored is exactly what was checked even if the original changes meanwhile. It is staged under its own name in a
    private folder of SAMPLES_DIR (error messages name the file as the user knows it) and moved into place with
    ``os.replace``: readers never see a partial file. The same content stored again leaves the first copy alone.
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise ApplicationError(f"No samples file {str(source)!r}.")
    root = samples_dir()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        copy = staging / source.name
        _copy_capped(source, copy)
        try:
            loaded = read_samples_file(copy)
        except SamplesFileError as exc:
            raise ApplicationError(str(exc)) from exc
        with copy.open("rb") as probe:
            suffix = ".jsonl.gz" if probe.read(2) == b"\x1f\x8b" else ".jsonl"
        stored = root / f"{loaded.sha256}{suffix}"
        if not stored.is_file():
            os.replace(copy, stored)
        return stored
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy_capped(source: Path, target: Path) -> None:
    copied = 0
    try:
        with source.open("rb") as src, target.open("xb") as dst:
            while chunk := src.read(1 << 20):
                copied += len(chunk)
                if copied > MAX_SAMPLES_FILE_BYTES:
                    raise ApplicationError(f"{source.name} is larger than {MAX_SAMPLES_FILE_BYTES >> 20} MiB.")
                dst.write(chunk)
    except OSError as exc:
        raise ApplicationError(f"Cannot read samples file {source}: {exc.strerror or exc}.") from exc


@dataclass(frozen=True)
class _Plan:
    """The endpoint a spec describes: what to register, and what an existing endpoint must match to be reused."""

    backend: str
    name: str
    model: str
    base_url: str  # "" for the backend's default
    api_key: str | None


def _plan(spec: ModelSpec) -> _Plan:
    if spec.backend in MODEL_BACKENDS:
        key = os.environ.get(KEY_VARIABLES.get(spec.backend, ""), "").strip() or None
        return _Plan(spec.backend, spec.target, spec.target, "", key)
    if spec.backend == Backend.HF:
        # As given: the backend resolves a relative name inside HF_MODEL_DIRS (or takes it as a Hub id).
        return _Plan(spec.backend, f"hf:{Path(spec.target.rstrip('/')).name}", "", spec.target, None)
    if spec.backend == Backend.SAMPLES:
        try:
            stored = samples_file_store(spec.target)
        except ApplicationError as exc:
            raise ApplicationError(f"{spec.raw!r}: {exc.message}", extra={"spec": spec.raw}) from exc
        digest = stored.name.split(".", 1)[0]
        return _Plan(spec.backend, f"samples:{Path(spec.target).name}@{digest[:8]}", "", str(stored), None)
    return _Plan(Backend.REFERENCE, "reference", "", "", None)


def _normalised_location(plan: _Plan) -> str | None:
    """The base URL registration would store, or None when it would be refused (registration then says why)."""
    try:
        if plan.backend in MODEL_BACKENDS:
            # Normalising needs no DNS lookup; the SSRF guard runs when an endpoint is registered and at every call.
            return validate_base_url(plan.base_url or default_base_url(plan.backend), resolve=False)
        return backend_class(plan.backend).validate_location(plan.base_url)
    except (ValueError, UnknownBackend):
        return None


def _reusable(actor, project: Project, plan: _Plan) -> ModelEndpoint | None:
    location = _normalised_location(plan)
    if location is None:
        return None
    candidates = model_endpoint_list(user=actor, project=project, verb="evaluate").filter(
        backend=plan.backend, base_url=location
    )
    if plan.backend in MODEL_BACKENDS:  # the served model: ``model``, or the name when that is blank
        candidates = candidates.filter(Q(model=plan.model) | Q(model="", name=plan.model))
    return candidates.order_by("pk").first()


def _free_name(project: Project, name: str) -> str:
    taken = set(ModelEndpoint.objects.filter(project=project).values_list("name", flat=True))
    candidate, number = name[:_NAME_MAX], 1
    while candidate in taken:
        number += 1
        suffix = f"-{number}"
        candidate = name[: _NAME_MAX - len(suffix)] + suffix
    return candidate


def _registered(actor, project: Project, spec: ModelSpec) -> ModelEndpoint:
    qs = model_endpoint_list(user=actor, project=project, verb="evaluate")
    endpoint = qs.filter(name=spec.target).first()
    if endpoint is None:
        raise ApplicationError(
            f"{spec.raw!r}: no model endpoint of that name in {project}; "
            f"register one with backend:target ({_EXAMPLE}).",
            extra={"spec": spec.raw},
            status_code=404,
        )
    return endpoint


@transaction.atomic
def endpoint_for_spec(*, actor, project: Project, spec: ModelSpec) -> ModelEndpoint:
    """The project's endpoint for ``spec``: an existing one that matches it (unchanged), else a new registration.

    For openai, anthropic and gemini a new endpoint stores the key from OPENAI_API_KEY, ANTHROPIC_API_KEY or
    GEMINI_API_KEY, encrypted, when that variable is set. This is not an ``api_key_env`` reference: the CLI runs as
    the operator, so these variables are the operator's own credentials, handed over explicitly, much as a key is
    typed into ``models add``; ``MODEL_API_KEY_ENV_ALLOWLIST`` governs which server-wide variables API users may
    name, and stays as the operator set it. A missing key is no error here: the first generation reports it.
    """
    if not project_user_can(user=actor, project=project, action="evaluate"):
        raise ApplicationError("Your role in this project does not allow evaluating models.", status_code=403)
    if spec.backend is None:
        return _registered(actor, project, spec)
    # Concurrent runs with the same spec wait here, then reuse the endpoint the first one registered.
    list(Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True))
    plan = _plan(spec)
    existing = _reusable(actor, project, plan)
    if existing is not None:
        return existing
    try:
        return model_endpoint_create(
            actor=actor,
            project=project,
            name=_free_name(project, plan.name),
            backend=plan.backend,
            model=plan.model,
            base_url=plan.base_url,
            api_key=plan.api_key,
        )
    except ApplicationError as exc:
        raise type(exc)(
            f"{spec.raw!r}: {exc.message}", extra={"spec": spec.raw, **exc.extra}, status_code=exc.status_code
        ) from exc
