"""core.run.history on a real SQLite file with runs made against the demo server: the listing
(newest first, stale runs, per-model outcomes that agree with the report), error samples, the
quick interrupt mark and the one resume command."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from runner_helpers import config, make_dataset, run_engine

from core.report.build import build_report
from core.run.history import ErrorSample, error_samples, list_runs, mark_interrupted_quickly, resume_command
from store import connect, write
from store import runs as store_runs
from store import scores as store_scores

pytestmark = pytest.mark.usefixtures("clean_srv")

MODELS = {
    "strong": {"model": "openai/demo-strong"},
    "priced": {"model": "openai/demo-fast", "input_price_per_1m": 1.0, "output_price_per_1m": 2.0},
    "down": {"model": "openai/demo-strong", "api_base": "http://127.0.0.1:9/v1"},  # nothing listens: unreachable
}


class _NoScoring:
    """Scores nothing, so the test writes the verdicts it wants itself."""

    def __init__(self, *_args):
        pass

    async def score(self, case, row):
        return None

    async def aclose(self):
        pass


def _verdict_rows(run_id: str, result_ids: list[int]) -> list[dict]:
    """Every kind of verdict: pass, fail, scorer error, a fail that a later round turned into a
    pass (and the reverse), a result failing one of two scorers; the last results stay unscored."""
    out = []
    for i, rid in enumerate(result_ids[:12]):
        def row(passed, status="ok", scorer="exact", rnd=1):
            return {"result_id": rid, "run_id": run_id, "round": rnd, "scorer": scorer, "status": status,
                    "score": None if status == "error" else float(bool(passed)), "passed": passed}
        kind = i % 6
        if kind == 0:
            out.append(row(True))
        elif kind == 1:
            out.append(row(False))
        elif kind == 2:
            out += [row(True), row(None, status="error", scorer="judge")]
        elif kind == 3:
            out += [row(False), row(True, rnd=2)]
        elif kind == 4:
            out += [row(True), row(False, rnd=2)]
        else:
            out += [row(True), row(False, scorer="judge")]
    return out


@pytest.fixture
def history_db(srv, tmp_path) -> tuple[Path, str, str]:
    """Two runs: an older one, then one with three models whose verdicts are written by hand."""
    path = tmp_path / "assay.db"
    make_dataset(path, 16)
    cfg = config(srv.base_url, MODELS, retries=0)
    older = run_engine(path, cfg, ["strong"], scoring=_NoScoring)
    newer = run_engine(path, cfg, ["strong", "priced", "down"], scoring=_NoScoring)
    db = connect(path)
    try:
        with write(db):
            for model in ("strong", "priced"):
                ids = [r[0] for r in db.execute("SELECT id FROM results WHERE run_id = ? AND model = ? ORDER BY id",
                                                [newer.run_id, model]).fetchall()]
                store_scores.insert_scores(db, _verdict_rows(newer.run_id, ids))
    finally:
        db.close()
    return path, older.run_id, newer.run_id


def test_listing_newest_first_with_outcomes_that_agree_with_the_report(history_db):
    path, older, newer = history_db
    db = connect(path)
    try:
        runs = list_runs(db, outcomes=True)
        assert [r.id for r in runs] == [newer, older]
        latest = runs[0]
        assert (latest.dataset, latest.dataset_version, latest.status, latest.n_results) == ("d", 1, "finished", 48)
        assert latest.models == ("strong", "priced", "down") and latest.finished_at is not None
        assert [o.model for o in latest.outcomes] == list(latest.models)
        report = build_report(db, newer)
        for outcome in latest.outcomes:
            figures = report.figures(outcome.model)
            assert (outcome.n, outcome.ok, outcome.errors, outcome.skipped) == (
                figures.n, figures.ok, figures.errors, figures.skipped)
            assert (outcome.scored, outcome.passed) == (figures.scored, figures.passed)
            assert outcome.pass_rate == figures.pass_rate
            assert outcome.cost_usd == pytest.approx(figures.cost_usd) if figures.cost_usd is not None \
                else outcome.cost_usd is None
        strong, priced, down = latest.outcomes
        # 12 scored results: kinds pass, fail, scorer error, fail->pass, pass->fail, one scorer failing.
        assert (strong.scored, strong.passed, strong.pass_rate) == (10, 4, 0.4)
        assert strong.cost_usd is None and strong.cost_unknown == 16  # the demo models have no price
        assert priced.cost_usd and priced.cost_usd > 0 and priced.cost_unknown == 0
        # Unreachable: errors until its breaker opens, then skipped.
        assert (down.errors + down.skipped, down.scored, down.pass_rate, down.cost_usd) == (16, 0, None, 0.0)
        assert down.errors >= 3 and down.skipped
        assert list_runs(db)[0].outcomes == ()  # only when asked for
        assert [r.id for r in list_runs(db, 1)] == [newer]
    finally:
        db.close()


def test_a_running_run_whose_process_died_is_listed_as_stale(history_db):
    path, older, _ = history_db
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    db = connect(path)
    try:
        with write(db):
            db.execute("UPDATE runs SET status = 'running', owner = ? WHERE id = ?",
                       [f"{socket.gethostname()}:{proc.pid}", older])
        assert {r.id: r.status for r in list_runs(db)}[older] == "stale"
    finally:
        db.close()


def test_error_samples_name_the_class_and_the_message(history_db):
    path, _, newer = history_db
    db = connect(path)
    try:
        samples = error_samples(db, newer)
    finally:
        db.close()
    assert list(samples) == ["down"]
    (sample,) = samples["down"]
    assert isinstance(sample, ErrorSample) and sample.error_class == "unreachable"
    assert "connection refused by 127.0.0.1:9" in sample.message


def test_mark_interrupted_quickly_marks_only_a_running_run_and_never_waits_long(history_db):
    path, older, newer = history_db
    db = connect(path)
    try:
        store_runs.set_status(db, older, "running")
        assert mark_interrupted_quickly(path, older) and mark_interrupted_quickly(path, newer)
        assert store_runs.get_run(db, older)["status"] == "interrupted"
        assert store_runs.get_run(db, newer)["status"] == "finished"
        store_runs.set_status(db, older, "running")
        holder = sqlite3.connect(path)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock: give up, do not hang
        try:
            assert mark_interrupted_quickly(path, older) is False
        finally:
            holder.rollback()
            holder.close()
        assert store_runs.get_run(db, older)["status"] == "running"
    finally:
        db.close()


def test_resume_command(tmp_path, monkeypatch):
    monkeypatch.delenv("ASSAY_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    here = tmp_path.resolve()
    assert resume_command("r-1") == "assay run --resume r-1"
    assert resume_command("r-1", root=here, db_path=here / "assay.db") == "assay run --resume r-1"
    elsewhere = here / "my ws"
    assert resume_command("r-1", root=elsewhere, db_path=elsewhere / "assay.db", stream=True) == \
        f"assay -w '{elsewhere}' run --resume r-1 --stream"
    other_db = here / "other.db"
    assert resume_command("r-1", root=here, db_path=other_db, stream=False) == \
        f"assay --db {other_db} run --resume r-1 --no-stream"
    monkeypatch.setenv("ASSAY_DB", str(other_db))  # still set where the user resumes
    assert resume_command("r-1", root=here, db_path=other_db) == "assay run --resume r-1"
