"""Per-run aggregates (the table every trend query reads) and what they were built from.

`run_aggregates` holds one row per run x model x task type (and the '(all)' group) with the
report's figures and the keys that break a series (scorer config, prompt, params, provider model
strings and fingerprints). They are derived: `replace_run_aggregates` rewrites a run's rows and its
`run_aggregate_state` in one transaction, and `stale_runs` says which runs need it (never built, or
their status, finish time, latest score round or latest human override changed since). Reads here
touch only the aggregates (and runs/datasets for names), never `results`: a trend query over a
history of a million results costs what a few thousand aggregate rows cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields

import sqlite_utils

from store.db import write
from store.timeutil import now_iso


@dataclass(slots=True)  # not frozen: read back by the thousand, and frozen construction is 3x slower
class AggregateRow:
    """One run x model x task type. Field order is the column order of `run_aggregates`."""

    run_id: str
    dataset_id: int
    model: str
    task_type: str
    run_created_at: str
    dataset_version: int
    n: int
    scored: int
    passed: int
    errors: int
    pass_rate: float | None
    pass_rate_low: float | None
    pass_rate_high: float | None
    pass_rate_incl_errors: float | None
    mean_score: float | None
    field_accuracy_json: str
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    cost_per_case: float | None
    cost_per_correct: float | None
    cost_status: str
    model_id: str | None
    scorer_hash: str
    prompt_hash: str
    params_hash: str
    provider_models_json: str
    fingerprints_json: str


@dataclass(frozen=True, slots=True)
class StoredAggregate:
    """An aggregate row as read back, with the run's dataset name and tags."""

    row: AggregateRow
    dataset: str
    tags: dict[str, str]


@dataclass(frozen=True, slots=True)
class BuildState:
    """What a run's aggregates are (or would be) built from."""

    run_id: str
    status: str
    finished_at: str | None
    score_round: int | None
    override_id: int | None


_COLS = tuple(f.name for f in fields(AggregateRow))
_INSERT = f"INSERT INTO run_aggregates ({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})"
_SELECT = ", ".join(f"a.{c}" for c in _COLS)


def provider_models(db: sqlite_utils.Database, run_id: str) -> dict[str, tuple[list[str], list[str]]]:
    """model -> (distinct provider model strings, distinct system fingerprints) of a run's ok results."""
    out: dict[str, tuple[set[str], set[str]]] = {}
    for model, provider_model, fingerprint in db.execute(
            "SELECT DISTINCT model, provider_model, system_fingerprint FROM results "
            "WHERE run_id = ? AND status = 'ok'", [run_id]).fetchall():
        names, prints = out.setdefault(model, (set(), set()))
        if provider_model:
            names.add(provider_model)
        if fingerprint:
            prints.add(fingerprint)
    return {m: (sorted(names), sorted(prints)) for m, (names, prints) in out.items()}


def prompt_hash(db: sqlite_utils.Database, prompt_id: int | None) -> str | None:
    row = db.execute("SELECT content_hash FROM prompts WHERE id = ?", [prompt_id]).fetchone()
    return row[0] if row else None


def current_states(db: sqlite_utils.Database, run_ids: Sequence[str] | None = None) -> list[BuildState]:
    """The build state of every run that is not running (or of `run_ids`): one index seek per run
    for its latest score round and override."""
    sql = ("SELECT r.id, r.status, r.finished_at, "
           "(SELECT max(round) FROM scores s WHERE s.run_id = r.id), "
           "(SELECT max(id) FROM verdict_overrides v WHERE v.run_id = r.id) FROM runs r ")
    if run_ids is None:
        rows = db.execute(sql + "WHERE r.status != 'running' ORDER BY r.created_at, r.id").fetchall()
    else:
        rows = db.execute(sql + f"WHERE r.id IN ({', '.join('?' * len(run_ids))}) ORDER BY r.created_at, r.id",
                          list(run_ids)).fetchall()
    return [BuildState(*r) for r in rows]


def stale_runs(db: sqlite_utils.Database) -> list[BuildState]:
    """Runs (not running) whose aggregates are missing or were built from another state."""
    built = {r[0]: BuildState(*r) for r in db.execute(
        "SELECT run_id, status, finished_at, score_round, override_id FROM run_aggregate_state").fetchall()}
    return [s for s in current_states(db) if built.get(s.run_id) != s]


def replace_run_aggregates(db: sqlite_utils.Database, state: BuildState, rows: Iterable[AggregateRow]) -> None:
    """A run's aggregates and build state, replacing what was there, in one transaction."""
    with write(db):
        db.execute("DELETE FROM run_aggregates WHERE run_id = ?", [state.run_id])
        db.conn.executemany(_INSERT, [astuple(r) for r in rows])
        db.execute("INSERT OR REPLACE INTO run_aggregate_state (run_id, status, finished_at, score_round, "
                   "override_id, built_at) VALUES (?, ?, ?, ?, ?, ?)",
                   [state.run_id, state.status, state.finished_at, state.score_round, state.override_id, now_iso()])


def read_aggregates(db: sqlite_utils.Database, *, dataset: str | None = None, model: str | None = None,
                    task_type: str | None = None) -> list[StoredAggregate]:
    """Aggregate rows ordered by series (dataset, model, task type) then run time; filters optional."""
    where, args = [], []
    for column, value in (("d.name", dataset), ("a.model", model), ("a.task_type", task_type)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    sql = (f"SELECT {_SELECT}, d.name FROM run_aggregates a JOIN datasets d ON d.id = a.dataset_id "
           + (f"WHERE {' AND '.join(where)} " if where else "")
           + "ORDER BY a.dataset_id, a.model, a.task_type, a.run_created_at, a.run_id")
    rows = db.execute(sql, args).fetchall()
    tags = run_tags(db, sorted({r[0] for r in rows})) if rows else {}
    n = len(_COLS)
    return [StoredAggregate(row=AggregateRow(*r[:n]), dataset=r[n], tags=tags.get(r[0], {})) for r in rows]


# --- tags ---------------------------------------------------------------------------------------


def add_run_tags(db: sqlite_utils.Database, run_id: str, tags: dict[str, str]) -> None:
    """Tag a run (KEY=VALUE; a key given again keeps its latest value)."""
    if not tags:
        return
    with write(db):
        db.conn.executemany("INSERT OR REPLACE INTO run_tags (run_id, key, value) VALUES (?, ?, ?)",
                            [(run_id, k, v) for k, v in tags.items()])


def run_tags(db: sqlite_utils.Database, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """run id -> {key: value} (sorted by key) for the runs that have tags."""
    out: dict[str, dict[str, str]] = {}
    ids = list(run_ids)
    for start in range(0, len(ids), 500):  # well under SQLite's bound-parameter limit
        chunk = ids[start:start + 500]
        for run_id, key, value in db.execute(
                f"SELECT run_id, key, value FROM run_tags WHERE run_id IN ({', '.join('?' * len(chunk))}) "
                "ORDER BY run_id, key", chunk).fetchall():
            out.setdefault(run_id, {})[key] = value
    return out

