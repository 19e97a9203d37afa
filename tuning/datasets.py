"""Tuning examples from evaluation samples: error names, the builder and the JSONL export. Pure: no ORM.

Error names. A failed Sample carries a coarse ``error_category`` (``semantic.type``, evaluations/choices.py). When
the error-analysis app is installed (``errors.classification`` importable) the sample is also classified into its
fine leaf (``semantic.type_error``). ``sample_error_names`` gives every name a sample answers to:

- its coarse category, and the fine name it corresponds to one-to-one (``semantic.type`` -> ``semantic.type_error``),
  so filters written with fine names work without the error-analysis app;
- its fine leaf, when the classifier is there.

A filter term (``--errors syntax,type_error``) matches a name when it is the name itself, one of its families (a
prefix up to a dot: ``syntax`` matches every ``syntax.*``), or its last part (``type_error`` matches
``semantic.type_error``, hence also the samples stored as ``semantic.type``).

An example is ``{"input", "output", "error_type", "difficulty"}``: input is the problem's prompt (with ``repair``, the
failed attempt and its error as comments above it), output a passing solution of the same problem (another passing
sample, else the canonical solution), error_type the most specific name of the failure, difficulty 1 - the problem's
measured pass rate over the source samples (0 easy, 1 never solved).
"""

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from evaluations.choices import ErrorCategory

from .choices import DatasetSplit, DatasetStrategy, ExportFormat

# Coarse categories and the fine name each one is (where the fine hierarchy has exactly one counterpart).
COARSE_TO_FINE = {
    "syntax.indentation": "syntax.indentation",
    "syntax.invalid": "syntax.invalid_syntax",
    "semantic.type": "semantic.type_error",
    "semantic.name": "semantic.name_error",
    "semantic.attribute": "semantic.attribute_error",
    "semantic.value": "semantic.value_error",
    "semantic.import": "semantic.import_error",
    "semantic.assertion": "semantic.wrong_answer",
    "performance.timeout": "performance.timeout",
    "performance.memory": "performance.memory",
    "extraction_failed": "syntax.extraction_failed",
    "exited_early": "harness.exited_early",
    "crashed": "harness.crashed",
}
REPAIR_HEADER = "# A previous attempt failed with {error}:"
MAX_ATTEMPT_CHARS = 4000


def fine_classifier():
    """``errors.classification.classify_failure`` and the facts builder, or None without the error-analysis app."""
    try:
        from errors.classification import classify_failure
        from errors.facts import facts_from_sample
    except ImportError:
        return None
    return classify_failure, facts_from_sample


def known_error_names() -> set[str]:
    """Every error name a filter may use: coarse categories, their fine counterparts, and fine leaves if installed."""
    names = {c.value for c in ErrorCategory} | set(COARSE_TO_FINE.values())
    try:
        from errors.choices import ErrorLeaf
    except ImportError:
        pass
    else:
        names |= {leaf.value for leaf in ErrorLeaf}
    return names


def sample_error_names(row: Mapping, problem: Mapping | None = None, classifier=None) -> tuple[str, set[str]]:
    """(the most specific name, every name) of a failed sample; ``row`` holds the Sample's fields (error_category,
    status, error_type, error_message, completion, ...), ``problem`` its prompt, entry_point, test_spec, metadata."""
    names: set[str] = set()
    coarse = row.get("error_category") or ""
    if coarse:
        names.add(coarse)
        if coarse in COARSE_TO_FINE:
            names.add(COARSE_TO_FINE[coarse])
    specific = COARSE_TO_FINE.get(coarse, coarse)
    if classifier is not None and problem is not None and not row.get("passed"):
        classify, facts_from_sample = classifier
        try:
            leaf = classify(facts_from_sample(dict(row), dict(problem)))
        except Exception:  # the fine classifier is an optional refinement: a failure there keeps the coarse names
            leaf = ""
        if leaf:
            names.add(leaf)
            specific = leaf
    return specific, names


def parse_error_terms(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"syntax,type_error"`` (or a list) -> normalized terms; ValueError naming a term that matches no known name."""
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    terms = tuple(dict.fromkeys(t.strip().lower() for t in items if t and t.strip()))
    known = known_error_names()
    unknown = [t for t in terms if not any(term_matches(t, name) for name in known)]
    if unknown:
        families = sorted({n.split(".")[0] for n in known})
        raise ValueError(
            f"Unknown error name {unknown[0]!r}: use a family ({', '.join(families)}), a full name "
            "(semantic.type) or a last part (type_error)."
        )
    return terms


def term_matches(term: str, name: str) -> bool:
    return name == term or name.startswith(term + ".") or name.rsplit(".", 1)[-1] == term


def names_match(terms: Iterable[str], names: Iterable[str]) -> bool:
    names = list(names)
    return any(term_matches(term, name) for term in terms for name in names)


@dataclass(frozen=True)
class BuildOptions:
    strategy: str = DatasetStrategy.ERROR_SPECIFIC
    errors: tuple[str, ...] = ()  # filter terms; empty: every failure
    repair: bool = False  # input carries the failed attempt and its error
    use_canonical: bool = True  # fall back to the canonical solution when no sample of the problem passed
    held_out_fraction: float = 0.2
    seed: int = 0


@dataclass(frozen=True)
class Example:
    problem_id: int
    task_id: str
    suite: str
    sample_id: int | None
    input: str
    output: str
    rejected: str
    error_type: str
    error_names: tuple[str, ...]
    difficulty: float

    @property
    def content_hash(self) -> str:
        return hashlib.sha256("\0".join((self.input, self.output, self.rejected)).encode()).hexdigest()


@dataclass
class BuildResult:
    train: list[Example] = field(default_factory=list)
    held_out: list[Example] = field(default_factory=list)
    held_out_problems: list[int] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: {"no_solution": 0, "duplicates": 0, "no_attempt": 0})

    def counts(self) -> dict:
        by_type: dict[str, dict[str, int]] = defaultdict(lambda: {DatasetSplit.TRAIN: 0, DatasetSplit.HELD_OUT: 0})
        for split, examples in ((DatasetSplit.TRAIN, self.train), (DatasetSplit.HELD_OUT, self.held_out)):
            for example in examples:
                by_type[example.error_type or "unknown"][split] += 1
        return {
            "examples": {DatasetSplit.TRAIN: len(self.train), DatasetSplit.HELD_OUT: len(self.held_out)},
            "problems": {
                DatasetSplit.TRAIN: len({e.problem_id for e in self.train}),
                DatasetSplit.HELD_OUT: len(self.held_out_problems),
            },
            "by_error_type": {k: dict(v) for k, v in sorted(by_type.items())},
            "skipped": dict(self.skipped),
        }


def repair_input(prompt: str, attempt: str, error: str) -> str:
    """The prompt with the failed attempt and its error above it, as comments: the output still continues the prompt."""
    lines = (attempt or "")[:MAX_ATTEMPT_CHARS].splitlines() or [""]
    header = REPAIR_HEADER.format(error=error or "an error")
    return "\n".join([header, *(f"# {line}".rstrip() for line in lines), ""]) + prompt


def _error_label(row: Mapping) -> str:
    message = (row.get("error_message") or "").strip().splitlines()
    kind = row.get("error_type") or row.get("error_category") or row.get("status") or "an error"
    return f"{kind}: {message[0][:200]}" if message else kind


def build_examples(samples: list[Mapping], problems: Mapping[int, Mapping], options: BuildOptions) -> BuildResult:
    """Examples from ``samples`` (Sample fields plus ``problem_id``, ``passed``, ``id``) of ``problems`` (by id:
    task_id, suite, prompt, canonical_solution, entry_point, test_spec, metadata), split by problem."""
    classifier = fine_classifier()
    by_problem: dict[int, list[Mapping]] = defaultdict(list)
    for row in sorted(samples, key=lambda r: r["id"]):
        by_problem[row["problem_id"]].append(row)
    result = BuildResult()
    candidates: dict[int, list[Example]] = {}
    seen: set[str] = set()
    for problem_id, rows in sorted(by_problem.items(), key=lambda item: _problem_key(problems[item[0]])):
        problem = problems[problem_id]
        difficulty = round(1 - sum(bool(r["passed"]) for r in rows) / len(rows), 4)
        solutions = list(dict.fromkeys(r["completion"] for r in rows if r["passed"] and r["completion"].strip()))
        if not solutions and options.use_canonical and (problem.get("canonical_solution") or "").strip():
            solutions = [problem["canonical_solution"]]
        failures = []
        for row in rows:
            if row["passed"]:
                continue
            specific, names = sample_error_names(row, problem, classifier)
            if options.errors and not names_match(options.errors, names):
                continue
            failures.append((row, specific, names))
        if not failures:
            continue
        if not solutions:
            result.skipped["no_solution"] += len(failures)
            continue
        examples = []
        for i, (row, specific, names) in enumerate(failures):
            attempt = row.get("completion") or ""
            needs_attempt = options.repair or options.strategy == DatasetStrategy.CONTRASTIVE
            if needs_attempt and not attempt.strip():
                result.skipped["no_attempt"] += 1
                continue
            prompt = problem["prompt"]
            example = Example(
                problem_id=problem_id,
                task_id=problem["task_id"],
                suite=problem.get("suite", ""),
                sample_id=row["id"],
                input=repair_input(prompt, attempt, _error_label(row)) if options.repair else prompt,
                output=solutions[i % len(solutions)],
                rejected=attempt if options.strategy == DatasetStrategy.CONTRASTIVE else "",
                error_type=specific,
                error_names=tuple(sorted(names)),
                difficulty=difficulty,
            )
            if example.content_hash in seen:
                result.skipped["duplicates"] += 1
                continue
            seen.add(example.content_hash)
            examples.append(example)
        if examples:
            candidates[problem_id] = examples
    held = split_problems(
        sorted(candidates, key=lambda pid: _problem_key(problems[pid])), options.held_out_fraction, options.seed
    )
    result.held_out_problems = [pid for pid in candidates if pid in held]
    for problem_id, examples in candidates.items():
        (result.held_out if problem_id in held else result.train).extend(examples)
    if options.strategy == DatasetStrategy.CURRICULUM:
        # Stable: problems of equal difficulty keep their suite order, examples their sample order.
        result.train.sort(key=lambda e: e.difficulty)
        result.held_out.sort(key=lambda e: e.difficulty)
    return result


def _problem_key(problem: Mapping) -> tuple:
    return (problem.get("suite", ""), problem.get("ordinal", 0), problem["task_id"])


def split_problems(problem_ids: list[int], fraction: float, seed: int) -> set[int]:
    """The held-out problems: a seeded ``fraction`` (at least one, and never all, when there are two or more)."""
    if fraction <= 0 or len(problem_ids) < 2:
        return set()
    count = min(len(problem_ids) - 1, max(1, round(fraction * len(problem_ids))))
    shuffled = list(problem_ids)
    random.Random(seed).shuffle(shuffled)  # noqa: S311 - a reproducible split, not a secret
    return set(shuffled[:count])


def export_line(example: Mapping, fmt: str = ExportFormat.SFT) -> str:
    """One JSONL line of an example (a mapping with input, output, rejected, error_type, difficulty)."""
    if fmt == ExportFormat.PREFERENCE:
        data = {
            "prompt": example["input"],
            "chosen": example["output"],
            "rejected": example["rejected"],
            "error_type": example["error_type"],
            "difficulty": example["difficulty"],
        }
    else:
        data = {
            "input": example["input"],
            "output": example["output"],
            "error_type": example["error_type"],
            "difficulty": example["difficulty"],
        }
    return json.dumps(data, ensure_ascii=False) + "\n"
