"""HTTP for litellm's OpenAI-family calls, timed by the kernel rather than by the event loop.

Why: litellm spends ≈4-8 ms of CPU per call on the event loop. When the loop is saturated, a
response that has arrived waits in the socket until the loop gets to it, and a clock read on
the loop counts that wait as the provider's latency (issue 12 measured p50 ≈210 ms for a 50 ms
server). Linux keeps, per TCP connection, the time since data was last sent and last received
(`TCP_INFO`: tcpi_last_data_sent / tcpi_last_data_recv, in ms, at the kernel tick: ±4 ms here).
Read together once the response body is in, their difference is the time from the request's
last byte leaving to the response's last byte arriving, however late the loop read it. (A thread
doing the I/O was tried first and measured worse: its every socket call waits for the GIL
behind litellm's CPU, 80 vs 136-208 calls/s and a higher p50.)

How: `install()` sets `litellm.aclient_session` (litellm's documented hook for the httpx client
of its OpenAI-family providers: openai/, azure/ and OpenAI-compatible api_bases) to a client on
litellm's own aiohttp transport (one per event loop), whose responses read TCP_INFO at the end
of their body, in aiohttp's end-of-body callback, before the connection can carry another
request. `timed()` opens a `RequestTiming` for the current task (a context variable: concurrent
calls never mix figures); the response fills it. A stream is timed to its end the same way;
its first-token time is still read on the loop (capped at the stream's end).
Where the kernel figure is missing (another OS, a proxy, a provider litellm calls through its own
handler such as anthropic/), `request_ms` stays None and the caller keeps its own clock.
Connection set-up (TCP, TLS) of a fresh connection precedes the request's last byte and is not
counted; keep-alive makes it rare.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import socket
import ssl
import struct
import sys
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["RequestTiming", "close", "current", "install", "timed"]

# struct tcp_info (linux/tcp.h): 8 one-byte fields, then u32s of which the 10th and 12th are
# tcpi_last_data_sent and tcpi_last_data_recv (ms ago).
_TCP_INFO = getattr(socket, "TCP_INFO", None) if sys.platform.startswith("linux") else None
_LAST_DATA = struct.Struct("8x36xI4xI")


@dataclass(slots=True)
class RequestTiming:
    """The current call's last request, as the kernel saw it (perf_counter domain)."""

    sent: float | None = None  # the request's last byte left
    request_ms: float | None = None  # from then to the body's last byte; None when not measured


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


def _last_data_ms(sock: socket.socket) -> tuple[int, int] | None:
    """(ms since data was last sent, ms since data was last received) on a TCP socket."""
    try:
        return _LAST_DATA.unpack_from(sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _LAST_DATA.size))
    except (OSError, struct.error):
        return None


def _stamp(sock: socket.socket, timing: RequestTiming) -> None:
    ago = _last_data_ms(sock)
    if ago is not None:
        sent_ago, recv_ago = ago
        timing.sent = time.perf_counter() - sent_ago / 1000
        timing.request_ms = float(max(sent_ago - recv_ago, 0))


@functools.cache
def _timed_response_class() -> type:
    """aiohttp's response with a stamp at the body's end (built on first use: aiohttp loads with litellm)."""
    import aiohttp

    class TimedResponse(aiohttp.ClientResponse):
        async def start(self, connection: aiohttp.connector.Connection) -> TimedResponse:
            timing = _current.get()
            wire = connection.transport
            sock = wire.get_extra_info("socket") if wire is not None else None
            await super().start(connection)
            if timing is not None and sock is not None and _TCP_INFO is not None:
                # aiohttp releases the connection to its pool at the body's end, from its own eof
                # callback registered just before this one; nothing else runs in between, so no
                # other request can have been sent on it yet. (Immediate when the body is in.)
                self.content.on_eof(functools.partial(_stamp, sock, timing))
            return self

    return TimedResponse


def _loop_transport() -> httpx.AsyncBaseTransport:
    """litellm's aiohttp transport (its URL and error handling; measured ≈2x the calls/s of
    httpx's own pool here), on a session whose responses are stamped. No pool ceiling of its own:
    Assay's concurrency slots bound the requests in flight."""
    import aiohttp
    from litellm import aiohttp_trust_env
    from litellm.llms.custom_httpx.aiohttp_transport import LiteLLMAiohttpTransport
    from litellm.llms.custom_httpx.http_handler import get_ssl_configuration

    verify = get_ssl_configuration()
    tls: bool | ssl.SSLContext = verify if isinstance(verify, ssl.SSLContext) else verify is not False

    def session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, ssl=tls),
                                     cookie_jar=aiohttp.DummyCookieJar(), trust_env=aiohttp_trust_env,
                                     response_class=_timed_response_class())

    return LiteLLMAiohttpTransport(client=session, ssl_verify=None if tls is True else tls)


class _PerLoop(httpx.AsyncBaseTransport):
    """One transport per event loop: a run, its judge's loop and a Models-screen probe can run
    at once on different loops, and a pooled connection belongs to the loop that opened it."""

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncBaseTransport] = (
            weakref.WeakKeyDictionary())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        loop = asyncio.get_running_loop()
        transport = self._by_loop.get(loop)
        if transport is None:
            transport = self._by_loop[loop] = _loop_transport()
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        transport = self._by_loop.pop(asyncio.get_running_loop(), None)
        if transport is not None:
            await transport.aclose()


_transport = _PerLoop()


class _SharedSession(httpx.AsyncClient):
    """litellm's shared session for the whole process. litellm's own cleanup
    (`close_litellm_async_clients`, also run at exit) closes the http client of every SDK client it
    cached, this one included; a closed httpx client refuses every later request, and the next run
    in the same process (the TUI, a test) would fail. Closing it here releases this loop's
    connections and leaves it usable: the next request opens new ones."""

    async def aclose(self) -> None:
        await close()


def install(litellm: Any) -> None:
    """Send litellm's OpenAI-family requests through the timed transport. A session the embedding
    application set itself is left alone (its requests are then timed on the caller's loop)."""
    if litellm.aclient_session is None:
        litellm.aclient_session = _SharedSession(transport=_transport, follow_redirects=True, timeout=None)


async def close() -> None:
    """Close the calling event loop's pooled connections (a later request opens new ones)."""
    await _transport.aclose()
