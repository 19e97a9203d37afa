"""The languages CodeBLEU reads: their tree-sitter grammars and keyword lists (the reference's, per language)."""

from functools import cache
from importlib import import_module

from tree_sitter import Language, Parser

from .keywords import KEYWORDS

# Name -> the PyPI grammar module (tree-sitter-<name>); the versions are pinned in requirements/base.txt.
GRAMMARS = {
    "python": "tree_sitter_python",
    "javascript": "tree_sitter_javascript",
    "java": "tree_sitter_java",
    "cpp": "tree_sitter_cpp",
    "go": "tree_sitter_go",
}
LANGUAGES = tuple(GRAMMARS)
ALIASES = {"py": "python", "js": "javascript", "c++": "cpp", "golang": "go"}


class UnsupportedLanguage(ValueError):
    """A language CodeBLEU has no grammar or keyword list for."""


def language_name(lang: str) -> str:
    """The canonical name of ``lang`` (case and a few aliases forgiven); raises UnsupportedLanguage."""
    name = ALIASES.get(lang.strip().lower(), lang.strip().lower())
    if name not in GRAMMARS:
        raise UnsupportedLanguage(f"CodeBLEU does not support language {lang!r}; supported: {', '.join(LANGUAGES)}.")
    return name


@cache
def tree_sitter_language(lang: str) -> Language:
    return Language(import_module(GRAMMARS[lang]).language())


def new_parser(lang: str) -> Parser:
    """A parser of its own for each scorer: tree-sitter parsers must not be shared between threads."""
    parser = Parser()
    parser.language = tree_sitter_language(lang)
    return parser


@cache
def keywords(lang: str) -> frozenset[str]:
    """The words the weighted n-gram match counts in full (others weigh 0.2)."""
    return frozenset(KEYWORDS[lang])
