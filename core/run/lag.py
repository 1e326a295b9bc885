"""How late the run's event loop ran what was ready: the client's own queueing, measured.

A call's latency is timed on the event loop, so when the loop is CPU-bound (litellm spends
milliseconds of CPU per call) a response that arrived on time waits for the loop before its
timer stops, and the figure becomes the client's, not the provider's. `LoopLagMonitor` sleeps
`interval_s` over and over and records how much later than asked it woke up: the scheduling
delay anything on the loop suffered at that moment. A run whose median lag is above
`SATURATED_P50_MS` was CPU-saturated, and its latencies include that wait (`assay report` says so).
So was one whose calls spent a median above it in the client before going out (`client_ms`: with
worker processes each loop stays responsive while every call still queues behind the others;
measured at concurrency 32 with 2 workers: loop lag p50 5-8 ms, client p50 ≈23 ms).

The median, not the p95: a short run's p95 is made by a few bursts that say nothing about its
latencies (litellm's import on the first call, a garbage collection, a demo server sharing the
process), and a note that comes and goes with them would be noise. Measured against a 50 ms
server (bench/README.md): concurrency 32, lag p50 41-49 ms (reported latency p50 ≈ 210 ms);
concurrency 4, lag p50 2 ms; the demo's runs, 1 ms.

Constant memory whatever the run's length: a 1 ms histogram up to 10 s, plus the exact maximum.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

# Median lag above this and a run's latencies are mostly the client's: the report says so.
SATURATED_P50_MS = 20.0
INTERVAL_S = 0.01
_BUCKETS = 10_000  # 1 ms each; a longer stall lands in the last one (its max is still exact)


@dataclass(frozen=True, slots=True)
class LagFigures:
    p50_ms: float
    p95_ms: float
    max_ms: float
    samples: int

    @property
    def saturated(self) -> bool:
        return saturated(self.p50_ms)


def saturated(lag_p50_ms: float | None, client_p50_ms: float | None = None) -> bool:
    """Whether a run with this median event-loop lag, or this median client time before the wire,
    was limited by its own CPU (None: not measured)."""
    return any(ms is not None and ms > SATURATED_P50_MS for ms in (lag_p50_ms, client_p50_ms))


class LoopLagMonitor:
    """`start()` inside the loop to measure, `stop()` for the figures (None: no sample).

    `stop()` only cancels the sampling task (never awaits it), so it is safe in a `finally` of a
    task that is itself being cancelled."""

    def __init__(self, interval_s: float = INTERVAL_S):
        self.interval_s = interval_s
        self._counts = [0] * _BUCKETS
        self._n = 0
        self._max_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sample(), name="assay-loop-lag")

    def record(self, lag_ms: float) -> None:
        lag_ms = max(0.0, lag_ms)
        self._counts[min(int(lag_ms), _BUCKETS - 1)] += 1
        self._n += 1
        self._max_ms = max(self._max_ms, lag_ms)

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.record((loop.time() - asked) * 1000)

    def _percentile(self, q: float) -> float:
        """The upper edge of the 1 ms bucket holding the q-th percentile sample (never below the
        truth by more than 1 ms, never above the maximum)."""
        rank = q / 100 * self._n
        seen = 0
        for ms, count in enumerate(self._counts):
            seen += count
            if seen >= rank and count:
                return min(float(ms + 1), self._max_ms)
        return self._max_ms

    def figures(self) -> LagFigures | None:
        if self._n == 0:
            return None
        return LagFigures(p50_ms=self._percentile(50), p95_ms=self._percentile(95), max_ms=self._max_ms,
                          samples=self._n)

    def stop(self) -> LagFigures | None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        return self.figures()
