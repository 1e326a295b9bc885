"""A run starts on its first ready worker; the others take calls from the moment they are ready.

`WorkerPool.ready` and `_pick` over workers whose readiness the test sets (the processes themselves
are covered by tests/reliability/test_workers.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from core.run.workers import WorkerLost, WorkerPool


def _pool(n: int) -> WorkerPool:
    pool = WorkerPool()
    pool.n = n
    loop = asyncio.get_running_loop()
    pool._workers = [SimpleNamespace(index=i, ready=loop.create_future(), lost=False, pending={})  # type: ignore[list-item]
                     for i in range(n)]
    return pool


def test_the_first_ready_worker_starts_the_run_and_the_second_joins():
    async def scenario() -> list[int]:
        pool = _pool(2)
        first, second = pool._workers
        waiting = asyncio.ensure_future(pool.ready())
        await asyncio.sleep(0)
        assert not waiting.done()
        second.ready.set_result(None)
        await asyncio.wait_for(waiting, 1)  # the other is still importing
        picked = [(await pool._pick()).index]
        second.pending = {1: None, 2: None}
        picked.append((await pool._pick()).index)  # still the only ready one, however busy
        first.ready.set_result(None)
        picked.append((await pool._pick()).index)  # now the least busy ready one
        return picked

    assert asyncio.run(scenario()) == [1, 1, 0]


def test_a_worker_that_died_importing_does_not_hold_the_start_and_none_left_fails():
    async def scenario() -> None:
        pool = _pool(2)
        first, second = pool._workers
        waiting = asyncio.ensure_future(pool.ready())
        first.ready.set_exception(WorkerLost("worker process 1 of 2 exited unexpectedly"))
        first.lost = True
        await asyncio.sleep(0)
        assert not waiting.done()
        second.ready.set_result(None)
        await asyncio.wait_for(waiting, 1)
        assert (await pool._pick()).index == 1

        none = _pool(2)
        waiting = asyncio.ensure_future(none.ready())
        for worker in none._workers:
            worker.ready.set_exception(WorkerLost("exited"))
        with pytest.raises(WorkerLost, match="no worker process started"):
            await asyncio.wait_for(waiting, 1)

    asyncio.run(scenario())
