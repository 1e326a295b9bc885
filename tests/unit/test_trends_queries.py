"""Trend queries (core.trends.queries): series, points, and the breaks that explain a change of
conditions (prompt, params, provider model), on real runs against the demo server; and a query on
a generated history reads the aggregates only."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.errors import NotFoundError, UsageError
from core.report.types import ALL
from core.trends import aggregates
from core.trends.queries import check_metric, list_series, series_points, trend_series
from tests.unit.scoring_fixtures import new_db

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "reliability"))
sys.path.insert(0, str(REPO / "bench"))
from runner_helpers import make_dataset  # noqa: E402
from trends_bench import generate_history  # noqa: E402


def _cfg(base: str, *, temperature: float = 0.0, prompt: str = "default"):
    from core.config.schema import parse_config

    return parse_config({
        "run": {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "temperature": temperature, "prompt": prompt,
                "cache": False},
        "models": {"strong": {"model": "openai/demo-strong", "api_base": base}},
        "prompts": {"terse": {"template": "Answer with the number only. {input_text}"}},
    })


def test_breaks_for_prompt_params_and_provider_model(srv, tmp_path):
    from core.run.engine import RunRequest, run_sync

    db_path = tmp_path / "assay.db"
    make_dataset(db_path, 3)
    steps = [({}, {}), ({}, {}), ({"prompt": "terse"}, {}), ({"prompt": "terse", "temperature": 0.5}, {}),
             ({"prompt": "terse", "temperature": 0.5}, {"model_version": "2025-06"}),
             ({"prompt": "terse", "temperature": 0.5}, {"model_version": "2025-06", "system_fingerprint": "fp_new"})]
    runs = []
    try:
        for i, (cfg_args, server) in enumerate(steps):
            srv.configure(system_fingerprint=server.get("system_fingerprint", "fp_assay_demo"),
                          model_version=server.get("model_version"))
            done = run_sync(db_path, _cfg(srv.base_url, **cfg_args),
                            RunRequest(dataset="d", models=["strong"], tags={"step": str(i)}))
            runs.append(done.run_id)
    finally:
        srv.configure(system_fingerprint="fp_assay_demo", model_version=None)
    db = new_db(tmp_path)
    aggregates.refresh(db)
    series = series_points(db, "d", "strong")
    assert [p.run_id for p in series.points] == runs
    assert [p.breaks for p in series.points] == [
        (), (), ("prompt changed",), ("params changed",),
        ("provider model changed: demo-strong -> demo-strong-2025-06",),
        ("provider fingerprint changed: fp_assay_demo -> fp_new",),
    ]
    assert [p.segment for p in series.points] == [0, 0, 1, 2, 3, 4]
    assert series.points[2].tags == {"step": "2"} and series.last.provider_models == ("demo-strong-2025-06",)
    assert series.last.ci95 is not None and series.last.pass_rate == series.last.value
    [summary] = list_series(db, task_type=ALL)
    assert summary.runs == 6 and summary.breaks == 4 and summary.last_break == series.last.breaks
    assert summary.last_tags == {"step": "5"} and len(summary.recent) == 6
    latency = series_points(db, "d", "strong", metric="latency_p95_ms")
    assert all(p.value is not None and p.ci95 is None for p in latency.points)


def test_metric_names_and_missing_series(tmp_path):
    db = new_db(tmp_path)
    assert check_metric("cost_per_correct") == "cost_per_correct" and check_metric("field:total") == "field:total"
    for bad in ("accuracy", "field:"):
        with pytest.raises(UsageError, match="unknown metric"):
            check_metric(bad)
    with pytest.raises(NotFoundError):
        series_points(db, "nope", "m")
    assert list_series(db) == []


def test_a_query_on_a_generated_history_reads_only_the_aggregates(tmp_path):
    history = generate_history(tmp_path / "assay.db", runs=12, results_per_run=200)
    db = new_db(tmp_path)
    assert aggregates.refresh(db).runs == 12
    read: set[str] = set()

    def authorizer(action, table, *_):
        import sqlite3

        if action == sqlite3.SQLITE_READ:
            read.add(table)
        return sqlite3.SQLITE_OK

    db.conn.set_authorizer(authorizer)
    try:
        rows = list_series(db)
        points = series_points(db, history.dataset, history.models[0], "invoice", "field:total")
        every = trend_series(db, metric="mean_score")
    finally:
        db.conn.set_authorizer(None)
    assert read <= {"run_aggregates", "datasets", "run_tags"}, read
    assert len(rows) == len(every) == 6  # 2 models x ((all), qa, invoice)
    assert len(points.points) == 12 and all(p.value is not None for p in points.points)
    assert {r for p in points.points for r in p.breaks} >= {"prompt changed", "params changed"}
