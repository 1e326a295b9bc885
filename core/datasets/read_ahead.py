"""A big JSONL file read and validated in two other processes while this one writes it.

`assay import` of a large file spends more than half its time in Python that does not touch the
database (reading lines, JSON decoding, field mapping, EvalCase validation, encoding the column
values and the version blob) and the rest in SQLite. Here forked children run the very same
`iter_cases_from` and `prepare` on the file, the work shared out by batches (child k takes batches
k, k + READERS, ...: each reads every line but parses only its own), and send the prepared cases
while the parent inserts them, taking the batches in file order. So the records, the validation
and the InputError (file, line, column, problem) are the same, at the same place in the stream,
and the parent's transaction still makes the import all or nothing.

An error in a batch is reported by the child that owns the batch; a child that meets one while
skipping another's batch (an undecodable byte: every child reads every line) reports it as its
next message, which the parent only reads after the owner has reported the same error.

Only where forking is safe: the caller says so (the CLI is single-threaded; the app, whose UI
runs threads, never asks), the platform forks, and the file is big enough to repay the processes.
The children are forked before the import's write transaction begins, never touch the database
and leave with `os._exit` (multiprocessing's fork start), so the parent's connection is not
closed or rolled back from a child.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import InfrastructureError, InputError
from store.datasets import CHUNK

if TYPE_CHECKING:
    from core.datasets.importing import Prepared

MIN_BYTES = 4 << 20  # ≈10,000 cases: below this the processes do not pay for themselves
# Cases per message: the writer's chunk (500 or 8,000 made a 100k import 0.5 s slower).
_BATCH = CHUNK
# Two readers keep the writer busy (100k cases: ≈1.4 s of reading work against ≈1.1 s of writing);
# more would only take CPU from it.
READERS = 2
# The readers yield the CPU to the writer, which sets the pace: with equal shares the three
# processes got two thirds of a core each on two cores (100k cases: 1.92-2.04 s, niced 1.76-1.81 s).
READER_NICENESS = 10


def usable(path: Path, container: str, fork_ok: bool) -> bool:
    if not fork_ok or container != "jsonl" or "fork" not in multiprocessing.get_all_start_methods():
        return False
    try:
        return path.stat().st_size >= MIN_BYTES
    except OSError:
        return False  # the inline path reports it


def _child(conn: Connection, index: int, path: Path, display: str, container: str, flavour: str | None,
           sources: dict[str, str], task_type: str | None, detect: bool) -> None:
    from core.datasets.importing import iter_cases_from, open_input, prepare

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's: it rolls back and stops us
    os.nice(READER_NICENESS)

    def owned(n: int) -> bool:
        return (n // _BATCH) % READERS == index

    batch: list[Prepared] = []
    try:
        try:
            with open_input(path, display) as f:
                # Every reader parses the first record: it decides the file's flavour.
                flavour, cases = iter_cases_from(f, display, container, flavour, sources, task_type, detect=detect,
                                                 decode=lambda n: n == 0 or owned(n))
                conn.send(("flavour", flavour))
                for n, (line, column, case) in enumerate(cases):
                    if case is None or not owned(n):
                        continue
                    batch.append(prepare(line, column, case))
                    if len(batch) >= _BATCH:  # batches are aligned, so a full one is complete
                        conn.send(("cases", batch))
                        batch = []
            conn.send(("end", batch, None))
        except InputError as e:
            conn.send(("end", batch, (e.file, e.line, e.problem, e.column)))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the parent stopped reading (it failed, or was killed): nothing left to do
    finally:
        conn.close()


class ReadAhead:
    """What `iter_cases_from` then `prepare` give for the file (`flavour`, then the prepared cases by
    iterating), computed by child processes. Raises the file's InputError where the inline path
    would; `close()` stops the children whatever happened (idempotent)."""

    def __init__(self, path: Path, display: str, container: str, flavour: str | None, sources: dict[str, str],
                 task_type: str | None, *, detect: bool):
        ctx = multiprocessing.get_context("fork")
        self._display = display
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        try:
            for index in range(READERS):
                ours, theirs = ctx.Pipe(duplex=False)
                self._conns.append(ours)
                proc = ctx.Process(
                    target=_child, args=(theirs, index, path, display, container, flavour, sources, task_type, detect),
                    daemon=True, name=f"assay-import-reader-{index}")
                proc.start()
                self._procs.append(proc)
                theirs.close()
            # Every reader decides the flavour from the same first record; an error there (or an
            # empty file) comes first from reader 0.
            firsts = [self._receive(conn) for conn in self._conns]
            for message in firsts:
                if message[0] == "end":
                    self._raise(message[2])
        except BaseException:
            self.close()
            raise
        self.flavour: str | None = firsts[0][1]

    def _receive(self, conn: Connection) -> tuple[Any, ...]:
        try:
            return conn.recv()
        except EOFError:
            # Not the file's fault (a reader reports every problem it finds in the file): the
            # process was killed, ran out of memory or crashed. Exit 3, not the input's 2.
            proc = self._procs[self._conns.index(conn)]
            proc.join(1)
            code = proc.exitcode
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            raise InfrastructureError(f"{self._display}: the process reading the file stopped unexpectedly "
                                      f"({how}); nothing was imported") from None

    @staticmethod
    def _raise(error: tuple[Any, ...] | None) -> None:
        if error is not None:
            file, line, problem, column = error
            raise InputError(file, line, problem, column=column)

    def __iter__(self) -> Iterator[Prepared]:
        # A reader's messages: ("cases", batch) for each of its full batches, then ("end", the rest
        # of its last batch, the error that stopped it or None): asked for batch b, the reader that
        # owns it sends b, or ends there.
        batch = 0
        while True:
            message = self._receive(self._conns[batch % READERS])
            yield from message[1]
            if message[0] == "end":
                self._raise(message[2])
                return
            batch += 1

    def close(self) -> None:
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
        for proc in self._procs:
            proc.join()
        for conn in self._conns:
            conn.close()
        self._procs, self._conns = [], []
