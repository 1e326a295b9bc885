"""`assay agreement DATASET [--json]` and `assay label` argument errors (no app is opened here)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cli.main import cli
from store import connect, write
from store import datasets as store_ds
from store.labels import append_event


def _ws(tmp_path):
    db = connect(tmp_path / "assay.db")
    with write(db):
        ds = store_ds.create_dataset(db, "d")
        store_ds.insert_cases(db, ds, [{"id": f"c{i}", "input_text": f"t{i}"} for i in range(4)])
        for i, (a, b) in enumerate([("x", "x"), ("x", "y"), ("y", "y"), ("y", "y")]):
            append_event(db, dataset_id=ds, case_id=f"c{i}", annotator="ana", kind="label", value=a)
            append_event(db, dataset_id=ds, case_id=f"c{i}", annotator="bo\x1b[31m", kind="label", value=b)
    db.close()
    return ["--workspace", str(tmp_path)]


def test_agreement_text_and_json(tmp_path):
    args = _ws(tmp_path)
    out = CliRunner().invoke(cli, [*args, "agreement", "d"])
    assert out.exit_code == 0, out.output
    assert "Krippendorff's alpha (nominal): 0.533" in out.output
    assert "75.0%" in out.output and "0.500" in out.output
    assert "\x1b" not in out.output and "bo\\x1b[31m" in out.output
    out = CliRunner().invoke(cli, [*args, "agreement", "d", "--json"])
    data = json.loads(out.output)
    [pair] = data["pairs"]
    assert pair["percent_agreement"] == 0.75 and pair["cohen_kappa"] == 0.5
    assert pair["confusion"] == {"categories": ["x", "y"], "matrix": [[1, 1], [0, 2]]}
    assert "\x1b" not in out.output


def test_unknown_dataset_exits_2(tmp_path):
    args = _ws(tmp_path)
    for cmd in (["agreement", "nope"], ["label", "nope"]):
        out = CliRunner().invoke(cli, [*args, *cmd])
        assert out.exit_code == 2 and "no dataset named 'nope'" in out.output


def test_app_refuses_a_folder_that_is_no_workspace(tmp_path):
    out = CliRunner().invoke(cli, ["--workspace", str(tmp_path / "empty")])
    assert out.exit_code == 2 and "assay init" in out.output
