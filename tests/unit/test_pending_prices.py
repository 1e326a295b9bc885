"""A run planned while a worker still reads litellm's price map records those models' cost sources
as pending, without importing litellm here; settling replaces only what is pending, in the column
and in the run's config, and a resume planned the same way keeps what its run started with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from store import runs as store_runs

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys
from core.config.schema import parse_config
from core.run.plan import RunRequest, plan_run
from store import connect, write
from store import datasets as store_ds
from store import runs as store_runs

db = connect(sys.argv[1])
with write(db):
    ds = store_ds.create_dataset(db, "d")
    store_ds.insert_cases(db, ds, [{"id": f"c{i}", "input_text": "x"} for i in range(3)])
cfg = parse_config({"models": {
    "priced": {"model": "openai/demo-fast", "input_price_per_1m": 1.0, "output_price_per_1m": 2.0},
    "mapped": {"model": "openai/demo-strong"}}})
plan = plan_run(db, cfg, RunRequest(dataset="d", models=["priced", "mapped"]), priced_later={"mapped"})
planned = dict(plan.cost_sources)
store_runs.settle_cost_sources(db, plan.run_id, {"mapped": "price_map"})
store_runs.settle_cost_sources(db, plan.run_id, {"mapped": "unknown", "priced": "unknown"})  # nothing pending
store_runs.set_status(db, plan.run_id, "interrupted")
resumed = plan_run(db, cfg, RunRequest(resume=plan.run_id), priced_later={"mapped"})
row = store_runs.get_run(db, plan.run_id)
print(json.dumps({"planned": planned, "column": json.loads(row["cost_source"]),
                  "config": row["config"]["cost_source"], "resumed": resumed.cost_sources,
                  "litellm": "litellm" in sys.modules}))
"""


def test_pending_sources_are_planned_without_litellm_and_settled_once(tmp_path):
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "assay.db")], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {
        "planned": {"priced": "config", "mapped": store_runs.PENDING_SOURCE},
        "column": {"priced": "config", "mapped": "price_map"},
        "config": {"priced": "config", "mapped": "price_map"},
        "resumed": {"priced": "config", "mapped": store_runs.PENDING_SOURCE},  # the engine settles it again
        "litellm": False,
    }
