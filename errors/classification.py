"""Fine-grained classification of a failed sample: its structured outcome -> an ErrorLeaf, with the specifics.

Pure: no ORM, no I/O, and never runs model code. Syntax errors are re-diagnosed by CPython's own parser
(``compile`` only). The runs store the coarse category (evaluations/classification.py); this refines it from the
same outcome: status, exception type, message, line, traceback tail, the failing assertion, and the program.
"""

import ast
import builtins
import codeop
import re
import sys
from dataclasses import dataclass, field

from .choices import ErrorLeaf
from .loops import non_terminating_loop

MAX_SOURCE_CHARS = 200_000  # longer programs are not re-parsed (the stored message still classifies them)
ENTRY_STUB = "def __prompt__():\n"

_BY_STATUS = {
    "extraction_failed": ErrorLeaf.EXTRACTION_FAILED,
    "memory": ErrorLeaf.MEMORY,
    "crashed": ErrorLeaf.CRASHED,
    "exited_early": ErrorLeaf.EXITED_EARLY,
}
# Built-in exception classes, most specific first along an MRO: the first one an exception's MRO meets decides.
_BY_EXCEPTION = {
    "RecursionError": ErrorLeaf.RECURSION,
    "ImportError": ErrorLeaf.IMPORT_ERROR,
    "NameError": ErrorLeaf.NAME_ERROR,
    "TypeError": ErrorLeaf.TYPE_ERROR,
    "AttributeError": ErrorLeaf.ATTRIBUTE_ERROR,
    "IndexError": ErrorLeaf.INDEX_ERROR,
    "KeyError": ErrorLeaf.KEY_ERROR,
    "ZeroDivisionError": ErrorLeaf.ZERO_DIVISION,
    "ValueError": ErrorLeaf.VALUE_ERROR,
    "OverflowError": ErrorLeaf.VALUE_ERROR,  # a numeric value out of range ("math range error")
    "AssertionError": ErrorLeaf.WRONG_ANSWER,  # the program's own assert: its logic rejected its input
    "MemoryError": ErrorLeaf.MEMORY,
}
# The sandbox reports a class's __name__ only; these common non-builtin ones have a known built-in base.
_KNOWN_BASES = {
    "JSONDecodeError": "ValueError",
    "StatisticsError": "ValueError",
    "UnsupportedOperation": "ValueError",
    "AxisError": "ValueError",
    "LinAlgError": "ValueError",
    "InvalidOperation": "ArithmeticError",
    "DivisionByZero": "ZeroDivisionError",
}
_SYNTAX_TYPES = {"SyntaxError", "IndentationError", "TabError"}
_INDENTATION_TYPES = {"IndentationError", "TabError"}
# CPython 3.11's wording for a bracket or quote left open, or closed without an opening one.
_MISSING_PAREN = re.compile(
    r"was never closed|unmatched '|does not match opening parenthesis|unterminated (?:triple-quoted )?string"
    r"|EOF while scanning|EOL while scanning",
    re.IGNORECASE,
)
_ARITY = re.compile(
    r"(?P<function>[\w.<>]+)\(\) (?:takes (?:from )?\d+ (?:to \d+ )?positional arguments? but \d+ (?:were|was) given"
    r"|missing \d+ required (?:positional|keyword-only) arguments?|got an unexpected keyword argument"
    r"|got multiple values for argument|takes no (?:keyword )?arguments|takes exactly (?:one|\d+) arguments?)"
)
_NAME = re.compile(r"name '(?P<name>[^']+)' is not defined")
_MODULE = re.compile(r"No module named '(?P<module>[^']+)'|cannot import name '(?P<name>[^']+)'")
_ATTRIBUTE = re.compile(r"'(?P<type>[^']+)' object has no attribute '(?P<attribute>[^']+)'")
_MODULE_ATTRIBUTE = re.compile(r"module '(?P<type>[^']+)' has no attribute '(?P<attribute>[^']+)'")
_TEST_FRAME = re.compile(r'File "<test>", line (\d+)')
# Expected and actual values in an assertion message or a failed part, as tests commonly write them.
_EXPECTED_GOT = (
    re.compile(
        r"expected:?\s*(?P<expected>.+?)[,;]?\s+(?:but\s+)?(?:got|actual|received):?\s*(?P<got>.+)", re.I | re.S
    ),
    re.compile(
        r"(?:got|actual|received):?\s*(?P<got>.+?)[,;]?\s+(?:but\s+)?expected:?\s*(?P<expected>.+)", re.I | re.S
    ),
    re.compile(r"^\s*(?P<got>[^!=]+?)\s*!=\s*(?P<expected>[^!=]+?)\s*$", re.S),
)
# Names that commonly appear unimported in generated code, and their module: a NameError on them is a missing import.
COMMON_IMPORTS = {
    "Counter": "collections",
    "defaultdict": "collections",
    "deque": "collections",
    "OrderedDict": "collections",
    "reduce": "functools",
    "lru_cache": "functools",
    "cache": "functools",
    "combinations": "itertools",
    "permutations": "itertools",
    "product": "itertools",
    "accumulate": "itertools",
    "sqrt": "math",
    "floor": "math",
    "ceil": "math",
    "gcd": "math",
    "factorial": "math",
    "log": "math",
    "pi": "math",
    "mean": "statistics",
    "median": "statistics",
    "List": "typing",
    "Tuple": "typing",
    "Dict": "typing",
    "Optional": "typing",
    "Any": "typing",
    "np": "numpy",
    "pd": "pandas",
    "re": "re",
}
STDLIB_MODULES = frozenset(sys.stdlib_module_names)


@dataclass(frozen=True)
class FailureFacts:
    """What is known about one failed sample: the sandbox outcome and the code, never the model's name."""

    status: str
    exception_type: str = ""
    message: str = ""
    line: int | None = None
    traceback_tail: str = ""
    output_tail: str = ""
    parts: dict = field(default_factory=dict)
    completion: str = ""
    program: str = ""  # the whole program (prompt + completion) when known; else rebuilt from the completion
    finish_reason: str = ""
    entry_point: str = ""
    test_source: str = ""  # the failing part's test code (check kind), to find the failing assertion

    @property
    def exception_name(self) -> str:
        return (self.exception_type or "").rsplit(".", 1)[-1].strip()


@dataclass(frozen=True)
class ParserDiagnosis:
    """CPython's own verdict on a program that does not compile."""

    type: str
    message: str
    line: int | None
    incomplete: bool  # the parser wanted more input: the text stops inside a construct


@dataclass(frozen=True)
class Diagnosis:
    leaf: ErrorLeaf
    specifics: dict = field(default_factory=dict)  # e.g. {"name": "math"}: what recommendations quote


def program_source(facts: FailureFacts) -> str:
    """The program to inspect: the one that ran when known, else the completion (indented bodies under a stub)."""
    if facts.program:
        return facts.program
    text = facts.completion or ""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return ENTRY_STUB + text if first[:1] in (" ", "\t") else text


def parse_program(source: str) -> ast.Module | None:
    """The AST of ``source``, or None when it does not parse (or is too large or deep to try)."""
    if not source or len(source) > MAX_SOURCE_CHARS:
        return None
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None


def parser_diagnosis(source: str) -> ParserDiagnosis | None:
    """Compile (never run) ``source``; None if it compiles. ``incomplete`` uses codeop's incomplete-input mode."""
    if not source or len(source) > MAX_SOURCE_CHARS:
        return None
    try:
        compile(source, "<candidate>", "exec", dont_inherit=True)
        return None
    except SyntaxError as exc:
        error = exc
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return ParserDiagnosis(type(exc).__name__, str(exc), None, False)
    flags = codeop.PyCF_ALLOW_INCOMPLETE_INPUT | codeop.PyCF_DONT_IMPLY_DEDENT
    try:
        compile(source, "<candidate>", "exec", flags, dont_inherit=True)
        incomplete = False
    except SyntaxError as exc:
        incomplete = exc.msg == "incomplete input"
    except (ValueError, RecursionError, MemoryError, OverflowError):
        incomplete = False
    return ParserDiagnosis(type(error).__name__, error.msg or "", error.lineno, incomplete)


def classify_failure(facts: FailureFacts) -> str:
    """The ErrorLeaf value of a failed sample ("" when it passed)."""
    return diagnose(facts).leaf.value if facts.status != "passed" else ""


def diagnose(facts: FailureFacts) -> Diagnosis:
    """The leaf of a failed sample and the specifics its recommendation quotes."""
    status = facts.status
    if status in _BY_STATUS:
        return Diagnosis(_BY_STATUS[status], _exit_specifics(facts))
    if status == "timeout":
        loop = non_terminating_loop(parse_program(program_source(facts)))
        return Diagnosis(ErrorLeaf.INFINITE_LOOP, {"loop": loop}) if loop else Diagnosis(ErrorLeaf.TIMEOUT)
    if status == "failed":
        return _assertion_diagnosis(facts)
    if status == "error":
        return _exception_diagnosis(facts)
    return Diagnosis(ErrorLeaf.UNKNOWN, {"status": status})


def _exit_specifics(facts: FailureFacts) -> dict:
    return {"exception": facts.exception_name} if facts.exception_name else {}


# --- exceptions ------------------------------------------------------------------------------------------------------


def exception_base(name: str) -> str:
    """The built-in class of the hierarchy that decides ``name``'s leaf ("" for none)."""
    name = _KNOWN_BASES.get(name, name)
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        return ""
    return next((base.__name__ for base in cls.__mro__ if base.__name__ in _BY_EXCEPTION), "")


def _exception_diagnosis(facts: FailureFacts) -> Diagnosis:
    name = facts.exception_name
    if name in _SYNTAX_TYPES:
        return _syntax_diagnosis(facts)
    base = exception_base(name)
    message = facts.message or ""
    if not base:
        return Diagnosis(ErrorLeaf.UNKNOWN, {"exception": name or "?"})
    leaf = _BY_EXCEPTION[base]
    if leaf == ErrorLeaf.NAME_ERROR and (found := _NAME.search(message)):
        undefined = found["name"]
        # The harness looks the entry point up itself: a name the program never mentions was that lookup.
        source = program_source(facts)
        harness_lookup = bool(source) and not re.search(rf"\b{re.escape(undefined)}\b", source)
        if (facts.entry_point and undefined == facts.entry_point) or (harness_lookup and not facts.entry_point):
            return Diagnosis(ErrorLeaf.WRONG_SIGNATURE, {"function": undefined, "kind": "missing_entry_point"})
        module = missing_import(undefined)
        statement = (
            "" if not module else f"import {module}" if module == undefined else f"from {module} import {undefined}"
        )
        return Diagnosis(leaf, {"name": undefined, "module": module, "import": statement})
    if leaf == ErrorLeaf.TYPE_ERROR and (found := _ARITY.search(message)):
        return Diagnosis(ErrorLeaf.WRONG_SIGNATURE, {"function": found["function"], "kind": "arity"})
    if leaf == ErrorLeaf.IMPORT_ERROR and (found := _MODULE.search(message)):
        module = found["module"] or found["name"]
        return Diagnosis(leaf, {"module": module, "stdlib": module.split(".")[0] in STDLIB_MODULES})
    if leaf == ErrorLeaf.ATTRIBUTE_ERROR and (found := _ATTRIBUTE.search(message) or _MODULE_ATTRIBUTE.search(message)):
        return Diagnosis(leaf, {"object_type": found["type"], "attribute": found["attribute"]})
    return Diagnosis(leaf, {"exception": name})


def missing_import(name: str) -> str:
    """The module a NameError's name most likely needed ("" when it looks like the program's own name)."""
    if name in STDLIB_MODULES:
        return name
    return COMMON_IMPORTS.get(name, "")


# --- syntax ----------------------------------------------------------------------------------------------------------


def _syntax_diagnosis(facts: FailureFacts) -> Diagnosis:
    source = program_source(facts)
    found = parser_diagnosis(source)
    truncated = facts.finish_reason == "length" or (found is not None and found.incomplete)
    truncated = truncated or _stops_in_string(found, source)
    if found is not None and source != (facts.program or facts.completion):
        found = None  # parsed under a stub: trusted only to say that the text stops mid-construct
    message = found.message if found else re.sub(r"\s*\(<candidate>, line \d+\)\s*$", "", facts.message or "")
    kind = found.type if found else facts.exception_name
    specifics = {"parser_message": message}
    if truncated:
        return Diagnosis(ErrorLeaf.INCOMPLETE_CODE, specifics)
    if kind in _INDENTATION_TYPES:
        return Diagnosis(ErrorLeaf.INDENTATION, specifics)
    if _MISSING_PAREN.search(message):
        return Diagnosis(ErrorLeaf.MISSING_PARENTHESIS, specifics)
    return Diagnosis(ErrorLeaf.INVALID_SYNTAX, specifics)


def _stops_in_string(found: ParserDiagnosis | None, source: str) -> bool:
    """A string left open on the program's last line: the output was cut in the middle of it."""
    if found is None or found.line is None or "unterminated" not in found.message:
        return False
    lines = source.rstrip().splitlines()
    return found.line >= len(lines)


# --- assertions ------------------------------------------------------------------------------------------------------


def failing_assertion(facts: FailureFacts) -> str:
    """The source line of the test's failing assertion, when the traceback names its line in the test code."""
    lines = _TEST_FRAME.findall(facts.traceback_tail or "")
    if not lines or not facts.test_source:
        return ""
    source_lines = facts.test_source.splitlines()
    number = int(lines[-1])
    return source_lines[number - 1].strip() if 0 < number <= len(source_lines) else ""


def expected_and_got(facts: FailureFacts) -> tuple[object, object] | None:
    """(expected, actual) when the assertion message or a failed part reports both, as Python literals."""
    for part in (facts.parts or {}).values():
        if isinstance(part, dict) and not part.get("passed") and "expected" in part and "got" in part:
            return part["expected"], part["got"]
    message = (facts.message or "").strip()
    for pattern in _EXPECTED_GOT:
        found = pattern.search(message)
        if found:
            expected, got = _literal(found["expected"]), _literal(found["got"])
            if expected is not _MISSING and got is not _MISSING:
                return expected, got
    return None


_MISSING = object()


def _literal(text: str):
    try:
        return ast.literal_eval(text.strip().rstrip(".").strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _MISSING


def off_by_one(expected, got) -> bool:
    """Numbers exactly 1 apart, or sequences equal but for one element at either end."""
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(got, numbers):
        if isinstance(expected, bool) or isinstance(got, bool):
            return False
        return abs(expected - got) == 1
    sequences = (list, tuple, str)
    if isinstance(expected, sequences) and type(expected) is type(got) and abs(len(expected) - len(got)) == 1:
        longer, shorter = (expected, got) if len(expected) > len(got) else (got, expected)
        return bool(longer[1:] == shorter or longer[:-1] == shorter)
    return False


def _assertion_diagnosis(facts: FailureFacts) -> Diagnosis:
    specifics = {}
    if assertion := failing_assertion(facts):
        specifics["assertion"] = assertion
    failed_part = next(
        (
            name
            for name, part in (facts.parts or {}).items()
            if isinstance(part, dict) and part.get("status") == "failed"
        ),
        "",
    )
    if failed_part:
        specifics["part"] = failed_part
    pair = expected_and_got(facts)
    if pair is not None and off_by_one(*pair):
        return Diagnosis(ErrorLeaf.OFF_BY_ONE, {**specifics, "expected": repr(pair[0]), "got": repr(pair[1])})
    return Diagnosis(ErrorLeaf.WRONG_ANSWER, specifics)
