"""Browsing: keyset pages forwards and backwards, counts, excluded ids, the not-found message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.datasets.browse import CaseFilter, count_cases, dataset_id, excluded_case_ids, page
from core.datasets.edits import edit_case
from core.datasets.importing import import_file
from core.errors import NotFoundError, UsageError
from store import connect


@pytest.fixture
def db(tmp_path: Path):
    src = tmp_path / "cases.jsonl"
    src.write_text("".join(json.dumps({"id": f"c{i}", "input_text": f"q{i}", "task_type": "ab"[i % 2]}) + "\n"
                           for i in range(7)))
    conn = connect(tmp_path / "assay.db")
    import_file(conn, src, "d")
    yield conn
    conn.close()


def ids(p) -> list[str]:
    return [c.case_id for c in p.cases]


def test_pages_forwards_and_backwards(db) -> None:
    ds = dataset_id(db, "d")
    first = page(db, ds, limit=3)
    assert ids(first) == ["c0", "c1", "c2"] and first.more and first.next_after == 2
    last = page(db, ds, after=5, limit=3)
    assert ids(last) == ["c6"] and not last.more and last.next_after is None
    back = page(db, ds, before=6, limit=3)
    assert ids(back) == ["c3", "c4", "c5"] and back.more  # in import order; earlier cases remain
    assert not page(db, ds, before=3, limit=3).more
    only_a = CaseFilter(task_type="a")
    assert ids(page(db, ds, limit=10, flt=only_a)) == ["c0", "c2", "c4", "c6"] and count_cases(db, ds, only_a) == 4
    with pytest.raises(UsageError, match="--limit"):
        page(db, ds, limit=0)


def test_excluded_ids_and_a_missing_dataset(db) -> None:
    ds = dataset_id(db, "d")
    edit_case(db, page(db, ds, limit=1).cases[0], {"excluded": True})
    assert excluded_case_ids(db, ds) == frozenset({"c0"})
    with pytest.raises(NotFoundError, match="no dataset named 'nope'"):
        dataset_id(db, "nope")
