# Copyright (c) Microsoft Corporation. Licensed under the MIT license.
"""Token helpers of the data-flow extractors and the comment stripper, as in codebleu 0.7.0 (parser/utils.py)."""

import re
import tokenize
from io import StringIO

from .hashorder import set_order

_LEAF_TYPES = ("string_literal", "string", "character_literal")  # kept whole: one token, one data-flow node
_C_LIKE_COMMENT = re.compile(r'//.*?$|/\*.*?\*/|\'(?:\\.|[^\\\'])*\'|"(?:\\.|[^\\"])*"', re.DOTALL | re.MULTILINE)


def unique_names(names: list) -> list:
    """``names`` without repeats, in the order ``list(set(names))`` has in CPython run with PYTHONHASHSEED=0.

    The reference writes ``list(set(names))``; its order follows the process's string hashes and decides how names
    are numbered in the normalized graph, so the reference's data-flow score varies from process to process. Ours is
    that of one fixed seed (see ``hashorder``): the same in every process, and equal to the reference run with
    PYTHONHASHSEED=0.
    """
    return set_order(names)


def remove_comments_and_docstrings(source: str, lang: str) -> str:
    """``source`` without comments (and Python docstrings) and without blank lines; may raise on untokenizable code."""
    if lang == "python":
        return _python_without_comments(source)
    out = _C_LIKE_COMMENT.sub(lambda m: " " if m.group(0).startswith("/") else m.group(0), source)
    return "\n".join(line for line in out.split("\n") if line.strip())


def _python_without_comments(source: str) -> str:
    out = []
    prev_toktype = tokenize.INDENT
    last_lineno = -1
    last_col = 0
    for tok in tokenize.generate_tokens(StringIO(source).readline):
        token_type, token_string, (start_line, start_col), (end_line, end_col), _ = tok
        if start_line > last_lineno:
            last_col = 0
        if start_col > last_col:
            out.append(" " * (start_col - last_col))
        if token_type == tokenize.COMMENT:
            pass
        elif token_type == tokenize.STRING:
            # A string that starts a statement is a docstring, unless it continues an expression on its line.
            if prev_toktype not in (tokenize.INDENT, tokenize.NEWLINE) and start_col > 0:
                out.append(token_string)
        else:
            out.append(token_string)
        prev_toktype = token_type
        last_col = end_col
        last_lineno = end_line
    return "\n".join(line for line in "".join(out).split("\n") if line.strip())


def _is_token(node) -> bool:
    return (node.child_count == 0 or node.type in _LEAF_TYPES) and node.type != "comment"


def tree_to_token_index(root_node) -> list:
    """(start, end) points of the code tokens under ``root_node``, in source order."""
    found = []
    stack = [root_node]
    while stack:
        node = stack.pop()
        if _is_token(node):
            found.append((node.start_point, node.end_point))
        else:
            stack.extend(reversed(node.children))
    return found


def tree_to_variable_index(root_node, index_to_code) -> list:
    """(start, end) points of the tokens under ``root_node`` that are not keywords or punctuation."""
    if _is_token(root_node):
        index = (root_node.start_point, root_node.end_point)
        _, code = index_to_code[index]
        return [index] if root_node.type != code else []
    found = []
    for child in root_node.children:
        found += tree_to_variable_index(child, index_to_code)
    return found


def index_to_code_token(index, code: list[str]) -> str:
    (start_row, start_col), (end_row, end_col) = index
    if start_row == end_row:
        return code[start_row][start_col:end_col]
    return code[start_row][start_col:] + "".join(code[start_row + 1 : end_row]) + code[end_row][:end_col]
