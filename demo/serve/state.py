"""The server's options and statistics, shared by the event loop and the controlling thread.

Every method takes one lock for a few microseconds, so tests may call configure()/stats() from
another thread while requests are in flight.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from demo.serve.demo_models import MODELS
from demo.serve.faults import FaultPicker, FaultRule
from demo.serve.flips import Flipper

RPM_WINDOW_S = 60.0
# Arrival times kept for the stats (overall and per model): the most recent ones only, so a
# server left running for hours keeps a bounded memory and a bounded /_assay/stats body.
ARRIVALS_KEPT = 20_000
# Options settable over HTTP (POST /_assay/config); api_key only through Python or the CLI.
HTTP_OPTIONS = ("latency_ms", "latency_jitter_ms", "latency_scale", "rpm_limit", "faults", "seed",
                "system_fingerprint", "model_version", "flip_rate")
DEFAULT_FINGERPRINT = "fp_assay_demo"
OPTIONS = (*HTTP_OPTIONS, "api_key")


@dataclass(frozen=True)
class Admission:
    """What to do with one chat request: reject (rpm), inject a fault, or answer after `delay_s`."""

    delay_s: float = 0.0
    rpm_retry_after: int | None = None
    fault: FaultRule | None = None


def _number(name: str, value: Any, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum:g}, got {value!r}")
    return float(value)


class ServerState:
    def __init__(self, **options: Any):
        self._lock = threading.Lock()
        self.latency_ms = 0.0
        self.latency_jitter_ms = 0.0
        self.latency_scale = 0.0
        self.rpm_limit: int | None = None
        self.seed = 0
        self.api_key: str | None = None
        # What a response says served it: `system_fingerprint`, and the model string (the requested
        # name, plus "-VERSION" when `model_version` is set). Changing either is how a test or a demo
        # plays a provider shipping an update (a series break in trends).
        self.system_fingerprint: str | None = DEFAULT_FINGERPRINT
        self.model_version: str | None = None
        self.flip_rate = 0.0  # share of answers made wrong (demo.serve.flips)
        self._flipper = Flipper()
        self._rules: list[FaultRule] = []
        self._picker = FaultPicker([], 0)
        self._jitter_rng = random.Random(0)
        self._window: deque[float] = deque()
        self._in_flight = 0
        self._reset_stats()
        self.configure(**options)

    # --- options -------------------------------------------------------------------------

    def configure(self, **options: Any) -> dict[str, Any]:
        """Change any of OPTIONS; all are validated before any is applied. Returns the config."""
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)} (allowed: {', '.join(OPTIONS)})")
        new: dict[str, Any] = {}
        for name in ("latency_ms", "latency_jitter_ms", "latency_scale"):
            if name in options:
                new[name] = _number(name, options[name])
        if "rpm_limit" in options:
            rpm = options["rpm_limit"]
            if rpm is not None and (isinstance(rpm, bool) or not isinstance(rpm, int) or rpm < 1):
                raise ValueError(f"rpm_limit must be a positive integer or null, got {rpm!r}")
            new["rpm_limit"] = rpm
        if "flip_rate" in options:
            new["flip_rate"] = _number("flip_rate", options["flip_rate"])
            if new["flip_rate"] > 1:
                raise ValueError(f"flip_rate must be between 0 and 1, got {options['flip_rate']!r}")
        if "seed" in options:
            if isinstance(options["seed"], bool) or not isinstance(options["seed"], int):
                raise ValueError(f"seed must be an integer, got {options['seed']!r}")
            new["seed"] = options["seed"]
        if "api_key" in options:
            key = options["api_key"]
            if key is not None and (not isinstance(key, str) or not key):
                raise ValueError("api_key must be a non-empty string or null")
            new["api_key"] = key
        for name in ("system_fingerprint", "model_version"):
            if name in options:
                value = options[name]
                if value is not None and (not isinstance(value, str) or not value):
                    raise ValueError(f"{name} must be a non-empty string or null")
                new[name] = value
        rules = None
        if "faults" in options:
            raw = options["faults"] or []
            if not isinstance(raw, list):
                raise ValueError("faults must be a list of rules")
            rules = [FaultRule.parse(r) for r in raw]
        with self._lock:
            for name, value in new.items():
                setattr(self, name, value)
            if rules is not None:
                self._rules = rules
            if rules is not None or "seed" in new:
                # Re-seed so a given rule set and seed always produce the same fault sequence.
                for rule in self._rules:
                    rule.matched = 0
                self._picker = FaultPicker(self._rules, self.seed)
                self._jitter_rng = random.Random(f"jitter-{self.seed}")
            if "flip_rate" in new or "seed" in new:
                self._flipper.restart()
            return self._config()

    def config(self) -> dict[str, Any]:
        with self._lock:
            return self._config()

    def _config(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms, "latency_jitter_ms": self.latency_jitter_ms,
            "latency_scale": self.latency_scale, "rpm_limit": self.rpm_limit, "seed": self.seed,
            "faults": [r.to_dict() for r in self._rules], "auth": self.api_key is not None,
            "system_fingerprint": self.system_fingerprint, "model_version": self.model_version,
            "flip_rate": self.flip_rate,
        }

    # --- request accounting ----------------------------------------------------------------

    def opened(self) -> None:
        with self._lock:
            self._connections += 1

    def enter(self) -> float:
        """A chat request's headers were read: count it in flight; returns its arrival time."""
        now = time.monotonic()
        with self._lock:
            self._requests += 1
            if self._first_arrival is None:
                self._first_arrival = now
            self._arrivals.append(now)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        return now

    def leave(self, status: int | None, fault: str | None = None) -> None:
        """The response was fully written (or the connection ended): status None = none sent."""
        with self._lock:
            self._in_flight -= 1
            self._last_left = time.monotonic()
            if status is not None:
                self._by_status[str(status)] += 1
            if fault is not None:
                self._faults[fault] += 1

    def admit(self, model: str, arrived: float, last_user: str) -> Admission:
        """Count a valid chat request for `model`, then apply the rpm limit and the fault rules."""
        now = time.monotonic()
        with self._lock:
            self._by_model[model] += 1
            by_model = self._arrivals_by_model.get(model)
            if by_model is None:
                by_model = self._arrivals_by_model[model] = deque(maxlen=ARRIVALS_KEPT)
            by_model.append(arrived)
            if self.rpm_limit is not None:
                while self._window and self._window[0] <= now - RPM_WINDOW_S:
                    self._window.popleft()
                if len(self._window) >= self.rpm_limit:
                    self._rejected += 1
                    wait = self._window[0] + RPM_WINDOW_S - now
                    return Admission(rpm_retry_after=max(1, math.ceil(wait)))
                self._window.append(now)
            rule = self._picker.pick(model, last_user)
            if rule is not None:
                return Admission(fault=rule)
            delay = self.latency_ms + self.latency_scale * MODELS[model].latency_ms
            if self.latency_jitter_ms:
                delay += self._jitter_rng.random() * self.latency_jitter_ms
        return Admission(delay_s=delay / 1000.0)

    def flips(self, model: str, messages: list[dict[str, Any]]) -> bool:
        """Whether to make this answer wrong (`flip_rate`; demo.serve.flips)."""
        with self._lock:
            rate, seed = self.flip_rate, self.seed
        return self._flipper.flips(rate, seed, model, messages)

    def add_tokens(self, prompt: int, completion: int) -> None:
        with self._lock:
            self._prompt_tokens += prompt
            self._completion_tokens += completion

    # --- statistics --------------------------------------------------------------------------

    def _reset_stats(self) -> None:
        self._connections = 0
        self._requests = 0
        self._max_in_flight = self._in_flight  # requests in flight now stay counted
        self._rejected = 0
        self._prompt_tokens = self._completion_tokens = 0
        self._by_model: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._arrivals: deque[float] = deque(maxlen=ARRIVALS_KEPT)
        self._arrivals_by_model: dict[str, deque[float]] = {}
        # The request phase's bounds (kept apart from the bounded arrivals): a benchmark's span.
        self._first_arrival: float | None = None
        self._last_left: float | None = None

    def reset_stats(self) -> None:
        """Zero the statistics and the rpm window (options and fault rules are kept)."""
        with self._lock:
            self._reset_stats()
            self._window.clear()

    def stats(self) -> dict[str, Any]:
        """Chat-completion requests only (control and model-list calls are not counted):

        requests (all, including rejected and invalid ones), by_model, by_status ({"200": n};
        hang and reset send no status), faults ({kind: n} injected), rejected (by rpm_limit),
        in_flight / max_in_flight (headers read until the response is handed to the socket),
        connections (TCP connections accepted, any path), prompt_tokens / completion_tokens,
        arrivals (every request) and arrivals_by_model (those naming a demo model): time.monotonic()
        when the headers were read, oldest first, the most recent ARRIVALS_KEPT of each;
        first_arrival (the first request's headers read) and last_left (the last response written
        or connection ended), time.monotonic() or null: the request phase since the last reset.
        """
        with self._lock:
            return {
                "requests": self._requests,
                "by_model": dict(self._by_model),
                "by_status": dict(self._by_status),
                "faults": dict(self._faults),
                "rejected": self._rejected,
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
                "connections": self._connections,
                "prompt_tokens": self._prompt_tokens,
                "completion_tokens": self._completion_tokens,
                "arrivals": list(self._arrivals),
                "arrivals_by_model": {m: list(v) for m, v in self._arrivals_by_model.items()},
                "first_arrival": self._first_arrival,
                "last_left": self._last_left,
            }
