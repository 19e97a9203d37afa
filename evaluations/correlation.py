"""Spearman rank correlation with p-values, and per model the correlation of passing with each metric of a results
document's samples. Pure functions (numpy only): the CLI runs them offline on a results.json, the API on the rows.

The p-value is two-sided. With ``method="auto"`` it is exact for n <= 8 (every permutation of one variable's ranks
against the other's, ties kept as they are) and otherwise from the t-distribution with n - 2 degrees of freedom of
``t = rho * sqrt((n - 2) / (1 - rho^2))``, as scipy.stats.spearmanr computes it; the regularized incomplete beta
function it needs is evaluated by its continued fraction (Lentz's method).
"""

import itertools
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

OUTCOME = "pass_rate"  # the per-sample outcome: passed (1) or not (0); "passed" is accepted too
EXACT_MAX_N = 8  # 8! = 40,320 permutations
METHODS = ("auto", "exact", "t")
# The field a metric's name stands for, when its per-sample value is an object (any other field: "metric.field").
PRIMARY_FIELDS = {
    "perplexity": "perplexity",
    "codebleu": "codebleu",
    "security": "score",
    "ast_similarity": "similarity",
}
ROW_FIELDS = ("execution_time", "peak_memory_kb", "completion_tokens", "generation_latency_ms")


@dataclass(frozen=True)
class Spearman:
    n: int
    rho: float | None
    p_value: float | None
    method: str  # exact, t, or "" when rho is undefined
    note: str = ""


class VariableError(ValueError):
    """A variable is unknown or missing from every sample; ``available`` lists what the samples hold."""

    def __init__(self, message: str, available: list[str]):
        super().__init__(message)
        self.available = available


def rankdata(values) -> np.ndarray:
    """Ranks from 1, ties given the mean of the ranks they span."""
    data = np.asarray(values, dtype=float)
    order = np.argsort(data, kind="mergesort")
    boundaries = np.flatnonzero(np.diff(data[order])) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(data)]))
    ranks = np.empty(len(data))
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def spearman(x, y, *, method: str = "auto") -> Spearman:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    if len(x) != len(y):
        raise ValueError("x and y differ in length")
    n = len(x)
    if n < 3:
        return Spearman(n, None, None, "", "fewer than 3 samples")
    rx, ry = rankdata(x), rankdata(y)
    cx, cy = rx - rx.mean(), ry - ry.mean()
    scale = math.sqrt(float(cx @ cx) * float(cy @ cy))
    if scale == 0:
        return Spearman(n, None, None, "", "a variable is constant")
    rho = max(-1.0, min(1.0, float(cx @ cy) / scale))
    if method == "exact" or (method == "auto" and n <= EXACT_MAX_N):
        if n > 10:
            raise ValueError("the exact test enumerates n! permutations: use it for n <= 10")
        permuted = cy[np.array(list(itertools.permutations(range(n))))] @ cx / scale
        p_value = float(np.mean(np.abs(permuted) >= abs(rho) - 1e-12))
        return Spearman(n, rho, p_value, "exact")
    return Spearman(n, rho, t_test_p_value(rho, n), "t")


def t_test_p_value(rho: float, n: int) -> float:
    """Two-sided p of rho under no correlation, by the t-distribution with n - 2 degrees of freedom."""
    df = n - 2
    if abs(rho) >= 1.0:
        return 0.0
    t_squared = rho * rho * df / (1.0 - rho * rho)
    return min(1.0, max(0.0, betainc(df / 2.0, 0.5, df / (df + t_squared))))


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float, *, eps: float = 1e-15, iterations: int = 1000) -> float:
    tiny = 1e-300

    def guard(value: float) -> float:
        return value if abs(value) >= tiny else tiny

    c, d = 1.0, 1.0 / guard(1.0 - (a + b) * x / (a + 1.0))
    h = d
    for m in range(1, iterations + 1):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 / guard(1.0 + even * d)
        c = guard(1.0 + even / c)
        h *= d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1.0 / guard(1.0 + odd * d)
        c = guard(1.0 + odd / c)
        h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


# --- a results document's samples ------------------------------------------------------------------------------------


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def sample_value(row: dict, variable: str) -> float | None:
    """A sample's value of ``variable``: a row field (execution_time...), a flat metric (maintainability_index), a
    metric's main value (perplexity, codebleu, security, ast_similarity), ``metric.field``, or a field that one of
    the sample's metrics holds (confidence, dataflow_match...). None when the sample has none (or it failed)."""
    metrics = row.get("metrics") or {}
    if variable in ROW_FIELDS:
        return _number(row.get(variable))
    if "." in variable:
        name, field = variable.split(".", 1)
        value = metrics.get(name)
        return _number(value.get(field)) if isinstance(value, dict) else None
    value = metrics.get(variable)
    if isinstance(value, dict):
        return _number(value.get(PRIMARY_FIELDS.get(variable, variable)))
    if value is not None:
        return _number(value)
    for name in sorted(metrics):
        if isinstance(metrics[name], dict) and variable in metrics[name]:
            return _number(metrics[name][variable])
    return None


def available_variables(rows: list[dict]) -> list[str]:
    """The variables some sample has a number for (metric objects by their main value or as ``metric.field``)."""
    names = set()
    for row in rows:
        names.update(f for f in ROW_FIELDS if _number(row.get(f)) is not None)
        for name, value in (row.get("metrics") or {}).items():
            if isinstance(value, dict):
                fields = [f for f, v in value.items() if _number(v) is not None]
                names.update(f"{name}.{f}" for f in fields)
                if PRIMARY_FIELDS.get(name, name) in fields:
                    names.add(name)
            elif _number(value) is not None:
                names.add(name)
    return sorted(names)


def model_key(row: dict, several_strategies: bool) -> str:
    """The name a sample's model goes by in ``by_model``: ``name``, or ``name@strategy`` with several strategies."""
    return f"{row['model']}@{row.get('strategy') or 'zero_shot'}" if several_strategies else row["model"]


def correlate(rows: Iterable[dict], variables: list[str], *, method: str = "auto") -> dict:
    """Per model, Spearman's rho (and its p-value) between passing (1/0) and each variable, over the samples that
    have it. Raises VariableError for a variable no sample has."""
    wanted = [v for v in dict.fromkeys(v.strip() for v in variables) if v and v not in (OUTCOME, "passed")]
    if not wanted:
        raise VariableError(f"Name at least one variable to correlate with {OUTCOME}.", [])
    kept: list[tuple[dict, float, list[float | None]]] = []
    strategies, seen = set(), set()
    for row in rows:
        values = [sample_value(row, v) for v in wanted]
        if len(seen) < len(wanted):
            seen.update(v for v, value in zip(wanted, values, strict=True) if value is not None)
        strategies.add(row.get("strategy") or "zero_shot")
        kept.append((row, 1.0 if row["passed"] else 0.0, values))
    missing = [v for v in wanted if v not in seen]
    if missing:
        available = available_variables([row for row, _, _ in kept])
        raise VariableError(
            f"No sample has {', '.join(map(repr, missing))}. Available: {', '.join(available) or 'none'} "
            f"(enable the metric in the evaluation's config, e.g. metrics: {{enable: [{missing[0]}]}}).",
            available,
        )
    by_model: dict[str, list[tuple[float, list[float | None]]]] = {}
    for row, passed, values in kept:
        by_model.setdefault(model_key(row, len(strategies) > 1), []).append((passed, values))
    models = {}
    for name, samples in by_model.items():
        correlations = {}
        for i, variable in enumerate(wanted):
            pairs = [(p, values[i]) for p, values in samples if values[i] is not None]
            correlations[variable] = asdict(spearman([p for p, _ in pairs], [v for _, v in pairs], method=method))
        models[name] = {
            "samples": len(samples),
            "pass_rate": round(sum(p for p, _ in samples) / len(samples), 6),
            "correlations": correlations,
        }
    return {"outcome": "passed", "variables": wanted, "method": method, "models": models}
