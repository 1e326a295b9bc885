"""A small HTTP/1.1 server on asyncio streams: keep-alive, Content-Length or chunked request
bodies, JSON and chunked SSE responses, and the transport faults (hang, reset, truncate).

Each connection is one task; `close()` aborts every open connection, so hung requests end at once.
A chat request counts as in flight from its headers being read until its response is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import traceback
from collections.abc import Callable

from core.common.safe_text import safe_text
from demo.serve.app import CHAT_PATHS, App, Reply, Request
from demo.serve.faults import error_body
from demo.serve.state import ServerState

log = logging.getLogger(__name__)
Finish = Callable[[int | None], None]

MAX_BODY = 16 * 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            413: "Payload Too Large", 429: "Too Many Requests",
            431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class HttpServer:
    def __init__(self, state: ServerState):
        self.state = state
        self.app = App(state)
        self._server: asyncio.Server | None = None
        self._conns: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the bound port."""
        self._server = await asyncio.start_server(self._connection, host, port, reuse_address=True)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop every connection, including hung ones."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._conns)
        for task, writer in list(self._conns.items()):
            writer.transport.abort()
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns[task] = writer
        self.state.opened()
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-request
        except asyncio.CancelledError:
            pass  # close() cancelled us; ending quietly keeps asyncio from logging the cancellation
        except _BadRequest as exc:
            await _send_error(writer, exc.status, str(exc))
        except asyncio.LimitOverrunError:  # a chunk-size or trailer line of a chunked body (the head is a 431)
            await _send_error(writer, 400, "malformed chunked body: line too long")
        except Exception as exc:
            # The exception text may quote the request: through safe_text before the terminal.
            log.error("demo server: request failed\n%s", safe_text("".join(traceback.format_exception(exc))))
            await _send_error(writer, 500, "internal error in the demo server")
        finally:
            self._conns.pop(task, None)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection must close."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False  # clean EOF between requests
        except asyncio.LimitOverrunError:
            raise _BadRequest(431, "request headers too large") from None
        method, path, version, headers = _parse_head(head)
        keep_alive = _keep_alive(version, headers.get("connection", ""))
        chat = path in CHAT_PATHS
        arrived = self.state.enter() if chat else None
        reply: Reply | None = None
        counted = not chat

        def finish(status: int | None) -> None:
            # Called just before the last bytes go to the socket, so a client that has read the
            # response always sees it counted (and out of flight) in the stats.
            nonlocal counted
            if not counted:
                counted = True
                self.state.leave(status, reply.fault if reply is not None else None)

        try:
            if headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = await _read_body(reader, headers)
            reply = self.app.handle(Request(method, path, headers, body), arrived)
            if reply.delay_s > 0 and reply.action != "stream":
                await asyncio.sleep(reply.delay_s)
            return await self._execute(reader, writer, reply, keep_alive, finish)
        finally:
            finish(None)

    async def _execute(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: Reply,
                       keep_alive: bool, finish: Finish) -> bool:
        """Send the reply (or misbehave as it says). Returns whether to keep the connection."""
        if reply.action == "hang":
            while await reader.read(65536):  # until the client disconnects or close() aborts us
                pass
            return False
        if reply.action == "reset":
            with contextlib.suppress(OSError):
                # SO_LINGER 0: close() sends a real RST instead of a FIN.
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            finish(None)
            writer.transport.abort()
            return False
        if reply.events:
            await _stream(writer, reply, keep_alive, finish)
        else:
            await _send(writer, reply, keep_alive, finish)
        if reply.action == "truncate":
            writer.close()
            return False
        return keep_alive


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400, "malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(400, "malformed header line")
        key = name.lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return method, target.split("?", 1)[0], version, headers


def _keep_alive(version: str, connection: str) -> bool:
    tokens = {t.strip().lower() for t in connection.split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks, total = [], 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest(400, "bad chunk size") from None
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise _BadRequest(413, "request body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = headers.get("content-length")
    if length is None:
        return b""
    if not (length.isascii() and length.isdigit()):  # str.isdigit() also accepts "²"
        raise _BadRequest(400, "bad Content-Length")
    if int(length) > MAX_BODY:
        raise _BadRequest(413, "request body too large")
    return await reader.readexactly(int(length))


async def _send_error(writer: asyncio.StreamWriter, status: int, message: str) -> None:
    type_ = "server_error" if status >= 500 else "invalid_request_error"
    with contextlib.suppress(ConnectionError):
        await _send(writer, Reply(status=status, body=error_body(type_, None, message)), keep_alive=False)


def _head(status: int, headers: list[tuple[str, str]], keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}", "server: assay-demo"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"connection: {'keep-alive' if keep_alive else 'close'}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send(writer: asyncio.StreamWriter, reply: Reply, keep_alive: bool, finish: Finish | None = None) -> None:
    headers = [("content-type", reply.content_type), ("content-length", str(len(reply.body))), *reply.headers]
    body = reply.body[: len(reply.body) // 2] if reply.action == "truncate" else reply.body
    if finish is not None:
        finish(reply.status)
    writer.write(_head(reply.status, headers, keep_alive) + body)
    await writer.drain()


async def _stream(writer: asyncio.StreamWriter, reply: Reply, keep_alive: bool, finish: Finish) -> None:
    """SSE with chunked transfer encoding. Half the delay comes before the first event (time to
    first token), the rest is spread between the events. A truncated stream stops halfway."""
    headers = [("content-type", reply.content_type), ("transfer-encoding", "chunked"), *reply.headers]
    writer.write(_head(reply.status, headers, keep_alive))
    events = reply.events
    if reply.action == "truncate":
        events = events[: max(1, len(events) // 2)]
    gap = reply.delay_s / 2 / max(1, len(events) - 1)
    last = len(events) - 1
    for i, event in enumerate(events):
        if reply.delay_s > 0:
            await asyncio.sleep(reply.delay_s / 2 if i == 0 else gap)
        data = b"%x\r\n%s\r\n" % (len(event), event)
        if i == last:
            finish(reply.status)
            if reply.action != "truncate":
                data += b"0\r\n\r\n"
        writer.write(data)
        await writer.drain()
