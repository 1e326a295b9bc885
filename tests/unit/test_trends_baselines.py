"""core.trends.baselines: pins per dataset lineage (and model), set / list / clear / resolve, history
kept, and a baseline changes only by an explicit command."""

from __future__ import annotations

import pytest
from scoring_fixtures import new_db
from trends_fixtures import dataset, run

from core.errors import NotFoundError, UsageError
from core.trends.alerts import check_run
from core.trends.baselines import (check_baseline_available, clear_baseline, list_baselines, pinned_baseline_of_run,
                                   resolve_baseline, set_baseline)
from core.config.schema import WorkspaceConfig
from store.db import write


def _history(tmp_path):
    db = new_db(tmp_path)
    v = dataset(db, 40)
    run(db, v, "r-1", {"a": [True] * 40, "b": [True] * 40})
    run(db, v, "r-2", {"a": [False] * 40, "b": [True] * 40})
    return db, db.execute("SELECT dataset_id FROM dataset_versions WHERE id = ?", [v]).fetchone()[0]


def test_set_resolve_and_replace_keeps_history(tmp_path):
    db, ds = _history(tmp_path)
    assert resolve_baseline(db, ds) is None and pinned_baseline_of_run(db, "r-2") is None
    first = set_baseline(db, "r-1", by="alice")
    assert (first.dataset, first.model, first.run_id, first.pinned_by, first.in_force) == ("ds", None, "r-1", "alice", True)
    assert resolve_baseline(db, ds, "a").run_id == "r-1"  # the dataset-wide pin serves every model
    set_baseline(db, "r-2", model="b", by="bob")
    assert resolve_baseline(db, ds, "b").run_id == "r-2" and resolve_baseline(db, ds, "a").run_id == "r-1"
    set_baseline(db, "r-2", by="carol")  # replaces the dataset-wide pin
    assert [(p.model, p.run_id) for p in list_baselines(db)] == [(None, "r-2"), ("b", "r-2")]
    everything = list_baselines(db, include_cleared=True)
    assert [(p.run_id, p.cleared_by) for p in everything] == [("r-1", "carol"), ("r-2", None), ("r-2", None)]
    assert pinned_baseline_of_run(db, "r-1") == "r-2" and pinned_baseline_of_run(db, "r-2") is None


def test_clear(tmp_path):
    db, ds = _history(tmp_path)
    set_baseline(db, "r-1", by="t")
    set_baseline(db, "r-1", model="a", by="t")
    assert clear_baseline(db, "ds", model="a", by="u") == 1
    assert clear_baseline(db, "ds", model="a", by="u") == 0
    assert [p.model for p in list_baselines(db)] == [None]
    assert clear_baseline(db, "ds", by="u") == 1 and list_baselines(db) == []
    assert len(list_baselines(db, include_cleared=True)) == 2
    with pytest.raises(NotFoundError):
        clear_baseline(db, "nope", by="u")


def test_refusals(tmp_path):
    db, _ = _history(tmp_path)
    with pytest.raises(NotFoundError):
        set_baseline(db, "r-nope", by="t")
    with pytest.raises(UsageError, match="model 'c' is not in run r-1"):
        set_baseline(db, "r-1", model="c", by="t")
    with write(db):
        db.execute("UPDATE runs SET status = 'interrupted' WHERE id = 'r-2'")
    with pytest.raises(UsageError, match="only a finished run"):
        set_baseline(db, "r-2", by="t")
    with pytest.raises(NotFoundError, match="no baseline pinned for dataset 'ds'"):
        check_baseline_available(db, None, "ds")
    with pytest.raises(NotFoundError, match="no run 'r-x'"):
        check_baseline_available(db, "r-x", "ds")
    check_baseline_available(db, "r-1", None)


def test_baselines_change_only_by_explicit_command(tmp_path):
    db, ds = _history(tmp_path)
    set_baseline(db, "r-1", by="t")
    before = list_baselines(db, include_cleared=True)
    check_run(db, "r-2", None, WorkspaceConfig())  # a regression check (and its alert) ...
    v = db.execute("SELECT dataset_version_id FROM runs WHERE id = 'r-1'").fetchone()[0]
    run(db, v, "r-3", {"a": [True] * 40, "b": [True] * 40})  # ... and a newer, better run
    assert list_baselines(db, include_cleared=True) == before
    assert resolve_baseline(db, ds).run_id == "r-1"
