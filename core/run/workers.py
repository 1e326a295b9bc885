"""A run's requests spread over worker processes (`[run] workers` > 1): litellm's per-call CPU
(≈10 ms a call, on one event loop) then uses every core.

Dispatch from the parent, and nothing else moves: the parent keeps one `ModelClient` per model,
so the cache, concurrency slots, rpm/tpm pacing, Retry-After pauses, retries and circuit
breakers are all decided in one place and hold globally. Only the request itself (litellm's
`acompletion`, the response parsing and the classification of a failure) runs in a worker; the
parent sends it once a call holds its slots and the limiter let it go, and gets back the parsed
response or the classified, redacted failure. The parent stays the one writer of the store.

Workers come from one `python -m core.run.workers` subprocess (not `multiprocessing`: no
re-import of the caller's `__main__`, no fork of a threaded TUI) that imports litellm once and
forks the others (`core.run.worker_start`), each with its own event loop and litellm clients.
They start before the run is planned, so the import overlaps the parent's snapshot and prompt
rendering. Each worker has its own socket to the parent (its stdout goes to stderr, so a stray
print cannot corrupt a frame); frames are a 4-byte length and a pickle. Workers ignore the
terminal's Ctrl+C (the parent decides how to stop) and exit when their socket closes (a parent
killed with -9 leaves no worker sending requests). Cancelling a call in the parent cancels it in
the worker; a worker that dies fails the run.

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
import signal
import socket
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
from core.run.worker_start import STOP_WAIT_S, StartedWorkers

__all__ = ["AUTO_MIN_CALLS", "AUTO_MIN_CALLS_WARM", "AUTO_MIN_CONCURRENCY", "RemoteFailure", "WorkerClient",
           "WorkerLost", "WorkerPool", "auto_workers", "client_calls_s", "provider_sets_pace"]

_HEADER = struct.Struct("!I")
_LAG_EVERY_S = 0.25

# `[run] workers = "auto"` uses one worker per core only for a run whose calls repay it. Since the
# workers fork from one that imported litellm, a second one costs a fork, not an import: measured
# with `bench/runner_workers.py --whole 50,125,250,500 --rounds 3` (whole `assay run` processes,
# 2 models, concurrency 32, a 50 ms server, 2 cores, load 1.4-1.8), 2 workers took 0.99x the wall
# time of 1 at 100 calls, 0.97x at 250, 0.96x at 500 and 0.89x at 1,000, for no more CPU. Below
# 250 calls the difference is within the noise, and an app that imported litellm already runs a
# small run in its own process sooner than any worker starts.
AUTO_MIN_CALLS = 250
# ...or, in a process that has imported litellm already (the app after its first run), only for
# a run long enough to repay the workers' own import, which its loop no longer pays. Measured
# with `bench/runner_workers.py --warm 250,500,1000,2000,1500,3000 --rounds 3` (the engine in a
# process with litellm imported, 2 models, concurrency 64, a 50 ms server): 2 new workers took
# 1.93x the wall time of this process's loop at 500 calls, 1.54x at 1,000, 1.17x at 2,000, 1.08x
# at 3,000, 0.92x at 4,000 and 0.81x at 6,000.
AUTO_MIN_CALLS_WARM = 4_000
# ...and only when one worker's event loop can be the bottleneck. At ≈1.5-2 ms of CPU per call one
# worker serves ≈550 calls/s: with 32 calls in flight it reaches 85% of what a 50 ms server allows
# (`bench/peers.py --workload a`: 546 calls/s with one worker, 535 with two, which cost 0.7 s more
# CPU and 190 MB more memory), and against a hosted model (hundreds of ms) far fewer calls are in
# flight than it can serve. With 64 in flight, 1,000 calls against a 50 ms server took 3.13-3.44 s
# with one worker and 2.94-3.25 s with two; a run needs more than 64 only to outrun its provider.
AUTO_MIN_CONCURRENCY = 64
# ...and only when the provider could answer faster than one worker sends: an earlier run's p50
# latency gives the most calls per second the concurrency allows (concurrency / latency). One
# worker served 486-606 calls/s here (`bench/runner_workers.py`, concurrency 32-128, 50 ms), so
# at 64 in flight a provider answering in 150 ms or more (≤ 427 calls/s) leaves a second worker
# nothing to do but cost CPU and ≈190 MB.
ONE_WORKER_CALLS_S = 500


def client_calls_s(workers: int) -> float:
    """The most calls per second the client itself sends from `workers` processes (1: one loop),
    whatever the provider allows: one served 446-606 here, two 1.59-1.66x one
    (`bench/runner_workers.py --concurrency 128`, a 50 ms server, 2 cores)."""
    return ONE_WORKER_CALLS_S * (1.0 if workers <= 1 else 0.8 * workers)


def auto_workers(calls: int, concurrency: int, cores: int | None = None, *, warm: bool = False) -> int:
    """The worker processes `workers = "auto"` starts for a run of `calls` requests at most
    `concurrency` at a time: one per core (`os.cpu_count()`) when they pay, else 1 (the caller's own
    process, or the one worker `assay run` started early). `warm`: the caller has imported litellm
    already. The planner then asks `provider_sets_pace` when earlier runs measured the models."""
    if calls < (AUTO_MIN_CALLS_WARM if warm else AUTO_MIN_CALLS) or concurrency < AUTO_MIN_CONCURRENCY:
        return 1
    return max(1, cores if cores is not None else (os.cpu_count() or 1))


def provider_sets_pace(concurrency: int, latency_ms: float) -> bool:
    """Whether one worker keeps up with a provider that answers in `latency_ms` (p50, the run's
    fastest model in an earlier run) at `concurrency` calls in flight."""
    return concurrency * 1000 / latency_ms < ONE_WORKER_CALLS_S


class WorkerLost(AssayError):
    """A worker process exited while the run needed it (calls it held get no row; resume redoes them)."""


class RemoteFailure(Exception):
    """A failed attempt, classified and redacted in the worker where it happened."""

    def __init__(self, error_class: str, status: int | None, message: str, retry_after_s: float | None,
                 timing: tuple[float | None, float | None] = (None, None)):
        super().__init__(message)
        self.error_class, self.status, self.message, self.retry_after_s = error_class, status, message, retry_after_s
        self.timing = timing  # the worker's kernel-timed (request_ms, sent); None when not measured


def _frame(obj: Any) -> bytes:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return pickle.loads(await reader.readexactly(size))


# --- the parent's side ---------------------------------------------------------------------------


class _Worker:
    def __init__(self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.index, self.reader, self.writer = index, reader, writer
        self.ready = asyncio.get_running_loop().create_future()
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.reader_task: asyncio.Task[None] | None = None
        self.lag: LagFigures | None = None  # its latest report
        self.lost = False  # its socket closed: the process exited (or is about to)

    def send(self, message: tuple[Any, ...]) -> None:
        self.writer.write(_frame(message))


class WorkerPool:
    """A run's worker processes and the calls in flight on each; use it on one event loop.
    `started` is the processes a caller started early (`core.run.worker_start`), else `start` does."""

    def __init__(self, on_lost: Callable[[BaseException], None] | None = None,
                 started: StartedWorkers | None = None):
        self.n = 0  # the workers this run uses, from `start`
        self.on_lost = on_lost  # called once, from the loop, when a worker dies mid-run
        self._workers: list[_Worker] = []
        self._ids = 0
        self._closing = False
        self._prices: asyncio.Future[dict[str, Prices]] | None = None
        self._started = started

    @property
    def spawned_at(self) -> float | None:
        """When the worker processes were started (`time.monotonic()`), if they were."""
        return None if self._started is None else self._started.t0

    async def start(self, n: int) -> None:
        """Use `n` workers and return at once; each reports ready once litellm is imported."""
        if self._started is not None and n > len(self._started.sockets):  # started for fewer
            self._started.stop()
            self._started = None
        if self._started is None:
            self._started = StartedWorkers(n)
        self.n = n
        sockets, self._started.sockets = self._started.sockets, []  # the streams own them now
        for index, sock in enumerate(sockets):
            if index >= n:
                sock.close()  # that worker's end of file: it is never forked
                continue
            reader, writer = await asyncio.open_connection(sock=sock)
            worker = _Worker(index, reader, writer)
            worker.reader_task = asyncio.create_task(self._read(worker))
            self._workers.append(worker)
        self._workers[0].send(("workers", n))

    def configure(self, models: dict[str, ModelConfig], run: RunConfig, secret_envs: Iterable[str | None]) -> None:
        """The models the calls will name (each worker builds its own clients for them) and every
        configured secret's variable name (worker-side error messages are redacted by all of them)."""
        message = ("models", models, run, tuple(secret_envs))
        for worker in self._workers:  # read after its litellm import, before any call
            if not worker.lost:
                worker.send(message)

    async def prices(self, models: dict[str, ModelConfig]) -> dict[str, Prices]:
        """These models' prices as litellm's price map has them, from the first worker to have
        imported litellm: the parent then never imports it (≈4.5 s of CPU on a 2-core machine
        that the workers' own imports already fill)."""
        if all(w.lost for w in self._workers):
            raise WorkerLost("every worker process has exited")
        self._prices = asyncio.get_running_loop().create_future()
        for worker in self._workers:
            if not worker.lost:
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
        """Run one request on the least busy ready worker: ((parsed, first_ms, identity), (request_ms, sent)),
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
            if not worker.lost and not self._closing:
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
        try:
            while True:
                message = await _read_frame(worker.reader)
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
                    future.set_exception(RemoteFailure(*message[2], timing=message[3]))
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
        """Stop every worker: close its socket (it cancels what it still runs and exits), then
        kill them all if one does not exit within a few seconds. One still importing litellm
        holds no call and would not read its socket before the import ends: killed at once."""
        self._closing = True
        for worker in self._workers:
            with contextlib.suppress(Exception):
                worker.writer.write_eof()  # half-closed: its exit still reaches our reader
        readers = [w.reader_task for w in self._workers if w.reader_task is not None]
        patient = bool(readers) and all(w.ready.done() for w in self._workers)
        _, late = await asyncio.wait(readers, timeout=STOP_WAIT_S) if patient else (set(), set(readers))
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        for worker in self._workers:
            worker.writer.close()
        if self._started is not None:
            self._started.stop(kill=bool(late) or not patient)


class WorkerClient(ModelClient):
    """A `ModelClient` whose requests run in a worker process; everything else stays here."""

    def __init__(self, *args: Any, pool: WorkerPool, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._pool = pool

    async def _attempt(self, messages: list[dict[str, Any]], api_key: str | None,
                       t0: float) -> tuple[Parsed, float | None, Identity]:
        # The worker's kernel-timed figures; the parent's clock would add the round trip through
        # the sockets and both event loops' waits. `sent` compares across processes: perf_counter
        # is CLOCK_MONOTONIC, the same clock in every process.
        timing = current_timing()
        remote: tuple[float | None, float | None] = (None, None)
        try:
            result, remote = await self._pool.call(self.name, messages, api_key)
        except RemoteFailure as failure:
            remote = failure.timing
            raise
        finally:
            if timing is not None:
                timing.request_ms, timing.sent = remote
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
            reply: tuple[Any, ...] = ("ok", call_id, await client._attempt(messages, api_key, time.perf_counter()))
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - every provider failure goes back, classified
            reply = ("error", call_id, client._failure(exc))
    write((*reply, (timing.request_ms, timing.sent)))


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


async def _worker_main(fd: int) -> None:
    from core.models.provider import close_clients, litellm_module
    from core.models.redact import from_env

    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(sock=socket.socket(fileno=fd))

    def write(message: tuple[Any, ...]) -> None:
        writer.write(_frame(message))

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
            except (asyncio.IncompleteReadError, ConnectionError):  # the parent closed its end (or died): stop
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


async def _prepare() -> None:
    from core.models.provider import close_clients, litellm_module

    await _warm_up(litellm_module())
    await close_clients()  # built on this loop: each worker builds its own on its own loop


def _read_frame_blocking(fd: int) -> Any:
    """One frame from a socket before any event loop runs here; None at its end of file."""
    with socket.socket(fileno=os.dup(fd)) as sock:  # a duplicate: closing it leaves `fd` open
        head = sock.recv(_HEADER.size, socket.MSG_WAITALL)
        if len(head) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack(head)
        body = sock.recv(size, socket.MSG_WAITALL)
    return pickle.loads(body) if len(body) == size else None


def _serve_forked(fds: list[int]) -> None:
    """Import litellm and warm it up once, then learn from the parent how many workers the run
    uses, fork the others, and serve the first socket.

    Nothing is running when it forks: no thread (litellm starts none at import), no event loop,
    no client (the warm-up's are closed). Each fork keeps only its own socket, so a worker's exit
    is the end of file the parent reads for it. The first worker reaps its forks before it exits:
    reaped, their CPU time adds to its own and, once the parent reaps it, to the parent's children's
    (what `time assay run` and a benchmark's wait4 report); a fork the kernel reaped on its own
    (SIGCHLD ignored) would leave its CPU uncounted."""
    asyncio.run(_prepare())
    message = _read_frame_blocking(fds[0])
    if message is None:  # the parent stopped (or died) before the run started
        return
    mine = fds[0]
    forks: list[int] = []
    for fd in fds[1:message[1]]:  # the others' sockets are closed unused, below
        pid = os.fork()
        if pid == 0:
            mine, forks = fd, []  # the earlier forks are its siblings, not its children
            break
        forks.append(pid)
    for fd in fds:
        if fd != mine:
            os.close(fd)
    asyncio.run(_worker_main(mine))
    for pid in forks:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides how a run stops
    os.dup2(2, 1)  # the frames go over the sockets; anything printed goes to stderr
    _serve_forked([int(fd) for fd in sys.argv[1:]])
    # Done: clients closed, frames drained, nothing else to flush. The interpreter's teardown of
    # litellm's modules takes 1.4-3.5 s here, and the parent waits for this exit to end the run.
    os._exit(0)
