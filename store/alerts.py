"""Stored regression alerts (m006 `regression_alerts`): append-only, one row per alert-level series
of a candidate run against a baseline run; acknowledging stamps `acknowledged_at`/`by` once."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from store.db import write
from store.timeutil import now_iso

_FIELDS = ("dataset_id", "model", "baseline_model", "task_type", "baseline_run_id", "candidate_run_id", "delta",
           "ci_low", "ci_high", "p_value", "q_value", "n_matched", "why")
_COLS = ("a.id, d.name, " + ", ".join(f"a.{f}" for f in _FIELDS)
         + ", a.created_at, a.acknowledged_at, a.acknowledged_by")
_FROM = "FROM regression_alerts a JOIN datasets d ON d.id = a.dataset_id"


@dataclass(frozen=True, slots=True)
class NewAlert:
    dataset_id: int
    model: str
    baseline_model: str
    task_type: str
    baseline_run_id: str
    candidate_run_id: str
    delta: float  # candidate minus baseline pass rate, a fraction
    ci_low: float | None
    ci_high: float | None
    p_value: float
    q_value: float
    n_matched: int
    why: str


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    dataset: str
    dataset_id: int
    model: str
    baseline_model: str
    task_type: str
    baseline_run_id: str
    candidate_run_id: str
    delta: float
    ci_low: float | None
    ci_high: float | None
    p_value: float
    q_value: float
    n_matched: int
    why: str
    created_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None


def record(db: sqlite_utils.Database, alerts: list[NewAlert]) -> list[tuple[AlertRow, bool]]:
    """Store the alerts; an alert already stored for the same (candidate, baseline, model, task type)
    is kept as it was. Returns each alert's row and whether it is new."""
    now = now_iso()
    placeholders = ", ".join("?" * (len(_FIELDS) + 1))
    inserted = []
    with write(db):
        for a in alerts:
            cur = db.execute(
                f"INSERT OR IGNORE INTO regression_alerts ({', '.join(_FIELDS)}, created_at) VALUES ({placeholders})",
                [getattr(a, f) for f in _FIELDS] + [now])
            inserted.append(cur.rowcount == 1)
    out = []
    for a, new in zip(alerts, inserted):
        row = db.execute(f"SELECT {_COLS} {_FROM} WHERE a.candidate_run_id = ? AND a.baseline_run_id = ? "
                         "AND a.model = ? AND a.task_type = ?",
                         [a.candidate_run_id, a.baseline_run_id, a.model, a.task_type]).fetchone()
        out.append((AlertRow(*row), new))
    return out


def list_alerts(db: sqlite_utils.Database, *, include_acknowledged: bool = False) -> list[AlertRow]:
    """Newest first; only the unacknowledged ones unless asked."""
    where = "" if include_acknowledged else " WHERE a.acknowledged_at IS NULL"
    return [AlertRow(*r) for r in db.execute(f"SELECT {_COLS} {_FROM}{where} ORDER BY a.id DESC")]


def get_alert(db: sqlite_utils.Database, alert_id: int) -> AlertRow | None:
    row = db.execute(f"SELECT {_COLS} {_FROM} WHERE a.id = ?", [alert_id]).fetchone()
    return None if row is None else AlertRow(*row)


def acknowledge(db: sqlite_utils.Database, alert_id: int, by: str) -> bool:
    """Stamp the acknowledgement; False when the alert was already acknowledged (it keeps the first)."""
    with write(db):
        return db.execute("UPDATE regression_alerts SET acknowledged_at = ?, acknowledged_by = ? "
                          "WHERE id = ? AND acknowledged_at IS NULL", [now_iso(), by, alert_id]).rowcount == 1
