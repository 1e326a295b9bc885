"""Export: every format round-trips through import; older versions export what they froze."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from core.datasets.browse import dataset_id
from core.datasets.export import export_dataset, export_to_file
from core.datasets.importing import import_file
from core.datasets.versions import list_versions, take_snapshot
from core.errors import NotFoundError, UsageError
from store import connect
from store import datasets as store_ds
from store.db import write

GOOD = Path(__file__).resolve().parent.parent / "data" / "good"

TRICKY = [
    {"id": "7", "input_text": "Line one\nline two, with \"quotes\" and ünïcode", "expected_output": "42",
     "task_type": "math", "difficulty": "easy", "metadata": {"n": 1, "nested": {"a": [1, None]}}, "tags": ["x", "y z"]},
    {"id": "obj", "input_text": "Extract", "expected_output": {"total": 12.5, "items": ["a"]},
     "task_type": "extraction", "difficulty": None, "metadata": {}, "tags": []},
    {"id": "unl", "input_text": "No label yet", "expected_output": None, "task_type": "generation",
     "difficulty": "hard", "metadata": {"customer": "acme"}, "tags": ["t"]},
]


@pytest.fixture
def db(tmp_path: Path):
    conn = connect(tmp_path / "assay.db")
    yield conn
    conn.close()


def export_text(db, name: str, fmt: str, version: int | None = None) -> str:
    out = io.StringIO(newline="")
    export_dataset(db, name, fmt, out, version)
    return out.getvalue()


def stored(db, name: str) -> list[dict]:
    return [c.as_case_dict() for c in store_ds.iter_cases(db, store_ds.dataset_id(db, name))]


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_round_trip(db, tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "src.jsonl"
    src.write_text("".join(json.dumps(c) + "\n" for c in TRICKY))
    import_file(db, src, "orig")
    with write(db):
        store_ds.update_case(db, store_ds.dataset_id(db, "orig"), "unl", excluded=True)
    out = tmp_path / f"exported.{fmt}"
    out.write_text(export_text(db, "orig", fmt), encoding="utf-8", newline="")
    import_file(db, out, "copy")
    assert stored(db, "copy") == stored(db, "orig")
    assert stored(db, "copy")[2]["excluded"] is True


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_round_trip_of_the_seed_file(db, tmp_path: Path, fmt: str) -> None:
    import_file(db, GOOD / "cases.jsonl", "orig")
    out = tmp_path / f"exported.{fmt}"
    out.write_text(export_text(db, "orig", fmt), encoding="utf-8", newline="")
    import_file(db, out, "copy")
    assert stored(db, "copy") == stored(db, "orig")


def test_json_export_shape(db, tmp_path: Path) -> None:
    src = tmp_path / "src.jsonl"
    src.write_text("".join(json.dumps(c) + "\n" for c in TRICKY))
    import_file(db, src, "orig")
    assert json.loads(export_text(db, "orig", "json")) == TRICKY
    assert [json.loads(line) for line in export_text(db, "orig", "jsonl").splitlines()] == TRICKY
    header = export_text(db, "orig", "csv").splitlines()[0]
    assert header == "id,input_text,expected_output,task_type,difficulty,tags,metadata,excluded"


def test_export_an_older_version_after_an_edit(db) -> None:
    import_file(db, GOOD / "cases.jsonl", "seed")
    ds_id = store_ds.dataset_id(db, "seed")
    with write(db):
        store_ds.update_case(db, ds_id, "cls-1", expected_output="negative", input_text="I hate this product!")
    taken = take_snapshot(db, ds_id)
    assert taken.created and taken.version.version == 2
    old = {c["id"]: c for c in map(json.loads, export_text(db, "seed", "jsonl", version=1).splitlines())}
    new = {c["id"]: c for c in map(json.loads, export_text(db, "seed", "jsonl", version=2).splitlines())}
    current = {c["id"]: c for c in map(json.loads, export_text(db, "seed", "jsonl").splitlines())}
    assert (old["cls-1"]["input_text"], old["cls-1"]["expected_output"]) == ("I love this product!", "positive")
    assert (new["cls-1"]["input_text"], new["cls-1"]["expected_output"]) == ("I hate this product!", "negative")
    assert current == new
    assert [v.version for v in list_versions(db, ds_id)] == [1, 2]
    # An on-demand snapshot is recorded as "snapshot", as docs/schema.md and the TUI's versions dialog say.
    assert [v.reason for v in list_versions(db, ds_id)] == ["import", "snapshot"]


def test_snapshot_is_reused_when_nothing_changed(db) -> None:
    import_file(db, GOOD / "cases.jsonl", "seed")
    taken = take_snapshot(db, dataset_id(db, "seed"))
    assert (taken.version.version, taken.created) == (1, False)


def test_export_errors(db) -> None:
    import_file(db, GOOD / "cases.jsonl", "seed")
    with pytest.raises(NotFoundError, match="has no version 9 \\(versions: 1\\)"):
        export_text(db, "seed", "json", version=9)
    with pytest.raises(NotFoundError, match="no dataset named 'other'"):
        export_text(db, "other", "json")
    with pytest.raises(UsageError, match="unknown export format"):
        export_text(db, "seed", "xml")


def test_export_to_file_refuses_to_replace_unless_asked(db, tmp_path: Path) -> None:
    import_file(db, GOOD / "cases.jsonl", "seed")
    out = tmp_path / "sub" / "seed.jsonl"
    assert export_to_file(db, "seed", "jsonl", out) == 4  # the folder is created
    out.write_text("keep me")
    with pytest.raises(UsageError, match="already exists"):
        export_to_file(db, "seed", "jsonl", out)
    assert out.read_text() == "keep me"
    assert export_to_file(db, "seed", "jsonl", out, overwrite=True) == 4
    assert len(out.read_text().splitlines()) == 4
    with pytest.raises(UsageError, match="is a directory"):
        export_to_file(db, "seed", "jsonl", tmp_path, overwrite=True)


def test_a_failed_export_leaves_no_file_and_the_old_one_untouched(db, tmp_path: Path) -> None:
    import_file(db, GOOD / "cases.jsonl", "seed")
    out = tmp_path / "seed.json"
    with pytest.raises(NotFoundError):
        export_to_file(db, "seed", "json", out, version=9)
    out.write_text("old")
    with pytest.raises(NotFoundError):
        export_to_file(db, "seed", "json", out, version=9, overwrite=True)
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
