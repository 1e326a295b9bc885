"""The Run screen's estimate counts the calls the response cache will answer (keyed as the run keys
them): after a real run, re-running the same cases costs nothing and takes no time; a new case,
a new repeat or the cache turned off are calls to send again."""

from __future__ import annotations

from core.config.schema import parse_config
from core.run.estimate import estimate_run
from store import connect, write
from store import datasets as store_ds

from runner_helpers import config, make_dataset, run_engine

PRICED = {"strong": {"model": "openai/demo-strong", "input_price_per_1m": 1.0, "output_price_per_1m": 2.0,
                     "rpm": 600}}


def _estimate(db_path, cfg, **kw):
    db = connect(db_path)
    try:
        return estimate_run(db, cfg, dataset="d", models=["strong"], prices=False, **kw)
    finally:
        db.close()


def test_cached_calls_cost_nothing_and_new_ones_are_counted(srv, tmp_path):
    db_path = tmp_path / "assay.db"
    make_dataset(db_path, 6)
    cfg = config(srv.base_url, PRICED, concurrency=4)
    before = _estimate(db_path, cfg)
    assert (before.calls, before.cached) == (6, 0) and before.cost_max_usd > 0

    assert run_engine(db_path, cfg, ["strong"]).ok == 6
    after = _estimate(db_path, cfg)
    m = after.models[0]
    assert (after.calls, after.cached, m.sent) == (6, 6, 0)
    assert (m.input_tokens, m.output_tokens_max, m.cost_max_usd, m.cost_expected_usd) == (0, 0, 0.0, 0.0)
    assert after.duration_s == 0.0

    db = connect(db_path)
    with write(db):
        store_ds.insert_cases(db, store_ds.dataset_id(db, "d"), [{"id": "new", "input_text": "What is 7 plus 7?"}])
    db.close()
    grown = _estimate(db_path, cfg).models[0]
    assert (grown.calls, grown.cached, grown.sent) == (7, 6, 1) and grown.input_tokens > 0
    db = connect(db_path)
    with write(db):  # the same input as "new": one request key, still two calls to send
        store_ds.insert_cases(db, store_ds.dataset_id(db, "d"), [{"id": "twin", "input_text": "What is 7 plus 7?"}])
    db.close()
    assert _estimate(db_path, cfg).models[0].sent == 2
    assert _estimate(db_path, cfg, repeat=2).models[0].cached == 6  # repeat 1 is a different request
    uncached = parse_config({**cfg.model_dump(mode="json"), "run": {**cfg.run.model_dump(mode="json"), "cache": False}})
    assert _estimate(db_path, uncached).cached == 0

    # What the estimate counted as cached, the run takes from the cache: of its 8 calls, only the
    # 2 it counted as to send reach the server (1 when the twin finds the other's answer cached).
    srv.reset_stats()
    assert run_engine(db_path, cfg, ["strong"]).ok == 8
    assert 1 <= srv.stats()["requests"] <= 2
