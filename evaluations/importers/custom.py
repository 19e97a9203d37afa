"""The custom suite format (docs/suites.md): JSONL, or YAML (a list of problems, or {"problems": [...]})."""

import ast

import yaml

from ..choices import Difficulty
from ..harnesses import part_spec
from .base import (
    ParsedProblem,
    RowErrors,
    SuiteImportError,
    check_duplicates,
    python_error,
    require_identifier,
    require_str,
)
from .sources import Source, jsonl_rows, text_of

EXECUTABLE_LANGUAGES = {"python"}
KNOWN_FIELDS = {
    "task_id",
    "prompt",
    "entry_point",
    "tests",
    "canonical_solution",
    "difficulty",
    "category",
    "language",
    "setup",
    "metadata",
}


def _yaml_rows(source: Source, errors: RowErrors) -> list[tuple[int, dict]]:
    text = text_of(source)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise SuiteImportError(f"{source.reference} holds no problems.")
        if isinstance(root, yaml.MappingNode):
            items = [v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "problems"]
            root = items[0] if items else None
        if not isinstance(root, yaml.SequenceNode):
            raise SuiteImportError(f"{source.reference}: expected a list of problems (or a 'problems' list).")
        rows = []
        for node in root.value:
            line = node.start_mark.line + 1
            value = loader.construct_document(node)
            if not isinstance(value, dict):
                errors.add(line, f"expected a mapping, got {type(value).__name__}")
                continue
            rows.append((line, value))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise SuiteImportError(
            f"Nothing was imported: line {line}: not valid YAML: {getattr(exc, 'problem', exc)}",
            extra={"errors": [f"line {line}: not valid YAML: {exc}"]},
        ) from exc
    finally:
        loader.dispose()
    if not rows and not errors.messages:
        raise SuiteImportError(f"{source.reference} holds no problems.")
    return rows


def _is_yaml(source: Source) -> bool:
    if source.reference.lower().removesuffix(".gz").endswith((".yaml", ".yml")):
        return True
    head = source.data.lstrip()[:1]
    return head not in (b"{", b"")


def _tests_part(row: dict, line: int, errors: RowErrors) -> dict | None:
    tests = row.get("tests")
    if tests is None:
        errors.field(line, "tests", "is missing")
        return None
    if isinstance(tests, str):
        if why := python_error(tests):
            errors.field(line, "tests", f"is not valid Python: {why}")
            return None
        tree = ast.parse(tests)
        if not any(isinstance(n, ast.FunctionDef) and n.name == "check" for n in tree.body):
            errors.field(line, "tests", "as a string must define check(candidate)")
            return None
        return part_spec(name="base", kind="check", test=tests)
    if isinstance(tests, list) and tests and all(isinstance(t, str) and t.strip() for t in tests):
        ok = True
        for i, statement in enumerate(tests, start=1):
            if why := python_error(statement):
                errors.field(line, "tests", f"item {i} is not valid Python: {why}")
                ok = False
        return part_spec(name="base", kind="asserts", asserts=tuple(tests)) if ok else None
    errors.field(line, "tests", "must be a list of assert statements or a string defining check(candidate)")
    return None


def _parse_row(line: int, row: dict, errors: RowErrors) -> ParsedProblem | None:
    unknown = sorted(set(row) - KNOWN_FIELDS)
    if unknown:
        errors.field(
            line, unknown[0], f"is not a field of the custom format (fields: {', '.join(sorted(KNOWN_FIELDS))})"
        )
    language = row.get("language") or "python"
    if not isinstance(language, str) or language.strip().lower() not in EXECUTABLE_LANGUAGES:
        errors.field(line, "language", f"is {language!r}: only python problems can be executed today")
        return None
    task_id = require_str(row, "task_id", line, errors)
    prompt = require_str(row, "prompt", line, errors)
    entry_point = require_identifier(row, "entry_point", line, errors)
    canonical = require_str(row, "canonical_solution", line, errors, required=False)
    setup = require_str(row, "setup", line, errors, required=False)
    category = require_str(row, "category", line, errors, required=False)
    difficulty = require_str(row, "difficulty", line, errors, required=False).strip().lower()
    if difficulty and difficulty not in Difficulty.values:
        errors.field(line, "difficulty", f"must be one of {', '.join(Difficulty.values)}, not {difficulty!r}")
    metadata = row.get("metadata") or {}
    if not isinstance(metadata, dict):
        errors.field(line, "metadata", "must be a mapping")
    part = _tests_part(row, line, errors)
    if part is None or not (task_id and prompt and entry_point):
        return None
    prompt_is_code = python_error(prompt) is None
    if canonical and (why := python_error((prompt if prompt_is_code else "") + canonical)):
        errors.field(line, "canonical_solution", f"is not valid Python (after the prompt): {why}")
    if setup and (why := python_error(setup)):
        errors.field(line, "setup", f"is not valid Python: {why}")
    return ParsedProblem(
        line=line,
        task_id=task_id,
        prompt=prompt,
        entry_point=entry_point,
        canonical_solution=canonical,
        # Trusted code the tests may use: the given setup, else the prompt when it is code (HumanEval style).
        setup=setup or (prompt if prompt_is_code else ""),
        parts=[part],
        difficulty=difficulty if difficulty in Difficulty.values else "",
        category=category[:100],
        prompt_is_code=prompt_is_code,
        metadata=metadata if isinstance(metadata, dict) else {},
    )


def parse_custom(source: Source) -> list[ParsedProblem]:
    errors = RowErrors()
    rows = _yaml_rows(source, errors) if _is_yaml(source) else jsonl_rows(source, errors)
    problems = [p for line, row in rows if (p := _parse_row(line, row, errors)) is not None]
    check_duplicates(problems, errors)
    errors.raise_if_any(source.reference)
    return problems
