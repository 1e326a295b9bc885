"""A run on a past dataset version measures exactly that version's cases (the Run screen's and
`assay run --version`'s promise); the current content is snapshotted only when no version is given."""

from __future__ import annotations

import pytest
from runner_helpers import config, make_dataset, rows, run_engine

from core.errors import NotFoundError
from store import connect, write
from store import datasets as store_ds

pytestmark = pytest.mark.usefixtures("clean_srv")


def test_a_past_version_runs_its_own_cases(srv, tmp_path):
    db_path = tmp_path / "assay.db"
    make_dataset(db_path, 4)
    cfg = config(srv.base_url)
    first = run_engine(db_path, cfg, ["strong"])  # snapshots the current content as v1
    db = connect(db_path)
    with write(db):
        store_ds.insert_cases(db, store_ds.dataset_id(db, "d"),
                              [{"id": "c-new", "input_text": "What is 9 plus 9?", "expected_output": "18"}], 4)
    db.close()

    old = run_engine(db_path, cfg, ["strong"], version=1)
    new = run_engine(db_path, cfg, ["strong"])
    assert (first.total, old.total, new.total) == (4, 4, 5)
    versions = dict(rows(db_path, "SELECT r.id, v.version FROM runs r JOIN dataset_versions v "
                                  "ON v.id = r.dataset_version_id"))
    assert (versions[first.run_id], versions[old.run_id], versions[new.run_id]) == (1, 1, 2)
    assert rows(db_path, "SELECT COUNT(*) FROM results WHERE run_id = ? AND case_id = 'c-new'", (old.run_id,)) == [(0,)]
    assert rows(db_path, "SELECT COUNT(*) FROM dataset_versions") == [(2,)]  # no snapshot for the version run


def test_an_unknown_version_is_refused_before_any_call(srv, tmp_path):
    db_path = tmp_path / "assay.db"
    make_dataset(db_path, 2)
    with pytest.raises(NotFoundError, match="has no version 7"):
        run_engine(db_path, config(srv.base_url), ["strong"], version=7)
    assert srv.stats()["requests"] == 0 and rows(db_path, "SELECT COUNT(*) FROM runs") == [(0,)]
