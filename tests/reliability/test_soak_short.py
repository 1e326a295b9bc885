"""The soak (bench/soak.py) at the test suite's size: 2,000 calls over 3 models through 10% mixed
faults, `assay run` SIGKILLed twice at seeded moments and resumed, then every soak check."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from soak import Settings, checks, report, soak  # noqa: E402

# Shorter Retry-After and hang timeout than `make soak` so three process starts (litellm's import
# each) and 2,000 calls fit in a minute on 2 loaded cores; the faults and kills are the same, and
# so is the concurrency, at which `workers = "auto"` sends the requests from a worker per core.
SHORT = Settings(calls=2000, kills=2, concurrency=64, retry_after_s=0.2, timeout_s=1.5, warmup=200)


@pytest.mark.slow
def test_soak_short(tmp_path):
    t0 = time.monotonic()
    outcome = soak(SHORT, tmp_path, log=lambda line: None)
    lines: list[str] = []
    report(outcome, log=lines.append)
    print("\n".join(lines), f"\nsoak test: {time.monotonic() - t0:.1f} s", sep="")
    failed = [f"{name}: {figures}" for name, ok, figures in checks(outcome) if not ok]
    assert not failed, "\n".join(failed + lines)
