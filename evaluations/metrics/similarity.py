"""``ast_similarity``: how close a sample's program is in structure to the problem's canonical solution.

Both programs (prompt + completion, prompt + canonical solution) are parsed with Python's ``ast`` and flattened to
their node types in pre-order (``FunctionDef``, ``For``, ``BinOp``, ``Add``, ``Name``...; names, values and the
load/store context left out, so renaming a variable changes nothing). The similarity is the Dice coefficient of the
longest common subsequence of the two sequences, ``2 * LCS / (len_a + len_b)``: 1 for the same structure, 0 for
nothing in common, symmetric and deterministic. Both sides contain the prompt, whose signature and docstring count
as common structure.
"""

import ast

from .base import BaseMetric, MetricInput
from .registry import register_metric


def node_types(code: str) -> list[str]:
    """The node types of ``code`` in pre-order; raises ValueError when it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError) as exc:
        raise ValueError(f"The program does not parse: {exc}") from exc
    out: list[str] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        out.append(type(node).__name__)
        children = [c for c in ast.iter_child_nodes(node) if not isinstance(c, ast.expr_context)]
        stack.extend(reversed(children))
    return out


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Allison and Dix, 1986): one big-integer step per
    element of ``b``, ``O(len(a) * len(b) / word size)``."""
    if len(a) < len(b):
        a, b = b, a
    masks: dict[str, int] = {}
    for position, item in enumerate(a):
        masks[item] = masks.get(item, 0) | (1 << position)
    full = (1 << len(a)) - 1
    row = full
    for item in b:
        matched = row & masks.get(item, 0)
        row = ((row + matched) | (row - matched)) & full
    return len(a) - row.bit_count()


def ast_similarity(code: str, reference: str) -> dict:
    a = node_types(code)
    try:
        b = node_types(reference)
    except ValueError as exc:
        raise ValueError(f"The canonical solution does not parse: {exc.__cause__ or exc}") from None
    common = lcs_length(a, b)
    return {"similarity": round(2 * common / (len(a) + len(b)), 6), "nodes": len(a), "reference_nodes": len(b)}


@register_metric
class AstSimilarity(BaseMetric):
    name = "ast_similarity"
    description = (
        "Structural similarity of the program to the canonical solution: 2 * LCS / (len_a + len_b) of their AST "
        "node-type sequences (pre-order), in [0, 1]; Python only."
    )
    value_range = (0, 1)
    higher_is_better = True
    summary_fields = ("similarity",)

    def compute(self, sample: MetricInput) -> dict:
        if sample.language != "python":
            raise ValueError(f"ast_similarity reads Python only, not {sample.language}.")
        if not sample.reference_program:
            raise ValueError("The problem has no canonical solution to compare with.")
        return ast_similarity(sample.program, sample.reference_program)
