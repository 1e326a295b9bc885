"""Immutable dataset versions: a snapshot of every case and its current ground truth.

A version is identified by the content hash of its cases in order; identical content reuses the
existing version, so taking a snapshot is idempotent and a run always points at exactly what it
ran on. `take_snapshot` and `list_versions` are what the front ends call (typed results, the same
for the CLI and the Datasets screen); `snapshot` is the building block the importers and the run
planner call inside their own write transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from core.datasets.ground_truth import derived_labels
from core.common.hashing import canonical_json
from core.records import DatasetVersion
from store import datasets as store_ds
from store.db import write


class VersionHasher:
    """The content hash of a version: sha256 over (case id, blob hash) in case order. The one rule,
    used when a snapshot is taken and when a resume checks the version it ran on."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, case_id: str, blob_hash: str) -> None:
        self._h.update(f"{case_id}\0{blob_hash}\n".encode("utf-8"))

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def _frozen(db: sqlite_utils.Database, ds_id: int, truth: dict[str, Any]) -> Iterator[tuple[str, str, str, bool]]:
    """(case_id, blob hash, blob JSON, labeled) per case, streamed in order."""
    for case in store_ds.iter_cases(db, ds_id):
        data = case.as_case_dict()
        if case.case_id in truth:
            data["expected_output"] = truth[case.case_id]
        blob = canonical_json(data)
        yield case.case_id, hashlib.sha256(blob.encode("utf-8")).hexdigest(), blob, data["expected_output"] is not None


def snapshot(db: sqlite_utils.Database, ds_id: int, reason: str, *, required: int = 1) -> tuple[dict[str, Any], bool]:
    """Take (or reuse) the version for the dataset's current content. Returns (version, created)."""
    with write(db):
        truth = derived_labels(db, ds_id, required=required)
        # One streamed pass: blobs are content-addressed, so writing them before we know whether
        # the version is new is harmless (identical content means they already exist).
        overall = VersionHasher()
        order: list[tuple[str, str]] = []
        n_labeled = 0
        chunk: list[tuple[str, str]] = []
        for case_id, h, blob, labeled in _frozen(db, ds_id, truth):
            overall.add(case_id, h)
            order.append((case_id, h))
            n_labeled += labeled
            chunk.append((h, blob))
            if len(chunk) >= store_ds.CHUNK:
                store_ds.insert_blobs(db, chunk)
                chunk.clear()
        store_ds.insert_blobs(db, chunk)
        content_hash = overall.hexdigest()
        existing = store_ds.version_by_hash(db, ds_id, content_hash)
        if existing is not None:
            return existing, False
        return store_ds.insert_version(db, ds_id, content_hash, order, n_labeled, reason), True


@dataclass(frozen=True)
class Snapshot:
    version: DatasetVersion
    created: bool  # False: the content was unchanged and the latest matching version was reused


def take_snapshot(db: sqlite_utils.Database, ds_id: int, reason: str = "snapshot", *, required: int = 1) -> Snapshot:
    version, created = snapshot(db, ds_id, reason, required=required)
    return Snapshot(DatasetVersion(**version), created)


def list_versions(db: sqlite_utils.Database, ds_id: int) -> list[DatasetVersion]:
    """Every version of the dataset, oldest first."""
    return [DatasetVersion(**row) for row in store_ds.list_versions(db, ds_id)]
