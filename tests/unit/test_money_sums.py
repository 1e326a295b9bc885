"""A run's cost is the same whatever order its calls finished in: SQLite's SUM adds floats in row
order (0.1 + 0.2 + 0.3 = 0.6000000000000001, 0.3 + 0.2 + 0.1 = 0.6), and a CI snapshot showed one
run at $0.002033 and $0.002034. The store sums money with FSUM (math.fsum)."""

from __future__ import annotations

import pytest

from core.config.schema import parse_config
from core.records import ResultRecord
from core.run.plan import RunRequest, plan_run
from store import connect, write
from store import datasets as store_ds
from store import runs as store_runs

COSTS = [0.1, 0.2, 0.3]
CFG = parse_config({"models": {"a": {"model": "openai/demo-strong", "api_base": "http://127.0.0.1:9/v1",
                                     "input_price_per_1m": 1.0, "output_price_per_1m": 2.0}}})


def _run_costs(tmp_path, name, costs):
    db = connect(tmp_path / f"{name}.db")
    with write(db):
        store_ds.insert_cases(db, store_ds.create_dataset(db, "d"),
                              [{"id": f"c{i}", "input_text": "x"} for i in range(len(costs))])
    plan = plan_run(db, CFG, RunRequest(dataset="d", models=["a"]))
    for case, cost in zip(plan.cases, costs):
        store_runs.insert_result(db, ResultRecord(
            run_id=plan.run_id, case_id=case["id"], model="a", status="ok", output="y", latency_ms=5,
            input_tokens=1, output_tokens=1, cost_usd=cost, cost_status="config").model_dump())
    figures = store_runs.result_figures(db, plan.run_id)["a"]["cost_usd"]
    outcomes = store_runs.model_outcomes(db, [plan.run_id])[plan.run_id][0]["cost_usd"]
    db.close()
    return figures, outcomes


def test_run_cost_does_not_depend_on_completion_order(tmp_path):
    assert sum(COSTS) != sum(reversed(COSTS))  # the premise: plain float sums do depend on it
    forward = _run_costs(tmp_path, "forward", COSTS)
    backward = _run_costs(tmp_path, "backward", list(reversed(COSTS)))
    assert forward == backward == (0.6, 0.6)


def test_fsum_of_no_priced_rows_is_null(tmp_path):
    db = connect(tmp_path / "e.db")
    assert db.execute("SELECT FSUM(x) FROM (SELECT NULL AS x)").fetchone()[0] is None
    assert db.execute("SELECT FSUM(x) FROM (SELECT 0.1 AS x UNION ALL SELECT NULL)").fetchone()[0] == pytest.approx(0.1)
    db.close()
