"""Requests sent from worker processes (`[run] workers = 2`): the parent's promises hold across
them. Concurrency and rpm on the wire are global, one breaker per model for every worker, one
terminal row per call, cancel graceful and immediate, a dead worker fails the run (resume
finishes it), and the workers never outlive a parent killed with -9.

Every other reliability test runs with workers too under ASSAY_TEST_WORKERS=2 (their time bounds
start at the server's first request, after the workers' litellm import); that mode takes a few
minutes more (two imports per run), so it is for checking, not CI. By default ([run] workers =
"auto") small runs start no worker process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from runner_helpers import TWO, config, make_dataset, max_in_window, rows, run_engine, toml_text

from core.config.schema import parse_config
from core.run.engine import CancelToken, RunRequest, run, run_sync
from core.run.events import ResultEvent, RunStarted
from core.run.plan import plan_run, workers_for
from core.run.worker_start import StartedWorkers
from core.run.workers import (AUTO_MIN_CALLS, AUTO_MIN_CALLS_WARM, AUTO_MIN_CONCURRENCY, WorkerLost, WorkerPool,
                              auto_workers, provider_sets_pace)
from store import connect
from store import runs as store_runs

pytestmark = pytest.mark.usefixtures("clean_srv")


def _worker_pids(parent: int) -> list[int]:
    """This process's worker processes, from /proc: its worker child and the workers it forked."""
    found: dict[int, int] = {}  # pid -> parent pid
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"core.run.workers" in cmdline:
            found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    first = [pid for pid, ppid in found.items() if ppid == parent]
    return first + [pid for pid, ppid in found.items() if ppid in first]


def test_concurrency_is_global_and_one_row_per_call(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 40)
    srv.configure(latency_ms=40)
    fin = run_engine(db, config(srv.base_url, TWO, concurrency=5, workers=2), list(TWO))
    assert fin.status == "finished" and fin.ok == 80
    assert srv.stats()["max_in_flight"] == 5
    # The calls' own time leaves out the workers' litellm import (seconds), which the run's includes;
    # `assay run` states its calls/s over it. 80 calls, 5 at a time, 40 ms each: at least 0.64 s.
    assert fin.calls_s is not None and 0.6 < fin.calls_s < fin.elapsed_s - 1.0
    # What the run paid before its calls (the workers' import) is recorded for the next estimate.
    [(startup,)] = rows(db, "SELECT startup_s FROM runs")
    assert startup > 1.0 and abs(startup - (fin.elapsed_s - fin.calls_s)) < 0.1
    assert rows(db, "SELECT COUNT(*), COUNT(DISTINCT case_id || model) FROM results") == [(80, 80)]
    assert rows(db, "SELECT COUNT(*) FROM results WHERE latency_ms IS NULL OR output IS NULL") == [(0,)]
    assert _worker_pids(os.getpid()) == []  # stopped with the run


def test_rpm_pacing_holds_on_the_wire_across_workers(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 12)
    srv.configure(rpm_limit=240)
    cfg = config(srv.base_url, {"strong": {"model": "openai/demo-strong", "rpm": 240}}, concurrency=8, workers=2)
    run_engine(db, cfg, ["strong"])
    st = srv.stats()
    times = st["arrivals"]
    assert len(times) == 12 and st["by_status"] == {"200": 12}
    assert max_in_window(times, 1.0) <= 4 + 2
    assert times[-1] - times[0] >= (12 - 2) * 0.25 - 0.1  # the IPC hop may jitter a start a little


def test_the_breaker_is_shared_by_every_worker(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 10)
    srv.configure(faults=[{"kind": "quota"}])
    cfg = config(srv.base_url, {"strong": {"model": "openai/demo-strong", "max_concurrency": 1}},
                 breaker_threshold=3, workers=2)
    events: list = []
    run_engine(db, cfg, ["strong"], events=events)
    assert srv.stats()["requests"] == 3
    got = rows(db, "SELECT status, error_class, attempts, COUNT(*) FROM results GROUP BY 1, 2, 3 ORDER BY 1")
    assert got == [("error", "quota_exhausted", 1, 3), ("skipped", "quota_exhausted", 0, 7)]
    assert [type(e).__name__ for e in events].count("BreakerOpened") == 1


def test_retry_after_and_classes_come_back_from_the_worker(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 1)
    srv.configure(faults=[{"kind": "429", "first_n": 1, "retry_after": 1}])
    run_engine(db, config(srv.base_url, workers=2), ["strong"])
    arrivals = srv.stats()["arrivals"]
    assert len(arrivals) == 2 and 1.0 - 0.05 <= arrivals[1] - arrivals[0] <= 2.0
    assert rows(db, "SELECT outcome, error_class, http_status, wait_s FROM attempts ORDER BY attempt") == [
        ("error", "rate_limited", 429, 1.0), ("ok", None, 200, None)]


def test_graceful_cancel_lets_in_flight_calls_finish_then_resume(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 60)
    srv.configure(latency_ms=100)
    cfg = config(srv.base_url, TWO, concurrency=4, workers=2)
    token = CancelToken()
    seen: list = []

    def sink(e):
        seen.append(e)
        if isinstance(e, ResultEvent) and sum(isinstance(x, ResultEvent) for x in seen) == 10:
            threading.Thread(target=token.cancel).start()

    fin = run_sync(db, cfg, RunRequest(dataset="d", models=["strong", "fast"]), sink=sink, cancel=token)
    assert fin.status == "interrupted" and 10 <= fin.done < 120
    assert srv.stats()["by_status"].get("200") == fin.done  # every answered request has its row
    again = run_sync(db, cfg, RunRequest(resume=fin.run_id))
    assert again.status == "finished"
    assert rows(db, "SELECT COUNT(*), COUNT(DISTINCT case_id || model) FROM results") == [(120, 120)]


def test_second_cancel_stops_at_once(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 10)
    srv.configure(faults=[{"kind": "hang"}])
    token = CancelToken()
    sent = threading.Event()

    def watch():  # cancel twice once requests hang on the wire
        deadline = time.monotonic() + 60
        while srv.stats()["requests"] < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        sent.set()
        token.cancel()
        token.cancel()

    threading.Thread(target=watch, daemon=True).start()
    fin = run_sync(db, config(srv.base_url, timeout_s=30, concurrency=4, workers=2),
                   RunRequest(dataset="d", models=["strong"]), sink=None, cancel=token, grace_s=20)
    assert sent.is_set()
    assert fin.status == "interrupted" and fin.done == 0
    assert rows(db, "SELECT COUNT(*) FROM results") == [(0,)]


def test_a_dead_worker_fails_the_run_and_resume_finishes_it(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 40)
    srv.configure(latency_ms=50)
    cfg = config(srv.base_url, concurrency=4, workers=2)
    killed: list[int] = []

    def sink(e):
        if isinstance(e, ResultEvent) and not killed:
            killed.extend(_worker_pids(os.getpid())[:1])
            os.kill(killed[0], signal.SIGKILL)

    with pytest.raises(WorkerLost, match="exited unexpectedly"):
        run_sync(db, cfg, RunRequest(dataset="d", models=["strong"]), sink=sink)
    (run_id, status), = rows(db, "SELECT id, status FROM runs")
    assert status == "failed"
    done = rows(db, "SELECT COUNT(*) FROM results")[0][0]
    assert 1 <= done < 40
    fin = run_sync(db, cfg, RunRequest(resume=run_id))
    assert fin.status == "finished"
    assert rows(db, "SELECT COUNT(*), COUNT(DISTINCT case_id) FROM results") == [(40, 40)]


def _cpu_s(pid: int) -> float:
    """A process's own CPU time so far (user + system), from /proc; 0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_forked_workers_cpu_reaches_the_callers_accounts(srv, tmp_path):
    """The first worker reaps the workers it forked, so their CPU time is counted where `time`
    and a benchmark's wait4 look for it (it was lost when the kernel reaped them on its own)."""
    (tmp_path / "assay.toml").write_text(toml_text(srv.base_url, TWO, concurrency=16, workers=2))
    make_dataset(tmp_path / "assay.db", 300)
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    env.pop("ASSAY_DB", None)
    before = os.times()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "assay"), "run", "-d", "d", "-m", "strong,fast",
                             "--no-cache"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: dict[int, float] = {}  # pid -> the most CPU seen: each sample is at most its final figure
    workers: list[int] = []
    while proc.poll() is None:
        workers = workers if len(workers) == 2 else _worker_pids(proc.pid)
        for pid in [proc.pid, *workers]:
            seen[pid] = max(seen.get(pid, 0.0), _cpu_s(pid))
        time.sleep(0.02)
    assert proc.returncode == 0
    after = os.times()
    counted = after.children_user + after.children_system - before.children_user - before.children_system
    assert len(workers) == 2 and len(seen) == 3  # the parent, the first worker and its fork
    assert seen[workers[1]] > 0.1  # the fork's share of the calls
    assert counted >= sum(seen.values()) - 0.05  # without the fork's it would be short of that


@pytest.mark.slow
def test_kill_9_of_the_parent_stops_its_workers_and_resume_completes(srv, tmp_path):
    srv.configure(latency_ms=50)
    (tmp_path / "assay.toml").write_text(toml_text(srv.base_url, TWO, concurrency=8, workers=2))
    make_dataset(tmp_path / "assay.db", 100)
    db = tmp_path / "assay.db"
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    env.pop("ASSAY_DB", None)
    assay = str(Path(sys.executable).parent / "assay")
    proc = subprocess.Popen([assay, "run", "-d", "d", "-m", "strong,fast"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (not db.exists() or rows(db, "SELECT COUNT(*) FROM results")[0][0] < 20):
        time.sleep(0.05)
    workers = _worker_pids(proc.pid)
    assert len(workers) == 2
    # One imported litellm and forked the other.
    assert Path(f"/proc/{workers[1]}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(workers[0])
    proc.kill()
    proc.wait(10)
    def alive() -> list[int]:  # a worker that exited (even unreaped) has no command line
        out = []
        for pid in workers:
            try:
                if b"core.run.workers" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    out.append(pid)
            except OSError:
                pass
        return out

    deadline = time.monotonic() + 15
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)  # they exit on their closed stdin
    assert alive() == []
    settled = srv.stats()["requests"]
    time.sleep(0.3)
    assert srv.stats()["requests"] == settled  # nothing keeps calling the provider
    (run_id,), = rows(db, "SELECT id FROM runs")
    final = subprocess.run([assay, "run", "--resume", run_id, "--workers", "2"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert rows(db, "SELECT COUNT(*), COUNT(DISTINCT case_id || '/' || model) FROM results") == [(200, 200)]


def test_a_worker_that_does_not_exit_after_the_run_is_killed_not_waited_for():
    """The first worker waits for its forks before it exits; one stuck in its own shutdown must
    not hold the command up: stopping without a kill waits `wait_s`, then kills the group."""
    started = StartedWorkers(1)
    started.stop()  # the real worker: replaced by one that never exits
    started.proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    stuck = started.proc
    t0 = time.monotonic()
    started.stop(kill=False, wait_s=0.3)
    assert 0.3 <= time.monotonic() - t0 < 3
    assert stuck.returncode == -signal.SIGKILL and started.proc is None


def test_workers_started_early_for_fewer_are_started_again_for_the_run(srv, tmp_path):
    """The CLI starts its workers before it knows the run's count (`StartedWorkers`); a run that
    needs more (a resumed run's own count) replaces them rather than running with fewer."""
    db_path = tmp_path / "a.db"
    make_dataset(db_path, 10)
    started = StartedWorkers(1)
    early = started.proc.pid
    events: list = []
    db = connect(db_path)
    try:
        fin = asyncio.run(run(db, config(srv.base_url, TWO, concurrency=4), RunRequest(dataset="d", models=list(TWO),
                              workers=2), sink=events.append, pool=WorkerPool(started=started)))
    finally:
        db.close()
    assert fin.status == "finished" and fin.ok == 20
    assert started.proc is None and not Path(f"/proc/{early}").exists()  # stopped and reaped
    [begun] = [e for e in events if isinstance(e, RunStarted)]
    assert (begun.workers, begun.remote) == (2, True)
    assert rows(db_path, "SELECT COUNT(*), COUNT(DISTINCT case_id || model) FROM results") == [(20, 20)]


def test_the_start_up_counts_from_when_the_caller_started_the_workers(srv, tmp_path):
    """`assay run` starts its workers before its own imports: the run's start-up (`runs.startup_s`,
    what the estimate adds) begins there, not when the engine starts."""
    db_path = tmp_path / "a.db"
    make_dataset(db_path, 4)
    started = StartedWorkers(2)
    started.t0 -= 30.0  # as if started 30 s before the run
    db = connect(db_path)
    try:
        fin = asyncio.run(run(db, config(srv.base_url, TWO), RunRequest(dataset="d", models=list(TWO), workers=2),
                              pool=WorkerPool(started=started)))
    finally:
        db.close()
    [(startup,)] = rows(db_path, "SELECT startup_s FROM runs WHERE id = ?", (fin.run_id,))
    assert fin.ok == 8 and 30.0 <= startup < 60.0 and fin.elapsed_s >= 30.0


def test_auto_uses_every_core_only_for_a_run_that_repays_the_workers_start():
    assert auto_workers(AUTO_MIN_CALLS, AUTO_MIN_CONCURRENCY, cores=4) == 4
    assert auto_workers(AUTO_MIN_CALLS - 1, 128, cores=4) == 1  # too short: the imports cost more
    assert auto_workers(100_000, AUTO_MIN_CONCURRENCY - 1, cores=4) == 1  # the provider is the bottleneck
    assert auto_workers(100_000, 128, cores=0) == 1
    # A measured latency: 64 in flight at 200 ms is 320 calls/s, which one worker sends; at 50 ms, 1,280.
    assert provider_sets_pace(64, latency_ms=200)
    assert not provider_sets_pace(64, latency_ms=50)


@pytest.fixture
def cold(monkeypatch):
    """`auto` as a process that has not imported litellm decides (the suite's may have)."""
    monkeypatch.setattr("core.run.plan.import_seconds", lambda: None)


def test_the_count_is_decided_before_planning_recorded_and_reused_by_a_resume(tmp_path, cold):
    db_path = tmp_path / "a.db"
    make_dataset(db_path, 150)
    cfg = parse_config({"run": {"workers": "auto", "concurrency": 64},
                        "models": {name: {"model": f"openai/{name}"} for name in ("a", "b", "c", "d")}})
    db = connect(db_path)
    try:
        big = RunRequest(dataset="d", models=["a", "b", "c", "d"])  # 600 calls at concurrency 64
        assert workers_for(db, cfg, big) == auto_workers(600, 64) == (os.cpu_count() or 1)
        assert workers_for(db, cfg, RunRequest(dataset="d", models=["a"])) == 1  # 150 calls
        assert workers_for(db, cfg, RunRequest(dataset="d", models=["a"], workers=3)) == 3
        plan = plan_run(db, cfg, RunRequest(dataset="d", models=["a"], workers=3))  # starts no process
        assert plan.workers == 3
        assert store_runs.get_run(db, plan.run_id)["config"]["operational"]["run"]["workers"] == 3
        assert workers_for(db, cfg, RunRequest(resume=plan.run_id)) == 3  # the run's own, not auto's 1
        assert workers_for(db, cfg, RunRequest(resume=plan.run_id, workers=1)) == 1  # unless given
    finally:
        db.close()


@pytest.mark.slow
def test_ctrl_c_twice_while_the_workers_start_exits_130(srv, tmp_path):
    """The first Ctrl+C ends the run at once (nothing in flight yet); the second lands while the
    process prints and exits, where Python's own handling would kill it with SIGINT instead."""
    srv.configure(faults=[{"kind": "hang"}])
    # Unpriced models: their price-map lookup (a worker's, after its litellm import) no longer
    # holds the run's start, so the first line comes while the workers still import.
    (tmp_path / "assay.toml").write_text(toml_text(srv.base_url, TWO, concurrency=4, workers=2))
    make_dataset(tmp_path / "assay.db", 20)
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    env.pop("ASSAY_DB", None)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "assay"), "run", "-d", "d", "-m", "strong"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    while not proc.stderr.readline().startswith("run r-"):
        assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "assay run --resume" in err and srv.stats()["requests"] == 0
    assert rows(tmp_path / "assay.db", "SELECT status FROM runs") == [("interrupted",)]


def test_with_workers_this_process_never_imports_litellm(srv, tmp_path):
    # The price map is read by a worker; the parent plans, dispatches, writes and scores without it.
    models = {"priced": {"model": "openai/demo-fast", "input_price_per_1m": 1.0, "output_price_per_1m": 2.0},
              "mapped": {"model": "openai/demo-strong"}}
    (tmp_path / "assay.toml").write_text(toml_text(srv.base_url, models, concurrency=4, workers=2))
    make_dataset(tmp_path / "assay.db", 6)
    script = ("import json, sys\n"
              "from core.config.schema import load_config\n"
              "from core.run.engine import RunRequest, run_sync\n"
              "fin = run_sync('assay.db', load_config(__import__('pathlib').Path('assay.toml')),"
              " RunRequest(dataset='d', models=['priced', 'mapped']))\n"
              "print(json.dumps({'ok': fin.ok, 'litellm': 'litellm' in sys.modules,"
              " 'sources': {m.model: m.cost_source for m in fin.models}}))\n")
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    # "mapped" was planned as pending and settled by the worker's answer, in the figures and the row.
    assert got == {"ok": 12, "litellm": False, "sources": {"priced": "config", "mapped": "unknown"}}
    [(recorded, config)] = rows(tmp_path / "assay.db", "SELECT cost_source, config_json FROM runs")
    assert json.loads(recorded) == {"priced": "config", "mapped": "unknown"}
    assert json.loads(config)["cost_source"] == {"priced": "config", "mapped": "unknown"}


def test_a_run_stopped_before_its_workers_priced_it_is_settled_by_a_resume_without_them(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 4)
    cfg = config(srv.base_url, {"mapped": {"model": "openai/demo-strong"}}, concurrency=4, workers=2)
    token = CancelToken()
    token.cancel()  # stopped before any call: the workers never answer the price question
    stopped = run_sync(db, cfg, RunRequest(dataset="d", models=["mapped"]), cancel=token)
    assert stopped.status == "interrupted" and stopped.done == 0
    assert [m.cost_source for m in stopped.models] == ["pending"]
    assert rows(db, "SELECT cost_source FROM runs") == [('{"mapped":"pending"}',)]
    fin = run_sync(db, cfg, RunRequest(resume=stopped.run_id, workers=1))  # priced in this process
    assert fin.status == "finished" and [m.cost_source for m in fin.models] == ["unknown"]
    assert rows(db, "SELECT cost_source FROM runs") == [('{"mapped":"unknown"}',)]


def test_auto_goes_by_how_fast_the_models_answered_in_an_earlier_run(tmp_path, cold):
    db_path = tmp_path / "a.db"
    make_dataset(db_path, 300)
    cfg = parse_config({"run": {"workers": "auto", "concurrency": 64},
                        "models": {name: {"model": f"openai/{name}"} for name in ("slow", "fast")}})
    both = RunRequest(dataset="d", models=["slow", "fast"])  # 600 calls at concurrency 64
    cores = os.cpu_count() or 1
    db = connect(db_path)
    try:
        assert workers_for(db, cfg, both) == cores  # nothing measured yet
        plan = plan_run(db, cfg, RunRequest(dataset="d", models=["slow"], workers=1))
        for i in range(20):
            store_runs.insert_result(db, {"run_id": plan.run_id, "case_id": f"c{i}", "model": "slow", "repeat": 0,
                                          "status": "ok", "output": "x", "latency_ms": 400.0, "attempts": 1,
                                          "cost_status": "unknown"})
        assert workers_for(db, cfg, both) == cores  # "fast" was never measured: no guess
        assert workers_for(db, cfg, RunRequest(dataset="d", models=["slow"], repeat=2)) == 1  # 160 calls/s
    finally:
        db.close()


def test_auto_asks_a_process_with_litellm_imported_for_a_longer_run(tmp_path, monkeypatch):
    """The app after its first run: its own loop starts at once, new workers import litellm first."""
    make_dataset(tmp_path / "a.db", AUTO_MIN_CALLS_WARM // 2)
    cfg = parse_config({"run": {"workers": "auto", "concurrency": 64},
                        "models": {name: {"model": f"openai/{name}"} for name in ("a", "b")}})
    monkeypatch.setattr("core.run.plan.import_seconds", lambda: 1.7)
    db = connect(tmp_path / "a.db")
    try:
        assert workers_for(db, cfg, RunRequest(dataset="d", models=["a", "b"])) == auto_workers(
            AUTO_MIN_CALLS_WARM, 64, warm=True) == (os.cpu_count() or 1)
        assert workers_for(db, cfg, RunRequest(dataset="d", models=["a"])) == 1  # half as many calls
        assert auto_workers(AUTO_MIN_CALLS_WARM - 1, 64, cores=4, warm=True) == 1
        assert auto_workers(AUTO_MIN_CALLS_WARM - 1, 64, cores=4) == 4  # the same run from `assay run`
    finally:
        db.close()
