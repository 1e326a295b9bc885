"""A resume that sends a run's failed calls again (`RunRequest.retry_errors`, `assay run --resume
RUN --retry-errors`): after an outage, the error and breaker-skipped rows are replaced by the
calls' new outcomes, one terminal row per call, through real HTTP to the DemoServer."""

from __future__ import annotations

import pytest
from runner_helpers import TWO, config, make_dataset, rows, run_engine

from core.errors import ResumeError
from core.run.events import Progress, RunStarted
from core.trends.baselines import set_baseline
from store import connect

pytestmark = pytest.mark.usefixtures("clean_srv")


def _outage(srv, tmp_path):
    """6 cases x (strong, fast): `fast` says its quota is exhausted (not retried; the breaker opens
    after 2 such calls), so 2 of its rows are errors and 4 are skipped."""
    db = tmp_path / "a.db"
    make_dataset(db, 6)
    cfg = config(srv.base_url, TWO, breaker_threshold=2, concurrency=1)
    srv.configure(faults=[{"kind": "quota", "model": "demo-fast"}])
    fin = run_engine(db, cfg, ["strong", "fast"])
    assert (fin.status, fin.ok, fin.errors, fin.skipped) == ("finished", 6, 2, 4)
    srv.configure(faults=[])
    return db, cfg, fin.run_id


def test_the_failed_calls_are_sent_again_and_each_call_keeps_one_row(srv, tmp_path):
    db, cfg, run_id = _outage(srv, tmp_path)
    ok_before = rows(db, "SELECT id, case_id, output FROM results WHERE status = 'ok' ORDER BY id")
    srv.reset_stats()
    events: list = []
    fin = run_engine(db, cfg, [], dataset=None, events=events, resume=run_id, retry_errors=True)
    (started,) = [e for e in events if isinstance(e, RunStarted)]
    assert (started.reopened, started.already_done, started.total) == (6, 6, 12)
    assert (fin.status, fin.ok, fin.errors, fin.skipped, fin.done) == ("finished", 12, 0, 0, 12)
    # The run's figures are the whole run's, as `done` is: no model here has a price.
    last = [e for e in events if isinstance(e, Progress)][-1]
    assert (last.done, last.ok, last.errors, last.skipped, last.spend_unknown, fin.spend_unknown) == (12, 12, 0, 0, 12, 12)
    assert srv.stats()["requests"] == 6  # only the failed calls went out
    assert rows(db, "SELECT model, status, COUNT(*) FROM results GROUP BY model, status ORDER BY model") == [
        ("fast", "ok", 6), ("strong", "ok", 6)]
    # The answered calls were left as they were; the new rows are scored like any other.
    assert rows(db, "SELECT id, case_id, output FROM results WHERE model = 'strong' ORDER BY id") == ok_before
    assert rows(db, "SELECT COUNT(DISTINCT result_id) FROM scores") == [(12,)]
    # What the outage did stays on record: the failed attempts, then each call's new one.
    assert rows(db, "SELECT outcome, http_status, COUNT(*) FROM attempts WHERE model = 'fast' "
                    "GROUP BY outcome, http_status ORDER BY outcome") == [("error", 429, 2), ("ok", 200, 6)]


def test_a_pinned_baseline_is_left_as_it_is(srv, tmp_path):
    db, cfg, run_id = _outage(srv, tmp_path)
    conn = connect(db)
    set_baseline(conn, run_id, by="test")
    conn.close()
    before = rows(db, "SELECT id, status, error_class FROM results ORDER BY id")
    with pytest.raises(ResumeError, match="pinned baseline for every model of dataset 'd'"):
        run_engine(db, cfg, [], dataset=None, resume=run_id, retry_errors=True)
    assert rows(db, "SELECT id, status, error_class FROM results ORDER BY id") == before
    assert rows(db, "SELECT status FROM runs") == [("finished",)]


def test_without_the_flag_a_resume_leaves_the_failed_rows(srv, tmp_path):
    db, cfg, run_id = _outage(srv, tmp_path)
    srv.reset_stats()
    fin = run_engine(db, cfg, [], dataset=None, resume=run_id)
    assert (fin.errors, fin.skipped, srv.stats()["requests"]) == (2, 4, 0)
