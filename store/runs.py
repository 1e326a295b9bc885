"""Typed reads and writes for runs, their results and attempts, prompts and the response cache.

Results are written one transaction per result (row + its attempts), committed as they arrive,
so a killed process loses at most the calls that were in flight. The UNIQUE (run, case, model,
repeat) key makes a second insert for the same call a no-op, never a duplicate.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import sqlite_utils

from store.db import write
from store.timeutil import now_iso

# Error classes that say the provider or the network failed, not the case: they count toward
# `max_error_rate` (exit 3). Rows skipped by an open circuit breaker count too.
INFRA_CLASSES = ("auth", "quota_exhausted", "not_found", "rate_limited", "network", "unreachable", "server",
                 "timeout")

# A run's cost source for a model priced from litellm's price map while no process here had read it
# yet (workers import litellm as the run is planned); `settle_cost_sources` replaces it.
PENDING_SOURCE = "pending"

_RESULT_COLS = (
    "run_id", "case_id", "model", "repeat", "status", "output", "finish_reason", "latency_first_ms",
    "latency_ms", "input_tokens", "output_tokens", "cost_usd", "cost_status", "cached", "attempts",
    "error_class", "error_message", "request_hash", "created_at", "provider_model", "system_fingerprint",
    "queue_ms", "client_ms",
)
_INSERT_RESULT = (
    f"INSERT INTO results ({', '.join(_RESULT_COLS)}) VALUES ({', '.join('?' * len(_RESULT_COLS))}) "
    "ON CONFLICT (run_id, case_id, model, repeat) DO NOTHING"
)
_ATTEMPT_COLS = ("run_id", "case_id", "model", "repeat", "attempt", "outcome", "error_class", "http_status",
                 "wait_s", "latency_ms", "created_at")
_INSERT_ATTEMPT = f"INSERT INTO attempts ({', '.join(_ATTEMPT_COLS)}) VALUES ({', '.join('?' * len(_ATTEMPT_COLS))})"
_CREATED_AT, _CACHED = _RESULT_COLS.index("created_at"), _RESULT_COLS.index("cached")


def new_run_id(db: sqlite_utils.Database) -> str:
    """Short, sortable (UTC time first), unique: r-20261128-193512-a1b2."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    while True:
        run_id = f"r-{stamp}-{secrets.token_hex(2)}"
        if db.execute("SELECT 1 FROM runs WHERE id = ?", [run_id]).fetchone() is None:
            return run_id


def upsert_prompt(db: sqlite_utils.Database, *, name: str, content_hash: str, system: str | None,
                  template: str, per_task: dict[str, Any]) -> int:
    """The prompts row for this exact content (shared by every run that used it). Caller holds a write."""
    db.execute(
        "INSERT INTO prompts (name, content_hash, system, template, per_task_json, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (content_hash) DO NOTHING",
        [name, content_hash, system, template, json.dumps(per_task, sort_keys=True), now_iso()],
    )
    return db.execute("SELECT id FROM prompts WHERE content_hash = ?", [content_hash]).fetchone()[0]


def create_run(db: sqlite_utils.Database, run: dict[str, Any]) -> None:
    """Insert a run row (RunRecord fields; `config` and `models` are encoded here). Caller holds a write."""
    db.execute(
        "INSERT INTO runs (id, dataset_id, dataset_version_id, dataset_hash, prompt_id, prompt_name, config_json, "
        "config_hash, models_json, repeats, status, app_version, litellm_version, cost_source, created_at, owner) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run["id"], run["dataset_id"], run["dataset_version_id"], run["dataset_hash"], run.get("prompt_id"),
         run["prompt_name"], json.dumps(run["config"], sort_keys=True, ensure_ascii=False), run["config_hash"],
         json.dumps(run["models"]), run["repeats"], "running", run["app_version"], run.get("litellm_version"),
         run.get("cost_source"), now_iso(), run.get("owner")],
    )


def _decode_run(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["config"] = json.loads(row.pop("config_json"))
    row["models"] = json.loads(row.pop("models_json"))
    return row


def get_run(db: sqlite_utils.Database, run_id: str) -> dict[str, Any] | None:
    """The run row (config and models decoded) plus `dataset` (name) and `dataset_version` (number)."""
    rows = list(db.query(
        "SELECT r.*, d.name AS dataset, v.version AS dataset_version FROM runs r "
        "LEFT JOIN datasets d ON d.id = r.dataset_id LEFT JOIN dataset_versions v ON v.id = r.dataset_version_id "
        "WHERE r.id = ?", [run_id]))
    return _decode_run(rows[0]) if rows else None


def set_status(db: sqlite_utils.Database, run_id: str, status: str, owner: str | None = None) -> None:
    """running clears finished_at (and records the owner process); any other status stamps it."""
    with write(db):
        if status == "running":
            db.execute("UPDATE runs SET status = ?, finished_at = NULL, owner = ? WHERE id = ?",
                       [status, owner, run_id])
        else:
            db.execute("UPDATE runs SET status = ?, finished_at = ? WHERE id = ?", [status, now_iso(), run_id])


def settle_cost_sources(db: sqlite_utils.Database, run_id: str, sources: dict[str, str]) -> None:
    """Replace the run's "pending" cost sources (models priced from litellm's map, planned before a
    worker read it) with `sources`; a source already recorded stays as the run started with it."""
    with write(db):
        row = db.execute("SELECT config_json, cost_source FROM runs WHERE id = ?", [run_id]).fetchone()
        if row is None:
            return
        config = json.loads(row[0])
        recorded = json.loads(row[1]) if row[1] else {}
        settled = {m: sources.get(m, s) if s == PENDING_SOURCE else s for m, s in recorded.items()}
        if settled == recorded:
            return
        config["cost_source"] = settled
        db.execute("UPDATE runs SET config_json = ?, cost_source = ? WHERE id = ?",
                   [json.dumps(config, sort_keys=True, ensure_ascii=False),
                    json.dumps(settled, sort_keys=True, separators=(",", ":"), ensure_ascii=False), run_id])


def record_loop_lag(db: sqlite_utils.Database, run_id: str, p50_ms: float, p95_ms: float, max_ms: float) -> None:
    """The event-loop lag measured while the run executed. A resumed run keeps the worst of its
    executions' figures (each column on its own): saturation in any of them colours its latencies."""
    with write(db):
        db.execute(
            "UPDATE runs SET loop_lag_p50_ms = MAX(COALESCE(loop_lag_p50_ms, ?), ?), "
            "loop_lag_p95_ms = MAX(COALESCE(loop_lag_p95_ms, ?), ?), "
            "loop_lag_max_ms = MAX(COALESCE(loop_lag_max_ms, ?), ?) WHERE id = ?",
            [p50_ms, p50_ms, p95_ms, p95_ms, max_ms, max_ms, run_id])


def record_startup(db: sqlite_utils.Database, run_id: str, seconds: float) -> None:
    """The seconds this execution of the run spent before its calls could go (a resume pays its own)."""
    with write(db):
        db.execute("UPDATE runs SET startup_s = ? WHERE id = ?", [seconds, run_id])


def newest_startup(db: sqlite_utils.Database, *, workers: bool) -> float | None:
    """The start-up of the newest run that paid one, among runs with worker processes
    (`workers=True`) or without."""
    row = db.execute(
        "SELECT startup_s FROM runs WHERE startup_s IS NOT NULL "
        "AND (IFNULL(json_extract(config_json, '$.operational.run.workers'), 1) > 1) = ? "
        "ORDER BY created_at DESC LIMIT 1", [int(workers)]).fetchone()
    return row[0] if row else None


def mark_interrupted_now(db_path: str | os.PathLike[str], run_id: str, timeout_s: float) -> bool:
    """Mark a running run interrupted, waiting at most `timeout_s` for the write lock, on a
    connection of its own: for a process that is leaving at once (a second Ctrl+C) while another
    thread may hold the lock. False when it could not be done in time."""
    try:
        conn = sqlite3.connect(str(db_path), timeout=timeout_s)
    except sqlite3.Error:
        return False
    try:
        with conn:
            conn.execute("UPDATE runs SET status = 'interrupted' WHERE id = ? AND status = 'running'", [run_id])
        return True
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def reopen_failed(db: sqlite_utils.Database, run_id: str, owner: str) -> int:
    """Delete the run's error and skipped rows and mark it running (one transaction), so that a
    resume sends those calls again: the call keeps one terminal row, the one it ends with. What
    each failed attempt met stays in `attempts` (class, HTTP status, wait). Returns the calls
    reopened."""
    with write(db):
        reopened = db.execute("DELETE FROM results WHERE run_id = ? AND status IN ('error', 'skipped')",
                              [run_id]).rowcount
        set_status(db, run_id, "running", owner=owner)
    return reopened


def done_keys(db: sqlite_utils.Database, run_id: str) -> set[tuple[str, str, int]]:
    """(case_id, model, repeat) of every terminal row already written."""
    return {
        (c, m, r) for c, m, r in
        db.execute("SELECT case_id, model, repeat FROM results WHERE run_id = ?", [run_id]).fetchall()
    }


def insert_result(
    db: sqlite_utils.Database, row: dict[str, Any], attempts: Iterable[dict[str, Any]] = (),
    cache: tuple[str, dict[str, Any]] | None = None,
) -> int | None:
    """Write one terminal row, its attempts and (for a fresh ok call) its response-cache entry
    (request_hash, response) in one transaction. Returns the row id, or None when the call
    already had a row (nothing is written then)."""
    ts = now_iso()
    values = [row.get(c) for c in _RESULT_COLS]
    values[_CREATED_AT] = ts
    values[_CACHED] = int(bool(row.get("cached")))
    with write(db):
        cur = db.conn.execute(_INSERT_RESULT, values)
        if cur.rowcount == 0:
            return None
        result_id = cur.lastrowid
        batch = [
            (row["run_id"], row["case_id"], row["model"], row["repeat"], a["attempt"], a["outcome"],
             a.get("error_class"), a.get("http_status"), a.get("wait_s"), a.get("latency_ms"), ts)
            for a in attempts
        ]
        if batch:
            db.conn.executemany(_INSERT_ATTEMPT, batch)
        if cache is not None:
            _cache_insert(db, cache[0], row["model"], cache[1], ts)
    return result_id


# --- response cache ---------------------------------------------------------------------------


def cache_get(db: sqlite_utils.Database, request_hash: str) -> dict[str, Any] | None:
    row = db.execute("SELECT response_json FROM response_cache WHERE request_hash = ?", [request_hash]).fetchone()
    return None if row is None else json.loads(row[0])


def cached(db: sqlite_utils.Database, request_hashes: list[str]) -> set[str]:
    """Those of `request_hashes` the response cache answers."""
    return {h for (h,) in db.execute(
        "SELECT request_hash FROM response_cache WHERE request_hash IN (SELECT value FROM json_each(?))",
        [json.dumps(request_hashes)])}


def _cache_insert(db: sqlite_utils.Database, request_hash: str, model: str, response: dict[str, Any], ts: str) -> None:
    db.conn.execute(
        "INSERT INTO response_cache (request_hash, model, response_json, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (request_hash) DO NOTHING",
        [request_hash, model, json.dumps(response, ensure_ascii=False), ts],
    )


def cache_put(db: sqlite_utils.Database, request_hash: str, model: str, response: dict[str, Any]) -> None:
    with write(db):
        _cache_insert(db, request_hash, model, response, now_iso())


# --- listings and figures ---------------------------------------------------------------------


def list_runs(db: sqlite_utils.Database, limit: int | None = None) -> list[dict[str, Any]]:
    """Newest first (by creation time: two runs started in the same second have ids in random order):
    id, dataset name, version, models, status, created, finished, n results."""
    sql = (
        "SELECT r.id, d.name AS dataset, v.version AS dataset_version, r.models_json, r.prompt_name, r.repeats, "
        "r.status, r.owner, r.created_at, r.finished_at, "
        "(SELECT COUNT(*) FROM results x WHERE x.run_id = r.id) AS n_results "
        "FROM runs r JOIN datasets d ON d.id = r.dataset_id JOIN dataset_versions v ON v.id = r.dataset_version_id "
        "ORDER BY r.created_at DESC, r.id DESC"
    )
    params: list[Any] = []
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    out = []
    for row in db.query(sql, params):
        row = dict(row)
        row["models"] = json.loads(row.pop("models_json"))
        out.append(row)
    return out


def model_outcomes(db: sqlite_utils.Database, run_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per run (each id asked for; [] when it has no results), one row per model: n, ok, errors,
    skipped; scored and passed by each result's verdict in the latest score round that scored it
    (an error if any of its scorers errored, else a pass when every scorer passed, as
    `scorers.base.combine` decides); cost_usd, the summed cost of the priced ok rows, and
    cost_unknown, the ok rows without a price."""
    out: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return out
    sql = (
        "WITH wanted AS (SELECT value AS run_id FROM json_each(?)), "
        "latest AS (SELECT result_id, MAX(round) AS rnd FROM scores "
        "WHERE run_id IN wanted GROUP BY result_id), "
        "verdicts AS (SELECT s.result_id, MAX(s.status = 'error') AS errored, MIN(IFNULL(s.passed, 0)) AS passed "
        "FROM scores s JOIN latest l ON l.result_id = s.result_id AND l.rnd = s.round GROUP BY s.result_id) "
        "SELECT r.run_id, r.model, COUNT(*) AS n, SUM(r.status = 'ok') AS ok, SUM(r.status = 'error') AS errors, "
        "SUM(r.status = 'skipped') AS skipped, "
        "COALESCE(SUM(r.status = 'ok' AND v.errored = 0), 0) AS scored, "
        "COALESCE(SUM(r.status = 'ok' AND v.errored = 0 AND v.passed = 1), 0) AS passed, "
        "FSUM(CASE WHEN r.status = 'ok' THEN r.cost_usd END) AS cost_usd, "
        "SUM(r.status = 'ok' AND r.cost_usd IS NULL) AS cost_unknown "
        "FROM results r LEFT JOIN verdicts v ON v.result_id = r.id WHERE r.run_id IN wanted "
        "GROUP BY r.run_id, r.model"
    )
    for row in db.query(sql, [json.dumps(run_ids)]):
        row = dict(row)
        out[row.pop("run_id")].append(row)
    return out


def paid_figures(db: sqlite_utils.Database, run_id: str) -> dict[str, dict[str, Any]]:
    """Per model with rows: cached rows, retries, and of the calls paid for (ok, not cached) the
    summed cost, how many have no price and their latencies, oldest first (a resumed run's live
    rows)."""
    out: dict[str, dict[str, Any]] = {}
    for model, cached, retries, spend, unknown in db.execute(
        "SELECT model, SUM(cached), SUM(MAX(attempts - 1, 0)), "
        "FSUM(CASE WHEN status = 'ok' AND cached = 0 THEN cost_usd END), "
        "SUM(status = 'ok' AND cached = 0 AND cost_usd IS NULL AND cost_status != 'logged') "
        "FROM results WHERE run_id = ? GROUP BY model",
        [run_id],
    ).fetchall():
        out[model] = {"cached": cached, "retries": retries, "spend_usd": spend or 0.0, "spend_unknown": unknown,
                      "latencies": []}
    _add_paid_latencies(db, run_id, out)
    return out


def result_figures(db: sqlite_utils.Database, run_id: str) -> dict[str, dict[str, Any]]:
    """Per model: counts by status, cached, infra errors, errors by class, token sums, cost sum
    (None when an ok row's cost is unknown) and the latencies of ok, non-cached rows."""
    infra = ", ".join(f"'{c}'" for c in INFRA_CLASSES)
    out: dict[str, dict[str, Any]] = {}
    for row in db.query(
        "SELECT model, COUNT(*) AS n, SUM(status = 'ok') AS ok, SUM(status = 'error') AS errors, "
        "SUM(status = 'skipped') AS skipped, SUM(cached) AS cached, "
        f"SUM(status = 'skipped' OR (status = 'error' AND IFNULL(error_class IN ({infra}), 0))) AS infra_errors, "
        "COALESCE(SUM(input_tokens), 0) AS input_tokens, COALESCE(SUM(output_tokens), 0) AS output_tokens, "
        "FSUM(cost_usd) AS cost_usd, SUM(status = 'ok' AND cost_usd IS NULL) AS unknown_cost "
        "FROM results WHERE run_id = ? GROUP BY model", [run_id],
    ):
        row = dict(row)
        if row.pop("unknown_cost"):
            row["cost_usd"] = None
        row["errors_by_class"] = {}
        row["latencies"] = []
        out[row["model"]] = row
    for model, cls, n in db.execute(
        "SELECT model, error_class, COUNT(*) FROM results WHERE run_id = ? AND status != 'ok' "
        "GROUP BY model, error_class", [run_id],
    ).fetchall():
        out[model]["errors_by_class"][cls or "unknown"] = n
    _add_paid_latencies(db, run_id, out)
    return out


def _add_paid_latencies(db: sqlite_utils.Database, run_id: str, out: dict[str, dict[str, Any]]) -> None:
    """Append to each model's `latencies` those of its calls paid for (ok, not cached), oldest first."""
    for model, latency in db.execute(
        "SELECT model, latency_ms FROM results WHERE run_id = ? AND status = 'ok' AND cached = 0 "
        "AND latency_ms IS NOT NULL ORDER BY id", [run_id],
    ).fetchall():
        out[model]["latencies"].append(latency)


def error_samples(db: sqlite_utils.Database, run_id: str, per_model: int = 1) -> dict[str, list[tuple[str, str]]]:
    """A few (error_class, message) examples per model, for the end-of-run summary."""
    out: dict[str, list[tuple[str, str]]] = {}
    for model, cls, msg in db.execute(
        "SELECT model, error_class, MIN(error_message) FROM results WHERE run_id = ? AND status != 'ok' "
        "GROUP BY model, error_class ORDER BY model, COUNT(*) DESC", [run_id],
    ).fetchall():
        bucket = out.setdefault(model, [])
        if len(bucket) < per_model:
            bucket.append((cls or "unknown", msg or ""))
    return out


def version_entries(db: sqlite_utils.Database, version_id: int) -> list[tuple[str, str, str]]:
    """(case_id, blob_hash, data_json) of a dataset version in order, to re-verify its content hash."""
    return db.execute(
        "SELECT vc.case_id, vc.blob_hash, b.data_json FROM version_cases vc JOIN case_blobs b ON b.hash = vc.blob_hash "
        "WHERE vc.version_id = ? ORDER BY vc.ord", [version_id],
    ).fetchall()


def latest_run_id(db: sqlite_utils.Database) -> str | None:
    """The most recently created run's id (None when there are no runs)."""
    row = db.execute("SELECT id FROM runs ORDER BY created_at DESC, id DESC LIMIT 1").fetchone()
    return None if row is None else row[0]
