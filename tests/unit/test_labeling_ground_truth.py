"""Ground truth derived from the label log: stances, undo, flags, adjudication, required labels."""

from __future__ import annotations

from core.datasets.ground_truth import case_states, derived_labels
from store import connect, write
from store import datasets as store_ds
from store.labels import append_event


def _db(tmp_path):
    db = connect(tmp_path / "a.db")
    with write(db):
        ds = store_ds.create_dataset(db, "d")
        store_ds.insert_cases(db, ds, [{"id": c, "input_text": c} for c in "abcd"])
    return db, ds


def ev(db, ds, case, who, kind, value=None, **kw):
    with write(db):
        return append_event(db, dataset_id=ds, case_id=case, annotator=who, kind=kind, value=value, **kw)


def test_required_labels_and_agreement(tmp_path):
    db, ds = _db(tmp_path)
    ev(db, ds, "a", "ana", "label", "x")
    assert derived_labels(db, ds, required=2) == {}
    ev(db, ds, "a", "bo", "label", "x")
    ev(db, ds, "b", "ana", "label", "x")
    ev(db, ds, "b", "bo", "label", "y")
    assert derived_labels(db, ds, required=2) == {"a": "x"}
    assert derived_labels(db, ds) == {"a": "x"}  # b disagrees whatever the requirement


def test_latest_stance_wins_and_undo_restores(tmp_path):
    db, ds = _db(tmp_path)
    ev(db, ds, "a", "ana", "label", "x")
    flag = ev(db, ds, "a", "ana", "flag", note="hmm")
    assert derived_labels(db, ds) == {}
    ev(db, ds, "a", "ana", "undo", undoes=flag)
    assert derived_labels(db, ds) == {"a": "x"}
    ev(db, ds, "a", "ana", "label", {"k": 1})
    assert derived_labels(db, ds) == {"a": {"k": 1}}


def test_adjudication_decides_and_clears_the_queue(tmp_path):
    db, ds = _db(tmp_path)
    ev(db, ds, "c", "ana", "label", "x")
    ev(db, ds, "c", "bo", "flag", note="policy unclear")
    from store.labels import iter_events

    state = case_states(iter_events(db, ds))["c"]
    assert state.needs_adjudication and state.flags == {"bo": "policy unclear"}
    adj = ev(db, ds, "c", "lee", "adjudicate", "y")
    assert derived_labels(db, ds) == {"c": "y"}
    ev(db, ds, "c", "lee", "undo", undoes=adj)
    assert derived_labels(db, ds) == {}
