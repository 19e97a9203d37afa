"""Syntax highlighting without markup from the model: Pygments tokenizes, the template escapes every token.

Pygments comes with ``rich`` (a base dependency). The result is a list of ``(css_class, text)`` pairs; templates
render ``<span class="{{ cls }}">{{ text }}</span>`` with autoescape on, so model output is never marked safe.
"""

from pygments.lexers import PythonLexer
from pygments.token import STANDARD_TYPES

MAX_HIGHLIGHTED_CHARS = 200_000


def code_tokens(code: str) -> list[tuple[str, str]]:
    """``(css_class, text)`` for each token of ``code`` (Python); very long texts come back as one plain token."""
    if not code:
        return []
    if len(code) > MAX_HIGHLIGHTED_CHARS:
        return [("", code)]
    tokens = []
    for token_type, text in PythonLexer(stripnl=False, ensurenl=False).get_tokens(code):
        while token_type not in STANDARD_TYPES:
            token_type = token_type.parent
        css = STANDARD_TYPES[token_type]
        if tokens and tokens[-1][0] == css:
            tokens[-1] = (css, tokens[-1][1] + text)
        else:
            tokens.append((css, text))
    return tokens
