"""What every importer produces, and the errors it reports (line and field named)."""

import ast
from dataclasses import dataclass, field

from codequal.exceptions import ApplicationError

MAX_REPORTED_ERRORS = 50


class SuiteImportError(ApplicationError):
    """The import was refused; ``extra["errors"]`` lists every problem found (line and field)."""


@dataclass
class ParsedProblem:
    """One row read from a source, before expected outputs are recorded and the reference is checked."""

    line: int
    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str = ""
    setup: str = ""
    parts: list[dict] = field(default_factory=list)
    # part name -> argument lists whose expected outputs come from running the reference solution
    record: dict[str, list] = field(default_factory=dict)
    # part name -> how recorded outputs become a generated check test ("not_none", "set_eq"), instead of io
    special: dict[str, str] = field(default_factory=dict)
    difficulty: str = ""
    category: str = ""
    language: str = "python"
    prompt_is_code: bool = True
    metadata: dict = field(default_factory=dict)


class RowErrors:
    """Collects "line N: field 'x' ..." messages; raises them together."""

    def __init__(self):
        self.messages: list[str] = []

    def add(self, line: int, message: str) -> None:
        self.messages.append(f"line {line}: {message}")

    def field(self, line: int, name: str, message: str) -> None:
        self.add(line, f"field '{name}' {message}")

    def raise_if_any(self, source: str = "") -> None:
        if not self.messages:
            return
        shown = self.messages[:MAX_REPORTED_ERRORS]
        more = len(self.messages) - len(shown)
        extra = {"errors": shown}
        if more:
            extra["more_errors"] = more
        where = f" in {source}" if source else ""
        count = f" ({len(self.messages)} errors)" if len(self.messages) > 1 else ""
        raise SuiteImportError(f"Nothing was imported{where}{count}: {shown[0]}", extra=extra)


def require_str(row: dict, name: str, line: int, errors: RowErrors, *, required: bool = True, blank: bool = False):
    if name not in row or row[name] is None:
        if required:
            errors.field(line, name, "is missing")
        return ""
    value = row[name]
    if isinstance(value, int) and not isinstance(value, bool) and name == "task_id":
        value = str(value)
    if not isinstance(value, str):
        errors.field(line, name, f"must be a string, not {type(value).__name__}")
        return ""
    if required and not blank and not value.strip():
        errors.field(line, name, "is empty")
    return value


def require_identifier(row: dict, name: str, line: int, errors: RowErrors) -> str:
    value = require_str(row, name, line, errors)
    if value and not value.isidentifier():
        errors.field(line, name, f"is not a Python function name: {value!r}")
        return ""
    return value


def python_error(source: str) -> str | None:
    """Why ``source`` is not valid Python, or None."""
    try:
        ast.parse(source)
    except SyntaxError as exc:
        return f"{exc.msg} (its line {exc.lineno})"
    except ValueError as exc:
        return str(exc)
    return None


def defines_function(source: str, name: str) -> bool:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name for n in tree.body)


def check_duplicates(problems: list[ParsedProblem], errors: RowErrors) -> None:
    seen: dict[str, int] = {}
    for p in problems:
        if p.task_id in seen:
            errors.field(p.line, "task_id", f"{p.task_id!r} repeats line {seen[p.task_id]}")
        else:
            seen[p.task_id] = p.line
