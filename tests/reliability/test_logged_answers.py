"""`[models.NAME] model = "logged"`: production's logged answers (metadata.production_output, as
`assay sample` keeps them) as a model of a run, beside a called one, through the real engine and
store, against the DemoServer."""

from __future__ import annotations

import pytest
from runner_helpers import config, rows, run_engine

from core.report.build import build_report
from core.run.live import LiveRun
from store import connect, write
from store import datasets as store_ds

pytestmark = pytest.mark.usefixtures("clean_srv")


def _dataset(db_path, n: int = 6) -> None:
    db = connect(db_path)
    with write(db):
        ds = store_ds.create_dataset(db, "d")
        store_ds.insert_cases(db, ds, [
            {"id": f"c{i}", "input_text": f"What is {i} plus {i}?", "expected_output": str(2 * i),
             # Production got the odd ones wrong; it logged no answer for the last case.
             "metadata": {} if i == n - 1 else {"production_output": str(2 * i + i % 2)}}
            for i in range(n)])
    db.close()


def test_logged_answers_are_scored_beside_a_called_model_without_a_call(srv, tmp_path):
    db_path = tmp_path / "a.db"
    _dataset(db_path)
    cfg = config(srv.base_url, {"strong": {"model": "openai/demo-strong"}, "production": {"model": "logged"}})
    events: list = []
    fin = run_engine(db_path, cfg, ["strong", "production"], events=events)
    assert (fin.status, fin.done, fin.infra_errors) == ("finished", 12, 0)
    # The run spent nothing on production's answers: not counted as unpriced calls (strong is unpriced).
    assert fin.spend_unknown == 6
    live = LiveRun()
    for event in events:
        live(event)
    figures = {m.model: m for m in live.snapshot().models}
    assert (figures["production"].spend_unknown, figures["production"].spend_usd) == (0, 0.0)
    assert figures["strong"].spend_unknown == 6
    assert srv.stats()["requests"] == 6  # the called model's only
    assert srv.stats()["by_model"] == {"demo-strong": 6}
    assert rows(db_path, "SELECT DISTINCT cost_status FROM results WHERE model = 'production' AND status = 'ok'") == [
        ("logged",)]
    assert rows(db_path, "SELECT case_id, status, output, latency_ms, cost_usd, error_class FROM results "
                         "WHERE model = 'production' ORDER BY case_id") == [
        ("c0", "ok", "0", None, None, None), ("c1", "ok", "3", None, None, None), ("c2", "ok", "4", None, None, None),
        ("c3", "ok", "7", None, None, None), ("c4", "ok", "8", None, None, None),
        ("c5", "error", None, None, None, "not_logged")]
    db = connect(db_path)
    try:
        report = build_report(db, fin.run_id)
    finally:
        db.close()
    production = report.summary["production"]["(all)"]
    assert (production.scored, production.passed, production.errors) == (5, 3, 1)
    # No tokens were logged: none, not 0 (the report prints "-").
    assert (production.input_tokens, production.output_tokens) == (None, None)
    assert report.summary["strong"]["(all)"].input_tokens > 0
    strong = report.summary["strong"]
    assert strong["(all)"].n == 6


def test_a_logged_model_cannot_judge(tmp_path):
    from core.config.schema import parse_config
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"answers with logged outputs and cannot judge"):
        parse_config({"models": {"production": {"model": "logged"}}, "judge": {"model": "production"}})
