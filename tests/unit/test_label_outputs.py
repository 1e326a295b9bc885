"""core.labeling.outputs: the model outputs shown beside a case, production's logged answer once."""

from __future__ import annotations

from scoring_fixtures import add_dataset, add_result, add_run, new_db

from core.labeling.outputs import outputs_shown
from store import datasets as store_ds


def test_production_s_logged_answer_is_shown_once(tmp_path):
    db = new_db(tmp_path)
    vid = add_dataset(db, [{"id": "c1", "input_text": "Charged twice", "metadata": {"production_output": "billing"}},
                           {"id": "c2", "input_text": "No log", "metadata": {}}])
    ds = store_ds.dataset_id(db, "ds")
    case = store_ds.get_case(db, ds, "c1")
    assert outputs_shown(db, ds, case) == (("production (logged)", "billing"),)
    add_run(db, vid, ["production", "strong"])
    add_result(db, "r-test", "c1", "strong", output="refund")
    assert outputs_shown(db, ds, case) == (("strong", "refund"), ("production (logged)", "billing"))
    add_result(db, "r-test", "c1", "production", output="billing")  # a `logged` model's run
    assert outputs_shown(db, ds, case) == (("production", "billing"), ("strong", "refund"))
    assert outputs_shown(db, ds, store_ds.get_case(db, ds, "c2")) == ()
