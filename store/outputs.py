"""Reads of model outputs across runs, for the screens that show them next to a case (Label)."""

from __future__ import annotations

import sqlite_utils


def latest_ok_outputs(db: sqlite_utils.Database, dataset_id: int, case_id: str) -> list[tuple[str, str]]:
    """(model, output) of the latest ok result of each model on one case, across the dataset's runs,
    sorted by model."""
    seen: dict[str, str] = {}
    for model, output in db.execute(
        "SELECT r.model, r.output FROM results r JOIN runs ru ON ru.id = r.run_id "
        "WHERE ru.dataset_id = ? AND r.case_id = ? AND r.status = 'ok' AND r.output IS NOT NULL "
        "ORDER BY r.id DESC", [dataset_id, case_id],
    ):
        seen.setdefault(model, output)
    return sorted(seen.items())
