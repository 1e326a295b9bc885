"""An annotator's label queue: which cases still need them, in a stable per-annotator order.

Queue: the cases that still need this annotator's label (not excluded, no imported expected
output, not yet decided by the label log, fewer than `required_labels` labels, not flagged) plus
the cases this annotator already decided, in the order sha256(annotator, case_id). Stable means
resume, `[`/`]` and "case 57 of 300" mean the same thing next week.
"""

from __future__ import annotations

import hashlib

import sqlite_utils

from core.datasets.ground_truth import CaseLabels
from store.labels import queue_candidates


def queue_key(annotator: str, case_id: str) -> str:
    """The per-annotator sort key: stable, and different annotators see different orders."""
    return hashlib.sha256(f"{annotator}\0{case_id}".encode("utf-8")).hexdigest()


def needs_label(state: CaseLabels | None, annotator: str, required: int) -> bool:
    """Does a case (not excluded, without imported expected output) still need this annotator?"""
    if state is None:
        return True
    if state.stance(annotator) is not None:
        return False
    return not state.decided(required)[0] and len(state.labels) < required and not state.flags


def build_queue(
    db: sqlite_utils.Database, dataset_id: int, annotator: str, required: int,
    states: dict[str, CaseLabels],
) -> list[str]:
    """This annotator's queue in its stable order (see the module docstring)."""
    ids = []
    for case_id, has_expected in queue_candidates(db, dataset_id):
        state = states.get(case_id)
        mine = state is not None and state.stance(annotator) is not None
        if mine or (not has_expected and needs_label(state, annotator, required)):
            ids.append(case_id)
    ids.sort(key=lambda cid: queue_key(annotator, cid))
    return ids


def has_open_case(db: sqlite_utils.Database, dataset_id: int, annotator: str, required: int,
                  states: dict[str, CaseLabels]) -> bool:
    """Is there a case in the dataset this annotator has yet to decide (what the Label screen opens on)?"""
    return any(not has_expected and needs_label(states.get(case_id), annotator, required)
               for case_id, has_expected in queue_candidates(db, dataset_id))
