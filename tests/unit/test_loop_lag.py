"""core.run.lag: the lag histogram's figures and the saturation rule."""

from __future__ import annotations

from core.run.lag import SATURATED_P50_MS, LoopLagMonitor, saturated


def test_figures_from_the_histogram():
    mon = LoopLagMonitor()
    assert mon.figures() is None
    for v in [0.2] * 50 + [5.5] * 45 + [30.0] * 4 + [12_345.6]:
        mon.record(v)
    f = mon.figures()
    assert f is not None and f.samples == 100
    assert f.p50_ms == 1.0  # the upper edge of the 0-1 ms bucket
    assert f.p95_ms == 6.0
    assert f.max_ms == 12_345.6  # exact, beyond the histogram's last bucket
    assert not f.saturated


def test_saturated_on_the_median_only():
    assert not saturated(None)
    assert not saturated(SATURATED_P50_MS)
    assert saturated(SATURATED_P50_MS + 1)
    assert saturated(None, SATURATED_P50_MS + 1) and not saturated(5.0, SATURATED_P50_MS)
