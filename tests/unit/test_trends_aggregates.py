"""Per-run aggregates (core.trends.aggregates): the report's own figures, stored per run x model x
task type, kept fresh (re-score, override, resume), and the provider identity and tags they read."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from core.errors import UsageError
from core.report.build import build_report
from core.report.types import ALL
from core.review.overrides import override_verdict
from core.run.tags import parse_tags
from core.trends import aggregates
from store import trends as store_trends
from tests.unit.scoring_fixtures import add_result, build_qa_run, new_db

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
from runner_helpers import config, make_dataset  # noqa: E402


def _stored(db, run_id):
    return {(s.row.model, s.row.task_type): s.row for s in store_trends.read_aggregates(db) if s.row.run_id == run_id}


def test_aggregates_are_the_reports_figures(tmp_path):
    db = new_db(tmp_path)
    run_id = build_qa_run(db)
    assert aggregates.record_run(db, run_id) == 4  # A and B x ((all), qa)
    report = build_report(db, run_id)
    stored = _stored(db, run_id)
    assert set(stored) == {(m, g) for m in ("A", "B") for g in (ALL, "qa")}
    for (model, group), row in stored.items():
        g = report.figures(model, group)
        assert (row.n, row.scored, row.passed, row.errors) == (g.n, g.scored, g.passed, g.errors)
        assert row.pass_rate == g.pass_rate and (row.pass_rate_low, row.pass_rate_high) == g.pass_rate_ci95
        assert row.pass_rate_incl_errors == g.pass_rate_incl_errors and row.mean_score == g.mean_score
        assert (row.latency_p50_ms, row.latency_p95_ms) == (g.latency_p50_ms, g.latency_p95_ms)
        assert (row.cost_per_case, row.cost_per_correct, row.cost_status) == (
            g.cost_per_case, g.cost_per_correct, g.cost_status)
    # The hand-worked figures (tests/unit/test_report.py): A passes 8 of 10 scored, B 4 of 11.
    assert stored[("A", ALL)].pass_rate == pytest.approx(0.8) and stored[("A", ALL)].errors == 1
    assert stored[("B", "qa")].passed == 4 and stored[("B", "qa")].cost_status == "partial"


def test_refresh_builds_missing_and_stale_runs_only(tmp_path):
    db = new_db(tmp_path)
    run_id = build_qa_run(db)
    assert aggregates.refresh(db).runs == 1
    assert aggregates.refresh(db) == aggregates.Refreshed(runs=0, rows=0)
    # A human override changes a verdict: the run is rebuilt and its figures follow.
    failing = next(e for e in build_report(db, run_id).results if e.model == "A" and e.verdict == "fail")
    override_verdict(db, failing.result_id, passed=True, reason="synonym", annotator="ann")
    assert aggregates.refresh(db).runs == 1
    assert _stored(db, run_id)[("A", ALL)].passed == 9
    # A run that did not finish has no aggregates (a partial run would read as a drop).
    db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", [run_id])
    db.conn.commit()
    assert aggregates.refresh(db) == aggregates.Refreshed(runs=1, rows=0) and _stored(db, run_id) == {}
    assert aggregates.rebuild_all(db).runs == 1


def test_field_accuracy_per_task_and_for_a_one_task_run(tmp_path):
    from core.config.schema import WorkspaceConfig
    from core.run.scoring import ScoringSession
    from tests.unit.scoring_fixtures import add_dataset, add_run
    import asyncio

    db = new_db(tmp_path)
    cases = [{"id": f"c{i}", "input_text": f"invoice {i}", "task_type": "extraction",
              "expected_output": {"vendor": "ACME", "total": i}} for i in range(4)]
    vid = add_dataset(db, cases)
    add_run(db, vid, ["m"], run_id="r-x")
    session = ScoringSession(db, WorkspaceConfig(), "r-x")

    async def go():
        for i, case in enumerate(cases):
            row = add_result(db, "r-x", case["id"], "m", output=json.dumps({"vendor": "ACME", "total": i if i else 9}))
            await session.score({**case, "metadata": {}}, row)
        await session.aclose()

    asyncio.run(go())
    aggregates.record_run(db, "r-x")
    stored = _stored(db, "r-x")
    report = build_report(db, "r-x")
    want = {name: f.accuracy for name, f in report.field_accuracy["m"]["extraction"].items()}
    assert aggregates.field_accuracies(stored[("m", "extraction")]) == want == {"vendor": 1.0, "total": 0.75}
    assert aggregates.field_accuracies(stored[("m", ALL)]) == want  # one task type: the same results


def test_parse_tags():
    assert parse_tags(["git=abc123", "reason=nightly", "git=def456"]) == {"git": "def456", "reason": "nightly"}
    for bad in ("novalue", "=x", "k=", "bad key=x", "k=\x1b[31m"):
        with pytest.raises(UsageError):
            parse_tags([bad])


def test_a_run_records_tags_and_the_providers_model_and_fingerprint(srv, tmp_path):
    """Against the demo server: its system_fingerprint and model_version knobs are what a provider
    update looks like; the results record them, the aggregates list them, the tags are stored."""
    from core.run.engine import RunRequest, run_sync
    from core.run.tags import run_tags

    make_dataset(tmp_path / "assay.db", 3)
    cfg = config(srv.base_url)
    try:
        srv.configure(system_fingerprint="fp_one", model_version=None)
        first = run_sync(tmp_path / "assay.db", cfg, RunRequest(dataset="d", models=["strong"], tags={"git": "aaa"}))
        srv.configure(system_fingerprint="fp_two", model_version="2025-06")
        # Fresh calls: a cached answer keeps the identity of the call that produced it.
        second = run_sync(tmp_path / "assay.db", cfg, RunRequest(dataset="d", models=["strong"], use_cache=False))
    finally:
        srv.configure(system_fingerprint="fp_assay_demo", model_version=None)
    db = new_db(tmp_path)
    rows = db.execute("SELECT run_id, provider_model, system_fingerprint FROM results ORDER BY id").fetchall()
    assert {(r, m, f) for r, m, f in rows} == {(first.run_id, "demo-strong", "fp_one"),
                                                (second.run_id, "demo-strong-2025-06", "fp_two")}
    assert run_tags(db, [first.run_id, second.run_id]) == {first.run_id: {"git": "aaa"}}
    aggregates.refresh(db)
    row = _stored(db, second.run_id)[("strong", ALL)]
    assert json.loads(row.provider_models_json) == ["demo-strong-2025-06"]
    assert json.loads(row.fingerprints_json) == ["fp_two"] and row.model_id == "openai/demo-strong"
