"""Client-side pacing for one model: requests per minute and tokens per minute, by waiting.

Providers reject over-limit calls (and litellm's Router rejects rather than queues), so Assay
waits before it sends. Two mechanisms, both needed:

- `SlidingWindow` is the hard guarantee: never more than `limit` units start in any `window_s`
  span (for rpm the unit is one request; for tpm it is estimated prompt tokens + max_tokens,
  corrected to the actual usage once the call returns).
- `TokenBucket` spreads requests evenly (rpm/60 per second with a burst of 2) so a provider that
  enforces its limit over shorter slices — most do — never sees a burst of a whole minute's quota.
  Capacity 2 rather than 1 so a waiter that wakes a little late does not push every later start
  back (no drift over a long run).

Clock and sleep are injectable so the maths is tested on a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable


class SlidingWindow:
    """At most `limit` units start in any window of `window_s` seconds."""

    def __init__(self, limit: float, window_s: float = 60.0):
        self.limit, self.window_s = limit, window_s
        self._entries: deque[list[float]] = deque()  # [start time, units]
        self._used = 0.0

    def _expire(self, now: float) -> None:
        while self._entries and self._entries[0][0] <= now - self.window_s:
            self._used -= self._entries.popleft()[1]

    def delay(self, units: float, now: float) -> float:
        """Seconds until `units` fit. A request larger than the whole limit fits an empty window."""
        self._expire(now)
        if self._used + units <= self.limit or not self._entries:
            return 0.0
        need = self._used + units - self.limit
        for start, used in self._entries:
            need -= used
            if need <= 0:
                return start + self.window_s - now
        return self._entries[-1][0] + self.window_s - now

    def add(self, units: float, now: float) -> list[float]:
        entry = [now, units]
        self._entries.append(entry)
        self._used += units
        return entry

    def adjust(self, entry: list[float], units: float) -> None:
        """Correct an entry's units (estimated tokens -> actual usage), if it is still in the window."""
        if self._entries and entry[0] >= self._entries[0][0]:
            self._used += units - entry[1]
        entry[1] = units


class TokenBucket:
    """`rate` tokens per second, holding at most `capacity`; starts with one token."""

    def __init__(self, rate: float, capacity: float = 2.0):
        self.rate, self.capacity = rate, capacity
        self._tokens = 1.0
        self._at: float | None = None

    def _refill(self, now: float) -> None:
        if self._at is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def delay(self, now: float) -> float:
        self._refill(now)
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1.0


class Reservation:
    """What one started request holds against the tpm window."""

    __slots__ = ("entry",)

    def __init__(self, entry: list[float] | None):
        self.entry = entry


class RateLimiter:
    """Waits until a request may start under rpm/tpm and any provider-requested pause."""

    def __init__(
        self, rpm: int | None = None, tpm: int | None = None, *, window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ):
        self.rpm, self.tpm = rpm, tpm
        self._requests = SlidingWindow(rpm, window_s) if rpm else None
        self._pacer = TokenBucket(rpm / window_s) if rpm else None
        self._tokens = SlidingWindow(tpm, window_s) if tpm else None
        self._clock, self._sleep = clock, sleep
        self._paused_until = 0.0
        self._lock: asyncio.Lock | None = None
        self.waited_s = 0.0

    @property
    def active(self) -> bool:
        return bool(self.rpm or self.tpm) or self._paused_until > self._clock()

    def pause_for(self, seconds: float) -> None:
        """Hold every start for `seconds` (a provider's Retry-After applies to the whole model)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _delay(self, tokens: int, now: float) -> float:
        wait = self._paused_until - now
        if self._pacer is not None:
            wait = max(wait, self._pacer.delay(now))
        if self._requests is not None:
            wait = max(wait, self._requests.delay(1, now))
        if self._tokens is not None:
            wait = max(wait, self._tokens.delay(tokens, now))
        return wait

    async def acquire(self, tokens: int = 0, gate: asyncio.Semaphore | None = None) -> Reservation:
        """Wait for a slot (FIFO), then record the start. `tokens`: estimated prompt + max_tokens.

        `gate` (the run's global concurrency) is acquired last, inside the limiter's turn, so the
        recorded start is when the request really goes out; the caller releases it.
        """
        if not self.active:
            if gate is not None:
                await gate.acquire()
            return Reservation(None)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            await self._wait_turn(tokens)
            if gate is not None:
                await gate.acquire()
                try:
                    await self._wait_turn(tokens)  # only a new provider pause can add a wait here
                except BaseException:
                    gate.release()
                    raise
            now = self._clock()
            if self._pacer is not None:
                self._pacer.take(now)
            if self._requests is not None:
                self._requests.add(1, now)
            return Reservation(self._tokens.add(tokens, now) if self._tokens is not None else None)

    async def _wait_turn(self, tokens: int) -> None:
        while (wait := self._delay(tokens, self._clock())) > 0:
            self.waited_s += wait
            await self._sleep(wait)

    def settle(self, reservation: Reservation, actual_tokens: int | None) -> None:
        """Replace the estimate with actual usage once known."""
        if reservation.entry is not None and actual_tokens is not None and self._tokens is not None:
            self._tokens.adjust(reservation.entry, actual_tokens)
