"""Score rows: append-only verdicts per (result, scorer, round). Nothing here updates or deletes.

The current verdict of a result is its rows in the *latest round that scored it*, so a result
written after a re-score (a resumed run) still counts with its own round.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import sqlite_utils

from store.timeutil import now_iso

_COLS = (
    "result_id", "run_id", "round", "scorer", "status", "score", "passed", "details_json",
    "judge_model", "judge_prompt_hash", "judge_temperature", "judge_cost_usd", "created_at",
)
_INSERT = f"INSERT INTO scores ({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})"


def insert_scores(db: sqlite_utils.Database, rows: Iterable[dict[str, Any]]) -> int:
    """rows: ScoreRecord-shaped dicts (`details` a dict). Caller holds a write transaction."""
    ts = now_iso()
    batch = [
        (r["result_id"], r["run_id"], r["round"], r["scorer"], r["status"], r.get("score"),
         None if r.get("passed") is None else int(bool(r["passed"])),
         json.dumps(r.get("details") or {}, ensure_ascii=False, sort_keys=True),
         r.get("judge_model"), r.get("judge_prompt_hash"), r.get("judge_temperature"), r.get("judge_cost_usd"), ts)
        for r in rows
    ]
    db.conn.executemany(_INSERT, batch)
    return len(batch)


def next_round(db: sqlite_utils.Database, run_id: str) -> int:
    return db.execute("SELECT COALESCE(MAX(round), 0) + 1 FROM scores WHERE run_id = ?", [run_id]).fetchone()[0]


def round_counts(db: sqlite_utils.Database, run_id: str, round: int) -> tuple[int, int]:
    """(verdicts, scorer errors) stored for one round of a run."""
    n, errors = db.execute("SELECT COUNT(*), SUM(status = 'error') FROM scores WHERE run_id = ? AND round = ?",
                           [run_id, round]).fetchone()
    return n, errors or 0


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["details"] = json.loads(row.pop("details_json"))
    row["passed"] = None if row["passed"] is None else bool(row["passed"])
    return row


def latest_scores(db: sqlite_utils.Database, run_id: str) -> dict[int, list[dict[str, Any]]]:
    """result_id -> its score rows in the latest round that scored it (in insertion order)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for row in db.query(
        "SELECT s.* FROM scores s JOIN (SELECT result_id, MAX(round) AS rnd FROM scores WHERE run_id = ? "
        "GROUP BY result_id) m ON m.result_id = s.result_id AND m.rnd = s.round "
        "WHERE s.run_id = ? ORDER BY s.id", [run_id, run_id],
    ):
        row = _decode(row)
        out.setdefault(row["result_id"], []).append(row)
    return out


def result_with_scores(db: sqlite_utils.Database, result_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """One result row and its score rows of the latest round that scored it; None if no such result."""
    row = next(iter(db.query("SELECT * FROM results WHERE id = ?", [result_id])), None)
    if row is None:
        return None
    scores = [_decode(r) for r in db.query(
        "SELECT * FROM scores WHERE result_id = ? AND round = (SELECT MAX(round) FROM scores WHERE result_id = ?) "
        "ORDER BY id", [result_id, result_id])]
    return row, scores


def score_rows(db: sqlite_utils.Database, run_id: str, round: int | None = None) -> list[dict[str, Any]]:
    """Every score row of a run (optionally one round), oldest first."""
    sql, params = "SELECT * FROM scores WHERE run_id = ?", [run_id]
    if round is not None:
        sql += " AND round = ?"
        params.append(round)
    return [_decode(r) for r in db.query(sql + " ORDER BY id", params)]


def iter_results(db: sqlite_utils.Database, run_id: str, *, status: str | None = None) -> Iterator[dict[str, Any]]:
    """The run's result rows (all columns), by id, streamed in keyset pages."""
    after = 0
    while True:
        sql = "SELECT * FROM results WHERE run_id = ? AND id > ?"
        params: list[Any] = [run_id, after]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        rows = list(db.query(sql + " ORDER BY id LIMIT 2000", params))
        if not rows:
            return
        yield from rows
        after = rows[-1]["id"]
