"""Dataset export: the current cases with their ground truth, or a frozen version, as JSON, JSONL or CSV.

`export_dataset` streams to any text stream (the CLI's stdout); `export_to_file` is the one way
both front ends write an export file: it refuses to replace an existing file unless asked to, and
writes all or nothing (a failed export leaves no file, and an existing one untouched).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import sqlite_utils

from core.common.files import atomic_writer
from core.datasets.browse import dataset_id
from core.datasets.formats import CSV_COLUMNS, FIELDS, FILE_FORMATS
from core.datasets.ground_truth import derived_labels
from core.errors import NotFoundError, UsageError
from store import datasets as store_ds


def _export_shape(case: dict[str, Any]) -> dict[str, Any]:
    out = {k: case.get(k) for k in FIELDS if k != "excluded"}
    out["metadata"] = out["metadata"] or {}
    out["tags"] = out["tags"] or []
    if case.get("excluded"):
        out["excluded"] = True
    return out


def iter_export_cases(
    db: sqlite_utils.Database, name: str, version: int | None = None, *, required: int = 1,
) -> Iterator[dict[str, Any]]:
    """The dataset's cases with their current ground truth ([labeling].required_labels agreeing
    labels, or an adjudication), or the frozen cases of `version`."""
    ds_id = dataset_id(db, name)
    if version is not None:
        row = store_ds.get_version(db, ds_id, version)
        if row is None:
            known = [v["version"] for v in store_ds.list_versions(db, ds_id)]
            have = f"versions: {', '.join(map(str, known))}" if known else "no versions yet"
            raise NotFoundError(f"dataset {name!r} has no version {version} ({have})")
        return (_export_shape(c) for c in store_ds.iter_version_cases(db, row["id"]))
    truth = derived_labels(db, ds_id, required=required)

    def current() -> Iterator[dict[str, Any]]:
        for row in store_ds.iter_cases(db, ds_id):
            case = row.as_case_dict()
            if row.case_id in truth:
                case["expected_output"] = truth[row.case_id]
            yield _export_shape(case)

    return current()


def _csv_row(case: dict[str, Any]) -> list[str]:
    exp = case["expected_output"]
    return [
        case["id"], case["input_text"],
        "" if exp is None else exp if isinstance(exp, str) else json.dumps(exp, ensure_ascii=False),
        case["task_type"], case["difficulty"] or "",
        json.dumps(case["tags"], ensure_ascii=False) if case["tags"] else "",
        json.dumps(case["metadata"], ensure_ascii=False) if case["metadata"] else "",
        "true" if case.get("excluded") else "",
    ]


def export_dataset(
    db: sqlite_utils.Database, name: str, fmt: str, out: TextIO, version: int | None = None, *, required: int = 1,
) -> int:
    """Write the dataset (or one of its versions) to `out` as json, jsonl or csv. Returns the case count.

    The dataset, the version and the format are checked before anything is written."""
    if fmt not in FILE_FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; formats are {', '.join(FILE_FORMATS)}")
    cases = iter_export_cases(db, name, version, required=required)
    n = 0
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for n, case in enumerate(cases, 1):
            w.writerow(_csv_row(case))
    elif fmt == "jsonl":
        for n, case in enumerate(cases, 1):
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
    else:
        out.write("[")
        for n, case in enumerate(cases, 1):
            out.write(("," if n > 1 else "") + "\n  " + json.dumps(case, ensure_ascii=False))
        out.write("\n]\n" if n else "]\n")
    return n


def export_to_file(
    db: sqlite_utils.Database, name: str, fmt: str, path: str | Path, version: int | None = None, *,
    required: int = 1, overwrite: bool = False,
) -> int:
    """Export to the file `path` (its folder is created), all or nothing. Returns the case count.

    An existing file is replaced only with `overwrite`. The export streams through atomic_writer,
    so memory stays flat for a large dataset and a failure (a missing version, a full disk) leaves
    no partial file behind and an existing file as it was."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give the path of a file to write")
    if path.exists() and not overwrite:
        raise UsageError(f"{path} already exists (export with overwrite to replace it)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path) as out:
            return export_dataset(db, name, fmt, out, version, required=required)
    except OSError as e:
        raise UsageError(f"{path}: cannot write the export: {e.strerror}") from None
