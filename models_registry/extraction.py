"""Code extraction from model outputs (pure functions, no Django).

Chat models answer with prose, markdown fences, a repeat of the prompt's signature, example calls and tests.
``extract_code`` finds the code that implements the entry point and returns what to append to the prompt so that
``prompt + completion`` is a program defining the entry point once, with the model's body and the helpers and imports
that body needs; everything else (prints, example calls, asserts, ``if __name__ == "__main__":`` blocks) is dropped.
When nothing usable is found the result says why: an extraction failure is its own outcome, not a model error.

Completion models are cut at the standard HumanEval stop sequences instead (``truncate_at_stop``).
"""

import ast
import re
import textwrap
from dataclasses import dataclass
from enum import StrEnum

HUMANEVAL_STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
PYTHON_FENCE_LANGUAGES = {"", "python", "py", "python3", "py3"}
MAX_LINES = 5000  # longer outputs are searched in their first lines only
_MAX_CONTINUATION = 40
_CODE_START = re.compile(r"^(async\s+def|def|class|import|from\s+\S+\s+import|@)\b|^@")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w.+-]*)[^\n`]*$")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom, ast.Assign)


class ExtractionMethod(StrEnum):
    FENCE = "fence"  # a markdown fence holding the entry point's definition
    FENCE_BODY = "fence_body"  # a fence holding only the function's body
    TEXT = "text"  # unfenced code among prose
    TEXT_BODY = "text_body"  # the output is the function's body, as a completion model would write it
    FAILED = "failed"


@dataclass(frozen=True)
class ExtractionResult:
    """The raw output unchanged, and what was extracted from it (``completion`` to append to the prompt)."""

    raw: str
    completion: str
    program: str  # prompt + completion (or the extracted code alone when the prompt holds no definition)
    method: ExtractionMethod
    failure: str = ""  # why nothing usable was found; empty on success
    signature_changed: bool = False  # the model renamed parameters: its definition replaces the prompt's

    @property
    def ok(self) -> bool:
        return self.method != ExtractionMethod.FAILED


def truncate_at_stop(text: str, stop: tuple[str, ...] = HUMANEVAL_STOP_SEQUENCES) -> str:
    """``text`` up to the first stop sequence (a completion model's continuation ends where a new block starts)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut]


# --- finding code ---------------------------------------------------------------------------------------------------
def _parses(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):  # ValueError: null bytes
        return None


def fenced_blocks(text: str) -> list[str]:
    """The contents of Python (or unlabeled) markdown fences, in order; an unclosed last fence runs to the end."""
    blocks: list[str] = []
    current: list[str] | None = None  # the lines of the Python fence being read
    marker = ""  # the fence being read (Python or not); "" outside fences
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if not marker:
            if match:
                marker = match.group(1)
                current = [] if match.group(2).lower() in PYTHON_FENCE_LANGUAGES else None
        elif match and match.group(1).startswith(marker) and not match.group(2):
            if current is not None:
                blocks.append(textwrap.dedent("\n".join(current)))
            current, marker = None, ""
        elif current is not None:
            current.append(line)
    if current:
        blocks.append(textwrap.dedent("\n".join(current)))
    return blocks


def _strip_other_fences(text: str) -> list[str]:
    """Lines outside fences of other languages (their contents are output or shell, never the answer)."""
    out, skipping = [], ""
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if skipping:
            if match and match.group(1).startswith(skipping) and not match.group(2):
                skipping = ""
            continue
        if match and match.group(2).lower() not in PYTHON_FENCE_LANGUAGES:
            skipping = match.group(1)
            continue
        out.append("" if match else line)
    return out


def code_windows(text: str) -> str:
    """The longest runs of lines that parse as Python, each starting at a definition or import, joined."""
    lines = _strip_other_fences(text)[:MAX_LINES]
    windows, start = [], 0
    while start < len(lines):
        if not _CODE_START.match(lines[start]):
            start += 1
            continue
        end = _longest_parsing_end(lines, start)
        if end is None:
            start += 1
            continue
        windows.append("\n".join(lines[start:end]))
        start = end
    return "\n\n".join(windows)


def _next_boundary(lines: list[str], index: int) -> int:
    """The next line after ``index`` that starts a top-level statement (non-blank, in column 0), or the end."""
    index += 1
    while index < len(lines) and (not lines[index].strip() or lines[index][:1] in (" ", "\t")):
        index += 1
    return index


def _longest_parsing_end(lines: list[str], start: int) -> int | None:
    """Extend from ``start`` one top-level statement at a time while the statements parse.

    A statement may span several column-0 lines (decorators, ``else:``, a closing bracket): up to
    ``_MAX_CONTINUATION`` of them are tried together. Each parse covers one statement, so the search stays linear.
    """
    end = start
    while end < len(lines):
        stop = _next_boundary(lines, end)
        for _ in range(_MAX_CONTINUATION):
            if _parses("\n".join(lines[end:stop])) is not None:
                break
            if stop >= len(lines):
                stop = None
                break
            stop = _next_boundary(lines, stop)
        else:
            stop = None
        if stop is None:
            break
        end = stop
    return end if end > start else None


# --- keeping what the entry point needs ---------------------------------------------------------------------------
def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, ast.Assign):
        return {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def _used_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _is_future_import(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


def _needed(statements: list[ast.stmt], entry: ast.stmt, already_defined: set[str]) -> list[ast.stmt]:
    """The definitions, imports and constants reachable from ``entry``, in source order; the rest is dropped."""
    providers: dict[str, ast.stmt] = {}
    for node in statements:
        if isinstance(node, (*_DEFINITIONS, ast.AnnAssign)) and not _is_future_import(node):
            for name in _bound_names(node):
                providers[name] = node  # a later definition wins, as it would at run time
    kept, queue = {id(entry): entry}, list(_used_names(entry))
    while queue:
        name = queue.pop()
        node = providers.get(name)
        if node is None or id(node) in kept or name in _bound_names(entry):
            continue  # a later rebinding of the entry point's name (test code's imports of it) is not needed
        if name in already_defined and not isinstance(node, ast.Import | ast.ImportFrom):
            continue  # the prompt's own helper: the model's copy of it is not the one the tests expect
        kept[id(node)] = node
        queue.extend(_used_names(node))
    return [node for node in statements if id(node) in kept]


@dataclass(frozen=True)
class _Prompt:
    source: str
    definition: ast.FunctionDef | ast.AsyncFunctionDef | None
    top_level: set[str]  # names the prompt binds at module level (its imports and helpers)
    ends_with_definition: bool = True  # a body appended to the prompt lands in the entry point


def _read_prompt(prompt: str, entry_point: str) -> _Prompt:
    tree = _parses(prompt)
    if tree is None:
        return _Prompt(prompt, None, set())
    definition = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == entry_point),
        None,
    )
    names = set().union(*(_bound_names(n) for n in tree.body)) if tree.body else set()
    return _Prompt(prompt, definition, names - {entry_point}, definition is not None and definition is tree.body[-1])


def _segment(lines: list[str], node: ast.stmt) -> str:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "\n".join(lines[first - 1 : node.end_lineno])


def _arguments(definition) -> list[str]:
    a = definition.args
    names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    return [*names, f"*{a.vararg.arg}" if a.vararg else "", f"**{a.kwarg.arg}" if a.kwarg else ""]


def _body_lines(lines: list[str], definition) -> str | None:
    body = definition.body
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        body = body[1:]  # the docstring: the prompt has its own
    if not body:
        return None
    return "\n".join(lines[body[0].lineno - 1 : definition.end_lineno])


def _prompt_body_indent(prompt: _Prompt) -> str:
    node = prompt.definition.body[0]
    return " " * node.col_offset


def _from_code(
    code: str, prompt: _Prompt, entry_point: str
) -> tuple[str, bool] | str:  # (completion, signature_changed) or a failure reason
    tree = _parses(code)
    if tree is None:
        return "The code does not parse."
    definitions = [
        n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == entry_point
    ]
    if not definitions:
        return f"The code does not define {entry_point}()."
    entry = definitions[-1]
    lines = code.split("\n")
    others = [_segment(lines, n) for n in _needed(tree.body, entry, prompt.top_level) if n is not entry]
    prompt_lines = {line.strip() for line in prompt.source.split("\n")}
    helpers = "".join(f"\n\n{segment}" for segment in others if segment.strip() not in prompt_lines)
    if prompt.definition is None:
        return "\n\n".join([*others, _segment(lines, entry)]) + "\n", False
    if _arguments(entry) != _arguments(prompt.definition) or not prompt.ends_with_definition:
        # Renamed parameters (the body would use names the prompt's signature lacks), or code after the prompt's
        # definition (an appended body would not land in it): the model's whole definition replaces the prompt's.
        return "\n" + "\n\n".join([*others, _segment(lines, entry)]) + "\n", True
    body = _body_lines(lines, entry)
    if body is None:
        return f"The model's {entry_point}() has no body beyond its docstring."
    indent = _prompt_body_indent(prompt)
    completion = textwrap.indent(textwrap.dedent(body), indent, lambda line: True) + "\n" + helpers
    return completion.rstrip("\n") + "\n", False


def _from_body(code: str, prompt: _Prompt) -> str | None:
    """``code`` as the function's body (what a completion-style answer is), or None when it is not one."""
    if prompt.definition is None or not prompt.ends_with_definition:
        return None
    body = textwrap.dedent(code).strip("\n")
    tree = _parses(body)
    if not body or tree is None:
        return None
    if any(isinstance(n, _FUNCTIONS) and n.name == prompt.definition.name for n in tree.body):
        return None  # a definition of the entry point is not a body
    if all(isinstance(n, (ast.Expr, *_FUNCTIONS, ast.ClassDef, ast.Import, ast.ImportFrom)) for n in tree.body):
        return None  # bare words parse as expressions, definitions alone compute nothing: a body does something
    completion = _after(prompt.source, textwrap.indent(body, _prompt_body_indent(prompt), lambda line: True) + "\n")
    return completion if _defines_once(prompt.source + completion, prompt.definition.name) else None


def _after(prompt: str, completion: str) -> str:
    """``completion`` starting on a line of its own after ``prompt``."""
    return completion if prompt.endswith("\n") else "\n" + completion


def _defines_once(program: str, entry_point: str, *, times: int = 1) -> bool:
    tree = _parses(program)
    if tree is None:
        return False
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == entry_point]
    return len(found) == times


# --- the entry point ----------------------------------------------------------------------------------------------
def extract_code(raw: str, *, prompt: str, entry_point: str) -> ExtractionResult:
    """Extract the completion for ``prompt`` from a chat model's ``raw`` output."""
    text = raw.replace("\r\n", "\n")
    info = _read_prompt(prompt, entry_point)
    if not text.strip():
        return _failed(raw, "The model's output is empty.")
    fences = [block for block in fenced_blocks(text) if block.strip()]
    reasons = []
    candidates = [(ExtractionMethod.FENCE, block) for block in reversed(fences)]
    candidates += [(ExtractionMethod.FENCE, code_windows(block)) for block in reversed(fences)]
    candidates.append((ExtractionMethod.TEXT, code_windows(text)))
    merged = _merge_fences(fences, entry_point)
    if merged:
        candidates.insert(0, (ExtractionMethod.FENCE, merged))
    for method, code in candidates:
        if not code.strip():
            continue
        outcome = _from_code(code, info, entry_point)
        if isinstance(outcome, str):
            reasons.append(outcome)
            continue
        completion, changed = outcome
        result = _success(raw, info, entry_point, completion, method, changed)
        if result is not None:
            return result
        reasons.append("The extracted code does not compile together with the prompt.")
    for method, code in [
        *((ExtractionMethod.FENCE_BODY, b) for b in reversed(fences)),
        (ExtractionMethod.TEXT_BODY, text),
    ]:
        completion = _from_body(code, info)
        if completion is not None:
            return ExtractionResult(raw, completion, prompt + completion, method)
    if not fences and not code_windows(text).strip():
        return _failed(raw, "No Python code found in the output.")
    reason = next((r for r in reasons if "does not define" not in r), None) or f"No code defines {entry_point}()."
    return _failed(raw, reason)


def _merge_fences(fences: list[str], entry_point: str) -> str:
    """Every parsing fence, the last one defining the entry point placed last (its definitions win)."""
    parsed = [block for block in fences if _parses(block) is not None]
    defining = [b for b in parsed if re.search(rf"^(async\s+)?def\s+{re.escape(entry_point)}\s*\(", b, re.M)]
    if len(parsed) < 2 or not defining:
        return ""
    chosen = defining[-1]
    return "\n\n".join([*(b for b in parsed if b is not chosen), chosen])


def _success(raw, info: _Prompt, entry_point, completion, method, changed) -> ExtractionResult | None:
    if info.definition is None:
        program = completion
        if not _defines_once(program, entry_point):
            return None
        return ExtractionResult(raw, completion, program, method, signature_changed=changed)
    completion = _after(info.source, completion)
    program = info.source + completion
    if not _defines_once(program, entry_point, times=2 if changed else 1):
        return None
    return ExtractionResult(raw, completion, program, method, signature_changed=changed)


def _failed(raw: str, reason: str) -> ExtractionResult:
    return ExtractionResult(raw, "", "", ExtractionMethod.FAILED, failure=reason)
