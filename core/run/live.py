"""Live run figures for a front end that polls: the runner's sink folds every event into per-model
aggregates under a lock, and the screen pulls an immutable `LiveSnapshot` every 100-250 ms.

Why not one UI message per event: measured with Textual 8.2.8 at 200 events/s, a
`call_from_thread` per event cost ~80% CPU and stalled the runner (it blocks until the UI ran the
callback); pulling coalesced aggregates cost ~30% with sub-millisecond lag (DESIGN.md).
Rare events (breaker opened, finished) are also kept here, so the screen needs nothing else.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field, replace

from core.common.stats import percentile
from core.run.events import BreakerOpened, Event, Progress, ResultEvent, Retrying, RunFinished, RunStarted
from scorers.base import combine

ERROR_LOG_SIZE = 200  # the newest entries of the bounded error log
LATENCY_WINDOW = 2000  # recent latencies per model that set the live p50


@dataclass(frozen=True, slots=True)
class LiveModel:
    model: str
    total: int  # calls planned for this model (cases x repeats)
    done: int = 0
    ok: int = 0
    errors: int = 0
    skipped: int = 0
    cached: int = 0
    retries: int = 0
    passed: int = 0
    graded: int = 0  # results with a pass/fail verdict so far
    spend_usd: float = 0.0
    spend_unknown: int = 0
    latency_p50_ms: float | None = None
    breaker: str | None = None  # error class that opened the model's breaker

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None


@dataclass(frozen=True, slots=True)
class LogEntry:
    kind: str  # retry | error | breaker
    model: str
    case_id: str
    error_class: str
    message: str  # redacted by the runner; untrusted: safe_text before display


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    version: int  # grows with every folded event: unchanged version = nothing to repaint
    run_id: str | None
    started: RunStarted | None
    progress: Progress | None
    models: tuple[LiveModel, ...]
    log: tuple[LogEntry, ...]
    finished: RunFinished | None


@dataclass
class _ModelState:
    figures: LiveModel
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))


class LiveRun:
    """Callable sink for `core.run.engine.run`; `snapshot()` is safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._started: RunStarted | None = None
        self._progress: Progress | None = None
        self._finished: RunFinished | None = None
        self._models: dict[str, _ModelState] = {}
        self._log: deque[LogEntry] = deque(maxlen=ERROR_LOG_SIZE)

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._fold(event)
            self._version += 1

    def _model(self, name: str) -> _ModelState:
        if name not in self._models:
            self._models[name] = _ModelState(LiveModel(model=name, total=0))
        return self._models[name]

    def _fold(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._started = event
            per_model = event.total // max(1, len(event.models))
            for name in event.models:
                state = self._model(name)
                state.figures = replace(state.figures, total=per_model)
            for so_far in event.so_far:  # a resumed run: its rows count the whole run
                state = self._model(so_far.model)
                state.latencies.extend(so_far.latencies)
                state.figures = replace(
                    state.figures, done=so_far.done, ok=so_far.ok, errors=so_far.errors, skipped=so_far.skipped,
                    cached=so_far.cached, graded=so_far.graded, passed=so_far.passed, spend_usd=so_far.spend_usd,
                    spend_unknown=so_far.spend_unknown,
                    latency_p50_ms=percentile(list(state.latencies), 50))
        elif isinstance(event, Progress):
            self._progress = event
        elif isinstance(event, ResultEvent):
            self._fold_result(event)
        elif isinstance(event, Retrying):
            state = self._model(event.model)
            state.figures = replace(state.figures, retries=state.figures.retries + 1)
            self._log.append(LogEntry("retry", event.model, event.case_id, event.error_class, event.message))
        elif isinstance(event, BreakerOpened):
            state = self._model(event.model)
            state.figures = replace(state.figures, breaker=event.error_class)
            self._log.append(LogEntry("breaker", event.model, "", event.error_class, event.reason))
        elif isinstance(event, RunFinished):
            self._finished = event

    def _fold_result(self, event: ResultEvent) -> None:
        state = self._model(event.model)
        f = state.figures
        changes: dict[str, object] = {"done": f.done + 1}
        if event.status == "ok":
            changes["ok"] = f.ok + 1
            if event.cached:
                changes["cached"] = f.cached + 1
            elif event.logged:
                pass  # production's answer: this run spent nothing on it
            elif event.cost_usd is None:
                changes["spend_unknown"] = f.spend_unknown + 1
            else:
                changes["spend_usd"] = f.spend_usd + event.cost_usd
            if event.latency_ms is not None and not event.cached:
                state.latencies.append(event.latency_ms)
                changes["latency_p50_ms"] = percentile(list(state.latencies), 50)
            if event.scores:
                verdict = combine(event.scores)
                if verdict.status == "ok":
                    changes["graded"] = f.graded + 1
                    changes["passed"] = f.passed + bool(verdict.passed)
        elif event.status == "error":
            changes["errors"] = f.errors + 1
            self._log.append(LogEntry("error", event.model, event.case_id, event.error_class or "error",
                                      event.error_message or ""))
        else:
            changes["skipped"] = f.skipped + 1
        state.figures = replace(f, **changes)

    def snapshot(self) -> LiveSnapshot:
        with self._lock:
            return LiveSnapshot(
                version=self._version,
                run_id=self._started.run_id if self._started else None,
                started=self._started, progress=self._progress,
                models=tuple(s.figures for s in self._models.values()),
                log=tuple(self._log), finished=self._finished,
            )
