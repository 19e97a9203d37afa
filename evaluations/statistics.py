"""Pass@k, bootstrap confidence intervals and paired model comparison: pure functions over per-problem counts.

A per-problem mapping is ``task_id -> (n samples, n correct)``.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import comb

import numpy as np

# The largest index matrix one bootstrap step builds (int64): bounds memory for huge suites without slowing small ones.
_BOOTSTRAP_CHUNK = 1 << 22


@dataclass(frozen=True)
class PairedComparison:
    """Model b against model a on the problems both were evaluated on."""

    problems: int
    pass_at_1_a: float
    pass_at_1_b: float
    difference: float  # b - a
    ci_low: float
    ci_high: float
    a_only: int
    b_only: int
    both: int
    neither: int
    p_value: float  # McNemar's exact test, two-sided


def estimate_pass_at_k(num_samples: int | Sequence[int] | np.ndarray, num_correct: Sequence[int], k: int) -> np.ndarray:
    """Unbiased pass@k of each problem: 1 - C(n-c, k) / C(n, k), as the official HumanEval harness computes it."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if isinstance(num_samples, int | np.integer):
        num_samples = [int(num_samples)] * len(num_correct)
    if len(num_samples) != len(num_correct):
        raise ValueError("num_samples and num_correct differ in length")
    return np.array([_estimator(int(n), int(c), k) for n, c in zip(num_samples, num_correct, strict=True)])


def _estimator(n: int, c: int, k: int) -> float:
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= correct <= samples, got correct={c}, samples={n}")
    if n - c < k:
        return 1.0
    # The harness's product form (not math.comb) so that results match it bit for bit.
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def _per_problem(per_problem: Mapping[str, tuple[int, int]], k: int) -> np.ndarray:
    samples = [n for n, _ in per_problem.values()]
    if min(samples, default=k) < k:
        raise ValueError(f"pass@{k} needs at least {k} samples for every problem")
    return estimate_pass_at_k(samples, [c for _, c in per_problem.values()], k)


def pass_at_k(per_problem: Mapping[str, tuple[int, int]], ks: Iterable[int]) -> dict[int, float]:
    """Mean pass@k over problems, for each k that every problem has enough samples for (the harness's rule)."""
    if not per_problem:
        return {}
    fewest = min(n for n, _ in per_problem.values())
    return {k: float(_per_problem(per_problem, k).mean()) for k in ks if fewest >= k}


def bootstrap_ci(
    per_problem: Mapping[str, tuple[int, int]],
    k: int,
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of mean pass@k, resampling problems with replacement."""
    if not per_problem:
        raise ValueError("no problems to bootstrap")
    return _bootstrap_mean(_per_problem(per_problem, k), resamples=resamples, confidence=confidence, seed=seed)


def _bootstrap_mean(values: np.ndarray, *, resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    rng = np.random.default_rng(seed)
    size = len(values)
    rows = max(1, _BOOTSTRAP_CHUNK // size)
    means = np.empty(resamples)
    for start in range(0, resamples, rows):
        stop = min(start + rows, resamples)
        means[start:stop] = values[rng.integers(0, size, size=(stop - start, size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: min(1, 2 * P[X <= min]) with X ~ Binomial(a_only + b_only, 1/2)."""
    discordant = a_only + b_only
    if discordant == 0:
        return 1.0
    tail = sum(comb(discordant, i) for i in range(min(a_only, b_only) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**discordant)))


def paired_comparison(
    a: Mapping[str, tuple[int, int]],
    b: Mapping[str, tuple[int, int]],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """Compare pass@1 of b against a on their common problems: paired bootstrap CI and McNemar's exact test.

    For McNemar a problem counts as solved when at least half its samples pass (c / n >= 0.5); with one sample per
    problem that is simply its verdict.
    """
    common = sorted(a.keys() & b.keys())
    if not common:
        raise ValueError("the two evaluations have no problems in common")
    a_common = {task: a[task] for task in common}
    b_common = {task: b[task] for task in common}
    a_rates, b_rates = _per_problem(a_common, 1), _per_problem(b_common, 1)
    # Bootstrapping the per-problem differences resamples the same problems for both models.
    low, high = _bootstrap_mean(b_rates - a_rates, resamples=resamples, confidence=confidence, seed=seed)
    a_solved = [2 * c >= n for n, c in a_common.values()]
    b_solved = [2 * c >= n for n, c in b_common.values()]
    pairs = list(zip(a_solved, b_solved, strict=True))
    a_only, b_only = pairs.count((True, False)), pairs.count((False, True))
    pass_a, pass_b = float(a_rates.mean()), float(b_rates.mean())
    return PairedComparison(
        problems=len(common),
        pass_at_1_a=pass_a,
        pass_at_1_b=pass_b,
        difference=pass_b - pass_a,
        ci_low=low,
        ci_high=high,
        a_only=a_only,
        b_only=b_only,
        both=pairs.count((True, True)),
        neither=pairs.count((False, False)),
        p_value=mcnemar_exact(a_only, b_only),
    )


def describe(values: Iterable[float | None], *, quartiles: bool = False) -> dict:
    """Count, mean, median, min and max of the values that are not None (and p25, p75 with ``quartiles``)."""
    present = sorted(v for v in values if v is not None)
    if not present:
        empty = {"count": 0, "mean": None, "median": None, "min": None, "max": None}
        return {**empty, "p25": None, "p75": None} if quartiles else empty
    out = {
        "count": len(present),
        "mean": sum(present) / len(present),
        "median": _quantile(present, 0.5),
        "min": present[0],
        "max": present[-1],
    }
    if quartiles:
        out["p25"], out["p75"] = _quantile(present, 0.25), _quantile(present, 0.75)
    return out


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method), on already sorted values."""
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
