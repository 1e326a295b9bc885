"""Flag a case for the labeling queue from outside a labeling session (the Review screen's `L`,
for example when an answer shows the ground truth looks wrong).

A flag is the annotator's stance on the case, as `LabelSession.flag` records it: it replaces
their own label on it, holds the case's ground truth undecided and puts the case in the
adjudication queue (core.datasets.ground_truth.CaseLabels.needs_adjudication).
"""

from __future__ import annotations

import sqlite_utils

from core.errors import NotFoundError, UsageError
from core.records import LabelEvent
from store import datasets as store_ds
from store.db import write
from store.labels import append_event


def flag_case(db: sqlite_utils.Database, dataset_id: int, case_id: str, annotator: str,
              note: str | None = None) -> int:
    """Append a flag event for one case of a dataset; returns its id."""
    if not annotator.strip():
        raise UsageError("a flag needs the annotator's name")
    if store_ds.get_case(db, dataset_id, case_id) is None:
        raise NotFoundError(f"case '{case_id}' is no longer in the dataset")
    event = LabelEvent(dataset_id=dataset_id, case_id=case_id, annotator=annotator.strip(), kind="flag",
                       note=(note or "").strip() or None)
    with write(db):
        return append_event(db, **event.model_dump(exclude={"id", "created_at"}))
