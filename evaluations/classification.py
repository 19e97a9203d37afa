"""Why a sample failed: its status and exception, mapped to an ErrorCategory."""

import builtins
import re

from evaluations.choices import ErrorCategory, SampleStatus

_BY_STATUS = {
    SampleStatus.FAILED: ErrorCategory.SEMANTIC_ASSERTION,
    SampleStatus.TIMEOUT: ErrorCategory.PERFORMANCE_TIMEOUT,
    SampleStatus.MEMORY: ErrorCategory.PERFORMANCE_MEMORY,
    SampleStatus.EXITED_EARLY: ErrorCategory.EXITED_EARLY,
    SampleStatus.CRASHED: ErrorCategory.CRASHED,
    SampleStatus.EXTRACTION_FAILED: ErrorCategory.EXTRACTION_FAILED,
}

# Built-in exception names, most specific first along any MRO: the first one an exception's MRO meets decides.
_BY_EXCEPTION = {
    "IndentationError": ErrorCategory.SYNTAX_INDENTATION,
    "SyntaxError": ErrorCategory.SYNTAX_INVALID,
    "TypeError": ErrorCategory.SEMANTIC_TYPE,
    "NameError": ErrorCategory.SEMANTIC_NAME,
    "AttributeError": ErrorCategory.SEMANTIC_ATTRIBUTE,
    "IndexError": ErrorCategory.SEMANTIC_INDEX,
    "KeyError": ErrorCategory.SEMANTIC_INDEX,
    "ValueError": ErrorCategory.SEMANTIC_VALUE,
    "ImportError": ErrorCategory.SEMANTIC_IMPORT,
    "AssertionError": ErrorCategory.SEMANTIC_ASSERTION,
    "MemoryError": ErrorCategory.PERFORMANCE_MEMORY,
}

# The sandbox reports only a class's __name__; these common non-builtin ones have a known built-in base.
_KNOWN_BASES = {
    "JSONDecodeError": "ValueError",  # json
    "StatisticsError": "ValueError",  # statistics
    "UnsupportedOperation": "ValueError",  # io (also an OSError)
    "AxisError": "ValueError",  # numpy (also an IndexError)
    "LinAlgError": "ValueError",  # numpy.linalg
}

# CPython 3.11's wording when the parser ran out of input or a token was left open (missing, not misplaced).
_MISSING_TOKENS = re.compile(
    r"was never closed|unterminated|unexpected EOF|EOF (?:while|in multi-line)|\bexpected\b|\bexpecting\b"
    r"|forgot a comma|incomplete input",
    re.IGNORECASE,
)


def classify(status: str, exception_type: str | None, exception_message: str | None) -> str:
    """The ErrorCategory value of a sample's outcome, or "" when it passed."""
    if status == SampleStatus.PASSED:
        return ""
    if status in _BY_STATUS:
        return _BY_STATUS[status].value
    if status != SampleStatus.ERROR:
        raise ValueError(f"unknown sample status {status!r}")
    category = _exception_category(exception_type or "")
    if category == ErrorCategory.SYNTAX_INVALID and _MISSING_TOKENS.search(exception_message or ""):
        return ErrorCategory.SYNTAX_MISSING_TOKENS.value
    return category.value


def _exception_category(exception_type: str) -> ErrorCategory:
    name = exception_type.rsplit(".", 1)[-1].strip()
    name = _KNOWN_BASES.get(name, name)
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        return ErrorCategory.SEMANTIC_OTHER
    for base in cls.__mro__:
        if base.__name__ in _BY_EXCEPTION:
            return _BY_EXCEPTION[base.__name__]
    return ErrorCategory.SEMANTIC_OTHER
