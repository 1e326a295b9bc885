"""Reads behind the Review screen: the verdict code of every result, one row per case (a single
aggregation, so a run of 40,000 results is classed in a fraction of a second), the case facts of
a dataset version, text search, input previews, and one case's frozen content.

The verdict of a result follows `scorers.base.combine` over its latest score round, as
`store.runs.model_outcomes` does: an error if any scorer errored, else a pass when every scorer
passed, score = the mean of the scorers' scores. The human override in force is the latest row
of `verdict_overrides` for the result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlite_utils


# The verdict code of a result: p / f (scored pass / fail), e (a scorer errored), u (unscored: no
# score rows), error / skipped (the call's status), P / F (a human override in force: pass / fail).
_CTES = (
    "WITH latest AS (SELECT result_id, MAX(round) AS rnd FROM scores WHERE run_id = :run GROUP BY result_id), "
    "v AS (SELECT s.result_id, MAX(s.status = 'error') AS errored, MIN(IFNULL(s.passed, 0)) AS passed, "
    "AVG(s.score) AS score FROM scores s JOIN latest l ON l.result_id = s.result_id AND l.rnd = s.round "
    "GROUP BY s.result_id), "
    "o AS (SELECT result_id, passed FROM verdict_overrides WHERE id IN "
    "(SELECT MAX(id) FROM verdict_overrides WHERE run_id = :run GROUP BY result_id)) "
)
_CODE = (
    "CASE WHEN o.passed IS NOT NULL THEN (CASE WHEN o.passed THEN 'P' ELSE 'F' END) "
    "WHEN r.status != 'ok' THEN r.status WHEN v.errored IS NULL THEN 'u' WHEN v.errored THEN 'e' "
    "WHEN v.passed THEN 'p' ELSE 'f' END"
)
_FROM = "FROM results r LEFT JOIN v ON v.result_id = r.id LEFT JOIN o ON o.result_id = r.id WHERE r.run_id = :run"


@dataclass(frozen=True, slots=True)
class VerdictRow:
    result_id: int
    case_id: str
    model: str
    repeat: int
    code: str  # see _CODE
    score: float | None  # the scorers' mean score (also under an override)


def result_verdicts(db: sqlite_utils.Database, run_id: str, *, case_id: str | None = None) -> list[VerdictRow]:
    """Every result of a run (or of one case) with its verdict code and score, in result id order."""
    sql, params = f"{_CTES}SELECT r.id, r.case_id, r.model, r.repeat, {_CODE}, v.score {_FROM}", {"run": run_id}
    if case_id is not None:
        sql += " AND r.case_id = :case"
        params["case"] = case_id
    return [VerdictRow(*row) for row in db.execute(sql + " ORDER BY r.id", params)]


def case_verdict_codes(db: sqlite_utils.Database, run_id: str) -> list[tuple[str, int, dict[str, str]]]:
    """(case_id, repeat, {model: verdict code}) of every (case, repeat) a run has a result for: one
    aggregation, one row per case."""
    return [(cid, repeat, json.loads(codes)) for cid, repeat, codes in db.execute(
        f"{_CTES}SELECT r.case_id, r.repeat, json_group_object(r.model, {_CODE}) {_FROM} GROUP BY r.case_id, r.repeat",
        {"run": run_id})]


def version_case_facts(db: sqlite_utils.Database, version_id: int) -> list[tuple[str, int, str, str | None]]:
    """(case_id, ord, task_type, difficulty) of every case of a dataset version, in order, without
    decoding the case texts."""
    return db.execute(
        "SELECT vc.case_id, vc.ord, IFNULL(json_extract(b.data_json, '$.task_type'), 'generation'), "
        "json_extract(b.data_json, '$.difficulty') FROM version_cases vc JOIN case_blobs b ON b.hash = vc.blob_hash "
        "WHERE vc.version_id = ? ORDER BY vc.ord", [version_id]).fetchall()


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def matching_case_ids(db: sqlite_utils.Database, version_ids: Iterable[int], run_ids: Iterable[str],
                      text: str) -> set[str]:
    """Case ids whose id, input or expected output (in the versions) or any answer (in the runs)
    contains `text`, case-insensitively for ASCII."""
    pat = _like(text)
    found: set[str] = set()
    for vid in set(version_ids):
        found.update(cid for (cid,) in db.execute(
            "SELECT vc.case_id FROM version_cases vc JOIN case_blobs b ON b.hash = vc.blob_hash WHERE vc.version_id = :v "
            "AND (vc.case_id LIKE :p ESCAPE '\\' OR json_extract(b.data_json, '$.input_text') LIKE :p ESCAPE '\\' "
            "OR json_extract(b.data_json, '$.expected_output') LIKE :p ESCAPE '\\')",
            {"v": vid, "p": pat}))
    for run_id in set(run_ids):
        found.update(cid for (cid,) in db.execute(
            "SELECT DISTINCT case_id FROM results WHERE run_id = ? AND output LIKE ? ESCAPE '\\'", [run_id, pat]))
    return found


def input_previews(db: sqlite_utils.Database, version_id: int, case_ids: Iterable[str],
                   chars: int = 200) -> dict[str, str]:
    """case_id -> the first `chars` characters of its input, for the cases asked for."""
    return dict(db.execute(
        "SELECT vc.case_id, substr(json_extract(b.data_json, '$.input_text'), 1, ?) FROM version_cases vc "
        "JOIN case_blobs b ON b.hash = vc.blob_hash WHERE vc.version_id = ? "
        "AND vc.case_id IN (SELECT value FROM json_each(?))", [chars, version_id, json.dumps(list(case_ids))]).fetchall())


def version_case(db: sqlite_utils.Database, version_id: int, case_id: str) -> dict[str, Any] | None:
    """One case of a dataset version as it was frozen (input, expected output, task type, ...)."""
    row = db.execute(
        "SELECT b.data_json FROM version_cases vc JOIN case_blobs b ON b.hash = vc.blob_hash "
        "WHERE vc.version_id = ? AND vc.case_id = ?", [version_id, case_id]).fetchone()
    return None if row is None else json.loads(row[0])


def case_results(db: sqlite_utils.Database, run_id: str, case_id: str) -> list[dict[str, Any]]:
    """The result rows (all columns, outputs included) of one case in a run."""
    return [dict(r) for r in db.query(
        "SELECT * FROM results WHERE run_id = ? AND case_id = ? ORDER BY model, repeat", [run_id, case_id])]
