"""The run engine: every (case, model, repeat) of a plan ends in exactly one terminal row.

One asyncio engine, two front ends. The CLI runs `run()` under `asyncio.run` and installs the
signal handlers; the TUI calls `run_sync()` from a thread worker. The engine itself never touches
signals: it watches a `CancelToken` that any thread may trigger.

- Concurrency: a global semaphore (`--concurrency`) plus each model's own (`max_concurrency`);
  each model has as many workers as its own limit, pulling from its own queue.
- Rows are committed one per result as they arrive (WAL + synchronous=FULL), so a killed
  process loses at most the calls in flight, and resume (same run id) runs only what is missing.
- Cancel: the first `cancel()` stops new calls and cancels calls that are only waiting (for a
  slot, the rate limiter or a retry backoff); requests already on the wire get `grace_s` to finish,
  then they are cancelled too. Cancelled calls get no row, so a resume redoes them. The run is
  marked `interrupted`. A second `cancel()` cancels everything at once.
- Scoring runs after each ok result through `core.run.scoring.ScoringSession`; a scorer that raises
  is counted and logged, never stops the run.
- The event loop's lag is measured while the calls run (`core.run.lag`) and stored on the run: a
  CPU-saturated client inflates every latency it times, and the report says so.
- Workers (`[run] workers`, `--workers`; "auto" by default: one per core for a run big enough,
  `core.run.workers.auto_workers`): with more than one, the requests themselves run in worker
  processes (`core.run.workers`), started before the run is planned so their litellm import
  overlaps it. Everything else above stays here, in this process: slots, pacing, retries,
  breakers, every row written. With one, no process is started unless the caller started one
  early (`assay run`: `pool`, so that process never imports litellm). The count is recorded in the
  run's operational params, and a resume uses it again unless told otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlite_utils

from core.config.schema import ModelConfig, WorkspaceConfig, load_config
from core.run.events import (BreakerOpened, ModelFigures, ModelSoFar, Progress, ResultEvent, Retrying, RunFinished,
                             RunStarted, Sink)
from core.models.client import CallCancelled, CallHooks, CallOutcome, ModelClient
from core.models.logged import LoggedAnswers
from core.models.prices import Prices, needs_price_map
from core.models.provider import import_seconds, model_calls
from core.records import ResultRecord
from core.models.redact import Redactor, from_env
from core.run.group_commit import GroupCommit
from core.run.history import resume_command, rows_so_far
from core.run.lag import LagFigures, LoopLagMonitor
from core.run.plan import RunPlan, RunRequest, plan_run, workers_for
from core.run.workers import WorkerClient, WorkerPool
from core.common.stats import percentile
from store import runs as store_runs
from store.runs import PENDING_SOURCE
from store.db import write

__all__ = ["CancelToken", "RunRequest", "run", "run_sync"]

log = logging.getLogger("assay.runner")

# (db, cfg, run_id) -> an object with `async score(case, result_row) -> dict | list | None` and `async aclose()`.
ScoringFactory = Callable[[sqlite_utils.Database, WorkspaceConfig, str], Any]

PROGRESS_EVERY_S = 0.1
GRACE_S = 10.0


class CancelToken:
    """Thread-safe cancellation: `cancel()` from a signal handler, the TUI's thread, anywhere.

    The first call asks for a graceful stop, any later call for an immediate one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._level = 0
        self._listener: tuple[asyncio.AbstractEventLoop, Any] | None = None

    @property
    def cancelled(self) -> bool:
        return self._level > 0

    def cancel(self) -> None:
        with self._lock:
            self._level += 1
            level, listener = self._level, self._listener
        if listener is not None:
            loop, fn = listener
            try:
                loop.call_soon_threadsafe(fn, level)
            except RuntimeError:  # the loop already closed: the run is over
                pass

    def _attach(self, loop: asyncio.AbstractEventLoop, fn: Any) -> int:
        with self._lock:
            self._listener = (loop, fn)
            return self._level

    def _detach(self) -> None:
        with self._lock:
            self._listener = None


def model_figures(db: sqlite_utils.Database, run_id: str, models: list[str],
                  cost_sources: dict[str, str]) -> tuple[ModelFigures, ...]:
    """Per-model figures over every row of the run (a resumed run included). Latency percentiles
    are the report's (`core.common.stats.percentile`), so `assay run` and `assay report` agree."""
    raw = store_runs.result_figures(db, run_id)
    out = []
    for m in models:
        r = raw.get(m)
        if r is None:
            out.append(ModelFigures(model=m, n=0, ok=0, errors=0, skipped=0, cached=0, infra_errors=0,
                                    latency_p50_ms=None, latency_p95_ms=None, input_tokens=0, output_tokens=0,
                                    cost_usd=None, cost_source=cost_sources.get(m)))
            continue
        latencies = sorted(r["latencies"])
        out.append(ModelFigures(
            model=m, n=r["n"], ok=r["ok"], errors=r["errors"], skipped=r["skipped"], cached=r["cached"],
            infra_errors=r["infra_errors"],
            latency_p50_ms=percentile(latencies, 50, presorted=True),
            latency_p95_ms=percentile(latencies, 95, presorted=True),
            input_tokens=r["input_tokens"], output_tokens=r["output_tokens"],
            cost_usd=r["cost_usd"] if r["ok"] > 0 else None,
            cost_source=cost_sources.get(m), errors_by_class=r["errors_by_class"],
        ))
    return tuple(out)


class _Engine:
    def __init__(self, db: sqlite_utils.Database, cfg: WorkspaceConfig, plan: RunPlan, sink: Sink | None,
                 cancel: CancelToken | None, grace_s: float, scoring: ScoringFactory | None,
                 pool: WorkerPool | None = None, prices: asyncio.Future[dict[str, Prices]] | None = None,
                 started: float | None = None):
        self.db, self.cfg, self.plan, self.sink, self.token, self.grace_s = db, cfg, plan, sink, cancel, grace_s
        # `prices`: a worker's answer for the models priced from litellm's map (see `run`).
        self.scoring, self.pool, self.prices = scoring, pool, prices
        self.stop = asyncio.Event()  # set once stopping (graceful or not): no new calls
        self.group = GroupCommit(db)  # the results' and scores' writes
        self.committing: set[asyncio.Task[Any]] = set()  # calls whose rows wait for that commit
        self.failure: BaseException | None = None
        self.hooks: dict[asyncio.Task[Any], CallHooks] = {}
        self.done = plan.already_done
        self.ok = self.errors = self.skipped = self.cached = self.retries = 0
        self.spend = 0.0
        self.spend_unknown = 0
        self.scoring_errors = 0
        self._t0 = time.monotonic() if started is None else started  # `run` started (workers, plan)
        self._calls_t0: float | None = None  # when calls could start (after the workers' import)
        self._imported_before = import_seconds() is not None  # litellm, in this process
        self._last_progress = 0.0
        self._grace_handle: asyncio.TimerHandle | None = None

    # --- events ---------------------------------------------------------------------------------

    def emit(self, event: Any) -> None:
        if self.sink is None:
            return
        try:
            self.sink(event)
        except Exception:  # a broken display must not lose results
            log.exception("event sink failed on %s", type(event).__name__)

    def on_the_wire(self) -> int:
        """Calls holding a concurrency slot (sent, or their result being recorded): never above the
        run's concurrency, unlike the calls merely waiting for a slot or a rate-limit window."""
        return sum(1 for task, hooks in self.hooks.items() if hooks.in_request and task not in self.committing)

    def progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        elapsed = now - self._t0
        remaining = self.plan.total - self.done
        finished_here = self.done - self.plan.already_done
        calling = now - (self._calls_t0 or self._t0)  # the pace of the calls, start-up left out
        eta = remaining * calling / finished_here if finished_here and remaining else (0.0 if not remaining else None)
        self.emit(Progress(
            run_id=self.plan.run_id, done=self.done, total=self.plan.total, ok=self.ok, errors=self.errors,
            skipped=self.skipped, cached=self.cached, retries=self.retries, in_flight=self.on_the_wire(),
            spend_usd=self.spend, spend_unknown=self.spend_unknown, elapsed_s=elapsed, eta_s=eta,
        ))

    def _count_in(self, so_far: tuple[ModelSoFar, ...]) -> None:
        """A resumed run's rows in place: its figures count the whole run, as `done` does."""
        for m in so_far:
            self.ok += m.ok
            self.errors += m.errors
            self.skipped += m.skipped
            self.cached += m.cached
            self.retries += m.retries
            self.spend += m.spend_usd
            self.spend_unknown += m.spend_unknown

    # --- cancellation ---------------------------------------------------------------------------

    def on_cancel(self, level: int) -> None:
        if not self.stop.is_set():
            self.stop.set()
            for task, hooks in list(self.hooks.items()):
                if not hooks.in_request:
                    task.cancel()
            self._grace_handle = asyncio.get_running_loop().call_later(self.grace_s, self.cancel_all)
        if level >= 2:
            self.cancel_all()

    def cancel_all(self) -> None:
        self.stop.set()
        for task in list(self.hooks):
            task.cancel()

    def on_worker_lost(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
        self.cancel_all()

    # --- work -----------------------------------------------------------------------------------

    def _record(self, model: str, idx: int, repeat: int, outcome: CallOutcome) -> dict[str, Any] | None:
        case = self.plan.cases[idx]
        # Validated at the core -> store boundary: a malformed outcome fails here, not as a bad row.
        row = ResultRecord(run_id=self.plan.run_id, case_id=case["id"], model=model, repeat=repeat,
                           **outcome.result_row()).model_dump()
        cache = (outcome.request_hash, outcome.cache_entry) if outcome.cache_entry is not None else None
        # Committed with the rest of this loop turn's writes (`core.run.group_commit`), before the
        # call's slots serve another call. Inline on the loop thread: a writer thread measured
        # slower here (GIL hand-offs cost more than the ~0.25 ms fsync it hides).
        with self.group.write():
            result_id = store_runs.insert_result(self.db, row, outcome.attempt_log, cache)
        self.done += 1
        if outcome.status == "ok":
            self.ok += 1
            if outcome.cached:
                self.cached += 1
            elif outcome.cost_status == "logged":
                pass  # production's answer: this run spent nothing on it
            elif outcome.cost_usd is None:
                self.spend_unknown += 1
            else:
                self.spend += outcome.cost_usd
        elif outcome.status == "error":
            self.errors += 1
        else:
            self.skipped += 1
        if result_id is None:  # another process wrote this call meanwhile: keep its row
            return None
        row["id"] = result_id
        return row

    async def _score(self, session: Any, idx: int, row: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        try:
            verdict = await session.score(self.plan.cases[idx], row)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.scoring_errors += 1
            log.exception("scoring failed for %s / %s", row["case_id"], row["model"])
            return ()
        if verdict is None:
            return ()
        return tuple(verdict) if isinstance(verdict, list) else (verdict,)

    async def _worker(self, model: str, client: ModelClient | LoggedAnswers, queue: deque[tuple[int, int]],
                      session: Any) -> None:
        task = asyncio.current_task()
        assert task is not None
        plan = self.plan
        try:
            while queue and not self.stop.is_set():
                idx, repeat = queue.popleft()
                case_id = plan.cases[idx]["id"]

                def on_retry(attempt: int, error_class: str, wait_s: float, message: str,
                             _case: str = case_id, _rep: int = repeat) -> None:
                    self.retries += 1
                    self.emit(Retrying(run_id=plan.run_id, case_id=_case, model=model, repeat=_rep,
                                       attempt=attempt, error_class=error_class, wait_s=wait_s, message=message))

                hooks = CallHooks(on_retry=on_retry, stop=self.stop, defer_cache_write=True,
                                  before_release=self.group.open)
                self.hooks[task] = hooks
                try:
                    if isinstance(client, LoggedAnswers):
                        outcome = client.answer(plan.cases[idx])
                    else:
                        outcome = await client.complete(plan.messages[idx], repeat=repeat, use_cache=plan.use_cache,
                                                        hooks=hooks)
                except CallCancelled:
                    return
                hooks.in_request = True  # writing, scoring and their commit finish within the grace period
                row = self._record(model, idx, repeat, outcome)
                scores: tuple[dict[str, Any], ...] = ()
                if row is not None and outcome.status == "ok":
                    scores = await self._score(session, idx, row)
                self.committing.add(task)
                try:
                    await self.group.durable()
                finally:
                    self.committing.discard(task)
                hooks.in_request = False
                if row is not None:
                    self.emit(ResultEvent(
                        run_id=plan.run_id, case_id=case_id, model=model, repeat=repeat, status=outcome.status,
                        result_id=row["id"], cached=outcome.cached, attempts=outcome.attempts,
                        logged=outcome.cost_status == "logged",
                        latency_ms=outcome.latency_ms, cost_usd=outcome.cost_usd,
                        error_class=outcome.error_class, error_message=outcome.error_message,
                        output_preview=outcome.output[:200] if outcome.output else None, scores=scores,
                    ))
                self.progress(force=self.done == plan.total)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # a bug or a broken database: stop the run, report it
            if self.failure is None:
                self.failure = exc
            self.cancel_all()
        finally:
            self.hooks.pop(task, None)

    async def _workers_ready(self, clients: dict[str, ModelClient]) -> None:
        """Wait for the first worker process's litellm import (a call sent before would count it
        as latency; the others join when ready) and for the prices a worker read from litellm's
        map, unless the run is stopped meanwhile. No worker left fails the run."""
        assert self.pool is not None
        pool, prices = self.pool, self.prices

        async def started() -> dict[str, Prices] | None:
            await pool.ready()
            return await prices if prices is not None else None

        ready = asyncio.ensure_future(started())
        stopped = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait([ready, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not ready.done():
                ready.cancel()
        if not ready.done() or ready.cancelled():
            return  # stopped first
        if ready.exception() is not None:
            self.on_worker_lost(ready.exception())
            return
        got = ready.result()
        if got is not None:
            self._settle_prices(got, clients)

    def _settle_prices(self, prices: dict[str, Prices], clients: dict[str, ModelClient]) -> None:
        """Price the calls, the run row and the final figures of the models planned as pending."""
        sources = {name: prices[name][0] for name in self.plan.models if name in prices}
        for name in sources:
            clients[name].use_prices(prices[name])
        self.plan.cost_sources.update(sources)
        store_runs.settle_cost_sources(self.db, self.plan.run_id, sources)

    def _startup_s(self) -> float | None:
        """What this execution paid before its calls could go: the worker processes' start (their
        litellm import; planning overlaps it), or this process's own import of litellm when this
        run paid it (at its first call). None when it paid neither or stopped before any call."""
        if self._calls_t0 is None:
            return None
        if self.pool is not None:
            return self._calls_t0 - self._t0
        return None if self._imported_before else import_seconds()

    def _record_figures(self, lag: LagFigures | None) -> None:
        """The run's own figures: its event loop's lag, its start-up."""
        startup = self._startup_s()
        try:  # a figure about the run must not mask why the run stopped
            with write(self.db):  # one commit for both
                if lag is not None:
                    store_runs.record_loop_lag(self.db, self.plan.run_id, lag.p50_ms, lag.p95_ms, lag.max_ms)
                if startup is not None:
                    store_runs.record_startup(self.db, self.plan.run_id, startup)
        except Exception:
            log.exception("recording the run's lag and start-up failed")

    async def execute(self) -> RunFinished:
        plan, cfg = self.plan, self.cfg
        loop = asyncio.get_running_loop()
        global_slots = asyncio.Semaphore(plan.concurrency)
        # Every configured secret, not just this run's models' (a provider may echo any of them).
        redactor: Redactor = from_env(m.api_key_env for m in cfg.models.values())
        clients: dict[str, ModelClient] = {}
        logged = {name: LoggedAnswers(key) for name in plan.models
                  if (key := cfg.models[name].logged_key) is not None}  # answered without a call
        # A model without its own max_concurrency may use the run's whole concurrency: the one asked
        # for (`--concurrency`), not just the config's default.
        run_cfg = cfg.run.model_copy(update={"concurrency": plan.concurrency})
        if self.pool is not None:
            self.pool.on_lost = self.on_worker_lost
            self.pool.configure({name: cfg.models[name] for name in plan.models if name not in logged}, run_cfg,
                                (m.api_key_env for m in cfg.models.values()))
        for name in plan.models:
            if name in logged:
                continue
            if self.pool is None:
                client = ModelClient(name, cfg.models[name], run_cfg, self.db, global_slots=global_slots,
                                     redactor=redactor)
            else:  # a model planned as pending is priced once a worker has read litellm's map
                pending = (PENDING_SOURCE, None, None) if plan.cost_sources[name] == PENDING_SOURCE else None
                client = WorkerClient(name, cfg.models[name], run_cfg, self.db, global_slots=global_slots,
                                      redactor=redactor, pool=self.pool, prices=pending)
            client.on_breaker = lambda cls, reason, _m=name: self.emit(
                BreakerOpened(run_id=plan.run_id, model=_m, error_class=cls, reason=reason))
            clients[name] = client
        try:  # a bad [scorers.*] table fails here, before any call
            if self.scoring is None:
                from core.run.scoring import ScoringSession

                session = ScoringSession(self.db, cfg, plan.run_id, round=1, transaction=self.group.write)
            else:
                session = self.scoring(self.db, cfg, plan.run_id)
        except BaseException:
            store_runs.set_status(self.db, plan.run_id, "failed")
            raise
        so_far = rows_so_far(self.db, plan.run_id) if plan.already_done else ()
        self._count_in(so_far)
        self.emit(RunStarted(
            run_id=plan.run_id, dataset=plan.dataset, dataset_version=plan.dataset_version,
            models=tuple(plan.models), prompt=plan.prompt_name, repeat=plan.repeat, total=plan.total,
            already_done=plan.already_done, resumed=plan.resumed, concurrency=plan.concurrency,
            workers=plan.workers, remote=self.pool is not None, reopened=plan.reopened, so_far=so_far,
        ))
        if self.token is not None and self.token._attach(loop, self.on_cancel) > 0:
            self.stop.set()
        tasks = []
        lag = LoopLagMonitor()
        try:
            if self.pool is not None and clients:
                await self._workers_ready(clients)
            lag.start()  # after the workers' import: the idle wait would dilute the figures
            self._calls_t0 = time.monotonic()
            for name in plan.models:
                queue = deque(plan.todo[name])
                client = logged.get(name) or clients[name]
                for _ in range(min(client.concurrency, len(queue))):
                    tasks.append(asyncio.create_task(self._worker(name, client, queue, session)))
            if tasks:
                await asyncio.gather(*tasks)
        except BaseException:
            self.cancel_all()
            await asyncio.gather(*tasks, return_exceptions=True)
            store_runs.set_status(self.db, plan.run_id, "interrupted")
            raise
        finally:
            try:  # the last turn's rows, whose commit callback may not run again
                self.group.flush()
            except Exception as exc:  # the run fails with it, after the clean-up below
                if self.failure is None:
                    self.failure = exc
            self._record_figures(lag.stop() if self.pool is None else self.pool.worst_lag(lag.stop()))
            if self.token is not None:
                self.token._detach()
            if self._grace_handle is not None:
                self._grace_handle.cancel()
            try:
                await session.aclose()
            except Exception:
                log.exception("closing the scoring session failed")
        if self.failure is not None:
            store_runs.set_status(self.db, plan.run_id, "failed")
            raise self.failure
        interrupted = self.stop.is_set() and self.done < plan.total
        status = "interrupted" if interrupted else "finished"
        store_runs.set_status(self.db, plan.run_id, status)
        self.progress(force=True)
        figures = model_figures(self.db, plan.run_id, plan.models, plan.cost_sources)
        n_rows = sum(f.n for f in figures)
        infra = sum(f.infra_errors for f in figures)
        finished = RunFinished(
            run_id=plan.run_id, status=status, done=self.done, total=plan.total,
            ok=sum(f.ok for f in figures), errors=sum(f.errors for f in figures),
            skipped=sum(f.skipped for f in figures), retries=self.retries, infra_errors=infra,
            infra_error_rate=infra / n_rows if n_rows else 0.0, max_error_rate=plan.max_error_rate,
            spend_usd=self.spend, spend_unknown=self.spend_unknown, elapsed_s=time.monotonic() - self._t0,
            models=figures, scoring_errors=self.scoring_errors,
            resume_command=resume_command(plan.run_id) if interrupted else None,
            calls_s=time.monotonic() - self._calls_t0 if self._calls_t0 is not None else None,
        )
        self.emit(finished)
        return finished


async def run(
    db: sqlite_utils.Database, cfg: WorkspaceConfig, request: RunRequest, *, sink: Sink | None = None,
    cancel: CancelToken | None = None, config_file: str = "assay.toml", grace_s: float = GRACE_S,
    scoring: ScoringFactory | None = None, pool: WorkerPool | None = None,
) -> RunFinished:
    """Plan and execute a run (or resume one) on the calling thread's event loop.

    Raises AssayError subclasses for config/input problems before any call is made. Closes
    litellm's async clients (and stops the worker processes) before returning. `scoring` replaces
    core.run.scoring.ScoringSession (same constructor arguments and methods) — tests and embedders use it.
    `pool`, spawned early by a caller that will not import litellm itself (the CLI), sends the
    requests even when the run uses one worker; without it, one worker means this process.
    """
    # From when a caller started the workers early (`assay run`, before its own imports), if it
    # did: their start-up began then, not here.
    spawned_at = pool.spawned_at if pool is not None else None
    started = time.monotonic() if spawned_at is None else spawned_at
    request = replace(request, workers=workers_for(db, cfg, request))
    if pool is None and request.workers > 1:
        pool = WorkerPool()
    priced_by_map: dict[str, ModelConfig] = {}
    prices: asyncio.Future[dict[str, Prices]] | None = None
    async with model_calls():
        try:
            if pool is not None:
                await pool.start(request.workers)  # they import litellm while this process plans
                priced_by_map = {name: m for name, m in cfg.models.items() if needs_price_map(m)}
                if priced_by_map:
                    # Read by a worker, so this process never imports litellm. The plan goes ahead
                    # meanwhile, these models' cost sources recorded as pending until the answer.
                    prices = asyncio.ensure_future(pool.prices(priced_by_map))
            plan = plan_run(db, cfg, request, config_file=config_file, priced_later=priced_by_map)
            return await _Engine(db, cfg, plan, sink, cancel, grace_s, scoring, pool, prices, started).execute()
        finally:
            if prices is not None:
                if not prices.done():
                    prices.cancel()
                elif not prices.cancelled():
                    prices.exception()  # retrieved: a lost worker is reported by the run itself
            if pool is not None:
                await pool.close()


def run_sync(
    db_path: str | Path, config: WorkspaceConfig | str | Path, request: RunRequest, *, sink: Sink | None = None,
    cancel: CancelToken | None = None, grace_s: float = GRACE_S, scoring: ScoringFactory | None = None,
) -> RunFinished:
    """Blocking entry point for a thread worker (the TUI): opens its own connection on
    the calling thread and runs the engine in a fresh event loop. Never installs signal handlers."""
    from store import connect

    if isinstance(config, WorkspaceConfig):
        cfg, config_file = config, "assay.toml"
    else:
        cfg, config_file = load_config(Path(config)), str(config)
    db = connect(db_path)
    try:
        return asyncio.run(run(db, cfg, request, sink=sink, cancel=cancel, config_file=config_file, grace_s=grace_s,
                               scoring=scoring))
    finally:
        db.close()
