"""Dataset versions: immutable, content-addressed, identical content reuses the version."""

from __future__ import annotations

from core.datasets.versions import snapshot
from store import connect, write
from store import datasets as store_ds
from store.labels import append_event


def _seed(tmp_path):
    db = connect(tmp_path / "a.db")
    with write(db):
        ds = store_ds.create_dataset(db, "d")
        store_ds.insert_cases(db, ds, [
            {"id": "a", "input_text": "one", "expected_output": "x"},
            {"id": "b", "input_text": "two"},
        ])
    return db, ds


def test_snapshot_reuses_identical_content(tmp_path):
    db, ds = _seed(tmp_path)
    v1, created = snapshot(db, ds, "import")
    assert created and v1["version"] == 1 and v1["n_cases"] == 2 and v1["n_labeled"] == 1
    again, created = snapshot(db, ds, "snapshot")
    assert not created and again["id"] == v1["id"]


def test_edit_and_label_make_new_versions_and_old_ones_stay(tmp_path):
    db, ds = _seed(tmp_path)
    v1, _ = snapshot(db, ds, "import")
    with write(db):
        store_ds.update_case(db, ds, "a", expected_output={"k": 1})
    v2, created = snapshot(db, ds, "snapshot")
    assert created and v2["version"] == 2
    with write(db):
        append_event(db, dataset_id=ds, case_id="b", annotator="ann", kind="label", value="y")
    v3, created = snapshot(db, ds, "run")
    assert created and v3["version"] == 3 and v3["n_labeled"] == 2
    old = {c["id"]: c["expected_output"] for c in store_ds.iter_version_cases(db, v1["id"])}
    assert old == {"a": "x", "b": None}
    new = {c["id"]: c["expected_output"] for c in store_ds.iter_version_cases(db, v3["id"])}
    assert new == {"a": {"k": 1}, "b": "y"}
    # Undoing the label brings back the content of v2: the same version, not a new one.
    with write(db):
        last = db.execute("SELECT MAX(id) FROM label_events").fetchone()[0]
        append_event(db, dataset_id=ds, case_id="b", annotator="ann", kind="undo", undoes=last)
    back, created = snapshot(db, ds, "run")
    assert not created and back["id"] == v2["id"]
