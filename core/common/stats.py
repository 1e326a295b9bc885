"""The statistics behind reports: exact where it can be, seeded where it must resample.

- `wilson_interval`: Wilson score interval for a binomial proportion (no continuity correction),
  the method recommended by Newcombe (1998) and Brown, Cai & DasGupta (2001) over the Wald
  interval, which collapses at p = 0 or 1 and undercovers for small n.
- `mcnemar_exact`: exact (conditional) McNemar test on paired pass/fail outcomes: a two-sided
  binomial test of the discordant pairs against p = 1/2, computed in exact rational arithmetic.
- `paired_bootstrap`: percentile bootstrap interval for the mean of paired differences,
  resampling pairs with a seeded RNG, so the same data always gives the same interval.
- `percentile`: linear interpolation between closest ranks (the common "type 7" definition,
  numpy's default).
- `bh_adjust`, `mcnemar_power`, `paired_mdd`, `paired_cases_needed`, `unpaired_mdd`: false
  discovery rate across many series, and what a paired (or unpaired) comparison can detect (below).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)  # 1.959963984540054
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20240301


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """(low, high) of the Wilson score interval; (0.0, 1.0) when n == 0 (nothing is known)."""
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    denom = 1 + z2 / n
    # Clamp the floating-point dust at the boundaries (0/n and n/n are exact 0 and 1).
    low = 0.0 if successes == 0 else (centre - half) / denom
    high = 1.0 if successes == n else (centre + half) / denom
    return low, high


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b (A pass, B fail) and c
    (A fail, B pass): min(1, 2 * P(X <= min(b, c))) with X ~ Binomial(b + c, 1/2). 1.0 when b = c = 0."""
    if b < 0 or c < 0:
        raise ValueError("counts must be >= 0")
    n = b + c
    if n == 0:
        return 1.0
    tail = Fraction(sum(math.comb(n, i) for i in range(min(b, c) + 1)), 2 ** n)
    return float(min(Fraction(1), 2 * tail))


@dataclass(frozen=True)
class BootstrapCI:
    mean: float
    low: float
    high: float
    resamples: int
    seed: int


def paired_bootstrap(diffs: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES,
                     seed: int = BOOTSTRAP_SEED, level: float = 0.95) -> BootstrapCI | None:
    """Percentile interval of the mean of `diffs` (one difference per pair). None without pairs."""
    n = len(diffs)
    if n == 0:
        return None
    mean = math.fsum(diffs) / n
    rng = random.Random(seed)
    values = list(diffs)
    means = sorted(math.fsum(rng.choices(values, k=n)) / n for _ in range(resamples))
    alpha = (1 - level) / 2
    return BootstrapCI(mean, percentile(means, alpha * 100, presorted=True),
                       percentile(means, (1 - alpha) * 100, presorted=True), resamples, seed)


def percentile(values: Sequence[float], q: float, *, presorted: bool = False) -> float | None:
    """q-th percentile (0..100), linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    xs = values if presorted else sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


# --- many series at once, and what a comparison can detect ---------------------------------------
#
# - `bh_adjust`: Benjamini-Hochberg (1995) adjusted p-values ("q-values"): declare every series
#   with q < 0.05 and the expected share of false discoveries among them is at most 5%.
# - `mcnemar_power`, `paired_mdd`, `paired_cases_needed`: power of the exact McNemar test above for
#   n matched pairs (the same cases run twice), the minimum detectable drop, and the cases needed.
# - `unpaired_mdd`: the minimum detectable drop of two independent samples (two proportions), to
#   show what pairing buys.
#
# Paired model: each matched pair is discordant (the verdict flipped between the runs) with
# probability `flip_rate`; a drop d in the pass rate means pass->fail flips have probability
# (flip_rate + d) / 2 and fail->pass flips (flip_rate - d) / 2, so d <= flip_rate. The power is
# exact and unconditional: the sum over the number of discordant pairs D ~ Binomial(n, flip_rate)
# of P(D) * P(exact McNemar p < alpha | D). It is what `mcnemar_exact` followed by "p < alpha"
# achieves, including the discreteness of the exact test (so it is lower than normal-approximation
# formulas such as Connor (1987) promise for small D).

POWER = 0.8


def bh_adjust(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values, in the input order: q_(i) = min over j >= i of
    p_(j) * m / j (p sorted ascending, m tests), capped at 1. Rejecting every q <= alpha is the
    BH step-up procedure at false discovery rate alpha (the same figures as R's p.adjust "BH")."""
    m = len(p_values)
    for p in p_values:
        if not 0 <= p <= 1:
            raise ValueError(f"p-values must be in [0, 1], got {p}")
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = running
    return adjusted


def _binom_logpmf(k: int, n: int, p: float) -> float:
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p))


def _binom_tail(start: int, n: int, p: float, step: int) -> float:
    """Sum of Binomial(n, p) probabilities from `start` away from the mean (step -1: down to 0,
    +1: up to n). The terms shrink monotonically in that direction, so the sum stops once a term
    no longer changes it."""
    term = math.exp(_binom_logpmf(start, n, p))
    odds = p / (1 - p)
    total, i = 0.0, start
    while 0 <= i <= n and term > total * 1e-17:
        total += term
        if step < 0:
            term *= i / (n - i + 1) / odds
        else:
            term *= (n - i) / (i + 1) * odds
        i += step
    return total


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed from the tail away from the mean (accurate far out
    in either tail, cost proportional to a few standard deviations)."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0:
        return 1.0
    if p >= 1:
        return 0.0
    if k < n * p:
        return min(1.0, _binom_tail(k, n, p, -1))
    return max(0.0, 1.0 - _binom_tail(k + 1, n, p, +1))


@functools.lru_cache(maxsize=65536)
def mcnemar_critical(discordant: int, alpha: float = 0.05) -> int:
    """Largest k for which `mcnemar_exact` with min(b, c) = k gives p < alpha, for b + c =
    `discordant`; -1 when no split is significant (fewer than 6 discordant pairs at alpha 0.05)."""
    n = discordant
    k = max(-1, math.floor(n / 2 - NormalDist().inv_cdf(1 - alpha / 2) * math.sqrt(n) / 2))
    while k >= 0 and 2 * binom_cdf(k, n, 0.5) >= alpha:
        k -= 1
    while 2 * binom_cdf(k + 1, n, 0.5) < alpha:
        k += 1
    return k


def _check_paired(n: int, flip_rate: float, alpha: float, power: float) -> None:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0 <= flip_rate <= 1:
        raise ValueError(f"flip rate must be in [0, 1], got {flip_rate}")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power must be in (0, 1)")


def mcnemar_power(n: int, flip_rate: float, drop: float, alpha: float = 0.05) -> float:
    """Probability that the two-sided exact McNemar test rejects (p < alpha) on n matched pairs
    when a share `flip_rate` of them is discordant and the pass rate dropped by `drop`
    (0 <= drop <= flip_rate). See the model above."""
    _check_paired(n, flip_rate, alpha, POWER)
    if not 0 <= drop <= flip_rate:
        raise ValueError(f"need 0 <= drop <= flip rate, got drop {drop}, flip rate {flip_rate}")
    if n == 0 or flip_rate == 0:
        return 0.0
    if flip_rate == 1:
        counts = [(n, 1.0)]
    else:
        # Discordant counts beyond 10 standard deviations carry < 1e-20 of the probability.
        mean, sd = n * flip_rate, math.sqrt(n * flip_rate * (1 - flip_rate))
        lo, hi = max(0, math.floor(mean - 10 * sd) - 1), min(n, math.ceil(mean + 10 * sd) + 1)
        counts = [(d, math.exp(_binom_logpmf(d, n, flip_rate))) for d in range(lo, hi + 1)]
    q = (flip_rate - drop) / (2 * flip_rate)  # share of discordant pairs that went fail -> pass
    total = 0.0
    for d, weight in counts:
        k = mcnemar_critical(d, alpha)
        if k >= 0:
            total += weight * (binom_cdf(k, d, q) + 1 - binom_cdf(d - k - 1, d, q))
    return min(1.0, total)


def paired_mdd(n: int, flip_rate: float, alpha: float = 0.05, power: float = POWER) -> float | None:
    """Minimum detectable drop of a paired comparison: the smallest drop in pass rate (a fraction,
    0.044 = 4.4 points) that the exact McNemar test on n matched pairs detects with probability
    `power`, when a share `flip_rate` of verdicts flips between the runs. None when even a drop of
    the whole flip rate (every flip a pass -> fail) is not detected that often. Bisection to 1e-6."""
    _check_paired(n, flip_rate, alpha, power)
    if flip_rate == 0 or mcnemar_power(n, flip_rate, flip_rate, alpha) < power:
        return None
    lo, hi = 0.0, flip_rate
    while hi - lo > 1e-6:
        mid = (lo + hi) / 2
        if mcnemar_power(n, flip_rate, mid, alpha) >= power:
            hi = mid
        else:
            lo = mid
    return hi


def paired_cases_needed(drop: float, flip_rate: float, alpha: float = 0.05, power: float = POWER,
                        max_n: int = 1_000_000) -> int | None:
    """Matched cases needed for the exact McNemar test to detect a pass-rate drop `drop` with
    probability `power` when a share `flip_rate` of verdicts flips (drop <= flip_rate). Starts
    from the normal approximation of Connor (1987), n = (z_a sqrt(f) + z_b sqrt(f - d^2))^2 / d^2,
    then bisects on the exact power (which wiggles with n by well under a point, so the answer is
    the smallest n of the bisection, not a guarantee for every larger n). None beyond `max_n`."""
    _check_paired(0, flip_rate, alpha, power)
    if not 0 < drop <= flip_rate:
        raise ValueError(f"need 0 < drop <= flip rate, got drop {drop}, flip rate {flip_rate}")
    z_a, z_b = NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(power)
    guess = max(1, math.ceil(((z_a * math.sqrt(flip_rate) + z_b * math.sqrt(flip_rate - drop ** 2)) / drop) ** 2))
    lo, hi = max(0, guess // 2), guess
    while mcnemar_power(hi, flip_rate, drop, alpha) < power:
        lo, hi = hi, hi * 2
        if lo > max_n:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mcnemar_power(mid, flip_rate, drop, alpha) >= power:
            hi = mid
        else:
            lo = mid
    return hi if hi <= max_n else None


def _unpaired_n(p1: float, p2: float, alpha: float, power: float) -> float:
    """Cases per group for the two-sided pooled z-test of two proportions (Fleiss, Levin & Paik
    2003, without continuity correction)."""
    z_a, z_b = NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(power)
    pbar = (p1 + p2) / 2
    top = z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return (top / (p1 - p2)) ** 2


def unpaired_mdd(n: int, base_rate: float, alpha: float = 0.05, power: float = POWER) -> float | None:
    """Minimum detectable drop from `base_rate` when the two runs are independent samples of n
    cases each (two proportions, pooled z-test, normal approximation): the smallest d with
    _unpaired_n(base_rate, base_rate - d) <= n. None when not even a drop to 0 is detectable."""
    if n <= 0 or not 0 < base_rate <= 1:
        raise ValueError("need n > 0 and 0 < base rate <= 1")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power must be in (0, 1)")
    if _unpaired_n(base_rate, 0.0, alpha, power) > n:
        return None
    lo, hi = 0.0, base_rate
    while hi - lo > 1e-6:
        mid = (lo + hi) / 2
        if mid > 0 and _unpaired_n(base_rate, base_rate - mid, alpha, power) <= n:
            hi = mid
        else:
            lo = mid
    return hi


# --- agreement between two raters ---------------------------------------------------------------


@dataclass(frozen=True)
class KappaEstimate:
    """Cohen's kappa of a k x k agreement table with its large-sample standard errors.

    `se`: the asymptotic SE of Fleiss, Cohen & Everitt (1969), the one for confidence intervals
    (SAS PROC FREQ's "ASE"); `ci95` = kappa +/- 1.96 se, clipped to [-1, 1]. `se0`: the SE under
    H0 kappa = 0 (for a test of "better than chance"). None where undefined (se when p_e = 1).
    """

    n: int
    p_observed: float
    p_expected: float
    kappa: float | None
    se: float | None
    ci95: tuple[float, float] | None
    se0: float | None


def kappa_estimate(table: Sequence[Sequence[int]]) -> KappaEstimate | None:
    """Cohen's kappa (1960) with Fleiss, Cohen & Everitt's (1969) standard errors from a square
    table of counts, `table[i][j]` = items rater A put in category i and rater B in category j.
    None when the table holds no items. Kappa is None when chance explains everything (p_e = 1:
    both raters used one and the same category).

        var(kappa)  = [A + B - C] / (n (1 - p_e)^2)
        A = sum_i p_ii [1 - (p_i. + p_.i)(1 - kappa)]^2
        B = (1 - kappa)^2 sum_{i != j} p_ij (p_.i + p_j.)^2
        C = [kappa - p_e (1 - kappa)]^2
        var0(kappa) = [p_e + p_e^2 - sum_i p_i. p_.i (p_i. + p_.i)] / (n (1 - p_e)^2)
    """
    k = len(table)
    if any(len(row) != k for row in table):
        raise ValueError("the agreement table must be square")
    if any(c < 0 for row in table for c in row):
        raise ValueError("counts must be >= 0")
    n = sum(sum(row) for row in table)
    if n == 0:
        return None
    p = [[c / n for c in row] for row in table]
    rows = [sum(r) for r in p]
    cols = [sum(p[i][j] for i in range(k)) for j in range(k)]
    p_o = math.fsum(p[i][i] for i in range(k))
    p_e = math.fsum(rows[i] * cols[i] for i in range(k))
    if p_e >= 1 - 1e-12:
        return KappaEstimate(n, p_o, p_e, None, None, None, None)
    kappa = (p_o - p_e) / (1 - p_e)
    a = math.fsum(p[i][i] * (1 - (rows[i] + cols[i]) * (1 - kappa)) ** 2 for i in range(k))
    b = (1 - kappa) ** 2 * math.fsum(p[i][j] * (cols[i] + rows[j]) ** 2
                                     for i in range(k) for j in range(k) if i != j)
    c = (kappa - p_e * (1 - kappa)) ** 2
    scale = n * (1 - p_e) ** 2
    se = math.sqrt(max(a + b - c, 0.0) / scale)
    se0 = math.sqrt(max(p_e + p_e ** 2 - math.fsum(rows[i] * cols[i] * (rows[i] + cols[i]) for i in range(k)), 0.0)
                    / scale)
    ci = (max(kappa - Z95 * se, -1.0), min(kappa + Z95 * se, 1.0))
    return KappaEstimate(n, p_o, p_e, kappa, se, ci, se0)
