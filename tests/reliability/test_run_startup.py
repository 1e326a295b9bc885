"""What a run pays before its calls go is recorded (`runs.startup_s`) and the Run screen's estimate
adds it: measured here in a fresh process, where the first in-process run pays litellm's import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys
from demo.serve import DemoServer
from core.config.schema import parse_config
from core.run.engine import RunRequest, run_sync
from core.run.estimate import estimate_run
from core.models.provider import import_seconds
from store import connect, write
from store import datasets as store_ds

assert "litellm" not in sys.modules
db = connect("assay.db")
with write(db):
    store_ds.insert_cases(db, store_ds.create_dataset(db, "d"),
                          [{"id": f"c{i}", "input_text": f"case {i}"} for i in range(4)])
out = {}
with DemoServer(latency_ms=0, latency_scale=0) as srv:
    cfg = parse_config({"run": {"workers": 1}, "models": {"m": {
        "model": "openai/demo-fast", "api_base": srv.base_url, "input_price_per_1m": 1.0, "output_price_per_1m": 2.0}}})
    out["before"] = estimate_run(db, cfg, dataset="d", models=["m"], prices=False).startup_s
    runs = [run_sync("assay.db", cfg, RunRequest(dataset="d", models=["m"], use_cache=False)).run_id for _ in range(2)]
    out["imported"] = import_seconds()
    out["after"] = estimate_run(db, cfg, dataset="d", models=["m"], prices=False).startup_s
out["recorded"] = [db.execute("SELECT startup_s FROM runs WHERE id = ?", [r]).fetchone()[0] for r in runs]
print(json.dumps(out))
"""

ESTIMATE = """
import json
from core.config.schema import parse_config
from core.run.estimate import estimate_run
from store import connect
cfg = parse_config({"run": {"workers": 1}, "models": {"m": {"model": "openai/demo-fast", "api_base": "http://h/v1",
                    "input_price_per_1m": 1.0, "output_price_per_1m": 2.0}}})
print(json.dumps(estimate_run(connect("assay.db"), cfg, dataset="d", models=["m"], prices=False).startup_s))
"""


def _child(code: str, cwd: Path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_first_in_process_run_records_litellms_import_and_the_estimate_adds_it(tmp_path):
    got = _child(CHILD, tmp_path)
    assert got["before"] is None  # nothing measured yet: the screen says the time is the calls' only
    first, second = got["recorded"]
    assert first == got["imported"] and first > 0.5  # this run paid the import (seconds here)
    assert second is None  # the next one in the same process paid nothing
    assert got["after"] == 0.0  # ...and this process's estimate knows it
    # A new process (the next `assay`) has not imported litellm: its estimate adds the import.
    assert _child(ESTIMATE, tmp_path) == first
