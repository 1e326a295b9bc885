"""Typed reads and writes for datasets, cases and immutable dataset versions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from store.timeutil import now_iso

CHUNK = 2000
# The column encoding (json.dumps(v, ensure_ascii=False)); one encoder built once instead of one per
# call, which is most of json.dumps' cost for the small values of a case.
_to_json = json.JSONEncoder(ensure_ascii=False).encode


class DatasetExists(Exception):
    pass


class DatasetMissing(Exception):
    pass


@dataclass(frozen=True)
class CaseRow:
    """A case as stored. `expected` is the decoded expected output (None = unlabeled)."""

    pk: int
    dataset_id: int
    case_id: str
    input_text: str
    expected: Any
    task_type: str
    difficulty: str | None
    metadata: dict[str, Any]
    tags: list[str]
    excluded: bool
    ord: int

    def as_case_dict(self) -> dict[str, Any]:
        return {
            "id": self.case_id,
            "input_text": self.input_text,
            "expected_output": self.expected,
            "task_type": self.task_type,
            "difficulty": self.difficulty,
            "metadata": self.metadata,
            "tags": self.tags,
            "excluded": self.excluded,
        }


_CASE_COLS = (
    "pk, dataset_id, case_id, input_text, expected_json, task_type, difficulty, "
    "metadata_json, tags_json, excluded, ord"
)


def _row_to_case(r: tuple) -> CaseRow:
    return CaseRow(
        pk=r[0], dataset_id=r[1], case_id=r[2], input_text=r[3],
        expected=None if r[4] is None else json.loads(r[4]),
        task_type=r[5], difficulty=r[6], metadata=json.loads(r[7]), tags=json.loads(r[8]),
        excluded=bool(r[9]), ord=r[10],
    )


def dataset_id(db: sqlite_utils.Database, name: str) -> int:
    row = db.execute("SELECT id FROM datasets WHERE name = ?", [name]).fetchone()
    if row is None:
        raise DatasetMissing(name)
    return row[0]


def dataset_name(db: sqlite_utils.Database, ds_id: int) -> str:
    row = db.execute("SELECT name FROM datasets WHERE id = ?", [ds_id]).fetchone()
    if row is None:
        raise DatasetMissing(str(ds_id))
    return row[0]


def create_dataset(db: sqlite_utils.Database, name: str, description: str = "") -> int:
    """Caller holds a write transaction."""
    if db.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchone():
        raise DatasetExists(name)
    cur = db.execute(
        "INSERT INTO datasets (name, description, created_at) VALUES (?, ?, ?)",
        [name, description, now_iso()],
    )
    return cur.lastrowid


def next_ord(db: sqlite_utils.Database, ds_id: int) -> int:
    row = db.execute("SELECT COALESCE(MAX(ord), -1) + 1 FROM cases WHERE dataset_id = ?", [ds_id]).fetchone()
    return row[0]


# A case's column values in `cases` order, as `case_columns` encodes them: (case_id, input_text,
# expected_json, task_type, difficulty, metadata_json, tags_json, excluded). A plain tuple: a big
# import sends these from process to process.
CaseColumns = tuple[str, str, str | None, str, str | None, str, str, int]


def case_columns(c: dict[str, Any]) -> CaseColumns:
    """A case dict (EvalCase.model_dump() shape) as its column values."""
    exp = c.get("expected_output")
    return (
        c["id"], c["input_text"], None if exp is None else _to_json(exp), c.get("task_type") or "generation",
        c.get("difficulty"), _to_json(c.get("metadata") or {}), _to_json(c.get("tags") or []),
        int(bool(c.get("excluded"))),
    )


def insert_cases(db: sqlite_utils.Database, ds_id: int, cases: Iterable[dict[str, Any]], start_ord: int = 0) -> int:
    """Insert case dicts (EvalCase.model_dump() shape) in chunks. Caller holds a write transaction.

    A duplicate case id raises sqlite3.IntegrityError (UNIQUE(dataset_id, case_id)).
    """
    return insert_case_rows(db, ds_id, map(case_columns, cases), start_ord)


def insert_case_rows(db: sqlite_utils.Database, ds_id: int, rows: Iterable[CaseColumns], start_ord: int = 0) -> int:
    """`insert_cases` for cases already encoded by `case_columns`."""
    ts = now_iso()
    sql = (
        "INSERT INTO cases (dataset_id, case_id, input_text, expected_json, task_type, difficulty, "
        "metadata_json, tags_json, excluded, ord, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    n = 0
    batch: list[tuple] = []
    for row in rows:
        batch.append((ds_id, *row, start_ord + n, ts, ts))
        n += 1
        if len(batch) >= CHUNK:
            db.conn.executemany(sql, batch)
            batch.clear()
    if batch:
        db.conn.executemany(sql, batch)
    return n


def update_case(db: sqlite_utils.Database, ds_id: int, case_id: str, **fields: Any) -> None:
    """Edit a case in place (old content stays in earlier versions). Caller holds a write transaction."""
    cols = {
        "input_text": ("input_text", lambda v: v),
        "expected_output": ("expected_json", lambda v: None if v is None else json.dumps(v, ensure_ascii=False)),
        "task_type": ("task_type", lambda v: v),
        "difficulty": ("difficulty", lambda v: v),
        "metadata": ("metadata_json", lambda v: json.dumps(v, ensure_ascii=False)),
        "tags": ("tags_json", lambda v: json.dumps(v, ensure_ascii=False)),
        "excluded": ("excluded", lambda v: int(bool(v))),
    }
    sets, params = [], []
    for key, value in fields.items():
        col, enc = cols[key]
        sets.append(f"{col} = ?")
        params.append(enc(value))
    sets.append("updated_at = ?")
    params += [now_iso(), ds_id, case_id]
    db.execute(f"UPDATE cases SET {', '.join(sets)} WHERE dataset_id = ? AND case_id = ?", params)


def stored_ords(db: sqlite_utils.Database, ds_id: int, case_ids: Iterable[str]) -> dict[str, int]:
    """case_id -> ord for those of `case_ids` already in the dataset."""
    return dict(db.execute(
        "SELECT case_id, ord FROM cases WHERE dataset_id = ? AND case_id IN (SELECT value FROM json_each(?))",
        [ds_id, json.dumps(list(case_ids))],
    ).fetchall())


def excluded_case_ids(db: sqlite_utils.Database, ds_id: int) -> frozenset[str]:
    return frozenset(r[0] for r in db.execute(
        "SELECT case_id FROM cases WHERE dataset_id = ? AND excluded = 1", [ds_id]))


def get_case(db: sqlite_utils.Database, ds_id: int, case_id: str) -> CaseRow | None:
    r = db.execute(f"SELECT {_CASE_COLS} FROM cases WHERE dataset_id = ? AND case_id = ?", [ds_id, case_id]).fetchone()
    return None if r is None else _row_to_case(r)


def iter_cases(db: sqlite_utils.Database, ds_id: int) -> Iterator[CaseRow]:
    """All cases of a dataset in import order, streamed in keyset pages."""
    after = -1
    while True:
        rows = db.execute(
            f"SELECT {_CASE_COLS} FROM cases WHERE dataset_id = ? AND ord > ? ORDER BY ord LIMIT ?",
            [ds_id, after, CHUNK],
        ).fetchall()
        if not rows:
            return
        for r in rows:
            yield _row_to_case(r)
        after = rows[-1][10]


@dataclass(frozen=True)
class CaseFilter:
    text: str | None = None
    task_type: str | None = None
    difficulty: str | None = None
    labeled: bool | None = None  # None = both; judged on the stored expected output
    include_excluded: bool = True
    # Case ids the label log decides (core.datasets.ground_truth.derived_labels): `labeled` counts them as
    # labeled although their stored expected output is NULL.
    labeled_ids: frozenset[str] = frozenset()
    only_ids: frozenset[str] | None = None  # restrict to these case ids


def _filter_sql(f: CaseFilter) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if f.text:
        clauses.append("(input_text LIKE ? ESCAPE '\\' OR case_id LIKE ? ESCAPE '\\' OR expected_json LIKE ? ESCAPE '\\')")
        pat = "%" + f.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [pat, pat, pat]
    if f.task_type:
        clauses.append("task_type = ?")
        params.append(f.task_type)
    if f.difficulty:
        clauses.append("difficulty = ?")
        params.append(f.difficulty)
    if f.labeled is not None:
        if not f.labeled_ids:
            clauses.append("expected_json IS NOT NULL" if f.labeled else "expected_json IS NULL")
        else:
            clauses.append("(expected_json IS NOT NULL OR case_id IN (SELECT value FROM json_each(?)))" if f.labeled
                           else "(expected_json IS NULL AND case_id NOT IN (SELECT value FROM json_each(?)))")
            params.append(json.dumps(sorted(f.labeled_ids)))
    if f.only_ids is not None:
        clauses.append("case_id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(sorted(f.only_ids)))
    if not f.include_excluded:
        clauses.append("excluded = 0")
    return "".join(" AND " + c for c in clauses), params


def page_cases(
    db: sqlite_utils.Database, ds_id: int, *, after_ord: int = -1, limit: int = 50,
    flt: CaseFilter | None = None, before_ord: int | None = None,
) -> list[CaseRow]:
    """One keyset page (by import order). `before_ord` pages backwards; rows still come in order."""
    where, params = _filter_sql(flt or CaseFilter())
    if before_ord is not None:
        rows = db.execute(
            f"SELECT {_CASE_COLS} FROM cases WHERE dataset_id = ? AND ord < ?{where} ORDER BY ord DESC LIMIT ?",
            [ds_id, before_ord, *params, limit],
        ).fetchall()
        rows.reverse()
    else:
        rows = db.execute(
            f"SELECT {_CASE_COLS} FROM cases WHERE dataset_id = ? AND ord > ?{where} ORDER BY ord LIMIT ?",
            [ds_id, after_ord, *params, limit],
        ).fetchall()
    return [_row_to_case(r) for r in rows]


def count_cases(db: sqlite_utils.Database, ds_id: int, flt: CaseFilter | None = None) -> int:
    where, params = _filter_sql(flt or CaseFilter())
    return db.execute(f"SELECT COUNT(*) FROM cases WHERE dataset_id = ?{where}", [ds_id, *params]).fetchone()[0]


def dataset_summaries(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every dataset with counts: cases, labeled, unlabeled, per task type, versions."""
    out = []
    for ds_id, name, desc, created in db.execute(
        "SELECT id, name, description, created_at FROM datasets ORDER BY name"
    ).fetchall():
        per_task: dict[str, dict[str, int]] = {}
        for task, n, labeled in db.execute(
            "SELECT task_type, COUNT(*), SUM(expected_json IS NOT NULL) FROM cases "
            "WHERE dataset_id = ? GROUP BY task_type ORDER BY task_type", [ds_id]
        ).fetchall():
            per_task[task] = {"cases": n, "labeled": labeled, "unlabeled": n - labeled}
        n_versions = db.execute("SELECT COUNT(*) FROM dataset_versions WHERE dataset_id = ?", [ds_id]).fetchone()[0]
        total = sum(t["cases"] for t in per_task.values())
        labeled = sum(t["labeled"] for t in per_task.values())
        out.append({
            "id": ds_id, "name": name, "description": desc, "created_at": created,
            "cases": total, "labeled": labeled, "unlabeled": total - labeled,
            "task_types": per_task, "versions": n_versions,
        })
    return out


# --- versions -------------------------------------------------------------------------------


def version_by_hash(db: sqlite_utils.Database, ds_id: int, content_hash: str) -> dict[str, Any] | None:
    rows = list(db.query(
        "SELECT * FROM dataset_versions WHERE dataset_id = ? AND content_hash = ?", [ds_id, content_hash]
    ))
    return rows[0] if rows else None


def insert_blobs(db: sqlite_utils.Database, blobs: list[tuple[str, str]]) -> None:
    """(hash, data_json) content-addressed case snapshots. Caller holds a write transaction."""
    db.conn.executemany("INSERT OR IGNORE INTO case_blobs (hash, data_json) VALUES (?, ?)", blobs)


def insert_version(
    db: sqlite_utils.Database, ds_id: int, content_hash: str, order: Iterable[tuple[str, str]],
    n_cases: int, n_labeled: int, reason: str,
) -> dict[str, Any]:
    """order: the `n_cases` (case_id, blob_hash) pairs in order, blobs already stored, streamed into
    the version's case list. Caller holds a write transaction."""
    version = db.execute(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM dataset_versions WHERE dataset_id = ?", [ds_id]
    ).fetchone()[0]
    cur = db.execute(
        "INSERT INTO dataset_versions (dataset_id, version, content_hash, n_cases, n_labeled, reason, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [ds_id, version, content_hash, n_cases, n_labeled, reason, now_iso()],
    )
    vid = cur.lastrowid
    db.conn.executemany(
        "INSERT INTO version_cases (version_id, case_id, ord, blob_hash) VALUES (?, ?, ?, ?)",
        ((vid, cid, i, h) for i, (cid, h) in enumerate(order)),
    )
    return dict(next(iter(db.query("SELECT * FROM dataset_versions WHERE id = ?", [vid]))))


def list_versions(db: sqlite_utils.Database, ds_id: int) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM dataset_versions WHERE dataset_id = ? ORDER BY version", [ds_id]))


def get_version(db: sqlite_utils.Database, ds_id: int, version: int | None = None) -> dict[str, Any] | None:
    if version is None:
        rows = list(db.query(
            "SELECT * FROM dataset_versions WHERE dataset_id = ? ORDER BY version DESC LIMIT 1", [ds_id]))
    else:
        rows = list(db.query(
            "SELECT * FROM dataset_versions WHERE dataset_id = ? AND version = ?", [ds_id, version]))
    return rows[0] if rows else None


def iter_version_cases(db: sqlite_utils.Database, version_id: int) -> Iterator[dict[str, Any]]:
    """The frozen case dicts of one version, in order, streamed."""
    after = -1
    while True:
        rows = db.execute(
            "SELECT vc.ord, b.data_json FROM version_cases vc JOIN case_blobs b ON b.hash = vc.blob_hash "
            "WHERE vc.version_id = ? AND vc.ord > ? ORDER BY vc.ord LIMIT ?", [version_id, after, CHUNK],
        ).fetchall()
        if not rows:
            return
        for _, data in rows:
            yield json.loads(data)
        after = rows[-1][0]
