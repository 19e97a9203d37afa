"""Static code-quality metrics of a program (radon): never executes the code."""

import ast
import functools
import warnings
from dataclasses import asdict, dataclass

from radon.metrics import h_visit_ast, mi_compute
from radon.raw import analyze
from radon.visitors import ComplexityVisitor

# Radon's raw counter re-tokenizes a multi-line string or bracket once per line it spans (quadratic: a 20,000-character
# docstring takes about a second), so degenerate outputs beyond this are not measured. Real completions are far shorter.
MAX_SOURCE_CHARS = 20_000


@dataclass(frozen=True)
class QualityMetrics:
    """Radon's metrics of one program."""

    cyclomatic_complexity: int
    maintainability_index: float
    loc: int
    lloc: int
    sloc: int
    halstead_volume: float

    def as_dict(self) -> dict:
        return asdict(self)


def code_quality(source: str) -> QualityMetrics | None:
    """Quality metrics of the source, or None when it does not parse or is longer than MAX_SOURCE_CHARS."""
    if not isinstance(source, str) or len(source) > MAX_SOURCE_CHARS:
        return None
    return _code_quality(source)


# Many samples are identical (greedy decoding, short canonical answers): the same text is measured once.
@functools.lru_cache(maxsize=4096)
def _code_quality(source: str) -> QualityMetrics | None:
    try:
        return _measure(source)
    # Anything the parser, radon's tokenizer or its visitors trip on (NUL bytes, surrogates, nesting too deep to
    # recurse) means the program cannot be measured; a metric must never fail the evaluation around it.
    except Exception:
        return None


def _measure(source: str) -> QualityMetrics:
    with warnings.catch_warnings():
        # Candidate code is full of invalid escape sequences; the warnings say nothing about quality.
        warnings.simplefilter("ignore")
        tree = ast.parse(source)
    # One parse shared by every visitor: radon's cc_visit, h_visit and mi_visit would each parse again.
    complexity = ComplexityVisitor.from_ast(tree)
    volume = h_visit_ast(tree).total.volume
    raw = analyze(source)
    # The maintainability index as mi_visit(source, multi=True) computes it, from the parts already measured.
    comment_lines = raw.comments + raw.multi
    comments = comment_lines / raw.sloc * 100 if raw.sloc else 0
    maintainability = mi_compute(volume, complexity.total_complexity, raw.lloc, comments)
    return QualityMetrics(
        cyclomatic_complexity=max((block.complexity for block in complexity.blocks), default=1),
        maintainability_index=round(maintainability, 2),
        loc=raw.loc,
        lloc=raw.lloc,
        sloc=raw.sloc,
        halstead_volume=round(volume, 2),
    )
