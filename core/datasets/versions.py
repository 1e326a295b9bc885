"""Immutable dataset versions: a snapshot of every case and its current ground truth.

A version is identified by the content hash of its cases in order; identical content reuses the
existing version, so taking a snapshot is idempotent and a run always points at exactly what it
ran on. `take_snapshot` and `list_versions` are what the front ends call (typed results, the same
for the CLI and the Datasets screen); `snapshot` is the building block the sampler, the promptfoo
importer and the run planner call inside their own write transaction. `VersionBuilder` is the one
place a case becomes a blob and a version: `snapshot` feeds it the stored cases, and the file
import feeds it each case as it inserts it, so a 100k-case import never reads its cases back.
"""

from __future__ import annotations

import hashlib
import json
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


Encoded = tuple[str, bytes]  # a case's blob (canonical JSON) and its sha256 digest


def encode(case: dict[str, Any]) -> Encoded:
    blob = canonical_json(case)
    return blob, hashlib.sha256(blob.encode("utf-8")).digest()


class VersionBuilder:
    """Builds the version of a dataset's content while its cases stream by, in order.

    Each case is frozen as it will be run (its label-derived ground truth, if the label log decides
    one, replaces the stored expected output), encoded once as canonical JSON, hashed, and its
    content-addressed blob written in chunks. Blobs may be written before we know whether the
    version is new: identical content means they already exist. Memory per case is its id and a
    32-byte digest for the version's case list, whatever the case's size. The caller holds the
    write transaction from the first `add` to `finish`.
    """

    def __init__(self, db: sqlite_utils.Database, ds_id: int, *, required: int = 1):
        self._db, self._ds_id = db, ds_id
        self._truth = derived_labels(db, ds_id, required=required)
        self._hasher = VersionHasher()
        self._ids: list[str] = []
        self._digests = bytearray()
        self._blobs: list[tuple[str, str]] = []
        self._labeled = 0

    def add(self, case: dict[str, Any]) -> None:
        """One case in EvalCase.model_dump() shape, as stored."""
        case_id = case["id"]
        if case_id in self._truth:
            case = {**case, "expected_output": self._truth[case_id]}
        self._append(case_id, case["expected_output"] is not None, encode(case))

    def add_encoded(self, case_id: str, labeled: bool, encoded: Encoded) -> None:
        """`add` for a case already encoded (`encode(case)`, perhaps by another process)."""
        if case_id in self._truth:
            self.add(json.loads(encoded[0]))  # the label log overrides its expected output
        else:
            self._append(case_id, labeled, encoded)

    def _append(self, case_id: str, labeled: bool, encoded: Encoded) -> None:
        blob, digest = encoded
        blob_hash = digest.hex()
        self._hasher.add(case_id, blob_hash)
        self._ids.append(case_id)
        self._digests += digest
        self._labeled += labeled
        self._blobs.append((blob_hash, blob))
        if len(self._blobs) >= store_ds.CHUNK:
            self._flush()

    def add_stored(self) -> None:
        """Every case the dataset holds now, in import order."""
        for case in store_ds.iter_cases(self._db, self._ds_id):
            self.add(case.as_case_dict())

    def _flush(self) -> None:
        store_ds.insert_blobs(self._db, self._blobs)
        self._blobs.clear()

    def finish(self, reason: str) -> tuple[dict[str, Any], bool]:
        """(version, created): the existing version with this content, or a new one."""
        self._flush()
        content_hash = self._hasher.hexdigest()
        existing = store_ds.version_by_hash(self._db, self._ds_id, content_hash)
        if existing is not None:
            return existing, False
        digests = self._digests
        order = ((case_id, digests[32 * i: 32 * i + 32].hex()) for i, case_id in enumerate(self._ids))
        return store_ds.insert_version(
            self._db, self._ds_id, content_hash, order, len(self._ids), self._labeled, reason), True


def snapshot(db: sqlite_utils.Database, ds_id: int, reason: str, *, required: int = 1) -> tuple[dict[str, Any], bool]:
    """Take (or reuse) the version for the dataset's current content. Returns (version, created)."""
    with write(db):
        builder = VersionBuilder(db, ds_id, required=required)
        builder.add_stored()
        return builder.finish(reason)


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
