"""Append-only label events (nothing here updates or deletes a row), and the reads of cases a
label queue is built from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlite_utils

from store.timeutil import now_iso

_COLS = "id, dataset_id, case_id, annotator, kind, value_json, note, undoes, guidelines_version, time_on_case_ms, created_at"


def append_event(
    db: sqlite_utils.Database, *, dataset_id: int, case_id: str, annotator: str, kind: str,
    value: Any = None, note: str | None = None, undoes: int | None = None,
    guidelines_version: str | None = None, time_on_case_ms: int | None = None,
) -> int:
    """Caller holds a write transaction. Returns the new event id."""
    cur = db.execute(
        f"INSERT INTO label_events ({_COLS.split(', ', 1)[1]}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [dataset_id, case_id, annotator, kind, None if value is None else json.dumps(value, ensure_ascii=False),
         note, undoes, guidelines_version, time_on_case_ms, now_iso()],
    )
    return cur.lastrowid


def _decode(r: tuple) -> dict[str, Any]:
    d = dict(zip(_COLS.split(", "), r))
    raw = d.pop("value_json")
    d["value"] = None if raw is None else json.loads(raw)
    return d


def iter_events(db: sqlite_utils.Database, dataset_id: int, *, annotator: str | None = None) -> Iterator[dict[str, Any]]:
    """Events of a dataset in the order they happened."""
    sql = f"SELECT {_COLS} FROM label_events WHERE dataset_id = ?"
    params: list[Any] = [dataset_id]
    if annotator is not None:
        sql += " AND annotator = ?"
        params.append(annotator)
    for r in db.execute(sql + " ORDER BY id", params):
        yield _decode(r)


def case_events(db: sqlite_utils.Database, dataset_id: int, case_id: str) -> list[dict[str, Any]]:
    """Every event of one case, oldest first (uses the (dataset_id, case_id) index)."""
    rows = db.execute(
        f"SELECT {_COLS} FROM label_events WHERE dataset_id = ? AND case_id = ? ORDER BY id", [dataset_id, case_id]
    ).fetchall()
    return [_decode(r) for r in rows]


def latest_undoable(
    db: sqlite_utils.Database, dataset_id: int, annotator: str, kinds: tuple[str, ...],
) -> dict[str, Any] | None:
    """The annotator's most recent event of `kinds` that no undo event points at yet.

    Call it inside the write transaction that appends the undo, so two undos cannot pick the
    same event.
    """
    marks = ", ".join("?" for _ in kinds)
    r = db.execute(
        f"SELECT {_COLS} FROM label_events e WHERE dataset_id = ? AND annotator = ? AND kind IN ({marks}) "
        "AND NOT EXISTS (SELECT 1 FROM label_events u WHERE u.kind = 'undo' AND u.undoes = e.id) "
        "ORDER BY id DESC LIMIT 1",
        [dataset_id, annotator, *kinds],
    ).fetchone()
    return None if r is None else _decode(r)


def recent_times_on_case(db: sqlite_utils.Database, dataset_id: int, annotator: str, limit: int) -> list[int]:
    """Time on case (ms) of the annotator's latest `limit` label decisions, oldest first."""
    rows = db.execute(
        "SELECT time_on_case_ms FROM label_events WHERE dataset_id = ? AND annotator = ? AND kind = 'label' "
        "AND time_on_case_ms IS NOT NULL ORDER BY id DESC LIMIT ?", [dataset_id, annotator, limit],
    ).fetchall()
    return [r[0] for r in reversed(rows)]


def queue_candidates(db: sqlite_utils.Database, dataset_id: int) -> Iterator[tuple[str, bool]]:
    """(case_id, has imported expected output) of every case that is not excluded: what a label
    queue is built from."""
    for case_id, has_expected in db.execute(
        "SELECT case_id, expected_json IS NOT NULL FROM cases WHERE dataset_id = ? AND excluded = 0", [dataset_id]
    ):
        yield case_id, bool(has_expected)


def case_order(db: sqlite_utils.Database, dataset_id: int) -> dict[str, int]:
    """case_id -> position in the dataset, for the cases that are not excluded."""
    return dict(db.execute(
        "SELECT case_id, ord FROM cases WHERE dataset_id = ? AND excluded = 0", [dataset_id]).fetchall())


def datasets_with_unlabeled_cases(db: sqlite_utils.Database) -> list[tuple[int, str]]:
    """(id, name) of each dataset with a case that is neither excluded nor imported with an expected
    output, in name order: the only datasets where anyone may still have something to label."""
    return db.execute(
        "SELECT d.id, d.name FROM datasets d WHERE EXISTS (SELECT 1 FROM cases c WHERE c.dataset_id = d.id "
        "AND c.excluded = 0 AND c.expected_json IS NULL) ORDER BY d.name").fetchall()
