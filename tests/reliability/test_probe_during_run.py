"""A Models-screen connection test while a run is live in the same process (the app's case).

Each has its own event loop; litellm's clean-up closes the clients of every loop. Before
`core.models.provider.model_calls`, a probe's clean-up cut the live run's requests to a provider
served by litellm's own HTTP handler (`hosted_vllm/`): "Server disconnected", one error per call
in flight.
"""

from __future__ import annotations

import asyncio
import threading

from runner_helpers import config, make_dataset

from core.models.probe import check_connection
from core.models.provider import litellm_module
from core.run.engine import RunRequest, run
from core.run.events import ResultEvent
from store import connect


def test_connection_tests_during_a_live_run_leave_its_requests_alone(clean_srv, tmp_path):
    clean_srv.configure(latency_ms=150)
    make_dataset(tmp_path / "a.db", 40)
    cfg = config(clean_srv.base_url, {"vllm": {"model": "hosted_vllm/demo-strong"}}, concurrency=4, retries=0,
                 workers=1)
    results = threading.Semaphore(0)
    finished = {}

    def sink(event: object) -> None:
        if isinstance(event, ResultEvent):
            results.release()

    def live_run() -> None:
        db = connect(tmp_path / "a.db")
        finished["run"] = asyncio.run(run(db, cfg, RunRequest(dataset="d", models=["vllm"], use_cache=False),
                                          sink=sink))
        db.close()

    runner = threading.Thread(target=live_run)
    runner.start()
    checks = []
    for _ in range(3):  # each while calls are in flight: the run needs 40 x 150 ms / 4 = 1.5 s
        assert results.acquire(timeout=60)
        checks.append(check_connection(cfg, "vllm"))
    runner.join(60)

    assert [c.ok for c in checks] == [True, True, True]
    fin = finished["run"]
    assert (fin.done, fin.total, fin.errors) == (40, 40, 0)
    # The last to leave (the run, or a probe) closed every loop's clients and emptied the cache.
    assert dict(litellm_module().in_memory_llm_clients_cache.cache_dict) == {}
