"""Signatures of failures: the leaf, the message with its specifics replaced by placeholders, and the failing construct,
hashed; and the deterministic clustering of similar signatures. Pure: no ORM, no I/O, never runs model code."""

import ast
import hashlib
import keyword
import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from .choices import ErrorLeaf
from .classification import (
    Diagnosis,
    FailureFacts,
    failing_assertion,
    missing_import,
    parse_program,
    program_source,
)

# Clustering: two signatures of one leaf join when "message | construct" are this similar (difflib's ratio, 0..1).
# 0.85 joins messages or assertion forms that differ in a word or two; messages must use the same kinds of
# placeholders ("name <import> is not defined" never joins "name <name> is not defined").
CLUSTER_THRESHOLD = 0.85
MAX_MESSAGE = 300

# Vocabulary kept in messages: built-in type names say what went wrong, unlike the program's own identifiers.
BUILTIN_TYPES = frozenset(
    {
        *("int", "float", "complex", "str", "bytes", "bytearray", "bool", "list", "tuple", "dict", "set"),
        *("frozenset", "NoneType", "range", "object", "type", "function", "builtin_function_or_method"),
        *("method", "generator", "map", "filter", "zip", "enumerate", "iterator", "slice", "module"),
    }
)
_LOCATION = re.compile(r"\s*\((?:<[^>]+>|[^()]*\.py), line \d+\)")
_DETECTED = re.compile(r"\(detected at line \d+\)")
_ON_LINE = re.compile(r"\bon line \d+")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:/[\w.\-]+){2,}/?")
_QUOTED = re.compile(r"'([^'\n]*)'|\"([^\"\n]*)\"")
_NUMBER = re.compile(r"(?<![\w<])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w>])", re.IGNORECASE)
_IDENTIFIER = re.compile(r"^[A-Za-z_][\w.]*$")
_SPACES = re.compile(r"\s+")
# Leaves whose messages quote values (int('three'), a missing key), not the program's identifiers.
_VALUE_LEAVES = {ErrorLeaf.VALUE_ERROR, ErrorLeaf.KEY_ERROR, ErrorLeaf.WRONG_ANSWER, ErrorLeaf.OFF_BY_ONE}


@dataclass(frozen=True)
class Signature:
    hash: str  # sha256 hex of leaf, normalized message and construct
    error_type: str
    message: str
    construct: str


def _quoted(match: re.Match, leaf: ErrorLeaf) -> str:
    inner = match.group(1) if match.group(1) is not None else match.group(2)
    if inner in BUILTIN_TYPES or keyword.iskeyword(inner):
        return f"'{inner}'"
    if _IDENTIFIER.match(inner) and leaf not in _VALUE_LEAVES:
        if leaf == ErrorLeaf.NAME_ERROR:
            # Which kind of name is missing tells apart "forgot an import" from "forgot to define a helper".
            return "<module>" if missing_import(inner) == inner else "<import>" if missing_import(inner) else "<name>"
        if leaf == ErrorLeaf.IMPORT_ERROR:
            return "<module>"
        return "<id>"
    if inner.startswith("(") or inner.startswith("[") or inner.startswith("{"):
        return f"'{inner[:1]}'"  # a bracket the parser names: the bracket kind is the specific, keep it
    return "<str>"


def normalize_message(message: str, leaf: ErrorLeaf | str = ErrorLeaf.UNKNOWN) -> str:
    """``message`` with locations, paths, hex addresses, quoted identifiers and literals, and numbers replaced by
    placeholders: ``name 'foo' is not defined`` -> ``name <name> is not defined``."""
    leaf = ErrorLeaf(leaf)
    text = (message or "").strip().splitlines()[0] if (message or "").strip() else ""
    text = _LOCATION.sub("", text)
    text = _DETECTED.sub("", text)
    text = _ON_LINE.sub("on line <n>", text)
    text = _HEX.sub("<addr>", text)
    text = _PATH.sub("<path>", text)
    text = _QUOTED.sub(lambda m: _quoted(m, leaf), text)
    text = _NUMBER.sub("<n>", text)
    return _SPACES.sub(" ", text).strip()[:MAX_MESSAGE]


def _statement_at(tree: ast.Module, line: int) -> ast.stmt | None:
    found = None
    for node in ast.walk(tree):
        inside = isinstance(node, ast.stmt) and node.lineno <= line <= (node.end_lineno or node.lineno)
        if inside and (found is None or node.lineno >= found.lineno):
            found = node
    return found


def _name_context(statement: ast.stmt, name: str) -> str:
    parents = {child: node for node in ast.walk(statement) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and node.id == name:
            parent = parents.get(node)
            if isinstance(parent, ast.Call) and parent.func is node:
                return "call"
            if isinstance(parent, ast.Attribute):
                return "attribute"
            return "name"
    return ""


def _expression_kind(statement: ast.stmt, diagnosis: Diagnosis) -> str:
    leaf, specifics = diagnosis.leaf, diagnosis.specifics
    if leaf == ErrorLeaf.NAME_ERROR and specifics.get("name"):
        return _name_context(statement, specifics["name"])
    kinds = {
        ErrorLeaf.INDEX_ERROR: ast.Subscript,
        ErrorLeaf.KEY_ERROR: ast.Subscript,
        ErrorLeaf.ATTRIBUTE_ERROR: ast.Attribute,
        ErrorLeaf.ZERO_DIVISION: ast.BinOp,
    }
    wanted = kinds.get(leaf)
    if wanted is not None and any(isinstance(n, wanted) for n in ast.walk(statement)):
        return wanted.__name__
    return ""


def assertion_form(assertion: str) -> str:
    """An assertion with its literals replaced by their types: ``assert candidate(<list>, <int>) == <bool>``."""

    class Literals(ast.NodeTransformer):
        def visit_Constant(self, node):
            return ast.Name(id=f"<{type(node.value).__name__}>")

        def visit_JoinedStr(self, node):
            return ast.Name(id="<str>")

        def generic_visit(self, node):
            if isinstance(node, (ast.List, ast.Tuple, ast.Dict, ast.Set)) and all(
                isinstance(n, (ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.UnaryOp, ast.expr_context))
                for n in ast.walk(node)
                if n is not node
            ):
                return ast.Name(id=f"<{type(node).__name__.lower()}>")
            return super().generic_visit(node)

    try:
        return ast.unparse(Literals().visit(ast.parse(assertion.strip())))[:MAX_MESSAGE]
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ""


def failing_construct(facts: FailureFacts, diagnosis: Diagnosis) -> str:
    """What failed, in the program's terms: the assertion form, the loop kind, or the statement (and expression) at
    the error line; "" when nothing can be located."""
    leaf = diagnosis.leaf
    if leaf in (ErrorLeaf.WRONG_ANSWER, ErrorLeaf.OFF_BY_ONE) and facts.status == "failed":
        assertion = failing_assertion(facts)
        form = assertion_form(assertion) if assertion else ""
        return form or (f"part:{diagnosis.specifics['part']}" if diagnosis.specifics.get("part") else "")
    if leaf == ErrorLeaf.INFINITE_LOOP:
        return "while-true" if diagnosis.specifics.get("loop", "").startswith("while True") else "while-stuck"
    if leaf.value.startswith("syntax.") or facts.line is None:
        return ""
    tree = parse_program(program_source(facts)) if facts.program else None
    statement = _statement_at(tree, facts.line) if tree is not None else None
    if statement is None:
        return ""
    # The expression that failed when one is known (a call of the missing name, a subscript), else the statement.
    return _expression_kind(statement, diagnosis) or type(statement).__name__


def signature_of(facts: FailureFacts, diagnosis: Diagnosis) -> Signature:
    """The failure's signature: sha256 over (leaf, normalized message, construct)."""
    leaf = diagnosis.leaf
    source = diagnosis.specifics.get("parser_message") if leaf.value.startswith("syntax.") else facts.message
    message = normalize_message(source or "", leaf)
    construct = failing_construct(facts, diagnosis)
    digest = hashlib.sha256("\x1f".join((leaf.value, message, construct)).encode()).hexdigest()
    return Signature(hash=digest, error_type=leaf.value, message=message, construct=construct)


_PLACEHOLDER = re.compile(r"<[A-Za-z_]+>")


def construct_shape(construct: str) -> str:
    """A construct with its literal types blurred: ``candidate(<int>) == <str>`` and ``candidate(<list>) == <bool>``
    have one shape (which literal types a test uses says little about the failure). Patterns show the shape."""
    return _PLACEHOLDER.sub("<v>", construct)


def _placeholders(message: str) -> list[str]:
    return sorted(set(_PLACEHOLDER.findall(message)))


def similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def nearest_cluster(signature: Signature, heads: list[Signature], threshold: float = CLUSTER_THRESHOLD) -> int | None:
    """Index of the head ``signature`` joins (same leaf, most similar message and construct, first on ties)."""
    best, best_score = None, threshold
    for index, head in enumerate(heads):
        if head.error_type != signature.error_type or construct_shape(head.construct) != construct_shape(
            signature.construct
        ):
            continue
        if _placeholders(head.message) != _placeholders(signature.message):
            continue  # placeholders carry the kind ("<import>" versus "<name>"): different kinds never join
        score = similarity(head.message, signature.message)
        if score > best_score or (best is None and score >= threshold):
            best, best_score = index, score
    return best


def cluster_signatures(signatures: list[Signature], threshold: float = CLUSTER_THRESHOLD) -> dict[str, str]:
    """signature hash -> the hash of its cluster's head. Deterministic: signatures are taken in sorted order and each
    joins the most similar earlier head, or starts a cluster."""
    heads: list[Signature] = []
    assigned: dict[str, str] = {}
    for signature in sorted(set(signatures), key=lambda s: (s.error_type, s.construct, s.message, s.hash)):
        index = nearest_cluster(signature, heads, threshold)
        if index is None:
            heads.append(signature)
            assigned[signature.hash] = signature.hash
        else:
            assigned[signature.hash] = heads[index].hash
    return assigned
