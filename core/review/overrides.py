"""Human verdict overrides (Review screen): a reviewer replaces a result's scored verdict, with a
required reason. Stored append-only (who, when, why, the verdict it replaces); every report and
comparison then counts the human verdict and says how many there are."""

from __future__ import annotations

import sqlite_utils

from core.errors import UsageError
from core.report.build import graded_result
from core.report.types import GradedResult
from store.db import write
from store.overrides import insert_override, result_run


def override_verdict(db: sqlite_utils.Database, result_id: int, *, passed: bool, reason: str,
                     annotator: str) -> GradedResult:
    """Record a human verdict on an answered call; returns the result as it now stands."""
    reason = reason.strip()
    if not reason:
        raise UsageError("an override needs a reason")
    if not annotator.strip():
        raise UsageError("an override needs the reviewer's name")
    with write(db):
        current = graded_result(db, result_id)
        if current.status != "ok":
            raise UsageError(f"result {result_id} is a call {current.status}: there is no answer to judge")
        insert_override(db, result_id=result_id, run_id=result_run(db, result_id) or "", passed=passed, replaces=current.verdict,
                        reason=reason, annotator=annotator.strip())
    return graded_result(db, result_id)

