"""A promptfoo config with test files, defaultTest, weights, thresholds and not- assertions,
imported and run against the in-process demo server: each case passes or fails as promptfoo's
semantics say. Every demo model answers these prompts with the first sentence of the user
message ("Say hello to Alice in French."); the demo judge passes an output that shares a word
with the rubric."""

from __future__ import annotations

import asyncio
import json
import shutil
import tomllib
from pathlib import Path

import pytest

from core.workspace import Workspace
from core.config.schema import load_config, parse_config
from core.datasets.promptfoo.importer import run_import
from core.report.build import build_report
from core.run.scoring import arescore
from demo.serve import DemoServer
from store import scores as store_scores

DATA = Path(__file__).resolve().parents[1] / "data" / "promptfoo"

# Worked by hand from the fixture files (see the descriptions there).
EXPECTED = {
    ("Alice", "French"): "pass",   # icontains Alice; rubric "Greets Alice warmly" shares "alice"
    ("Alice", "German"): "pass",
    ("Bob", "Spanish"): "fail",    # not-contains Spanish fails
    ("Carol", "Italian"): "pass",  # starts-with, regex
    ("Dan", "Dutch"): "pass",      # icontains-any HELLO, levenshtein 0 <= 3
    ("Eve", "English"): "pass",    # (1 + 1 + 0 + 2*1.0) / 5 = 0.8 >= 0.5, though contains Zzz fails
    ("Frank", "German"): "fail",   # (1 + 1 + 0) / 5 = 0.4 < 0.9
    ("Gina", "English"): "pass",   # not-llm-rubric: no shared word with "mentions pizza"
    ("Gus", "Greek"): "pass",      # equals
    ("Hal", "English"): "fail",    # is-json
}
SCORES = {("Eve", "English"): 0.8, ("Frank", "German"): 0.4}


@pytest.fixture(scope="module")
def server():
    srv = DemoServer(port=0, latency_ms=0)
    base = srv.start()
    yield srv, base
    srv.stop()


def test_import_run_and_verdicts(tmp_path, server):
    from core.run.plan import RunRequest
    from core.run.engine import run

    srv, base = server
    shutil.copytree(DATA / "greetings", tmp_path / "pf")
    config = tmp_path / "pf" / "promptfooconfig.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("__BASE_URL__", base), encoding="utf-8")
    ws = Workspace(root=tmp_path, db_path=tmp_path / "assay.db")
    lines = run_import(ws, config, None, False)
    assert lines[0].startswith("imported 10 cases (10 with assertions) into dataset 'Greetings'")

    cfg = load_config(ws.config_path)
    db = ws.db()
    finished = asyncio.run(run(db, cfg, RunRequest(dataset="Greetings", models=["strong", "demo-fast"],
                                                   prompt="Greetings")))
    assert finished.status == "finished" and finished.errors == 0 and finished.scoring_errors == 0
    report = build_report(db, finished.run_id, cfg)
    cases = {}
    for case_id, meta in db.execute("SELECT case_id, metadata_json FROM cases").fetchall():
        variables = json.loads(meta)["vars"]
        cases[case_id] = (variables["name"], variables["language"])
    got = {}
    for entry in report.results:
        key = cases[entry.case_id]
        got.setdefault(key, set()).add(entry.verdict)
        if key in SCORES:
            assert entry.score == pytest.approx(SCORES[key])
    assert got == {k: {v} for k, v in EXPECTED.items()}
    for model in ("strong", "demo-fast"):
        s = report.figures(model)
        assert (s.n, s.passed, s.failed, s.scorer_errors) == (10, 7, 3, 0)
        assert s.cost_status == "unknown" and s.cost_usd is None  # demo models have no price

    # Judge rows carry the judge's model, prompt hash and temperature.
    rubric_rows = [r for rows in store_scores.latest_scores(db, finished.run_id).values() for r in rows
                   if r["judge_model"]]
    assert len(rubric_rows) == 2 * 3  # Alice x2 and Gina, per model
    assert {(r["judge_model"], r["judge_temperature"]) for r in rubric_rows} == {("demo-judge", 0.0)}

    # Re-scoring reuses the cached judge verdicts: no new judge request reaches the server.
    judge_calls = srv.stats()["by_model"].get("demo-judge", 0)
    assert judge_calls >= 3
    assert asyncio.run(arescore(db, cfg, finished.run_id)) == 2
    assert srv.stats()["by_model"].get("demo-judge", 0) == judge_calls

    # A judge that answers in prose: its verdicts are errors, never passes.
    raw = tomllib.loads(ws.config_path.read_text(encoding="utf-8"))
    raw["models"]["bad"] = {"model": "openai/demo-badjudge", "api_base": base}
    raw["judge"] = {"model": "bad"}
    assert asyncio.run(arescore(db, parse_config(raw), finished.run_id)) == 3
    report = build_report(db, finished.run_id, cfg)
    verdicts = {(cases[e.case_id], e.model): e.verdict for e in report.results}
    for name in (("Alice", "French"), ("Alice", "German"), ("Gina", "English")):
        assert verdicts[(name, "strong")] == "scorer_error"
    assert verdicts[(("Bob", "Spanish"), "strong")] == "fail"
    assert report.figures("strong").scorer_errors == 3
