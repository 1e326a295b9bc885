"""Pacing maths on a fake clock: rpm never exceeded in any 60 s window, requests spread evenly,
tpm corrected by actual usage, provider pauses honoured."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core.models.ratelimit import RateLimiter, SlidingWindow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
from runner_helpers import max_in_window  # noqa: E402  (the same check the on-the-wire tests use)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.t += s
        await asyncio.sleep(0)


def _starts(limiter: RateLimiter, clock: FakeClock, n: int, tokens: int = 0, concurrent: int = 8) -> list[float]:
    times: list[float] = []

    async def one() -> None:
        await limiter.acquire(tokens)
        times.append(clock())

    async def main() -> None:
        sem = asyncio.Semaphore(concurrent)

        async def guarded() -> None:
            async with sem:
                await one()

        await asyncio.gather(*(guarded() for _ in range(n)))

    asyncio.run(main())
    return times


def test_rpm_never_exceeded_in_any_window_and_evenly_paced():
    clock = FakeClock()
    limiter = RateLimiter(rpm=30, clock=clock, sleep=clock.sleep)
    times = _starts(limiter, clock, 100)
    assert max_in_window(times, 60.0) <= 30
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 2.0 - 1e-9  # 60/30 s apart: no burst
    assert times[-1] - times[0] <= 99 * 2.0 + 1e-6  # and no drift


def test_rpm_window_holds_even_with_late_wakeups():
    clock = FakeClock()

    async def late_sleep(s: float) -> None:
        clock.t += s * 1.37  # every wakeup late
        await asyncio.sleep(0)

    limiter = RateLimiter(rpm=10, clock=clock, sleep=late_sleep)
    times = _starts(limiter, clock, 40)
    assert max_in_window(times, 60.0) <= 10


def test_tpm_window_uses_estimates_then_actual_usage():
    clock = FakeClock()
    limiter = RateLimiter(tpm=1000, clock=clock, sleep=clock.sleep)

    async def main() -> list[float]:
        starts = []
        for _ in range(3):
            r = await limiter.acquire(400)
            starts.append(clock())
            limiter.settle(r, 100)  # actual usage much lower than the estimate
        r = await limiter.acquire(400)
        starts.append(clock())
        return starts

    starts = asyncio.run(main())
    assert starts == [1000.0] * 4  # 3 x 100 actual + 400 <= 1000: no wait


def test_tpm_waits_for_the_window_to_free():
    clock = FakeClock()
    limiter = RateLimiter(tpm=1000, clock=clock, sleep=clock.sleep)

    async def main() -> float:
        await limiter.acquire(600)
        await limiter.acquire(600)
        return clock()

    assert asyncio.run(main()) == 1060.0


def test_request_larger_than_the_limit_runs_alone():
    w = SlidingWindow(100, 60)
    assert w.delay(500, 0.0) == 0.0
    w.add(500, 0.0)
    assert w.delay(1, 1.0) == 59.0


def test_pause_holds_every_start():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    limiter.pause_for(7.5)

    async def main() -> float:
        await limiter.acquire()
        return clock()

    assert asyncio.run(main()) == 1007.5


def test_unlimited_limiter_does_not_wait_or_lock():
    limiter = RateLimiter()
    assert not limiter.active

    async def main() -> None:
        await asyncio.gather(*(limiter.acquire() for _ in range(100)))

    asyncio.run(main())
    assert limiter.waited_s == 0
