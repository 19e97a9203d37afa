"""The original MBPP JSONL (text, code, test_list, test_setup_code, task_id).

The prompt is the task text followed by the first test, inside a docstring, as the MBPP paper's prompt shows the
model one test so it knows the function's name and signature (and as MBPP+ writes its prompts). The reference is
``code``; the tests are ``test_list`` run as assert statements after ``test_setup_code``.
"""

import ast

from ..harnesses import part_spec
from .base import ParsedProblem, RowErrors, check_duplicates, python_error, require_str
from .sources import Source, jsonl_rows


def mbpp_prompt(text: str, first_test: str) -> str:
    return f'"""\n{text.strip()}\n{first_test.strip()}\n"""\n'


def _called_names(statement: str) -> list[str]:
    try:
        tree = ast.parse(statement)
    except (SyntaxError, ValueError):
        return []
    return [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]


def _defined_functions(code: str) -> set[str]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def entry_point_from_tests(code: str, tests: list[str]) -> str:
    """The first function that the reference defines and the tests call (ast order: outermost call first)."""
    defined = _defined_functions(code)
    for statement in tests:
        for name in _called_names(statement):
            if name in defined:
                return name
    return ""


def parse_mbpp(source: Source) -> list[ParsedProblem]:
    errors, problems = RowErrors(), []
    for line, row in jsonl_rows(source, errors):
        task_id = require_str(row, "task_id", line, errors)
        text = require_str(row, "text", line, errors)
        code = require_str(row, "code", line, errors)
        setup = require_str(row, "test_setup_code", line, errors, required=False)
        tests = row.get("test_list")
        if tests is None:
            errors.field(line, "test_list", "is missing")
            continue
        if not isinstance(tests, list) or not tests or not all(isinstance(t, str) and t.strip() for t in tests):
            errors.field(line, "test_list", "must be a non-empty list of assert statements")
            continue
        bad = [(i, python_error(t)) for i, t in enumerate(tests, start=1)]
        bad = [(i, why) for i, why in bad if why]
        for i, why in bad:
            errors.field(line, "test_list", f"item {i} is not valid Python: {why}")
        if code and (why := python_error(code)):
            errors.field(line, "code", f"is not valid Python: {why}")
        if bad or not code or not text:
            continue
        entry_point = entry_point_from_tests(code, tests)
        if not entry_point:
            errors.field(line, "test_list", "calls no function that 'code' defines: cannot tell the entry point")
            continue
        problems.append(
            ParsedProblem(
                line=line,
                task_id=task_id,
                prompt=mbpp_prompt(text, tests[0]),
                entry_point=entry_point,
                canonical_solution=code,
                setup=setup,
                parts=[part_spec(name="base", kind="asserts", asserts=tuple(tests))],
                metadata={"challenge_test_list": row.get("challenge_test_list") or []},
            )
        )
    check_duplicates(problems, errors)
    errors.raise_if_any(source.reference)
    return problems
