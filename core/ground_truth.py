"""Ground truth derived from the append-only label log.

Rules, per case: undo events cancel the event they point at. An adjudication decides (the
latest one wins). Otherwise, when at least `required` annotators hold a current label and all of
them agree, that label is the ground truth. A case with no such label keeps the expected output
it was imported with (possibly none).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlite_utils

from core.hashing import canonical_json
from store.labels import iter_events


def active_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events with every undone event (and the undo events themselves) removed."""
    undone = {e["undoes"] for e in events if e["kind"] == "undo" and e["undoes"] is not None}
    return [e for e in events if e["kind"] != "undo" and e["id"] not in undone]


def current_labels(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """case_id -> {annotator: latest active label value}."""
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for e in active_events(events):
        if e["kind"] == "label":
            out[e["case_id"]][e["annotator"]] = e["value"]
    return out


def derived_labels(db: sqlite_utils.Database, dataset_id: int, *, required: int = 1) -> dict[str, Any]:
    """case_id -> ground-truth value for every case the label log decides."""
    events = list(iter_events(db, dataset_id))
    if not events:
        return {}
    active = active_events(events)
    decided: dict[str, Any] = {}
    for e in active:
        if e["kind"] == "adjudicate":
            decided[e["case_id"]] = e["value"]
    for case_id, by_annotator in current_labels(events).items():
        if case_id in decided or len(by_annotator) < required:
            continue
        values = {canonical_json(v) for v in by_annotator.values()}
        if len(values) == 1:
            decided[case_id] = next(iter(by_annotator.values()))
    return decided
