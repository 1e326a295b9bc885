"""Human verdict overrides: append-only rows, the latest per result in force."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from store.timeutil import now_iso


@dataclass(frozen=True)
class OverrideRow:
    id: int
    result_id: int
    passed: bool
    replaces: str
    reason: str
    annotator: str
    created_at: str


def insert_override(db: sqlite_utils.Database, *, result_id: int, run_id: str, passed: bool, replaces: str,
                    reason: str, annotator: str) -> int:
    cur = db.execute(
        "INSERT INTO verdict_overrides (result_id, run_id, passed, replaces, reason, annotator, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)", [result_id, run_id, int(passed), replaces, reason, annotator, now_iso()])
    return int(cur.lastrowid)


def latest_overrides(db: sqlite_utils.Database, run_id: str) -> dict[int, OverrideRow]:
    """result_id -> the override in force (the latest one written)."""
    out: dict[int, OverrideRow] = {}
    for row in db.execute(
        "SELECT id, result_id, passed, replaces, reason, annotator, created_at FROM verdict_overrides "
        "WHERE run_id = ? ORDER BY id", [run_id],
    ):
        out[row[1]] = OverrideRow(row[0], row[1], bool(row[2]), row[3], row[4], row[5], row[6])
    return out


def result_run(db: sqlite_utils.Database, result_id: int) -> str | None:
    row = db.execute("SELECT run_id FROM results WHERE id = ?", [result_id]).fetchone()
    return None if row is None else row[0]
