"""Applies the configured scorers to a run's results and stores the verdicts (append-only).

The runner calls `ScoringSession.score()` for every ok result as it arrives; `assay score RUN_ID`
re-applies the current scorers to stored outputs in a new round.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from core.config import WorkspaceConfig
from store.db import write
from store.timeutil import now_iso


def _norm(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return " ".join(text.split()).casefold()


class ScoringSession:
    """Scores results of one run in one round. Interim: normalised exact match only."""

    def __init__(self, db: sqlite_utils.Database, cfg: WorkspaceConfig, run_id: str, *, round: int = 1):
        self.db, self.cfg, self.run_id, self.round = db, cfg, run_id, round

    async def score(self, case: dict[str, Any], result: dict[str, Any]) -> dict[str, Any] | None:
        """case: the frozen case dict; result: the stored results row (with `id`). None = not scorable."""
        expected = case.get("expected_output")
        if result.get("status") != "ok" or expected is None:
            return None
        passed = _norm(result.get("output") or "") == _norm(expected)
        verdict = {"scorer": "exact", "status": "ok", "score": float(passed), "passed": passed}
        with write(self.db):
            self.db.execute(
                "INSERT INTO scores (result_id, run_id, round, scorer, status, score, passed, details_json, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [result["id"], self.run_id, self.round, "exact", "ok", verdict["score"], int(passed), "{}", now_iso()],
            )
        return verdict

    async def aclose(self) -> None:
        """Release judge clients, if any."""
