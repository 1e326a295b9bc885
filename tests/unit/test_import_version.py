"""The import builds its version in the same pass as the case rows: the version must be exactly
the one `snapshot()` takes of the same content, and a failed import must leave nothing behind."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from core.common.hashing import canonical_json
from core.datasets.importing import import_file
from core.datasets.versions import VersionHasher, snapshot
from core.errors import InputError
from store import connect, write
from store import datasets as store_ds
from store.labels import append_event

GOOD = Path(__file__).resolve().parent.parent / "data" / "good"
TABLES = ("datasets", "cases", "case_blobs", "dataset_versions", "version_cases")


@pytest.fixture
def db(tmp_path: Path):
    conn = connect(tmp_path / "assay.db")
    yield conn
    conn.close()


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 3 so a handful of records crosses several insert and blob flushes."""
    monkeypatch.setattr(store_ds, "CHUNK", 3)


def counts(db) -> dict[str, int]:
    return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


def varied(path: Path, n: int = 11, start: int = 0) -> Path:
    """Records with every kind of value a case holds: objects, numbers, unicode, nested metadata."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(start, start + n):
            record: dict = {"id": f"c{i}", "input_text": f"question {i} – naïve “quotes” 🙂", "task_type": "qa"}
            if i % 4 == 1:
                record["expected_output"] = {"answer": i, "why": ["a", 1.5, None], "ü": True}
            elif i % 4 == 2:
                record["expected_output"] = 42 + i  # a number keeps its text
            elif i % 4 == 3:
                record["expected_output"] = f"label {i}"
            if i % 3 == 0:
                record.update(difficulty="Hard", tags=["x", "ÿ"], metadata={"z": 1, "a": {"nested": [1, 2]}})
            record["extra_key"] = i / 3  # lands in metadata
            f.write(json.dumps(record, ensure_ascii=i % 2 == 0) + "\n")
    return path


def recomputed_hash(db, ds_id: int) -> str:
    """The version hash of the stored cases by the rule, independently of VersionBuilder."""
    hasher = VersionHasher()
    for case in store_ds.iter_cases(db, ds_id):
        hasher.add(case.case_id, hashlib.sha256(canonical_json(case.as_case_dict()).encode("utf-8")).hexdigest())
    return hasher.hexdigest()


@pytest.mark.parametrize("source", ["varied", "cases.jsonl", "mapped.csv", "inspect.jsonl", "openai_evals.jsonl"])
def test_import_version_is_the_snapshot_of_the_same_content(db, tmp_path: Path, source: str) -> None:
    path = varied(tmp_path / "varied.jsonl") if source == "varied" else GOOD / source
    mapping = {"input_text": "question", "expected_output": "answer"} if source == "mapped.csv" else None
    result = import_file(db, path, "d", mapping=mapping)
    ds_id = store_ds.dataset_id(db, "d")
    (version,) = store_ds.list_versions(db, ds_id)
    assert version["content_hash"] == recomputed_hash(db, ds_id)
    assert (version["n_cases"], version["n_labeled"]) == (result.imported, result.labeled)
    frozen = list(store_ds.iter_version_cases(db, version["id"]))
    assert frozen == [c.as_case_dict() for c in store_ds.iter_cases(db, ds_id)]
    # A later snapshot of the unchanged content reuses the import's version.
    again, created = snapshot(db, ds_id, "snapshot")
    assert not created and again["id"] == version["id"]


def test_an_error_on_the_last_record_leaves_nothing(db, tmp_path: Path) -> None:
    path = varied(tmp_path / "bad.jsonl")
    with path.open("a") as f:
        f.write('{"id": "last", "input_text": "   "}\n')
    with pytest.raises(InputError) as exc:
        import_file(db, path, "d")
    assert (exc.value.line, exc.value.problem) == (12, "field 'input_text': must not be blank (got '   ')")
    assert counts(db) == dict.fromkeys(TABLES, 0)


def test_the_import_writes_with_a_larger_page_cache_and_gives_it_back(db, tmp_path: Path, monkeypatch) -> None:
    from core.datasets import importing

    seen: list[int] = []
    insert = store_ds.insert_case_rows

    def spy(db_, *args, **kwargs):
        seen.append(db_.execute("PRAGMA cache_size").fetchone()[0])
        return insert(db_, *args, **kwargs)

    monkeypatch.setattr(store_ds, "insert_case_rows", spy)
    (before,) = db.execute("PRAGMA cache_size").fetchone()
    import_file(db, varied(tmp_path / "v.jsonl"), "d")
    assert seen and set(seen) == {-1024 * importing.IMPORT_CACHE_MIB}
    with pytest.raises(InputError):  # and after a failed import too
        import_file(db, tmp_path / "v.jsonl", "d", append=True)  # duplicate ids
    assert db.execute("PRAGMA cache_size").fetchone()[0] == before != -1024 * importing.IMPORT_CACHE_MIB


def test_append_version_covers_old_and_new_cases_with_derived_truth(db, tmp_path: Path) -> None:
    import_file(db, varied(tmp_path / "one.jsonl", 7), "d")
    ds_id = store_ds.dataset_id(db, "d")
    with write(db):  # an expert label decides c0 (imported unlabeled) and overrides c3's imported label
        append_event(db, dataset_id=ds_id, case_id="c0", annotator="ann", kind="label", value="expert")
        append_event(db, dataset_id=ds_id, case_id="c3", annotator="ann", kind="label", value={"k": "v"})
    result = import_file(db, varied(tmp_path / "two.jsonl", 5, start=7), "d", append=True)
    assert (result.imported, result.version) == (5, 2)
    version = store_ds.get_version(db, ds_id)
    frozen = list(store_ds.iter_version_cases(db, version["id"]))
    assert [c["id"] for c in frozen] == [f"c{i}" for i in range(12)]
    truth = {c["id"]: c["expected_output"] for c in frozen}
    assert truth["c0"] == "expert" and truth["c3"] == {"k": "v"} and truth["c10"] == "52" and truth["c8"] is None
    stored = {c.case_id: c.as_case_dict() for c in store_ds.iter_cases(db, ds_id)}
    assert stored["c0"]["expected_output"] is None  # the label lives in the log, not in the case row
    assert frozen[7:] == [stored[f"c{i}"] for i in range(7, 12)]
    assert version["n_cases"] == 12 and version["n_labeled"] == sum(v is not None for v in truth.values())
    again, created = snapshot(db, ds_id, "snapshot")
    assert not created and again["id"] == version["id"]


def test_a_failed_append_keeps_the_previous_version_and_blobs(db, tmp_path: Path) -> None:
    import_file(db, varied(tmp_path / "one.jsonl", 7), "d")
    before = counts(db)
    more = varied(tmp_path / "two.jsonl", 5, start=7)
    with more.open("a") as f:
        f.write('{"id": "c2", "input_text": "clash"}\n')
    with pytest.raises(InputError, match="already in dataset 'd'"):
        import_file(db, more, "d", append=True)
    assert counts(db) == before
