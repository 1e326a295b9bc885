"""The demo's run history (`assay demo` records it so Trends and the Run estimate have figures on
first open) is made at the demo server's own latencies, over real HTTP through the real engine."""

from __future__ import annotations

from pathlib import Path

import httpx

from core.config.schema import load_config
from core.run.estimate import estimate_run
from core.run.history import list_runs
from core.trends.baselines import list_baselines
from core.workspace import Workspace
from demo.serve.demo_models import MODELS
from demo.serve.process import serve_process
from demo.workspace import CANDIDATE_MODELS, HISTORY, HISTORY_DATASET, WORKSPACE_MODELS, build_demo_workspace

SCALE = 0.25  # demo-strong 100 ms, demo-flaky 37.5 ms, demo-fast 20 ms


def test_history_is_recorded_at_the_servers_latency_and_feeds_the_run_estimate(tmp_path: Path):
    # In a process of its own: in this one it would answer late on a loaded machine (demo.serve.process).
    proc, root_url = serve_process(tmp_path, ["--latency-scale", str(SCALE)])
    try:
        root = build_demo_workspace(tmp_path / "demo", root_url + "/v1", history=True)
        assert httpx.get(root_url + "/_assay/config").json()["latency_scale"] == SCALE  # kept
    finally:
        proc.terminate()
        proc.wait(10)
    ws = Workspace(root=root, db_path=root / "assay.db")
    db = ws.connect()
    try:
        runs = list_runs(db)
        assert len(runs) == len(HISTORY) and {r.status for r in runs} == {"finished"}
        [baseline] = list_baselines(db)
        assert baseline.run_id == runs[-1].id  # the first recorded (newest first; ids of one second sort at random)
        est = estimate_run(db, load_config(ws.config_path), dataset=HISTORY_DATASET, models=CANDIDATE_MODELS)
    finally:
        db.close()
    served = {name: MODELS[demo_model].latency_ms * SCALE for name, demo_model, *_ in WORKSPACE_MODELS}
    p50 = {}
    for model in est.models:
        assert model.measured is not None, model.model
        p50[model.model] = model.measured.latency_p50_ms
        # Kernel-timed in ticks of 4 ms: at least the demo model's latency (not the 0 ms of an
        # instant server), with room for a loaded machine above it.
        assert served[model.model] - 4 <= p50[model.model] <= served[model.model] + 100, (model.model, p50)
    assert p50["strong"] > p50["flaky"] > p50["fast"]
    assert est.duration_s is not None and est.duration_s > 0
