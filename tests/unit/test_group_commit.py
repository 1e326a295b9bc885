"""core.run.group_commit: the writes of one event-loop turn share one commit, and `durable`
returns only once they are on disk (seen by another connection)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from core.run.group_commit import GroupCommit
from store import connect
from store.db import write


def setup(path: Path):
    """A database with a table to write, the COMMITs run on it, and a group over it."""
    db = connect(path, migrate=False)
    db.conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, p INTEGER REFERENCES parent(id))")
    commits: list[str] = []
    db.conn.set_trace_callback(lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None)
    return db, commits, GroupCommit(db)


def seen(path: Path) -> list[str]:
    other = sqlite3.connect(path)
    try:
        return [k for (k,) in other.execute("SELECT k FROM t ORDER BY k")]
    finally:
        other.close()


def test_one_turns_writes_share_one_commit_and_durable_waits_for_it(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    db, commits, group = setup(path)

    async def call(key: str) -> list[str]:
        with group.write():
            db.conn.execute("INSERT INTO t (k) VALUES (?)", [key])
        before = seen(path)
        await group.durable()
        return before

    async def main() -> list[list[str]]:
        return await asyncio.gather(*(call(k) for k in "abcde"))

    before = asyncio.run(main())
    assert before == [[]] * 5  # nothing was visible before its commit
    assert seen(path) == list("abcde") and len(commits) == 1


def test_later_turns_commit_on_their_own(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    db, commits, group = setup(path)

    async def main() -> None:
        for key in "xyz":
            with group.write():
                db.conn.execute("INSERT INTO t (k) VALUES (?)", [key])
            await group.durable()
            assert key in seen(path)

    asyncio.run(main())
    assert len(commits) == 3


def test_a_failed_write_undoes_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    db, _, group = setup(path)

    async def main() -> None:
        with group.write():
            db.conn.execute("INSERT INTO t (k) VALUES ('kept')")
        with pytest.raises(sqlite3.IntegrityError), group.write():
            db.conn.execute("INSERT INTO t (k) VALUES ('twin')")
            db.conn.execute("INSERT INTO t (k) VALUES ('twin')")
        await group.durable()

    asyncio.run(main())
    assert seen(path) == ["kept"]


def test_a_failed_commit_reaches_every_waiter_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    db, _, group = setup(path)

    async def call(key: str) -> None:
        with group.write():
            db.conn.execute("PRAGMA defer_foreign_keys = ON")  # the missing parent fails the COMMIT
            db.conn.execute("INSERT INTO t (k, p) VALUES (?, 42)", [key])
        await group.durable()

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(call("a"), call("b"), return_exceptions=True)

    errors = asyncio.run(main())
    assert all(isinstance(e, sqlite3.IntegrityError) for e in errors), errors
    assert seen(path) == [] and not db.conn.in_transaction
    with write(db):  # the connection is usable again
        db.conn.execute("INSERT INTO t (k) VALUES ('after')")
    assert seen(path) == ["after"]


def test_flush_commits_now_and_a_late_turn_callback_is_harmless(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    db, commits, group = setup(path)

    async def main() -> None:
        with group.write():
            db.conn.execute("INSERT INTO t (k) VALUES ('now')")
        group.flush()
        assert seen(path) == ["now"]
        await asyncio.sleep(0)  # the turn's own commit finds nothing left
        await group.durable()

    asyncio.run(main())
    assert len(commits) == 1
