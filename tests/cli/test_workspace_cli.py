"""Workspace-level CLI behaviour: required_labels in export and snapshots, the app's --dataset option."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cli.main import cli
from store import connect, write
from store import datasets as store_ds
from store.labels import append_event


def test_export_and_snapshot_need_the_configured_number_of_agreeing_labels(tmp_path):
    (tmp_path / "assay.toml").write_text("[labeling]\nrequired_labels = 2\n", encoding="utf-8")
    db = connect(tmp_path / "assay.db")
    with write(db):
        ds = store_ds.create_dataset(db, "d")
        store_ds.insert_cases(db, ds, [{"id": "a", "input_text": "one"}, {"id": "b", "input_text": "two"}])
        append_event(db, dataset_id=ds, case_id="a", annotator="ann", kind="label", value="yes")
        append_event(db, dataset_id=ds, case_id="b", annotator="ann", kind="label", value="no")
        append_event(db, dataset_id=ds, case_id="b", annotator="bob", kind="label", value="no")
    runner = CliRunner()
    out = runner.invoke(cli, ["-w", str(tmp_path), "export", "d", "--format", "jsonl"])
    assert out.exit_code == 0, out.output
    truth = {c["id"]: c["expected_output"] for c in map(json.loads, out.stdout.splitlines())}
    assert truth == {"a": None, "b": "no"}
    snap = runner.invoke(cli, ["-w", str(tmp_path), "datasets", "snapshot", "d"])
    assert snap.exit_code == 0, snap.output
    assert "1 labeled" in snap.stderr


def test_app_refuses_an_unknown_dataset_before_opening(tmp_path):
    connect(tmp_path / "assay.db").close()
    out = CliRunner().invoke(cli, ["-w", str(tmp_path), "--dataset", "nope"])
    assert out.exit_code == 2
    assert "no dataset named 'nope'" in out.stderr


def test_cases_label_filter_counts_labels_from_the_log(tmp_path):
    db = connect(tmp_path / "assay.db")
    with write(db):
        ds = store_ds.create_dataset(db, "d")
        store_ds.insert_cases(db, ds, [{"id": "a", "input_text": "one"}, {"id": "b", "input_text": "two"},
                                       {"id": "c", "input_text": "three", "expected_output": "z"}])
        append_event(db, dataset_id=ds, case_id="a", annotator="ann", kind="label", value="yes")
    runner = CliRunner()
    labeled = runner.invoke(cli, ["-w", str(tmp_path), "cases", "d", "--labeled", "--json"])
    got = {c["id"]: c["expected_output"] for c in json.loads(labeled.stdout)["cases"]}
    assert got == {"a": "yes", "c": "z"}
    unlabeled = runner.invoke(cli, ["-w", str(tmp_path), "cases", "d", "--unlabeled", "--json"])
    assert [c["id"] for c in json.loads(unlabeled.stdout)["cases"]] == ["b"]


def test_datasets_list_counts_ground_truth_from_the_label_log(tmp_path):
    (tmp_path / "assay.toml").write_text("[labeling]\nrequired_labels = 2\n", encoding="utf-8")
    db = connect(tmp_path / "assay.db")
    with write(db):
        ds = store_ds.create_dataset(db, "d")
        store_ds.insert_cases(db, ds, [{"id": "a", "input_text": "one"}, {"id": "b", "input_text": "two"},
                                       {"id": "c", "input_text": "three", "expected_output": "x"}])
        append_event(db, dataset_id=ds, case_id="a", annotator="ann", kind="label", value="yes")
        for who in ("ann", "bob"):
            append_event(db, dataset_id=ds, case_id="b", annotator=who, kind="label", value="no")
    out = CliRunner().invoke(cli, ["-w", str(tmp_path), "datasets", "--json"])
    assert out.exit_code == 0, out.output
    (summary,) = json.loads(out.stdout)
    assert (summary["labeled"], summary["unlabeled"], summary["imported_labeled"]) == (2, 1, 1)
    assert summary["task_types"]["generation"] == {"cases": 3, "labeled": 2, "unlabeled": 1}
