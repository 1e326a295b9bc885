"""Connection rules (see DESIGN.md "Store rules").

- WAL, synchronous=FULL (human labels cannot be recreated), foreign_keys=ON, busy_timeout 15 s,
  16 KiB pages for a new database.
- Every write goes through `write(db)`: BEGIN IMMEDIATE takes the write lock up front, because a
  deferred transaction that reads then writes fails under concurrent WAL writers whatever the
  busy timeout. sqlite-utils calls made inside it nest as savepoints.
- One connection per thread: `connect()` refuses cross-thread use (sqlite3's own check).
- The file is created 0600 before SQLite opens it.
- Money is summed with `FSUM()`: SQLite's SUM adds floats in row order, which for a run's results
  is the calls' completion order, so the same run could total $0.002033 or $0.002034.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

BUSY_TIMEOUT_MS = 15_000
PAGE_SIZE = 16_384


def _create_private(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


class _FSum:
    """SQL aggregate FSUM(x): the correctly rounded sum of the non-NULL values (NULL when none),
    the same whatever the rows' order."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value: float | None) -> None:
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        return math.fsum(self.values) if self.values else None


def connect(path: str | os.PathLike[str], *, migrate: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) a workspace database with the connection rules applied."""
    p = Path(path)
    _create_private(p)
    # Sidecar files inherit the process umask; keep them private too.
    old_umask = os.umask(0o077)
    try:
        conn = sqlite3.connect(str(p), timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.create_aggregate("FSUM", 1, _FSum)
        db = sqlite_utils.Database(conn)
        with db.ensure_autocommit_on():
            # A new database only (an existing one keeps its own): 16 KiB pages, fewer B-tree pages
            # to split and checkpoint in a bulk write (a 100k-case import 0.13 s faster than with
            # SQLite's 4 KiB default).
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    finally:
        os.umask(old_umask)
    if migrate:
        from store.migrations import migrate as apply_migrations

        apply_migrations(db)
    return db


@contextlib.contextmanager
def write(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A write transaction that holds the write lock from its first statement."""
    conn = db.conn
    if conn.in_transaction:
        # Already inside a write: nest as a savepoint.
        with db.atomic():
            yield db
        return
    begin(db)
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    commit(db)


def begin(db: sqlite_utils.Database) -> None:
    """Open a write transaction holding the write lock (see `write`) that the caller ends with
    `commit`: for writes that span more than one block of code (`core.run.group_commit`)."""
    db.conn.execute("BEGIN IMMEDIATE")


def commit(db: sqlite_utils.Database) -> None:
    """Commit the open transaction; if the commit fails, roll it back (the connection stays usable)
    and raise."""
    try:
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def page_cache(db: sqlite_utils.Database, mib: int) -> Iterator[None]:
    """A larger page cache for a bulk write (SQLite's default is 2 MiB), restored after: a 100k-case
    import updates indexes on random keys (content hashes) across more pages than the default
    holds, and took 2.71 s with it against 2.50 s with 16 MiB (64 MiB: no faster)."""
    (before,) = db.execute("PRAGMA cache_size").fetchone()
    db.conn.execute(f"PRAGMA cache_size={-1024 * int(mib)}")
    try:
        yield
    finally:
        db.conn.execute(f"PRAGMA cache_size={int(before)}")


def database_folder(db: sqlite_utils.Database) -> Path | None:
    """The folder of the connection's main database file (None for an in-memory database)."""
    for _, name, file in db.execute("PRAGMA database_list").fetchall():
        if name == "main" and file:
            return Path(file).parent
    return None
