"""Runs with repeats and exact verdict/score patterns for the noise-floor tests: one Cell per
(model, case, repeat), written with plain SQL against the pinned schema (no runner needed)."""

from __future__ import annotations

import sqlite_utils
from scoring_fixtures import add_run

from store.db import write
from store.scores import insert_scores
from store.timeutil import now_iso

# (passed, score) of one repeat; None = the call errored (an ungraded result).
Cell = tuple[bool, float] | None
P: Cell = (True, 1.0)
F: Cell = (False, 0.0)


def repeated_run(db: sqlite_utils.Database, version_id: int, run_id: str, repeats: int,
                 cells: dict[str, dict[str, list[Cell]]]) -> dict[tuple[str, str, int], int]:
    """A finished run: cells[model][case_id] = one Cell per repeat, scored by one "exact" row each.
    Returns {(model, case_id, repeat): result id}."""
    add_run(db, version_id, list(cells), run_id=run_id, repeats=repeats)
    ids, ts = {}, now_iso()
    with write(db):
        for model, by_case in cells.items():
            for case_id, per_repeat in by_case.items():
                for repeat, cell in enumerate(per_repeat):
                    rid = db.execute(
                        "INSERT INTO results (run_id, case_id, model, repeat, status, output, cost_status, "
                        "created_at) VALUES (?, ?, ?, ?, ?, 'x', 'unknown', ?)",
                        [run_id, case_id, model, repeat, "error" if cell is None else "ok", ts]).lastrowid
                    ids[(model, case_id, repeat)] = rid
                    if cell is not None:
                        insert_scores(db, [{"result_id": rid, "run_id": run_id, "round": 1, "scorer": "exact",
                                            "status": "ok", "score": cell[1], "passed": cell[0]}])
    return ids
