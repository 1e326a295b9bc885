"""HTTP for litellm's OpenAI-compatible calls, on an I/O thread that times each request.

Why: litellm spends ≈4-8 ms of CPU per call on the event loop. When the loop is saturated, a
response that has arrived waits in the socket until the loop gets to it, and a clock read on
that loop counts the wait as the provider's latency (issue 12 measured p50 ≈210 ms for a 50 ms
server). Here the sockets live on a second event loop in a daemon thread that does nothing but
HTTP, so it notices a response within the interpreter's thread switch interval, and it stamps
the request's send, first body bytes and end there. The caller's loop still does litellm's
work; the figures say how long the provider took, not how busy Assay was.

How: `install()` sets `litellm.aclient_session` (litellm's documented hook for the httpx client
of its OpenAI-family providers: openai/, azure/, and OpenAI-compatible api_bases) to a client
whose transport hands each request to the I/O loop. `timed()` opens a `RequestTiming` for the
current task (a context variable, so concurrent calls never mix their figures); the transport
fills it. Providers litellm calls through its own handler (e.g. anthropic/) never reach it and
keep the caller-side clock (`RequestTiming.request_ms` stays None).

Bodies: a JSON response is read whole on the I/O loop (one hop back); an event stream is relayed
chunk by chunk, each chunk with the time it arrived, so a streamed call's first-token time is
the arrival of the bytes that carried it. Cancelling the caller (timeout, cancel) cancels the
request on the I/O loop and closes its connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["RequestTiming", "install", "timed"]

_END = object()


@dataclass(slots=True)
class RequestTiming:
    """The current call's last request, timed on the I/O thread (perf_counter stamps)."""

    sent: float | None = None  # just before the request went out
    chunk_at: float | None = None  # arrival of the streamed chunk the caller read last
    request_ms: float | None = None  # sent to the body received (so far, for a stream); None until then

    def arrival(self) -> float:
        """When the streamed chunk being read arrived (now, for a request not timed here)."""
        return self.chunk_at if self.chunk_at is not None else time.perf_counter()


_current: contextvars.ContextVar[RequestTiming | None] = contextvars.ContextVar("assay_request_timing", default=None)


@contextlib.contextmanager
def timed() -> Iterator[RequestTiming]:
    """A fresh RequestTiming for the requests this task sends inside the block."""
    timing = RequestTiming()
    token = _current.set(timing)
    try:
        yield timing
    finally:
        _current.reset(token)


def current() -> RequestTiming | None:
    """The calling task's open RequestTiming (None outside `timed()`)."""
    return _current.get()


class _IOLoop:
    """One daemon thread running an event loop for the process's HTTP; started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="assay-http", daemon=True).start()
        return asyncio.run_coroutine_threadsafe(coro, self._loop)


_io = _IOLoop()


class _Relay(httpx.AsyncByteStream):
    """An event stream's chunks, read on the I/O loop and handed to the caller's loop as they come."""

    def __init__(self, queue: asyncio.Queue[Any], reader: concurrent.futures.Future[Any],
                 timing: RequestTiming | None):
        self._queue, self._reader, self._timing = queue, reader, timing

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            chunk, arrived = item
            timing = self._timing
            if timing is not None and timing.sent is not None:  # the stream so far: its end is its last chunk
                timing.chunk_at, timing.request_ms = arrived, (arrived - timing.sent) * 1000
            yield chunk

    async def aclose(self) -> None:
        self._reader.cancel()  # a stream abandoned early: stop reading it and free the connection


class OffloopTransport(httpx.AsyncBaseTransport):
    """Sends each request on the I/O loop through an httpx transport that lives there."""

    def __init__(self) -> None:
        self._inner: httpx.AsyncHTTPTransport | None = None  # built on the I/O loop, used only there

    def _transport(self) -> httpx.AsyncHTTPTransport:
        if self._inner is None:
            # No pool ceiling of its own: Assay's concurrency slots bound the requests in flight.
            self._inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=None,
                                                                        max_keepalive_connections=None))
        return self._inner

    async def aclose(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            await asyncio.wrap_future(_io.submit(inner.aclose()))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timing = _current.get()
        caller = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        head = caller.create_future()
        reader = _io.submit(self._exchange(request, timing, caller, head, queue))
        try:
            status, headers, extensions, body = await head
        except asyncio.CancelledError:
            reader.cancel()
            raise
        stream: httpx.AsyncByteStream = httpx.ByteStream(body) if body is not None else _Relay(queue, reader, timing)
        return httpx.Response(status, headers=headers, stream=stream, extensions=extensions, request=request)

    async def _exchange(self, request: httpx.Request, timing: RequestTiming | None, caller: asyncio.AbstractEventLoop,
                        head: asyncio.Future[Any], queue: asyncio.Queue[Any]) -> None:
        """On the I/O loop: send, stamp, and pass the response back (whole, or chunk by chunk)."""

        def hand(fn: Any, *args: Any) -> None:
            caller.call_soon_threadsafe(fn, *args)

        def settle(result: Any = None, error: BaseException | None = None) -> None:
            if head.done():
                return
            if error is not None:
                head.set_exception(error)
            else:
                head.set_result(result)

        response: httpx.Response | None = None
        try:
            sent = time.perf_counter()
            response = await self._transport().handle_async_request(request)
            streamed = response.headers.get("content-type", "").startswith("text/event-stream")
            if not streamed:
                body = b"".join([chunk async for chunk in response.stream])
                if timing is not None:
                    timing.sent, timing.request_ms = sent, (time.perf_counter() - sent) * 1000
                hand(settle, (response.status_code, response.headers, response.extensions, body))
                return
            if timing is not None:
                timing.sent, timing.request_ms = sent, None
            hand(settle, (response.status_code, response.headers, response.extensions, None))
            async for chunk in response.stream:
                hand(queue.put_nowait, (chunk, time.perf_counter()))
            hand(queue.put_nowait, _END)
        except asyncio.CancelledError:
            hand(head.cancel)
            raise
        except BaseException as exc:  # noqa: BLE001 - the caller's loop raises it where httpx would
            hand(settle, None, exc)
            hand(queue.put_nowait, exc)
        finally:
            if response is not None:
                with contextlib.suppress(Exception):
                    await response.aclose()


class _SharedSession(httpx.AsyncClient):
    """litellm's shared session for the whole process. litellm's own cleanup
    (`close_litellm_async_clients`, also run at exit) closes the http client of every SDK client it
    cached, this one included; a closed httpx client refuses every later request, and the next run
    in the same process (the TUI, a test) would fail. Closing it here releases its connections
    and leaves it usable: the next request opens new ones."""

    async def aclose(self) -> None:
        await _transport.aclose()


_transport = OffloopTransport()


def install(litellm: Any) -> None:
    """Route litellm's OpenAI-family requests through the I/O thread. A session the embedding
    application set itself is left alone (its requests are then timed on the caller's loop)."""
    if litellm.aclient_session is None:
        litellm.aclient_session = _SharedSession(transport=_transport, follow_redirects=True, timeout=None)


async def close() -> None:
    """Close the HTTP thread's connections (a later request opens new ones)."""
    await _transport.aclose()
