"""A run's result and score writes committed once per event-loop turn (group commit).

Each result used to be a transaction of its own and its scores another: two commits, each an fsync
(`synchronous=FULL`), per call on the loop thread. Against a 50 ms server at concurrency 128 that
kept the parent's loop blocked long enough to starve two worker processes (their throughput 1.58x
one worker's; without the fsyncs 1.70x). Here the first write of a loop turn opens the
transaction, every write made in the same turn joins it (a savepoint, `store.db.write`'s nesting,
so a failed write undoes only itself), and a callback in the next turn commits them all.

What a kill can lose stays what it was: no more paid calls than the concurrency. A call opens
the transaction its result will join as it gives back its concurrency slots (`open`, through
`CallHooks.before_release`), so the commit is scheduled before the wake-up of the call that takes
the slot: a slot is used again only once the rows of the call that held it are on disk. A kill
loses the calls on the wire and those rows, never more calls than the slots; a resume runs them
again. A call's task also waits for the commit (`durable`) before it reports its result.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import sqlite_utils

from store.db import begin, commit, write


class GroupCommit:
    def __init__(self, db: sqlite_utils.Database):
        self._db = db
        self._committed: asyncio.Future[None] | None = None

    def open(self) -> None:
        """Begin this loop turn's transaction (if not begun) and schedule its commit for the next turn."""
        if self._committed is None:
            loop = asyncio.get_running_loop()
            begin(self._db)
            self._committed = loop.create_future()
            loop.call_soon(self._commit_turn)

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """Like `store.db.write(db)`, but the statements commit with the rest of this loop turn's."""
        self.open()
        with write(self._db) as db:
            yield db

    def flush(self) -> None:
        """Commit the open transaction now (the run calls it as it stops). Raises what COMMIT raised,
        after rolling back: the waiters get the same error."""
        committed, self._committed = self._committed, None
        if committed is None:
            return
        try:
            commit(self._db)
        except BaseException as exc:
            committed.set_exception(exc)
            committed.exception()  # retrieved here: every waiter gets it through `durable`
            raise
        committed.set_result(None)

    def _commit_turn(self) -> None:
        with contextlib.suppress(Exception):  # delivered to the waiters, who fail the run
            self.flush()

    async def durable(self) -> None:
        """Return once every write made so far is committed; raises if their commit failed. Their
        commit was scheduled when the first of them began, so yielding once lets it run first: one
        loop turn, where awaiting its future would resume the caller a turn later still."""
        committed = self._committed
        if committed is None:
            return
        await asyncio.sleep(0)
        await asyncio.shield(committed)
