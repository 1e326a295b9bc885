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
"""

from __future__ import annotations

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
