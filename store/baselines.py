"""Pinned baselines (m006 `baselines`): the approved run per dataset lineage, optionally per model.

History is kept: pinning again or clearing stamps `cleared_at`/`cleared_by` on the row in force,
never deletes it. At most one row is in force per (dataset, model) (a partial unique index), and
`model` NULL is the pin for every model of the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from store.db import write
from store.timeutil import now_iso

_COLS = "b.id, b.dataset_id, d.name, b.model, b.run_id, b.pinned_by, b.pinned_at, b.cleared_by, b.cleared_at"
_FROM = "FROM baselines b JOIN datasets d ON d.id = b.dataset_id"


@dataclass(frozen=True, slots=True)
class BaselineRow:
    id: int
    dataset_id: int
    dataset: str
    model: str | None  # None: every model of the dataset
    run_id: str
    pinned_by: str
    pinned_at: str
    cleared_by: str | None
    cleared_at: str | None


def _clear(db: sqlite_utils.Database, dataset_id: int, model: str | None, by: str, now: str) -> int:
    return db.execute(
        "UPDATE baselines SET cleared_at = ?, cleared_by = ? WHERE dataset_id = ? AND model IS ? "
        "AND cleared_at IS NULL", [now, by, dataset_id, model]).rowcount


def pin(db: sqlite_utils.Database, *, dataset_id: int, model: str | None, run_id: str, by: str) -> BaselineRow:
    """Pin `run_id` for (dataset, model), retiring the pin in force (in one transaction)."""
    now = now_iso()
    with write(db):
        _clear(db, dataset_id, model, by, now)
        new_id = db.execute(
            "INSERT INTO baselines (dataset_id, model, run_id, pinned_by, pinned_at) VALUES (?, ?, ?, ?, ?)",
            [dataset_id, model, run_id, by, now]).lastrowid
    return next(r for r in history(db) if r.id == new_id)


def clear(db: sqlite_utils.Database, *, dataset_id: int, model: str | None, by: str) -> int:
    """Retire the pin in force for (dataset, model); the number of rows retired (0 or 1)."""
    with write(db):
        return _clear(db, dataset_id, model, by, now_iso())


def in_force(db: sqlite_utils.Database, dataset_id: int | None = None) -> list[BaselineRow]:
    """The pins in force (of one dataset, or all), by dataset name then model (dataset-wide first)."""
    sql, params = f"SELECT {_COLS} {_FROM} WHERE b.cleared_at IS NULL", []
    if dataset_id is not None:
        sql += " AND b.dataset_id = ?"
        params.append(dataset_id)
    return [BaselineRow(*r) for r in db.execute(sql + " ORDER BY d.name, b.model IS NOT NULL, b.model", params)]


def history(db: sqlite_utils.Database) -> list[BaselineRow]:
    """Every pin ever made, in force or cleared, oldest first."""
    return [BaselineRow(*r) for r in db.execute(f"SELECT {_COLS} {_FROM} ORDER BY b.id")]
