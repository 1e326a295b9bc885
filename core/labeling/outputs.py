"""The model outputs the Label screen shows beside a case, when blind mode allows: each model's
latest ok answer across the dataset's runs, and what production logged for the case
(`metadata.production_output`) unless a run's answer already reads the same (a `logged` model's
run answers with exactly that). Judge calibration counts the same outputs as shown."""

from __future__ import annotations

import sqlite_utils

from core.common.conversation import PRODUCTION_OUTPUT, logged_text
from store.datasets import CaseRow
from store.outputs import latest_ok_outputs

LOGGED_LABEL = "production (logged)"


def outputs_shown(db: sqlite_utils.Database, dataset_id: int, case: CaseRow) -> tuple[tuple[str, str], ...]:
    """(model, output) pairs, sorted by model, production's logged answer last."""
    outputs = latest_ok_outputs(db, dataset_id, case.case_id)
    value = (case.metadata or {}).get(PRODUCTION_OUTPUT)
    if value is not None:
        text = logged_text(value)  # as a `logged` model's run answers
        if text not in {shown for _, shown in outputs}:
            outputs.append((LOGGED_LABEL, text))
    return tuple(outputs)
