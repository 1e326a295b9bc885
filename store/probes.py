"""Contamination probe runs (m007 `probe_runs`, `probe_results`): typed reads and writes.

A probe run is a run of its own kind, kept out of `runs` so no eval view reads it by mistake.
One terminal row per (probe run, case, model, probe), written as each call ends.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlite_utils

from store.db import write
from store.timeutil import now_iso

_RESULT_COLS = (
    "probe_run_id", "case_id", "model", "probe", "status", "output", "target_tokens", "longest_run",
    "longest_run_ratio", "ngram_precision", "exact_match", "latency_ms", "input_tokens", "output_tokens", "cost_usd",
    "cost_status", "error_class", "error_message", "created_at",
)


@dataclass(frozen=True, slots=True)
class ProbeRunRow:
    id: str
    kind: str
    dataset: str
    dataset_version: int
    models: list[str]
    config: dict[str, Any]
    status: str
    created_at: str
    finished_at: str | None


@dataclass(frozen=True, slots=True)
class ProbeResultRow:
    case_id: str
    model: str
    probe: str  # continue | control | expected
    status: str  # ok | error | skipped
    output: str | None
    target_tokens: int | None
    longest_run: int | None
    longest_run_ratio: float | None
    ngram_precision: float | None
    exact_match: bool | None
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    cost_status: str
    error_class: str | None
    error_message: str | None


def create_run(db: sqlite_utils.Database, *, kind: str, dataset_id: int, dataset_version_id: int, dataset_hash: str,
               models: list[str], config: dict[str, Any], app_version: str) -> str:
    """Insert a running probe run; returns its id (p-YYYYMMDD-HHMMSS-xxxx: sortable, like run ids)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    with write(db):
        while True:
            run_id = f"p-{stamp}-{secrets.token_hex(2)}"
            if db.execute("SELECT 1 FROM probe_runs WHERE id = ?", [run_id]).fetchone() is None:
                break
        db.execute(
            "INSERT INTO probe_runs (id, kind, dataset_id, dataset_version_id, dataset_hash, models_json, config_json, "
            "status, app_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
            [run_id, kind, dataset_id, dataset_version_id, dataset_hash, json.dumps(models),
             json.dumps(config, sort_keys=True, ensure_ascii=False), app_version, now_iso()])
    return run_id


def set_status(db: sqlite_utils.Database, run_id: str, status: str) -> None:
    with write(db):
        db.execute("UPDATE probe_runs SET status = ?, finished_at = ? WHERE id = ?", [status, now_iso(), run_id])


def insert_result(db: sqlite_utils.Database, row: dict[str, Any]) -> None:
    """One terminal row (keys: the probe_results columns but id and created_at), one transaction."""
    values = {**row, "created_at": now_iso()}
    if values.get("exact_match") is not None:
        values["exact_match"] = int(values["exact_match"])
    with write(db):
        db.execute(f"INSERT INTO probe_results ({', '.join(_RESULT_COLS)}) "
                   f"VALUES ({', '.join('?' * len(_RESULT_COLS))})", [values.get(c) for c in _RESULT_COLS])


_RUN_SELECT = ("SELECT p.id, p.kind, d.name, v.version, p.models_json, p.config_json, p.status, p.created_at, "
               "p.finished_at FROM probe_runs p JOIN datasets d ON d.id = p.dataset_id "
               "JOIN dataset_versions v ON v.id = p.dataset_version_id")


def _run_row(r: tuple[Any, ...]) -> ProbeRunRow:
    return ProbeRunRow(id=r[0], kind=r[1], dataset=r[2], dataset_version=r[3], models=json.loads(r[4]),
                       config=json.loads(r[5]), status=r[6], created_at=r[7], finished_at=r[8])


def get_run(db: sqlite_utils.Database, run_id: str) -> ProbeRunRow | None:
    row = db.execute(_RUN_SELECT + " WHERE p.id = ?", [run_id]).fetchone()
    return _run_row(row) if row else None


def list_runs(db: sqlite_utils.Database, *, dataset_id: int | None = None,
              limit: int | None = None) -> list[ProbeRunRow]:
    """Probe runs, newest first (of one dataset when given)."""
    sql, args = _RUN_SELECT, []
    if dataset_id is not None:
        sql, args = sql + " WHERE p.dataset_id = ?", [dataset_id]
    sql += " ORDER BY p.created_at DESC, p.id DESC"
    if limit is not None:
        sql, args = sql + " LIMIT ?", [*args, limit]
    return [_run_row(r) for r in db.execute(sql, args).fetchall()]


def results(db: sqlite_utils.Database, run_id: str) -> list[ProbeResultRow]:
    """Every terminal row of a probe run, in write order."""
    cols = [c for c in _RESULT_COLS if c not in ("probe_run_id", "created_at")]
    rows = db.execute(f"SELECT {', '.join(cols)} FROM probe_results WHERE probe_run_id = ? ORDER BY id",
                      [run_id]).fetchall()
    out = []
    for r in rows:
        values = dict(zip(cols, r))
        if values["exact_match"] is not None:
            values["exact_match"] = bool(values["exact_match"])
        out.append(ProbeResultRow(**values))
    return out
