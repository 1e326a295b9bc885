"""Immutable dataset versions: a snapshot of every case and its current ground truth.

A version is identified by the content hash of its cases in order; identical content reuses the
existing version, so taking a snapshot is idempotent and a run always points at exactly what it
ran on.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlite_utils

from core.ground_truth import derived_labels
from core.hashing import canonical_json
from store import datasets as store_ds
from store.db import write


def _entries(db: sqlite_utils.Database, ds_id: int, required: int) -> tuple[str, list[tuple[str, str, str]], int]:
    truth = derived_labels(db, ds_id, required=required)
    entries: list[tuple[str, str, str]] = []
    overall = hashlib.sha256()
    labeled = 0
    for case in store_ds.iter_cases(db, ds_id):
        data = case.as_case_dict()
        if case.case_id in truth:
            data["expected_output"] = truth[case.case_id]
        if data["expected_output"] is not None:
            labeled += 1
        blob = canonical_json(data)
        h = hashlib.sha256(blob.encode("utf-8")).hexdigest()
        overall.update(f"{case.case_id}\0{h}\n".encode("utf-8"))
        entries.append((case.case_id, h, blob))
    return overall.hexdigest(), entries, labeled


def snapshot(db: sqlite_utils.Database, ds_id: int, reason: str, *, required: int = 1) -> tuple[dict[str, Any], bool]:
    """Take (or reuse) the version for the dataset's current content. Returns (version, created)."""
    with write(db):
        content_hash, entries, labeled = _entries(db, ds_id, required)
        existing = store_ds.version_by_hash(db, ds_id, content_hash)
        if existing is not None:
            return existing, False
        return store_ds.insert_version(db, ds_id, content_hash, entries, labeled, reason), True
