"""A big JSONL file read and validated in a second process while this one writes it.

`assay import` spends about half of a large import in Python that does not touch the database
(reading lines, JSON decoding, field mapping, EvalCase validation) and half in SQLite; on one core
they take turns. Here a forked child runs the very same `iter_cases_from` on the file and sends the
validated cases in order, in batches, each with its version blob and digest (its canonical JSON
encoding, also done here), while the parent inserts them: the same records, the same validation,
the same InputError (file, line, column, problem) at the same place in the stream, and the
parent's transaction still makes the import all or nothing.

Only where forking is safe: the caller says so (the CLI is single-threaded; the app, whose UI
runs threads, never asks), the platform forks, and the file is big enough to repay a process.
The child is forked before the import's write transaction begins, never touches the database
and leaves with `os._exit` (multiprocessing's fork start), so the parent's connection is not
closed or rolled back from the child.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from core.datasets.versions import Encoded, encode
from core.errors import InputError
from store.datasets import CHUNK

MIN_BYTES = 4 << 20  # ≈10,000 cases: below this a second process does not pay for itself
# Cases per message: the writer's chunk (500 or 8,000 made a 100k import 0.5 s slower).
_BATCH = CHUNK

# (line, column, validated case, its version blob and digest: `core.datasets.versions.encode`)
Case = tuple[int, int | None, dict[str, Any], Encoded]


def usable(path: Path, container: str, fork_ok: bool) -> bool:
    if not fork_ok or container != "jsonl" or "fork" not in multiprocessing.get_all_start_methods():
        return False
    try:
        return path.stat().st_size >= MIN_BYTES
    except OSError:
        return False  # the inline path reports it


def _child(conn: Connection, path: Path, display: str, container: str, flavour: str | None,
           sources: dict[str, str], task_type: str | None, detect: bool) -> None:
    from core.datasets.importing import iter_cases_from, open_input

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's: it rolls back and stops us
    batch: list[Case] = []
    try:
        try:
            with open_input(path, display) as f:
                flavour, cases = iter_cases_from(f, display, container, flavour, sources, task_type, detect=detect)
                conn.send(("flavour", flavour))
                for line, column, case in cases:
                    batch.append((line, column, case, encode(case)))
                    if len(batch) >= _BATCH:
                        conn.send(("cases", batch))
                        batch = []
            conn.send(("cases", batch))
            conn.send(("end",))
        except InputError as e:
            conn.send(("cases", batch))
            conn.send(("error", e.file, e.line, e.problem, e.column))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the parent stopped reading (it failed, or was killed): nothing left to do
    finally:
        conn.close()


class ReadAhead:
    """What `iter_cases_from` gives for the file (`flavour`, then the cases by iterating), computed
    by a child process. Raises the file's InputError where the inline path would; `close()` stops
    the child whatever happened (idempotent)."""

    def __init__(self, path: Path, display: str, container: str, flavour: str | None, sources: dict[str, str],
                 task_type: str | None, *, detect: bool):
        ctx = multiprocessing.get_context("fork")
        self._display = display
        self._conn, theirs = ctx.Pipe(duplex=False)
        self._proc: Any = ctx.Process(
            target=_child, args=(theirs, path, display, container, flavour, sources, task_type, detect),
            daemon=True, name="assay-import-reader")
        self._proc.start()
        theirs.close()
        try:
            first = self._receive()
            if first[0] != "flavour":  # the file failed before its first record: the error follows
                self._raise(self._receive())
        except BaseException:
            self.close()
            raise
        self.flavour: str | None = first[1]

    def _receive(self) -> tuple[Any, ...]:
        try:
            return self._conn.recv()
        except EOFError:
            raise InputError(self._display, None, "the process reading the file stopped unexpectedly") from None

    @staticmethod
    def _raise(message: tuple[Any, ...]) -> None:
        _, file, line, problem, column = message
        raise InputError(file, line, problem, column=column)

    def __iter__(self) -> Iterator[Case]:
        while True:
            message = self._receive()
            if message[0] == "cases":
                yield from message[1]
            elif message[0] == "error":
                self._raise(message)
            else:
                return

    def close(self) -> None:
        if self._proc is None:
            return
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join()
        self._conn.close()
        self._proc = None
