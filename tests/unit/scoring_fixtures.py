"""Builders for scoring/report tests: a dataset version, a run and result rows, written with
plain SQL against the pinned schema (no runner needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlite_utils

from core.datasets.versions import snapshot
from store import connect
from store import datasets as store_ds
from store.db import write
from store.timeutil import now_iso


def new_db(tmp_path: Path) -> sqlite_utils.Database:
    return connect(tmp_path / "assay.db")


def add_dataset(db: sqlite_utils.Database, cases: list[dict[str, Any]], name: str = "ds") -> int:
    """Insert cases (EvalCase dict shape) and snapshot them; returns the version id."""
    with write(db):
        ds_id = store_ds.create_dataset(db, name)
        store_ds.insert_cases(db, ds_id, cases)
    version, _ = snapshot(db, ds_id, "test")
    return version["id"]


def add_run(db: sqlite_utils.Database, version_id: int, models: list[str], run_id: str = "r-test",
            repeats: int = 1, created_at: str | None = None) -> str:
    ds_id = db.execute("SELECT dataset_id FROM dataset_versions WHERE id = ?", [version_id]).fetchone()[0]
    with write(db):
        db.execute(
            "INSERT INTO runs (id, dataset_id, dataset_version_id, dataset_hash, prompt_name, config_json, "
            "config_hash, models_json, repeats, status, app_version, created_at) "
            "VALUES (?, ?, ?, 'h', 'default', '{}', 'h', ?, ?, 'finished', 'test', ?)",
            [run_id, ds_id, version_id, __import__("json").dumps(models), repeats, created_at or now_iso()],
        )
    return run_id


def add_result(db: sqlite_utils.Database, run_id: str, case_id: str, model: str, *, repeat: int = 0,
               status: str = "ok", output: str | None = "", latency_ms: float | None = 100.0,
               cost_usd: float | None = 0.001, cached: bool = False, input_tokens: int | None = 10,
               output_tokens: int | None = 5, error_class: str | None = None,
               error_message: str | None = None) -> dict[str, Any]:
    """Insert one results row; returns it as the runner would hand it to ScoringSession."""
    with write(db):
        cur = db.execute(
            "INSERT INTO results (run_id, case_id, model, repeat, status, output, latency_ms, input_tokens, "
            "output_tokens, cost_usd, cost_status, cached, error_class, error_message, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, case_id, model, repeat, status, output, latency_ms, input_tokens, output_tokens, cost_usd,
             "config" if cost_usd is not None else "unknown", int(cached), error_class, error_message, now_iso()],
        )
    return dict(next(iter(db.query("SELECT * FROM results WHERE id = ?", [cur.lastrowid]))))


# --- a hand-worked run (figures in tests/unit/test_report.py) ----------------------------------

PASS_A = [True] * 8 + [False] * 2          # c0..c9
PASS_B = [True, True] + [False] * 6 + [True, False]


def build_qa_run(db: sqlite_utils.Database, run_id: str = "r-qa") -> str:
    """Models A and B on 13 qa cases, scored by the default exact scorer:
    c0..c9 scored (A passes c0-c7, B passes c0, c1, c8); c10: A's call errored, B passes;
    c11 unlabeled (unscored); c12 carries an invalid assertion list (scorer error for both).
    A's costs are all known; B's c0 cost is unknown. A's c11 answer came from the cache."""
    import asyncio

    from core.config.schema import WorkspaceConfig
    from core.run.scoring import ScoringSession

    cases = [{"id": f"c{i}", "input_text": f"question {i}", "expected_output": f"answer {i}", "task_type": "qa"}
             for i in range(11)]
    cases.append({"id": "c11", "input_text": "unlabeled", "task_type": "qa"})
    cases.append({"id": "c12", "input_text": "bad asserts", "task_type": "qa",
                  "metadata": {"assert": [{"type": "python", "value": "x"}]}})
    vid = add_dataset(db, cases, name=f"qa-{run_id}")
    add_run(db, vid, ["A", "B"], run_id=run_id)
    session = ScoringSession(db, WorkspaceConfig(), run_id)

    async def go() -> None:
        for i, case in enumerate(cases):
            frozen = {**case, "metadata": case.get("metadata", {})}
            for model, passes in (("A", PASS_A), ("B", PASS_B)):
                right = f"answer {i}" if i >= 10 or passes[i] else "wrong"
                if model == "A" and i == 10:
                    add_result(db, run_id, case["id"], model, status="error", output=None, latency_ms=None,
                               cost_usd=None, input_tokens=None, output_tokens=None, error_class="timeout",
                               error_message="timed out <after> 60 s")
                    continue
                row = add_result(
                    db, run_id, case["id"], model, output=right,
                    latency_ms=(i + 1) * 10.0 if i < 10 else 1000.0, cached=(model == "A" and i == 11),
                    cost_usd=None if (model == "B" and i == 0) else 0.001)
                await session.score(frozen, row)
        await session.aclose()

    asyncio.run(go())
    return run_id
