"""`assay run` / `assay runs` as a user runs them: a subprocess against an in-process DemoServer.
Exit codes, stdout/stderr split, --json, resume, SIGINT, and clean litellm shutdown."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
from runner_helpers import TWO, make_dataset, rows, toml_text  # noqa: E402


ASSAY = str(Path(sys.executable).parent / "assay")


pytestmark = pytest.mark.usefixtures("clean_srv")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ASSAY_DB", None)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["PYTHONWARNINGS"] = "default"  # make ResourceWarnings (unclosed sessions) visible
    return env


def _ws(tmp_path: Path, base: str, n: int = 6, models=None, **run) -> Path:
    (tmp_path / "assay.toml").write_text(toml_text(base, models or TWO, **run))
    make_dataset(tmp_path / "assay.db", n)
    return tmp_path


def assay(ws: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([ASSAY, *args], cwd=ws, env=_env(), capture_output=True, text=True, timeout=timeout)


def test_run_prints_table_on_stdout_progress_on_stderr_and_closes_cleanly(srv, tmp_path):
    ws = _ws(tmp_path, srv.base_url)
    p = assay(ws, "run", "--dataset", "d", "--models", "strong,fast")
    assert p.returncode == 0, p.stderr
    header = p.stdout.splitlines()[0].split()
    assert header[:6] == ["model", "n", "ok", "errors", "skipped", "cached"] and header[-1] == "cost"
    strong = next(line for line in p.stdout.splitlines() if line.startswith("strong")).split()
    assert strong[1:3] == ["6", "6"] and strong[-1] == "n/a"  # unknown cost is n/a, never 0
    assert "[12/12] 100%" in p.stderr and "\r" not in p.stderr  # not a TTY: plain lines
    last = p.stderr.strip().splitlines()[-1]  # the run states its throughput: 12 calls over its elapsed time
    assert re.search(r"finished: 12/12 calls, .* \(\d+\.\d calls/s\)$", last), last
    assert "spend unknown (no price)," in last  # no model has a price: not "≥$0.0000"
    assert "Unclosed" not in p.stderr and "ResourceWarning" not in p.stderr, p.stderr
    assert srv.stats()["requests"] == 12


def test_json_output_and_runs_listing(srv, tmp_path):
    ws = _ws(tmp_path, srv.base_url)
    p = assay(ws, "run", "-d", "d", "-m", "strong", "--repeat", "2", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["status"] == "finished" and out["total"] == 12 and out["models"]["strong"]["ok"] == 12
    assert out["models"]["strong"]["cost_usd"] is None
    listed = json.loads(assay(ws, "runs", "--json").stdout)
    assert listed[0]["id"] == out["run_id"] and listed[0]["n_results"] == 12 and listed[0]["models"] == ["strong"]
    assert list(listed[0]) == ["id", "dataset", "dataset_version", "prompt_name", "repeats", "status", "created_at",
                               "finished_at", "n_results", "models", "failed", "tags"]
    table = assay(ws, "runs").stdout
    assert out["run_id"] in table and "finished" in table


def test_config_and_input_errors_exit_2(srv, tmp_path):
    ws = _ws(tmp_path, srv.base_url)
    p = assay(ws, "run", "-d", "d", "-m", "nope")
    assert p.returncode == 2 and "assay.toml" in p.stderr and "unknown model 'nope'" in p.stderr
    p = assay(ws, "run", "-d", "missing", "-m", "strong")
    assert p.returncode == 2 and "no dataset named 'missing'" in p.stderr
    p = assay(ws, "run", "--resume", "r-nope", "-m", "strong")
    assert p.returncode == 2
    (ws / "assay.toml").write_text(toml_text(srv.base_url, {"strong": {"model": "x", "temperature": 1.0}}))
    p = assay(ws, "run", "-d", "d", "-m", "strong")
    assert p.returncode == 2 and "models.strong.temperature" in p.stderr
    assert "Traceback" not in p.stderr


def _marked_processes(mark: str) -> list[int]:
    """Live processes whose environment carries `mark` (a worker inherits its parent's)."""
    out = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"ASSAY_TEST_MARK={mark}".encode() in (entry / "environ").read_bytes():
                out.append(int(entry.name))
        except OSError:
            pass
    return out


def test_the_requests_go_from_a_worker_process_that_never_outlives_the_command(srv, tmp_path):
    """`assay run` starts its worker before its own imports and sends even a small run's requests
    from it (the command itself never imports litellm); whether the run finishes or fails before
    it starts, no worker process is left behind."""
    ws = _ws(tmp_path, srv.base_url, workers=1)  # one worker whatever ASSAY_TEST_WORKERS says
    env = dict(_env(), ASSAY_TEST_MARK="finished")
    p = subprocess.run([ASSAY, "run", "-d", "d", "-m", "strong,fast"], cwd=ws, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "= 12 calls, concurrency 8, requests sent from 1 worker process\n" in p.stderr
    assert srv.stats()["requests"] == 12 and _marked_processes("finished") == []
    env["ASSAY_TEST_MARK"] = "failed"
    p = subprocess.run([ASSAY, "run", "-d", "missing", "-m", "strong"], cwd=ws, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2 and "no dataset named 'missing'" in p.stderr
    assert _marked_processes("failed") == []  # killed at once, still importing litellm


def test_infrastructure_errors_above_the_rate_exit_3(srv, tmp_path):
    ws = _ws(tmp_path, srv.base_url, n=8, breaker_threshold=2)
    srv.configure(faults=[{"kind": "quota", "model": "demo-fast"}])
    p = assay(ws, "run", "-d", "d", "-m", "strong,fast", "--max-error-rate", "0.2")
    assert p.returncode == 3, p.stderr
    assert "exceed --max-error-rate" in p.stderr and "circuit breaker open" in p.stderr
    assert "quota_exhausted" in p.stderr
    p = assay(ws, "run", "-d", "d", "-m", "strong,fast", "--max-error-rate", "0.6", "--no-cache")
    assert p.returncode == 0, p.stderr


def test_after_an_outage_the_failed_calls_are_sent_again_with_retry_errors(srv, tmp_path):
    ws = _ws(tmp_path, srv.base_url, n=8, breaker_threshold=2)
    p = assay(ws, "run", "--retry-errors")
    assert p.returncode == 2 and "give the run with --resume RUN_ID" in p.stderr
    srv.configure(faults=[{"kind": "quota", "model": "demo-fast"}])
    p = assay(ws, "run", "-d", "d", "-m", "strong,fast", "--max-error-rate", "0.2", "--json")
    assert p.returncode == 3, p.stderr
    run_id = json.loads(p.stdout)["run_id"]
    hint = f"to send the 8 failed calls again once the cause is fixed: assay run --resume {run_id} --retry-errors"
    assert hint in p.stderr
    assert json.loads(assay(ws, "runs", "--json").stdout)[0]["failed"] == 8
    assert re.search(rf"{run_id} .* 16 +8$", assay(ws, "runs").stdout, re.M)
    srv.configure(faults=[])
    p = assay(ws, "run", "--resume", run_id, "--retry-errors", "--max-error-rate", "0.2")
    assert p.returncode == 0, p.stderr
    assert "8 already done, 8 failed calls sent again" in p.stderr and "failed call" not in p.stderr.split("\n", 1)[1]
    assert rows(ws / "assay.db", "SELECT status, COUNT(*) FROM results GROUP BY status") == [("ok", 16)]
    assert json.loads(assay(ws, "runs", "--json").stdout)[0]["failed"] == 0


def test_resume_refuses_changed_config_with_exit_2(srv, tmp_path):
    ws = _ws(tmp_path, srv.base_url, n=3)
    out = json.loads(assay(ws, "run", "-d", "d", "-m", "strong", "--json").stdout)
    (ws / "assay.toml").write_text(toml_text(srv.base_url, TWO, temperature=0.9))
    p = assay(ws, "run", "--resume", out["run_id"])
    assert p.returncode == 2 and "changed" in p.stderr and "shared.temperature" in p.stderr


def _start(ws: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([ASSAY, *args], cwd=ws, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for_start(proc: subprocess.Popen, timeout: float = 60) -> str:
    """Read stderr until the run's first line; returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.startswith(("run r-", "resuming r-")):
            return line
        if not line and proc.poll() is not None:
            raise AssertionError(f"exited early: {proc.returncode} {proc.stderr.read()}")
    raise AssertionError("run never started")


def _wait_for_requests(srv, n: int = 1, timeout: float = 60) -> None:
    """Until the server has seen n requests: the run's first line comes before its calls, which
    wait for its worker processes' start-up (ASSAY_TEST_WORKERS) when it has some."""
    deadline = time.monotonic() + timeout
    while srv.stats()["requests"] < n:
        assert time.monotonic() < deadline, "no request reached the server"
        time.sleep(0.02)


def test_sigint_exits_130_marks_interrupted_and_prints_resume(srv, tmp_path):
    ws = _ws(tmp_path, srv.base_url, n=40, concurrency=4)
    srv.configure(latency_ms=100)
    proc = _start(ws, "run", "-d", "d", "-m", "strong,fast")
    first = _wait_for_start(proc)
    run_id = first.split()[1].rstrip(":")
    _wait_for_requests(srv)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert f"assay run --resume {run_id}" in err
    assert rows(ws / "assay.db", "SELECT status FROM runs") == [("interrupted",)]
    done = rows(ws / "assay.db", "SELECT COUNT(*) FROM results")[0][0]
    assert 0 < done < 80
    p = assay(ws, "run", "--resume", run_id)
    assert p.returncode == 0, p.stderr
    assert rows(ws / "assay.db", "SELECT COUNT(*), COUNT(DISTINCT case_id || model) FROM results") == [(80, 80)]
    assert rows(ws / "assay.db", "SELECT status FROM runs") == [("finished",)]


def test_second_sigint_quits_at_once(srv, tmp_path):
    ws = _ws(tmp_path, srv.base_url, n=20, concurrency=4, timeout_s=60)
    srv.configure(faults=[{"kind": "hang"}])
    proc = _start(ws, "run", "-d", "d", "-m", "strong")
    _wait_for_start(proc)
    _wait_for_requests(srv, 4)  # hanging on the wire: the first Ctrl+C waits for them
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert time.monotonic() - t0 < 2
    assert proc.returncode == 130 and "assay run --resume" in err
    assert rows(ws / "assay.db", "PRAGMA integrity_check") == [("ok",)]
    assert rows(ws / "assay.db", "SELECT status FROM runs") == [("interrupted",)]
