"""core.common.stats against published worked examples.

Wilson score interval: Newcombe RG (1998), "Two-sided confidence intervals for the single
proportion: comparison of seven methods", Statistics in Medicine 17:857-872: its worked examples,
score (Wilson) method without continuity correction, reported to 4 decimals:
    81/263 -> 0.2553, 0.3662    15/148 -> 0.0624, 0.1605    0/20 -> 0.0000, 0.1611
    1/29   -> 0.0061, 0.1718
The 1e-6 references are the closed form evaluated in 50-digit decimal arithmetic (below).

Exact McNemar: two-sided p = 2 * P(X <= min(b, c)), X ~ Bin(b + c, 1/2).
    b=1, c=6: 2 * (1 + 7) / 2^7 = 16/128 = 0.125 exactly.
    b=1, c=7: 2 * (1 + 8) / 2^8 = 18/256 = 0.0703125: the airway hyper-responsiveness example of
    Fagerland, Lydersen & Laake (2013), "The McNemar test for binary matched-pairs data",
    BMC Medical Research Methodology 13:91, where the exact conditional test gives p = 0.070.
"""

from __future__ import annotations

from decimal import Decimal, getcontext

import pytest

from core.common.stats import Z95, mcnemar_exact, paired_bootstrap, percentile, wilson_interval


def wilson_decimal(x: int, n: int) -> tuple[float, float]:
    getcontext().prec = 50
    z = Decimal(repr(Z95))
    p, nn = Decimal(x) / Decimal(n), Decimal(n)
    centre = p + z * z / (2 * nn)
    half = z * (p * (1 - p) / nn + z * z / (4 * nn * nn)).sqrt()
    denom = 1 + z * z / nn
    return float((centre - half) / denom), float((centre + half) / denom)


@pytest.mark.parametrize("x, n, published", [
    (81, 263, (0.2553, 0.3662)),
    (15, 148, (0.0624, 0.1605)),
    (0, 20, (0.0000, 0.1611)),
    (1, 29, (0.0061, 0.1718)),
])
def test_wilson_matches_newcombe_1998(x, n, published):
    low, high = wilson_interval(x, n)
    assert low == pytest.approx(published[0], abs=5e-5)
    assert high == pytest.approx(published[1], abs=5e-5)
    ref = wilson_decimal(x, n)
    assert low == pytest.approx(ref[0], abs=1e-6) and high == pytest.approx(ref[1], abs=1e-6)


def test_wilson_hand_figures_to_1e6():
    # 81/263: p = 0.307985, interval computed with z = 1.959964.
    low, high = wilson_interval(81, 263)
    assert low == pytest.approx(0.255289, abs=1e-6) and high == pytest.approx(0.366210, abs=1e-6)


def test_wilson_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(10, 10)[1] == 1.0 and wilson_interval(0, 10)[0] == 0.0
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_mcnemar_exact_textbook_values():
    assert mcnemar_exact(1, 6) == 0.125
    assert mcnemar_exact(6, 1) == 0.125
    assert mcnemar_exact(1, 7) == 0.0703125
    assert mcnemar_exact(0, 5) == 0.0625  # 2 / 32
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 3) == 1.0  # capped at 1


def test_percentile_type7():
    xs = [15, 20, 35, 40, 50]
    assert percentile(xs, 50) == 35
    assert percentile(xs, 95) == pytest.approx(48.0)  # 40 + 0.8 * (50 - 40)
    assert percentile(xs, 0) == 15 and percentile(xs, 100) == 50
    assert percentile([], 50) is None


def test_paired_bootstrap_is_seeded_and_sane():
    diffs = [1.0] * 30 + [0.0] * 60 + [-1.0] * 10
    a, b = paired_bootstrap(diffs), paired_bootstrap(diffs)
    assert a == b  # same data, same seed: same interval
    assert a.mean == pytest.approx(0.2) and a.low < 0.2 < a.high
    assert 0.05 < a.low < 0.15 and 0.25 < a.high < 0.35  # se = 0.063: roughly mean +- 0.12
    assert paired_bootstrap([]) is None
    assert paired_bootstrap([0.5] * 5).low == paired_bootstrap([0.5] * 5).high == 0.5
