"""kill -9 at random moments, then resume: exactly cases x models x repeats rows, no duplicates,
an intact database. Each trial is a real `assay run` subprocess killed mid-run."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_helpers import make_dataset, rows, toml_text

from demo.serve import DemoServer

ASSAY = str(Path(sys.executable).parent / "assay")
CASES, MODELS, REPEATS = 100, ("strong", "fast"), 2
TOTAL = CASES * len(MODELS) * REPEATS
TRIALS = 10


def _env() -> dict[str, str]:
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    env.pop("ASSAY_DB", None)
    return env


def _started(proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.startswith(("run r-", "resuming r-")):
            return line.split()[1].rstrip(":")
        if not line and proc.poll() is not None:
            raise AssertionError(f"exited early ({proc.returncode})")
    raise AssertionError("run never started")


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume(tmp_path):
    rng = random.Random(20261128)
    models = {"strong": {"model": "openai/demo-strong"}, "fast": {"model": "openai/demo-fast"}}
    with DemoServer(latency_ms=60, latency_jitter_ms=80, seed=1) as srv:
        srv.configure(faults=[{"kind": "500", "rate": 0.1}])  # retries in flight when the kill lands
        (tmp_path / "assay.toml").write_text(toml_text(srv.base_url, models, concurrency=4, backoff_base_s=0.05))
        make_dataset(tmp_path / "assay.db", CASES)
        db = tmp_path / "assay.db"
        run_id = None
        counts = []
        for trial in range(TRIALS):
            args = ["run", "-d", "d", "-m", ",".join(MODELS), "--repeat", str(REPEATS)] if run_id is None \
                else ["run", "--resume", run_id]
            proc = subprocess.Popen([ASSAY, *args], cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            started = _started(proc)
            run_id = run_id or started
            assert started == run_id
            # litellm's import can take seconds under load: kill only once this process is writing.
            before = rows(db, "SELECT COUNT(*) FROM results")[0][0]
            deadline = time.monotonic() + 60
            while rows(db, "SELECT COUNT(*) FROM results")[0][0] == before and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.5))
            assert proc.poll() is None, f"trial {trial}: the run ended before the kill"
            proc.kill()
            proc.wait(10)
            n = rows(db, "SELECT COUNT(*) FROM results")[0][0]
            counts.append(n)
            assert n < TOTAL
            if trial == 0:  # the killed run's process is gone: listed as stale, not running
                listed = subprocess.run([ASSAY, "runs", "--json"], cwd=tmp_path, env=_env(), capture_output=True,
                                        text=True, timeout=60)
                assert [r["status"] for r in json.loads(listed.stdout)] == ["stale"]
        assert counts == sorted(counts) and counts[-1] > counts[0]  # progress survives each kill
        # Not about the error rate: one call in ~100,000 meets 5 injected 500s in a row (seen once in CI,
        # exit 3); its error row is still the call's one terminal row.
        final = subprocess.run([ASSAY, "run", "--resume", run_id, "--concurrency", "32", "--max-error-rate", "0.05"],
                               cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert rows(db, "SELECT COUNT(*), COUNT(DISTINCT case_id || '/' || model || '/' || repeat) FROM results") == \
        [(TOTAL, TOTAL)]
    assert rows(db, "SELECT DISTINCT run_id FROM results") == [(run_id,)]
    assert rows(db, "SELECT status FROM runs") == [("finished",)]
    # Every scored row is a committed ok result: no orphan verdicts for rows that were lost.
    assert rows(db, "SELECT COUNT(*) FROM scores s LEFT JOIN results r ON r.id = s.result_id "
                    "WHERE r.id IS NULL OR r.status != 'ok'") == [(0,)]
