"""CodeBLEU of one prediction against one reference, equal to ``codebleu.calc_codebleu([reference], [prediction])``.

Each program is read once (tokens, n-grams, comment-free parse, subtrees, data flow) and kept in an LRU cache, so a
reference shared by many predictions is parsed once; the pair is then scored from counters, never by scanning lists.
The reference package's quirks are kept on purpose, since its numbers are the ones people compare against:

- weighted n-gram match: its brevity penalty compares the prediction's length with 2 (the length of its internal
  ``[tokens, weights]`` pair), not with the reference's length;
- the combined score counts a data-flow match of 0 (none extracted, or none matched) as 1.
"""

import math
from collections import Counter
from dataclasses import asdict, dataclass
from functools import lru_cache

from .dfg import data_flow, normalize_dataflow, remove_comments_and_docstrings
from .languages import keywords, language_name, new_parser

DEFAULT_WEIGHTS = (0.25, 0.25, 0.25, 0.25)
COMPONENTS = ("ngram_match", "weighted_ngram_match", "syntax_match", "dataflow_match")
_ORDERS = (1, 2, 3, 4)  # BLEU-4, uniform weights
_EPSILON = 0.1  # smoothing of an n-gram order without matches (NLTK's method1)
_OTHER_TOKEN_WEIGHT = 0.2  # a token that is not a keyword counts this much in the weighted match


@dataclass(frozen=True)
class CodeBLEU:
    codebleu: float
    ngram_match: float
    weighted_ngram_match: float
    syntax_match: float
    dataflow_match: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Program:
    """What scoring needs of one program, on either side of a pair."""

    length: int  # whitespace tokens
    ngrams: tuple[Counter, ...]  # per order 1-4
    ngram_totals: tuple[int, ...]  # n-grams per order, at least 1 (the denominators)
    weighted_unigrams: float  # sum of count x keyword weight over its unigrams (used when it is the reference)
    subtrees: Counter  # S-expression of every subtree with children (and the root) -> count
    subtree_count: int
    dataflow: Counter  # normalized data-flow edge -> count
    dataflow_edges: int


def validate_weights(weights) -> tuple[float, float, float, float]:
    """Four non-negative numbers summing to 1 (alpha, beta, gamma, theta); raises ValueError naming the problem."""
    try:
        values = tuple(float(w) for w in weights)
    except (TypeError, ValueError):
        raise ValueError("weights must be a list of four numbers.") from None
    if len(values) != 4:
        raise ValueError(
            f"weights must be four numbers (n-gram, weighted n-gram, syntax, data flow), not {len(values)}."
        )
    if any(not math.isfinite(w) or w < 0 for w in values):
        raise ValueError("weights must be finite and non-negative.")
    if abs(sum(values) - 1) > 1e-9:
        raise ValueError(f"weights must sum to 1 (they sum to {sum(values):g}).")
    return values


class CodeBLEUScorer:
    """Scores pairs in one language with fixed weights; reuse one scorer for many pairs (it caches programs)."""

    def __init__(self, lang: str = "python", weights=DEFAULT_WEIGHTS, cache_size: int = 512):
        self.lang = language_name(lang)
        self.weights = validate_weights(weights)
        self._parser = new_parser(self.lang)
        self._keywords = keywords(self.lang)
        # References recur (one per problem, many samples each); predictions seldom do. A read program holds every
        # subtree's S-expression (4 kB for a typical HumanEval program, 30 kB at most), hence bounded caches.
        self._reference = lru_cache(maxsize=cache_size)(self._read)
        self._prediction = lru_cache(maxsize=max(1, cache_size // 4))(self._read)

    def score(self, prediction: str, reference: str) -> CodeBLEU:
        hyp = self._prediction(prediction.strip())
        ref = self._reference(reference.strip())
        ngram, weighted = _ngram_matches(hyp, ref, self._keywords)
        # Every subtree of the reference found in the prediction counts, however often the prediction has it.
        syntax = sum(ref.subtrees[s] for s in ref.subtrees.keys() & hyp.subtrees.keys()) / ref.subtree_count
        dataflow = _overlap(ref.dataflow, hyp.dataflow) / ref.dataflow_edges if ref.dataflow_edges else 0.0
        alpha, beta, gamma, theta = self.weights
        total = alpha * ngram + beta * weighted + gamma * syntax + theta * (dataflow or 1)
        return CodeBLEU(total, ngram, weighted, syntax, dataflow)

    def _read(self, code: str) -> _Program:
        tokens = code.split()
        ngrams = tuple(Counter(zip(*(tokens[i:] for i in range(n)), strict=False)) for n in _ORDERS)
        try:
            clean = remove_comments_and_docstrings(code, self.lang)
        except Exception:  # untokenizable code is parsed as it is, as the reference does
            clean = code
        root = self._parser.parse(clean.encode()).root_node
        subtrees = _subtrees(root)
        edges = [
            (name, relation, tuple(parents))
            for name, relation, parents in normalize_dataflow(data_flow(root, clean, self.lang))
        ]
        return _Program(
            length=len(tokens),
            ngrams=ngrams,
            ngram_totals=tuple(max(1, sum(c.values())) for c in ngrams),
            weighted_unigrams=_weighted_sum(ngrams[0], self._keywords),
            subtrees=subtrees,
            subtree_count=sum(subtrees.values()),
            dataflow=Counter(edges),
            dataflow_edges=len(edges),
        )


def _subtrees(root) -> Counter:
    found = Counter()
    stack = [root]
    while stack:
        node = stack.pop()
        found[str(node)] += 1
        stack.extend(child for child in node.children if child.child_count)
    return found


def _weighted_sum(unigrams, words) -> float:
    total = 0
    for (token,), count in unigrams.items():  # in the reference's order, so that the float sum is bit-identical
        total += count * (1 if token in words else _OTHER_TOKEN_WEIGHT)
    return total


def _combine(matches, totals, bp: float) -> float:
    if matches[0] == 0:
        return 0.0
    logs = (0.25 * math.log((m if m else _EPSILON) / t) for m, t in zip(matches, totals, strict=True))
    return bp * math.exp(math.fsum(logs))


def _brevity_penalty(reference_length: int, hypothesis_length: int) -> float:
    if hypothesis_length > reference_length:
        return 1
    if hypothesis_length == 0:
        return 0
    return math.exp(1 - reference_length / hypothesis_length)


def _overlap(ref_counts: Counter, hyp_counts: Counter) -> int:
    """Matches when each item of the reference pairs with at most one equal item of the prediction (and back)."""
    return sum(min(ref_counts[k], hyp_counts[k]) for k in ref_counts.keys() & hyp_counts.keys())


def _ngram_matches(hyp: _Program, ref: _Program, words) -> tuple[float, float]:
    """BLEU-4 (clipped precision of the prediction's n-grams) and the reference package's weighted n-gram match
    (recall of the reference's n-grams, unigrams weighted by keyword); both smooth with method1."""
    overlaps = [_overlap(r, h) for h, r in zip(hyp.ngrams, ref.ngrams, strict=True)]
    bleu = _combine(overlaps, hyp.ngram_totals, _brevity_penalty(ref.length, hyp.length))
    ref_totals = [max(1, ref.weighted_unigrams), *ref.ngram_totals[1:]]
    hyp_unigrams = hyp.ngrams[0]
    # In the reference's order over the reference's unigrams, so that the float sum is bit-identical.
    clipped = {g: min(c, hyp_unigrams[g]) for g, c in ref.ngrams[0].items() if g in hyp_unigrams}
    weighted = _combine([_weighted_sum(clipped, words), *overlaps[1:]], ref_totals, _brevity_penalty(2, hyp.length))
    return bleu, weighted
