"""Run ownership: a run whose process died shows as stale; a live owner blocks a second resume."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from core.config.schema import parse_config
from core.errors import ResumeError
from core.run.liveness import owner_alive, shown_status, this_process
from core.run.plan import RunRequest, plan_run
from store import connect, write
from store import datasets as store_ds
from store import runs as store_runs


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_owner_alive_and_shown_status():
    host = socket.gethostname()
    assert owner_alive(this_process()) is True
    assert owner_alive(f"{host}:{_dead_pid()}") is False
    assert owner_alive("elsewhere:1") is None and owner_alive(None) is None
    assert shown_status("running", f"{host}:{_dead_pid()}") == "stale"
    assert shown_status("running", "elsewhere:1") == "running"
    assert shown_status("finished", f"{host}:{_dead_pid()}") == "finished"


def test_a_live_owner_blocks_resume_and_a_dead_one_does_not(tmp_path):
    db = connect(tmp_path / "assay.db")
    with write(db):
        ds = store_ds.create_dataset(db, "d")
        store_ds.insert_cases(db, ds, [{"id": "a", "input_text": "q", "expected_output": "x"}])
    cfg = parse_config({"models": {"m": {"model": "openai/demo-strong", "api_base": "http://127.0.0.1:9/v1"}}})
    plan = plan_run(db, cfg, RunRequest(dataset="d", models=["m"]))
    assert store_runs.get_run(db, plan.run_id)["owner"] == this_process()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with write(db):
            db.execute("UPDATE runs SET owner = ? WHERE id = ?", [f"{socket.gethostname()}:{sleeper.pid}", plan.run_id])
        with pytest.raises(ResumeError, match="still running in process"):
            plan_run(db, cfg, RunRequest(resume=plan.run_id))
    finally:
        sleeper.kill()
        sleeper.wait()
    resumed = plan_run(db, cfg, RunRequest(resume=plan.run_id))
    assert resumed.resumed and store_runs.get_run(db, plan.run_id)["owner"] == this_process()
