"""core.common.stats: Benjamini-Hochberg, power of the exact McNemar test, minimum detectable drop
and cases needed, against a published worked example and seeded simulations.

Benjamini & Hochberg (1995), "Controlling the false discovery rate", JRSS B 57:289-300, section 4:
15 p-values from a trial; at FDR 0.05 the step-up procedure rejects the 4 smallest (Bonferroni: 3).
The adjusted values are p_(i) * 15 / i made monotone from the top (R's p.adjust(p, "BH")).

Minimum detectable drop, alpha 0.05 two-sided, power 0.8 (DESIGN.md "Facts measured"): unpaired
≈12 / 10 / 7.5 points at n = 200 / 300 / 500 with base 0.8; paired exact McNemar with 5-10% of
verdicts flipping ≈4.4-6.5 / 3.7-5.3 / 2.9-4.1. The simulations below check the power itself: at
the computed drop, the test run on simulated verdicts rejects ≈80% of the time.
"""

from __future__ import annotations

import math
import random
from statistics import NormalDist

import pytest

from core.common.stats import (bh_adjust, binom_cdf, mcnemar_critical, mcnemar_exact, mcnemar_power,
                               paired_cases_needed, paired_mdd, unpaired_mdd)

BH_1995 = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
           0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0000]
# p_(i) * 15 / i, then the running minimum from the largest p down.
BH_1995_ADJUSTED = [0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.0298 * 15 / 7, 0.0298 * 15 / 7, 0.0645,
                    0.0765, 0.486, 0.4262 * 15 / 11, 0.714875, 0.6528 * 15 / 13, 0.759 * 15 / 14, 1.0]


def test_bh_matches_benjamini_hochberg_1995():
    q = bh_adjust(BH_1995)
    assert q == pytest.approx(BH_1995_ADJUSTED, abs=1e-12)
    assert sum(x <= 0.05 for x in q) == 4  # the paper's four rejections
    assert sum(p <= 0.05 / 15 for p in BH_1995) == 3  # Bonferroni's three


def test_bh_keeps_input_order_and_edges():
    shuffled = BH_1995[::-1]
    assert bh_adjust(shuffled) == pytest.approx(BH_1995_ADJUSTED[::-1], abs=1e-12)
    assert bh_adjust([]) == []
    assert bh_adjust([0.03]) == [0.03]
    assert bh_adjust([0.01, 0.01, 0.01]) == [0.01, 0.01, 0.01]
    with pytest.raises(ValueError):
        bh_adjust([0.5, 1.2])


def test_binom_cdf_against_exact_sums():
    for n, p in [(10, 0.5), (37, 0.13), (200, 0.9), (1, 0.3)]:
        for k in range(-1, n + 2):
            exact = sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(0, min(k, n) + 1))
            assert binom_cdf(k, n, p) == pytest.approx(exact, abs=1e-12)
    assert binom_cdf(3, 10, 0.0) == 1.0 and binom_cdf(3, 10, 1.0) == 0.0


def test_mcnemar_critical_agrees_with_the_test():
    for d in range(0, 120):
        k = mcnemar_critical(d)
        assert k < 0 or mcnemar_exact(k, d - k) < 0.05
        assert k + 1 > d - k - 1 or mcnemar_exact(k + 1, d - k - 1) >= 0.05
    assert [mcnemar_critical(d) for d in (5, 6, 10, 20)] == [-1, 0, 1, 5]


@pytest.mark.parametrize("n, expected", [(200, 0.12), (300, 0.10), (500, 0.075)])
def test_unpaired_mdd_reference_figures(n, expected):
    assert unpaired_mdd(n, 0.8) == pytest.approx(expected, abs=0.004)


@pytest.mark.parametrize("n, low, high", [(200, 0.044, 0.065), (300, 0.037, 0.053), (500, 0.029, 0.041)])
def test_paired_mdd_reference_figures(n, low, high):
    assert paired_mdd(n, 0.05) == pytest.approx(low, abs=0.001)
    assert paired_mdd(n, 0.10) == pytest.approx(high, abs=0.001)


def test_paired_mdd_edges():
    assert paired_mdd(300, 0.0) is None  # nothing flips: no drop can be seen
    assert paired_mdd(20, 0.05) is None  # one discordant pair expected: never significant
    assert mcnemar_power(0, 0.1, 0.05) == 0.0
    with pytest.raises(ValueError):
        mcnemar_power(100, 0.05, 0.06)  # a drop larger than the flips is impossible
    with pytest.raises(ValueError):
        paired_mdd(100, 1.5)


def simulated_paired_power(n: int, flip: float, drop: float, trials: int, seed: int) -> float:
    """Share of simulated paired runs on which exact McNemar rejects at 0.05."""
    rng = random.Random(seed)
    worse, better = (flip + drop) / 2, (flip - drop) / 2
    rejected = 0
    for _ in range(trials):
        b = c = 0
        for _ in range(n):
            u = rng.random()
            if u < worse:
                b += 1
            elif u < worse + better:
                c += 1
        rejected += mcnemar_exact(b, c) < 0.05
    return rejected / trials


@pytest.mark.parametrize("n, flip", [(300, 0.05), (200, 0.10)])
def test_paired_mdd_has_80_percent_power_in_simulation(n, flip):
    drop = paired_mdd(n, flip)
    trials = 1500  # standard error of the simulated power ≈ 0.010
    assert simulated_paired_power(n, flip, drop, trials, seed=n) == pytest.approx(0.8, abs=0.035)
    # And a drop a third smaller is clearly underpowered.
    assert simulated_paired_power(n, flip, drop * 2 / 3, trials, seed=n + 1) < 0.7


def test_unpaired_mdd_has_80_percent_power_in_simulation():
    n, base = 300, 0.8
    drop = unpaired_mdd(n, base)
    rng, z = random.Random(7), NormalDist().inv_cdf(0.975)
    rejected, trials = 0, 1500
    for _ in range(trials):
        x1 = sum(rng.random() < base for _ in range(n))
        x2 = sum(rng.random() < base - drop for _ in range(n))
        pooled = (x1 + x2) / (2 * n)
        se = math.sqrt(pooled * (1 - pooled) * 2 / n)
        rejected += abs(x1 - x2) / n > z * se
    assert rejected / trials == pytest.approx(0.8, abs=0.035)


def test_cases_needed_inverts_the_mdd():
    needed = paired_cases_needed(0.03, 0.10)
    assert mcnemar_power(needed, 0.10, 0.03) >= 0.8 > mcnemar_power(needed - 1, 0.10, 0.03)
    # The MDD at that n is (within bisection noise) the drop asked for.
    assert paired_mdd(needed, 0.10) == pytest.approx(0.03, abs=0.0005)
    # At n = 300 with 5% flipping the MDD is ≈3.7 points: asking for 3.7 needs ≈300 cases.
    assert paired_cases_needed(0.037, 0.05) == pytest.approx(300, abs=15)
    assert paired_cases_needed(0.03, 0.10, max_n=500) is None
    with pytest.raises(ValueError):
        paired_cases_needed(0.2, 0.1)
