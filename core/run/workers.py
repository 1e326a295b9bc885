"""A run's requests spread over worker processes (`[run] workers` > 1): litellm's per-call CPU
(≈10 ms a call, on one event loop) then uses every core.

Dispatch from the parent, and nothing else moves: the parent keeps one `ModelClient` per model,
so the cache, concurrency slots, rpm/tpm pacing, Retry-After pauses, retries and circuit
breakers are all decided in one place and hold globally. Only the request itself (litellm's
`acompletion`, the response parsing and the classification of a failure) runs in a worker; the
parent sends it once a call holds its slots and the limiter let it go, and gets back the parsed
response or the classified, redacted failure. The parent stays the one writer of the store.

Workers are `python -m core.run.workers` subprocesses (not `multiprocessing`: no re-import of
the caller's `__main__`, no fork of a threaded TUI), each with its own event loop and litellm
clients. They start before the run is planned, so their `import litellm` overlaps the parent's
snapshot and prompt rendering. Frames on the child's stdin/stdout are a 4-byte length and a
pickle (the child moves its own stdout to stderr first, so a stray print cannot corrupt them).
A child in its own session ignores the terminal's Ctrl+C (the parent decides how to stop) and
exits when its stdin closes: a parent killed with -9 leaves no worker sending requests.
Cancelling a call in the parent cancels it in the worker; a worker that dies fails the run.

Honest latency: a worker's event loop is where a CPU-bound client queues its requests now, so
each worker measures its own loop lag (`core.run.lag`) from its first call and reports it
four times a second; the run
stores the worst of the parent's and the workers' figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import struct
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from core.config.schema import ModelConfig, RunConfig
from core.errors import AssayError
from core.models.client import ModelClient
from core.models.prices import Prices, prices_for
from core.models.responses import Identity, Parsed
from core.models.transport import current as current_timing
from core.models.transport import timed
from core.run.lag import LagFigures, LoopLagMonitor

__all__ = ["AUTO_MIN_CALLS", "AUTO_MIN_CONCURRENCY", "RemoteFailure", "WorkerClient", "WorkerLost", "WorkerPool",
           "auto_workers"]

_HEADER = struct.Struct("!I")
_STOP_WAIT_S = 5.0
_LAG_EVERY_S = 0.25

# `[run] workers = "auto"` uses one worker per core only for a run whose calls repay the workers'
# start: each imports litellm (≈4.5 s of CPU here; this process then never does, see
# WorkerPool.prices). Measured with `bench/runner_workers.py --whole 250,500 --rounds 2` (whole
# `assay run` processes, 2 models, concurrency 32, a 50 ms server, 2 cores, load 1.4-1.8): 2 workers
# took 0.90x the wall time of 1 at 500 calls and 0.82x at 1,000, for +6 s of CPU; at 250 calls
# 1.07x (an earlier round, when this process still imported litellm too, put the break-even at
# 2,000). They pay from ≈500 calls.
AUTO_MIN_CALLS = 500
# ...and only when one event loop can be the bottleneck: at ≈5 ms of litellm CPU per call a loop
# serves ≈200 calls/s, which fewer than 16 calls in flight reach only against a provider answering
# within 80 ms (no hosted model does); below that a run waits for its provider, not for the CPU.
AUTO_MIN_CONCURRENCY = 16


def auto_workers(calls: int, concurrency: int, cores: int | None = None) -> int:
    """The worker processes `workers = "auto"` starts for a run of `calls` requests at most
    `concurrency` at a time: one per core (`os.cpu_count()`) when they pay, else 1 (no process)."""
    if calls < AUTO_MIN_CALLS or concurrency < AUTO_MIN_CONCURRENCY:
        return 1
    return max(1, cores if cores is not None else (os.cpu_count() or 1))


class WorkerLost(AssayError):
    """A worker process exited while the run needed it (calls it held get no row; resume redoes them)."""


class RemoteFailure(Exception):
    """A failed attempt, classified and redacted in the worker where it happened."""

    def __init__(self, error_class: str, status: int | None, message: str, retry_after_s: float | None,
                 request_ms: float | None = None):
        super().__init__(message)
        self.error_class, self.status, self.message, self.retry_after_s = error_class, status, message, retry_after_s
        self.request_ms = request_ms  # the worker's kernel-timed figure (None when not measured)


def _frame(obj: Any) -> bytes:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return pickle.loads(await reader.readexactly(size))


# --- the parent's side ---------------------------------------------------------------------------


class _Worker:
    def __init__(self, index: int, proc: asyncio.subprocess.Process):
        self.index, self.proc = index, proc
        self.ready = asyncio.get_running_loop().create_future()
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.reader_task: asyncio.Task[None] | None = None
        self.lag: LagFigures | None = None  # its latest report
        self.lost = False

    def send(self, message: tuple[Any, ...]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(_frame(message))


class WorkerPool:
    """N worker processes and the calls in flight on each. Create and use it on one event loop."""

    def __init__(self, n: int, on_lost: Callable[[BaseException], None] | None = None):
        self.n = n
        self.on_lost = on_lost  # called once, from the loop, when a worker dies mid-run
        self._workers: list[_Worker] = []
        self._ids = 0
        self._closing = False
        self._prices: asyncio.Future[dict[str, Prices]] | None = None

    async def start(self) -> None:
        """Spawn the workers and return at once; each reports ready once it has imported litellm."""
        env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
        for index in range(self.n):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "core.run.workers", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, env=env, start_new_session=True)
            worker = _Worker(index, proc)
            worker.reader_task = asyncio.create_task(self._read(worker))
            self._workers.append(worker)

    def configure(self, models: dict[str, ModelConfig], run: RunConfig, secret_envs: Iterable[str | None]) -> None:
        """The models the calls will name (each worker builds its own clients for them) and every
        configured secret's variable name (worker-side error messages are redacted by all of them)."""
        message = ("models", models, run, tuple(secret_envs))
        for worker in self._workers:  # read after its litellm import, before any call
            if worker.proc.returncode is None:
                worker.send(message)

    async def prices(self, models: dict[str, ModelConfig]) -> dict[str, Prices]:
        """These models' prices as litellm's price map has them, from the first worker to have
        imported litellm: the parent then never imports it (≈4.5 s of CPU on a 2-core machine
        that the workers' own imports already fill)."""
        if all(w.lost for w in self._workers):
            raise WorkerLost("every worker process has exited")
        self._prices = asyncio.get_running_loop().create_future()
        for worker in self._workers:
            if worker.proc.returncode is None:
                worker.send(("prices", models))
        return await self._prices

    async def ready(self) -> None:
        """Wait until a worker has imported litellm: calls go to ready workers only (`_pick`), and
        the others take their share from the moment they are ready, rather than the run waiting
        for the slowest import. Raises WorkerLost when none started."""
        waiting = {w.ready for w in self._workers}
        while waiting:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if None in [f.exception() for f in done]:  # every one read: none left "never retrieved"
                return
        raise WorkerLost("no worker process started (see the errors above)")

    async def call(self, model: str, messages: list[dict[str, Any]], api_key: str | None) -> Any:
        """Run one request on the least busy ready worker: ((parsed, first_ms, identity), request_ms),
        or raise RemoteFailure. Cancelling the caller cancels the request in the worker."""
        worker = await self._pick()
        self._ids += 1
        call_id = self._ids
        future = asyncio.get_running_loop().create_future()
        worker.pending[call_id] = future
        worker.send(("call", call_id, model, messages, api_key))
        try:
            return await future
        except asyncio.CancelledError:
            if worker.proc.returncode is None and not self._closing:
                with contextlib.suppress(Exception):
                    worker.send(("cancel", call_id))
            raise
        finally:
            worker.pending.pop(call_id, None)

    async def _pick(self) -> _Worker:
        ready = [w for w in self._workers if w.ready.done() and not w.lost]
        if not ready:
            waiting = [w.ready for w in self._workers if not w.ready.done()]
            if not waiting:
                raise WorkerLost("every worker process has exited")
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            return await self._pick()
        return min(ready, key=lambda w: len(w.pending))

    async def _read(self, worker: _Worker) -> None:
        assert worker.proc.stdout is not None
        try:
            while True:
                message = await _read_frame(worker.proc.stdout)
                kind = message[0]
                if kind == "ready":
                    worker.ready.set_result(None)
                    continue
                if kind == "lag":
                    worker.lag = message[1]
                    continue
                if kind == "prices":
                    if self._prices is not None and not self._prices.done():
                        self._prices.set_result(message[1])
                    continue
                future = worker.pending.get(message[1])
                if future is None or future.done():  # cancelled meanwhile
                    continue
                if kind == "ok":
                    future.set_result((message[2], message[3]))
                else:
                    future.set_exception(RemoteFailure(*message[2], request_ms=message[3]))
        except (asyncio.IncompleteReadError, ConnectionError, pickle.UnpicklingError) as exc:
            self._lost(worker, exc)

    def _lost(self, worker: _Worker, exc: BaseException) -> None:
        worker.lost = True
        lost = WorkerLost(f"worker process {worker.index + 1} of {self.n} exited unexpectedly "
                          f"({type(exc).__name__})")
        if not worker.ready.done():
            worker.ready.set_exception(lost)
            worker.ready.exception()  # retrieved: no "never retrieved" warning
        for future in worker.pending.values():
            if not future.done():
                future.cancel()
        if self._prices is not None and not self._prices.done() and all(w.lost for w in self._workers):
            self._prices.set_exception(WorkerLost("every worker process has exited"))
        if not self._closing and self.on_lost is not None:
            self.on_lost(lost)

    def worst_lag(self, here: LagFigures | None) -> LagFigures | None:
        """The figures, of this process's loop (`here`) and the workers' latest reports, with the
        highest median lag: the loop that queued the requests most."""
        reported = [f for f in [here, *(w.lag for w in self._workers)] if f is not None]
        return max(reported, key=lambda f: (f.p50_ms, f.p95_ms), default=None)

    async def close(self) -> None:
        """Stop every worker: close its stdin (it cancels what it still runs and exits), then
        kill any that does not exit within a few seconds. One still importing litellm holds no
        call and would not read its stdin before the import ends: it is killed at once."""
        self._closing = True
        for worker in self._workers:
            if worker.proc.stdin is not None:
                with contextlib.suppress(Exception):
                    worker.proc.stdin.close()
        for worker in self._workers:
            try:
                await asyncio.wait_for(worker.proc.wait(), _STOP_WAIT_S if worker.ready.done() else 0)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.kill()
                await worker.proc.wait()
            if worker.reader_task is not None:
                worker.reader_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker.reader_task


class WorkerClient(ModelClient):
    """A `ModelClient` whose requests run in a worker process; everything else stays here."""

    def __init__(self, *args: Any, pool: WorkerPool, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._pool = pool

    async def _attempt(self, messages: list[dict[str, Any]], api_key: str | None,
                       t0: float) -> tuple[Parsed, float | None, Identity]:
        # The worker's kernel-timed figure; the parent's clock would add the
        # round trip through the pipes and both event loops' waits.
        timing = current_timing()
        try:
            result, request_ms = await self._pool.call(self.name, messages, api_key)
        except RemoteFailure as failure:
            if timing is not None:
                timing.request_ms = failure.request_ms
            raise
        if timing is not None:
            timing.request_ms = request_ms
        return result

    def _failure(self, exc: BaseException) -> tuple[str, int | None, str, float | None]:
        if isinstance(exc, RemoteFailure):
            return exc.error_class, exc.status, exc.message, exc.retry_after_s
        return super()._failure(exc)


# --- the worker's side ---------------------------------------------------------------------------


async def _serve_call(clients: dict[str, ModelClient], call_id: int, model: str, messages: list[dict[str, Any]],
                      api_key: str | None, write: Callable[[tuple[Any, ...]], None]) -> None:
    client = clients[model]
    with timed() as timing:
        try:
            result = await client._attempt(messages, api_key, time.perf_counter())
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - every provider failure goes back, classified
            write(("error", call_id, client._failure(exc), timing.request_ms))
            return
    write(("ok", call_id, result, timing.request_ms))


async def _warm_up(litellm: Any, stream: bool = False) -> None:
    """One offline call (litellm's `mock_response`): litellm imports the rest of its request path
    on the first call (≈0.3 s), which would otherwise delay the first real requests and bunch
    their arrivals after the parent's limiter let them go. Its streaming path is imported on the
    first streamed call (another ≈0.27 s, measured), during which a real stream's first chunk
    would wait unread: warmed too when the run streams."""
    with contextlib.suppress(Exception):
        response = await litellm.acompletion(model="openai/warm-up", messages=[{"role": "user", "content": "x"}],
                                             mock_response="x", api_key="assay-no-key", stream=stream)
        if stream:
            async for _ in response:
                pass


async def _worker_main() -> None:
    from core.models.provider import close_clients, litellm_module
    from core.models.redact import from_env

    loop = asyncio.get_running_loop()
    # The frames go to the original stdout; anything else printed goes to stderr.
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, out)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)

    def write(message: tuple[Any, ...]) -> None:
        writer.write(_frame(message))

    await _warm_up(litellm_module())
    write(("ready",))
    lag = LoopLagMonitor()

    async def report_lag() -> None:
        lag.start()
        while True:
            await asyncio.sleep(_LAG_EVERY_S)
            write(("lag", lag.figures()))

    reporter: asyncio.Task[None] | None = None
    clients: dict[str, ModelClient] = {}
    tasks: dict[int, asyncio.Task[None]] = {}
    try:
        while True:
            try:
                message = await _read_frame(reader)
            except asyncio.IncompleteReadError:  # the parent closed our stdin (or died): stop
                break
            kind = message[0]
            if kind == "prices":
                write(("prices", {name: prices_for(m) for name, m in message[1].items()}))
            elif kind == "models":
                _, models, run, secret_envs = message
                redactor = from_env(secret_envs)
                clients = {name: ModelClient(name, m, run, None, redactor=redactor) for name, m in models.items()}
                if any(c.stream for c in clients.values()):  # before the run's first call is read
                    await _warm_up(litellm_module(), stream=True)
            elif kind == "call":
                if reporter is None:  # measured while there is work: idle time would dilute it
                    reporter = loop.create_task(report_lag())
                task = loop.create_task(_serve_call(clients, *message[1:], write))
                tasks[message[1]] = task
                task.add_done_callback(lambda _t, _id=message[1]: tasks.pop(_id, None))
            elif kind == "cancel" and message[1] in tasks:
                tasks[message[1]].cancel()
    finally:
        if reporter is not None:
            reporter.cancel()
        lag.stop()
        for task in list(tasks.values()):
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        await close_clients()
        with contextlib.suppress(Exception):
            await writer.drain()
            writer.close()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides how a run stops
    asyncio.run(_worker_main())
    # Done: clients closed, frames drained, nothing else to flush. The interpreter's teardown of
    # litellm's modules takes 1.4-3.5 s here, and the parent waits for this exit to end the run.
    os._exit(0)
