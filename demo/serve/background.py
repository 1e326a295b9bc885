"""DemoServer: the demo server on a background thread with its own event loop (for tests and
the in-process demo). The CLI (`assay serve`) runs the same HttpServer on the main thread."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

from demo.serve.http import HttpServer
from demo.serve.state import ServerState

HOST = "127.0.0.1"


class DemoServer:
    """`base_url = srv.start()`; `srv.configure(...)`, `srv.stats()`, `srv.reset_stats()`; `srv.stop()`.

    Options (also for configure): latency_ms, latency_jitter_ms, latency_scale (multiplies each
    demo model's own latency; 0 here so tests are fast, `assay serve` uses 1), rpm_limit, faults,
    seed, api_key. Always binds 127.0.0.1.
    """

    def __init__(self, port: int = 0, *, latency_ms: float = 0, latency_jitter_ms: float = 0,
                 latency_scale: float = 0.0, seed: int = 0, api_key: str | None = None,
                 rpm_limit: int | None = None, faults: list[dict[str, Any]] | None = None):
        self.state = ServerState(latency_ms=latency_ms, latency_jitter_ms=latency_jitter_ms,
                                 latency_scale=latency_scale, seed=seed, api_key=api_key,
                                 rpm_limit=rpm_limit, faults=faults or [])
        self._requested_port = port
        self.port: int | None = None
        self._http: HttpServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the demo server is not running")
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> str:
        """Start listening (returns once the port is bound) and return the /v1 base URL."""
        if self._thread is not None:
            return self.base_url
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        http = HttpServer(self.state)

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self.port = loop.run_until_complete(http.start(HOST, self._requested_port))
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(http.close())
                loop.close()

        thread = threading.Thread(target=run, name="assay-demo-server", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            raise failure[0]
        self._loop, self._http, self._thread = loop, http, thread
        return self.base_url

    def stop(self) -> None:
        """Close every connection (hung ones too) and stop the thread. Idempotent."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = self._loop = self._http = None
        self.port = None

    def configure(self, **options: Any) -> dict[str, Any]:
        """Change options at any time (ValueError on a bad one); returns the current config."""
        return self.state.configure(**options)

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def reset_stats(self) -> None:
        self.state.reset_stats()

    def __enter__(self) -> "DemoServer":
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
