"""core.common.figures: the report's formats, shared by every front end; None is never 0."""

from __future__ import annotations

import pytest

from core.common.figures import duration, money, pct_points, pct_range


@pytest.mark.parametrize("usd, status, shown", [
    (None, "known", "-"), (None, "unknown", "unknown"), (0, "known", "$0.0000"), (0.0335, "known", "$0.0335"),
    (0.0012, "known", "$0.001200"), (1e-8, "known", "<$0.000001"), (1234.5, "known", "$1,234.50"),
    (0.012, "partial", "≥$0.0120"),
])
def test_money(usd, status, shown):
    assert money(usd, status) == shown


@pytest.mark.parametrize("seconds, shown", [(None, "--:--"), (0, "0:00"), (44.6, "0:45"), (725, "12:05"),
                                            (3723, "1:02:03")])
def test_duration_reads_as_a_clock(seconds, shown):
    assert duration(seconds) == shown


def test_percent_ranges_and_points():
    assert pct_range((0.742, 0.977)) == "74.2–97.7%"
    assert pct_points(-0.031) == "-3.1 pts" and pct_points(None) == "-"
