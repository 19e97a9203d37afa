"""A suggested fix per pattern: a template per leaf, filled with the pattern's specifics (the missing module, the
attribute, the parser's message). Pure."""

from collections import Counter

from .choices import ErrorLeaf

PROMPT_HINT = "add it to the few-shot examples or the system prompt"


def _top(values: Counter | dict, n: int = 3) -> list[str]:
    return [str(value) for value, _ in Counter(values).most_common(n) if value not in ("", None)]


def _listed(values: list[str]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _name_error(d: dict) -> str:
    imports = _listed(_top(d.get("import") or {}))
    names = _top(d.get("name") or {})
    if imports:
        return (
            f"The model uses {_listed(names)} without importing it; add the import ({imports}) to the few-shot "
            f"examples or the system prompt, or ask for complete programs with their imports."
        )
    return (
        f"The model calls {_listed(names) or 'names'} that it never defines (often a helper it meant to write); ask "
        f"for self-contained solutions that define every helper, and {PROMPT_HINT}."
    )


def _import_error(d: dict) -> str:
    modules = _top(d.get("module") or {})
    return (
        f"The model imports {_listed(modules) or 'modules'} that the execution environment does not have; say in the "
        f"prompt that only the standard library (and the environment's packages) is available, or add "
        f"{'them' if len(modules) > 1 else 'it'} to the execution environment if the task allows."
    )


def _attribute_error(d: dict) -> str:
    attributes = _top(d.get("attribute") or {})
    types = _top(d.get("object_type") or {})
    return (
        f"The model calls {_listed(attributes) or 'attributes'} on {_listed(types) or 'objects'} that do not have "
        f"them (an API from another type or language); {PROMPT_HINT} showing the right method."
    )


def _wrong_signature(d: dict) -> str:
    functions = _top(d.get("function") or {})
    return (
        f"Calls to {_listed(functions) or 'functions'} do not match their signature (argument count, keyword or a "
        f"renamed entry point); keep the prompt's function signature verbatim and show it in the examples."
    )


TEMPLATES = {
    ErrorLeaf.MISSING_PARENTHESIS: lambda d: (
        f"Brackets or quotes are left unbalanced ({_listed(_top(d.get('parser_message') or {})) or 'parser error'}); "
        "lower the temperature or add a syntax check and a retry."
    ),
    ErrorLeaf.INDENTATION: lambda d: (
        "The completion's indentation does not fit the prompt's function body; make sure completions continue the "
        "body at its indentation (strip or re-indent in extraction), and keep tabs out of the examples."
    ),
    ErrorLeaf.INVALID_SYNTAX: lambda d: (
        f"The code does not parse ({_listed(_top(d.get('parser_message') or {})) or 'invalid syntax'}); check the "
        "extraction (prose or markdown left in the code) and lower the temperature."
    ),
    ErrorLeaf.INCOMPLETE_CODE: lambda d: (
        "The output stops in the middle of the code (truncated or degenerate); raise max_tokens, check the stop "
        "sequences, and watch for repetition loops."
    ),
    ErrorLeaf.EXTRACTION_FAILED: lambda d: (
        "No code was found in the output; ask for a single fenced Python block, or use a completion-style prompt."
    ),
    ErrorLeaf.NAME_ERROR: _name_error,
    ErrorLeaf.IMPORT_ERROR: _import_error,
    ErrorLeaf.ATTRIBUTE_ERROR: _attribute_error,
    ErrorLeaf.WRONG_SIGNATURE: _wrong_signature,
    ErrorLeaf.TYPE_ERROR: lambda d: (
        "Values of the wrong type reach an operation (often None from a missing return, or str/int mixed); add "
        "type-annotated examples and check every path returns a value."
    ),
    ErrorLeaf.INDEX_ERROR: lambda d: (
        "Indexing runs past the end of a sequence (empty inputs or loop bounds); add edge-case examples (empty, "
        "one element) to the prompt."
    ),
    ErrorLeaf.KEY_ERROR: lambda d: "Lookups of missing keys; show `dict.get` / `defaultdict` in the examples.",
    ErrorLeaf.VALUE_ERROR: lambda d: (
        "Conversions or calls get values they cannot handle (e.g. int('') or min([])); add examples with empty and "
        "malformed inputs."
    ),
    ErrorLeaf.ZERO_DIVISION: lambda d: "Division by zero on edge inputs; add examples where the divisor is zero.",
    ErrorLeaf.RECURSION: lambda d: (
        "Recursion without a reachable base case (or too deep); prefer iterative solutions in the examples."
    ),
    ErrorLeaf.WRONG_ANSWER: lambda d: (
        f"The code runs but returns wrong results{' on ' + _listed(_top(d.get('assertion') or {}, 2)) if d.get('assertion') else ''}; "  # noqa: E501
        "this is a logic error: use chain-of-thought or more worked examples for this task family."
    ),
    ErrorLeaf.OFF_BY_ONE: lambda d: (
        "Results are off by exactly one (a boundary: range ends, < versus <=, inclusive counts); add boundary "
        "examples to the prompt."
    ),
    ErrorLeaf.TIMEOUT: lambda d: (
        "The program is too slow for the time limit; ask for an efficient algorithm or check the limit is fair."
    ),
    ErrorLeaf.INFINITE_LOOP: lambda d: (
        f"A loop can never end ({_listed(_top(d.get('loop') or {}, 1)) or 'no exit'}); the loop variable is never "
        "updated or no exit exists — add examples whose loops visibly progress."
    ),
    ErrorLeaf.MEMORY: lambda d: "The program exhausts memory; ask for solutions that do not build huge structures.",
    ErrorLeaf.EXITED_EARLY: lambda d: (
        "The program exits (sys.exit, os._exit) before its tests finish; tell the model to define functions only, "
        "with no script code."
    ),
    ErrorLeaf.CRASHED: lambda d: (
        "The process crashed (a signal, e.g. ctypes or a native library); check the code for native calls."
    ),
    ErrorLeaf.UNKNOWN: lambda d: (
        f"Failures outside the hierarchy ({_listed(_top(d.get('exception') or {})) or 'unknown'}); curate a title "
        "and fix for this pattern."
    ),
}


def suggested_fix(error_type: str, details: dict) -> str:
    """The fix for a pattern of ``error_type``; ``details`` maps each specific (``name``, ``module``…) to value
    counts gathered from the pattern's samples."""
    return TEMPLATES[ErrorLeaf(error_type)](details or {})


def merge_details(details: dict, specifics: dict, count: int = 1) -> dict:
    """``details`` with one more sample's ``specifics`` counted (values are kept short, at most 20 per key)."""
    merged = {key: dict(values) for key, values in (details or {}).items()}
    for key, value in (specifics or {}).items():
        if value in ("", None) or isinstance(value, (dict, list)):
            continue
        bucket = merged.setdefault(key, {})
        text = str(value)[:120]
        if text in bucket or len(bucket) < 20:
            bucket[text] = bucket.get(text, 0) + count
    return merged
