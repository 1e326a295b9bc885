"""Plain events the runner emits to its sink (CLI progress bar, TUI messages, tests).

The sink is called on the runner's event-loop thread; a TUI sink forwards each event with
`post_message` and never touches widgets itself. Text fields that come from models or providers
(`error_message`, `output_preview`) are untrusted: pass them through `safe_text()` before display.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ModelSoFar:
    """One model's rows that a resumed run found in place: what its live figures start from."""

    model: str
    done: int
    ok: int
    errors: int
    skipped: int
    cached: int
    graded: int  # ok rows with a pass/fail verdict
    passed: int
    spend_usd: float  # the calls paid for (ok, not cached) with a price
    spend_unknown: int  # ...and without one
    latencies: tuple[float, ...]  # of the calls paid for, oldest first
    retries: int = 0  # attempts after each row's first


@dataclass(frozen=True, slots=True)
class RunStarted:
    run_id: str
    dataset: str
    dataset_version: int
    models: tuple[str, ...]
    prompt: str
    repeat: int
    total: int  # every (case, model, repeat) of the run
    already_done: int  # rows a resumed run found in place
    resumed: bool
    concurrency: int
    workers: int = 1  # processes sending the requests
    remote: bool = False  # they are worker processes (else the runner's own)
    so_far: tuple[ModelSoFar, ...] = ()  # a resumed run's rows in place, per model
    reopened: int = 0  # failed calls a resume sends again (their rows deleted first)


@dataclass(frozen=True, slots=True)
class Progress:
    run_id: str
    done: int
    total: int
    ok: int
    errors: int
    skipped: int
    cached: int
    retries: int
    in_flight: int
    spend_usd: float  # what this process paid (cached rows cost nothing)
    spend_unknown: int  # calls whose cost is unknown (not in spend_usd)
    elapsed_s: float
    eta_s: float | None  # None until there is a rate to extrapolate from


@dataclass(frozen=True, slots=True)
class ResultEvent:
    run_id: str
    case_id: str
    model: str
    repeat: int
    status: str  # ok | error | skipped
    result_id: int
    cached: bool
    attempts: int
    latency_ms: float | None
    cost_usd: float | None
    error_class: str | None
    error_message: str | None  # redacted, untrusted
    output_preview: str | None  # first 200 chars, untrusted
    scores: tuple[dict[str, Any], ...] = ()
    logged: bool = False  # production's logged answer: nothing was spent on it (its cost is unknown)


@dataclass(frozen=True, slots=True)
class Retrying:
    run_id: str
    case_id: str
    model: str
    repeat: int
    attempt: int  # the attempt that failed (1-based)
    error_class: str
    wait_s: float
    message: str  # redacted, untrusted


@dataclass(frozen=True, slots=True)
class BreakerOpened:
    run_id: str
    model: str
    error_class: str  # auth | quota_exhausted | not_found | unreachable
    reason: str  # redacted, untrusted


@dataclass(frozen=True, slots=True)
class ModelFigures:
    model: str
    n: int
    ok: int
    errors: int
    skipped: int
    cached: int
    infra_errors: int  # auth, quota, rate limit, network, server, timeout; breaker skips included
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None when any ok row's cost is unknown
    cost_source: str | None
    errors_by_class: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunFinished:
    run_id: str
    status: str  # finished | interrupted | failed
    done: int
    total: int
    ok: int
    errors: int
    skipped: int
    retries: int
    infra_errors: int
    infra_error_rate: float
    max_error_rate: float
    spend_usd: float
    spend_unknown: int
    elapsed_s: float
    models: tuple[ModelFigures, ...]
    # Set when status is interrupted: `assay run --resume ID`. A front end that knows the workspace
    # and the flags it was given builds the full command with core.run.history.resume_command.
    resume_command: str | None
    scoring_errors: int = 0  # scorer exceptions (logged; the run went on)
    # From the first call's start to the end: elapsed_s without the start-up (worker processes
    # importing litellm); None when no call started. The run's throughput is measured over it.
    calls_s: float | None = None

    @property
    def over_error_rate(self) -> bool:
        return self.infra_error_rate > self.max_error_rate


Event = RunStarted | Progress | ResultEvent | Retrying | BreakerOpened | RunFinished
Sink = Callable[[Event], None]
