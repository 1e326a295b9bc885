"""Soak: a long run through mixed faults and repeated kill -9, then the bookkeeping checked.

    .venv/bin/python bench/soak.py            # 20,000 calls, 3 models, 5 kills (make soak)
    .venv/bin/python bench/soak.py --calls 2000 --kills 2 --concurrency 64 --retry-after-s 0.2 \
        --timeout-s 1.5 --warmup 200   # the test suite's soak (tests/reliability/test_soak_short.py)

`assay serve` runs in its own process with a small latency and 10% mixed faults (2% each: 429
with Retry-After, 500, hang, connection reset, truncated body). `assay run` runs as a real
subprocess (PYTHONWARNINGS=default) and is SIGKILLed at KILLS seeded random moments, each time
once the results table holds a seeded random share of the calls, then resumed with
`assay run --resume RUN_ID`; the last resume runs to the end. While a run process lives its RSS
(with any child processes) is sampled from /proc.

Checks printed at the end (exit 1 when one fails):
- exactly one terminal row per planned (case, model, repeat), none extra, no duplicates;
- `PRAGMA integrity_check` is ok and the run is `finished`; the last resume exited 0;
- RSS growth after warm-up < 50 MB in every process that got past warm-up (warm-up: the first
  `warmup` results that process wrote; growth: its peak afterwards minus its RSS then);
- no unclosed-connection/transport warning on any process's stderr;
- no process of a killed run outlives it (workers orphaned by the kill would keep calling);
- paid calls repeated after kills <= kills x concurrency. A paid call is a complete 200 answer:
  the server's 200s minus its truncated ones (GET /_assay/stats). Each ok row that needed a call
  (not a cache hit) records exactly one; the excess at the server is the answers that were paid
  for but lost with a kill and asked for again on resume.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from demo.serve.process import serve_process

REPO = Path(__file__).resolve().parents[1]
ASSAY = str(Path(sys.executable).parent / "assay")
MODELS = {"strong": "openai/demo-strong", "fast": "openai/demo-fast", "flaky": "openai/demo-flaky"}
# Injected in this order; each rule's rate is conditional on the earlier ones not firing, so
# every kind fires on FAULT_RATE / len(FAULT_KINDS) of the requests and FAULT_RATE in all.
FAULT_KINDS = ("429", "500", "hang", "reset", "truncate")
FAULT_RATE = 0.10
RSS_LIMIT_MB = 50.0
UNCLOSED = re.compile(r"unclosed", re.IGNORECASE)  # ResourceWarning: unclosed <socket ...>, aiohttp's Unclosed ...
POLL_S = 0.05
RSS_EVERY_S = 0.25


@dataclass(frozen=True)
class Settings:
    calls: int = 20_000
    kills: int = 5
    concurrency: int = 64
    repeat: int = 2
    latency_ms: float = 20.0
    retry_after_s: float = 1.0
    timeout_s: float = 3.0  # how long a hung request holds its slot
    warmup: int = 1_000  # results a process writes before its RSS baseline is taken
    seed: int = 20261128
    segment_timeout_s: float = 1800.0

    @property
    def cases(self) -> int:
        return -(-self.calls // (len(MODELS) * self.repeat))

    @property
    def total(self) -> int:
        return self.cases * len(MODELS) * self.repeat


@dataclass
class Segment:
    """One `assay run` process: from its start to its kill (or its end)."""

    args: list[str]
    pid: int
    rows_at_start: int
    kill_at: int | None  # results count that triggers the kill; None for the last process
    rows_at_end: int = 0
    killed: bool = False
    exit_code: int | None = None
    wall_s: float = 0.0
    first_row_s: float | None = None  # start-up: process start -> its first result row
    rss_base_mb: float | None = None  # RSS when warm-up ended
    rss_peak_mb: float = 0.0  # peak after warm-up
    rss_calls_peak_mb: float | None = None  # the same, only while calls remained (before the run's end-of-run work)
    rss_first_mb: float | None = None
    survivors: list[int] = field(default_factory=list)  # its processes still alive after the kill
    stderr: Path | None = None

    @property
    def rss_growth_mb(self) -> float | None:
        return None if self.rss_base_mb is None else self.rss_peak_mb - self.rss_base_mb


@dataclass
class Outcome:
    settings: Settings
    run_id: str
    segments: list[Segment]
    wall_s: float
    server: dict
    rows: int
    distinct: int
    planned_present: int
    duplicates: int
    by_status: dict[str, int]
    errors_by_class: dict[str, int]
    cached: int
    ok_needing_call: int
    attempts: int
    ok_attempts: int
    timeouts: int  # attempts that timed out: the hangs, plus any answer that came later than timeout_s
    integrity: str
    run_status: str
    warnings: list[str]

    @property
    def kills(self) -> int:
        return sum(s.killed for s in self.segments)

    @property
    def paid_at_server(self) -> int:
        return self.server["by_status"].get("200", 0) - self.server["faults"].get("truncate", 0)

    @property
    def paid_repeated(self) -> int:
        return self.paid_at_server - self.ok_needing_call


# --- processes ------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONWARNINGS="default",
               ASSAY_USER_CONFIG=os.devnull)
    env.pop("ASSAY_DB", None)
    return env


def fault_flags(retry_after_s: float) -> list[str]:
    share = FAULT_RATE / len(FAULT_KINDS)
    flags = []
    for k, kind in enumerate(FAULT_KINDS):
        rate = share / (1 - k * share)
        flags += ["--fault", f"{kind}:{rate:.6f}" + (f":{retry_after_s:g}" if kind == "429" else "")]
    return flags


def start_server(work: Path, s: Settings) -> tuple[subprocess.Popen, str]:
    return serve_process(work, ["--latency-ms", f"{s.latency_ms:g}", "--seed", str(s.seed),
                                *fault_flags(s.retry_after_s)], _env())


def server_stats(root: str) -> dict:
    with urllib.request.urlopen(root + "/_assay/stats", timeout=30) as resp:
        stats = json.loads(resp.read())
    stats.pop("arrivals", None)
    stats.pop("arrivals_by_model", None)
    return stats


def make_workspace(work: Path, base: str, s: Settings) -> Path:
    from store import connect, write
    from store import datasets as store_ds

    (work / "assay.toml").write_text("\n".join([
        "[run]", f"concurrency = {s.concurrency}", f"timeout_s = {s.timeout_s:g}", "backoff_base_s = 0.05",
        "backoff_max_s = 0.5", "max_error_rate = 0.05",
        *(f'[models.{name}]\nmodel = "{model}"\napi_base = "{base}"' for name, model in MODELS.items()),
    ]) + "\n")
    db = connect(work / "assay.db")
    with write(db):
        ds = store_ds.create_dataset(db, "soak")
        store_ds.insert_cases(db, ds, [{"id": f"c{i:05d}", "input_text": f"What is {i} plus {i}?",
                                        "expected_output": str(2 * i)} for i in range(s.cases)])
    db.close()
    return work / "assay.db"


def _tree(pid: int) -> list[int]:
    """pid and its descendants (via /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            continue
    return out


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total / 1024


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _count(conn: sqlite3.Connection) -> int:
    try:
        return conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # busy for longer than the timeout: try again next poll
        return -1


def _run_id(stderr: Path, proc: subprocess.Popen, deadline: float) -> str:
    while time.monotonic() < deadline:
        for line in stderr.read_text(errors="replace").splitlines():
            if line.startswith(("run r-", "resuming r-")):
                return line.split()[1].rstrip(":")
        if proc.poll() is not None:
            raise RuntimeError(f"assay run exited ({proc.returncode}) before starting: {stderr.read_text()[-2000:]}")
        time.sleep(POLL_S)
    raise RuntimeError("assay run never started")


def run_segment(work: Path, db: Path, args: list[str], kill_at: int | None, s: Settings, n: int) -> tuple[Segment, str]:
    """Start `assay run ARGS`, sample it until the results reach kill_at (then SIGKILL it) or it ends."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    stderr = work / f"run-{n}.stderr"
    start_rows = _count(conn)
    t0 = time.monotonic()
    with open(stderr, "w") as err:
        proc = subprocess.Popen([ASSAY, *args], cwd=work, env=_env(), stdout=subprocess.DEVNULL, stderr=err)
    seg = Segment(args=args, pid=proc.pid, rows_at_start=start_rows, kill_at=kill_at, stderr=stderr)
    try:
        run_id = _run_id(stderr, proc, t0 + 120)
        deadline = t0 + s.segment_timeout_s
        next_rss = 0.0
        rows = start_rows
        while proc.poll() is None:
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(f"assay run {args} still running after {s.segment_timeout_s:g} s")
            rows = max(rows, _count(conn))
            if seg.first_row_s is None and rows > start_rows:
                seg.first_row_s = now - t0
            if now >= next_rss:
                next_rss = now + RSS_EVERY_S
                rss = _rss_mb(_tree(proc.pid))
                if rss:
                    seg.rss_first_mb = seg.rss_first_mb or rss
                    if seg.rss_base_mb is None and rows - start_rows >= s.warmup:
                        seg.rss_base_mb = seg.rss_peak_mb = rss
                    seg.rss_peak_mb = max(seg.rss_peak_mb, rss)
                    if seg.rss_base_mb is not None and rows < s.total:
                        seg.rss_calls_peak_mb = max(seg.rss_calls_peak_mb or 0.0, rss)
            if kill_at is not None and rows >= kill_at:
                family = _tree(proc.pid)
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
                seg.killed = True
                time.sleep(2)  # children of a killed run have this long to notice and exit
                seg.survivors = [p for p in family[1:] if _alive(p)]
                for p in seg.survivors:  # ours to clean up, but a failure all the same
                    os.kill(p, signal.SIGKILL)
                break
            time.sleep(POLL_S)
    finally:
        if proc.poll() is None:
            proc.kill()
        seg.exit_code = proc.wait()
        seg.wall_s = time.monotonic() - t0
        seg.rows_at_end = _count(conn)
        conn.close()
    return seg, run_id


def kill_points(s: Settings) -> list[int]:
    """Seeded results counts at which to kill: spread over 5-75% of the run, so the last process
    still runs long enough for its RSS to say something."""
    rng = random.Random(s.seed)
    return sorted(rng.randint(int(0.05 * s.total), int(0.75 * s.total)) for _ in range(s.kills))


def soak(s: Settings, work: Path, log=print) -> Outcome:
    server, root = start_server(work, s)
    try:
        db = make_workspace(work, root + "/v1", s)
        t0 = time.monotonic()
        segments: list[Segment] = []
        run_id = None
        points = kill_points(s)
        for n in range(s.kills + 1):
            args = ["run", "--resume", run_id] if run_id else \
                ["run", "-d", "soak", "-m", ",".join(MODELS), "--repeat", str(s.repeat)]
            kill_at = None
            if n < s.kills:  # at least a few results by this process first: a kill during start-up tests nothing
                done = segments[-1].rows_at_end if segments else 0
                kill_at = max(points[n], done + max(10, s.total // 200))
            seg, started = run_segment(work, db, args, kill_at, s, n)
            run_id = run_id or started
            if started != run_id:
                raise RuntimeError(f"resumed {started}, expected {run_id}")
            segments.append(seg)
            log(f"  process {n + 1}: {' '.join(args)}: rows {seg.rows_at_start} -> {seg.rows_at_end}"
                f"{' (SIGKILL)' if seg.killed else f', exit {seg.exit_code}'}, {seg.wall_s:.1f} s")
        wall = time.monotonic() - t0
        stats = server_stats(root)
    finally:
        server.terminate()
        server.wait(30)
    return _inspect(s, work, db, run_id, segments, wall, stats)


def _inspect(s: Settings, work: Path, db: Path, run_id: str, segments: list[Segment], wall: float,
             stats: dict) -> Outcome:
    conn = sqlite3.connect(db)
    try:
        one = lambda sql, *p: conn.execute(sql, p).fetchone()[0]  # noqa: E731
        marks = ",".join("?" * len(MODELS))
        warnings = [line for seg in segments for line in seg.stderr.read_text(errors="replace").splitlines()
                    if UNCLOSED.search(line)]
        return Outcome(
            settings=s, run_id=run_id, segments=segments, wall_s=wall, server=stats,
            rows=one("SELECT COUNT(*) FROM results"),
            distinct=one("SELECT COUNT(*) FROM (SELECT DISTINCT run_id, case_id, model, repeat FROM results)"),
            planned_present=one(
                f"SELECT COUNT(*) FROM results WHERE run_id = ? AND model IN ({marks}) AND repeat >= 0 AND repeat < ? "
                "AND case_id IN (SELECT case_id FROM cases)", run_id, *MODELS, s.repeat),
            duplicates=one("SELECT COUNT(*) FROM (SELECT 1 FROM results GROUP BY run_id, case_id, model, repeat "
                           "HAVING COUNT(*) > 1)"),
            by_status=dict(conn.execute("SELECT status, COUNT(*) FROM results GROUP BY status").fetchall()),
            errors_by_class=dict(conn.execute("SELECT error_class, COUNT(*) FROM results WHERE status != 'ok' "
                                              "GROUP BY error_class").fetchall()),
            cached=one("SELECT COUNT(*) FROM results WHERE cached = 1"),
            ok_needing_call=one("SELECT COUNT(*) FROM results WHERE status = 'ok' AND cached = 0"),
            attempts=one("SELECT COUNT(*) FROM attempts"),
            ok_attempts=one("SELECT COUNT(*) FROM attempts WHERE outcome = 'ok'"),
            timeouts=one("SELECT COUNT(*) FROM attempts WHERE error_class = 'timeout'"),
            integrity=";".join(r[0] for r in conn.execute("PRAGMA integrity_check")),
            run_status=one("SELECT status FROM runs WHERE id = ?", run_id),
            warnings=warnings,
        )
    finally:
        conn.close()


# --- report ---------------------------------------------------------------------------------


def checks(o: Outcome) -> list[tuple[str, bool, str]]:
    """(check, passed, the figures behind it)."""
    s = o.settings
    warmed = [seg for seg in o.segments if seg.rss_growth_mb is not None]
    growth = max((seg.rss_growth_mb for seg in warmed), default=None)
    last = o.segments[-1]
    survivors = sum(len(seg.survivors) for seg in o.segments)
    bound = o.kills * s.concurrency
    return [
        ("one terminal row per planned call",
         o.rows == o.distinct == o.planned_present == s.total,
         f"{o.rows} rows, {o.distinct} distinct (case, model, repeat), {o.planned_present} planned keys present, "
         f"{s.total} planned"),
        ("no duplicates", o.duplicates == 0, f"{o.duplicates} keys with more than one row"),
        ("PRAGMA integrity_check", o.integrity == "ok", o.integrity),
        ("run finished, last resume exit 0", o.run_status == "finished" and last.exit_code == 0,
         f"status {o.run_status}, exit {last.exit_code}"),
        ("kills landed", o.kills == s.kills, f"{o.kills} of {s.kills}"),
        (f"RSS growth after warm-up < {RSS_LIMIT_MB:g} MB",
         bool(warmed) and growth is not None and growth < RSS_LIMIT_MB,
         f"max {growth:.1f} MB over {len(warmed)} processes past warm-up" if growth is not None
         else "no process got past warm-up"),
        ("no unclosed-connection warnings", not o.warnings, f"{len(o.warnings)} lines"),
        ("no process outlives a kill", survivors == 0, f"{survivors} survivors"),
        ("paid calls repeated <= kills x concurrency", 0 <= o.paid_repeated <= bound,
         f"{o.paid_repeated} repeated (server {o.paid_at_server} complete 200s - {o.ok_needing_call} ok rows "
         f"that needed a call), bound {o.kills} x {s.concurrency} = {bound}"),
    ]


def report(o: Outcome, log=print) -> bool:
    s, st = o.settings, o.server
    log(f"soak: run {o.run_id}, {s.cases} cases x {len(MODELS)} models x {s.repeat} repeats = {s.total} calls, "
        f"concurrency {s.concurrency}, server latency {s.latency_ms:g} ms, faults {FAULT_RATE:.0%} "
        f"({', '.join(FAULT_KINDS)}; Retry-After {s.retry_after_s:g} s), timeout {s.timeout_s:g} s, seed {s.seed}")
    log(f"wall {o.wall_s:.1f} s for {len(o.segments)} processes ({o.kills} SIGKILLs), "
        f"{s.total / o.wall_s:.0f} calls/s overall")
    for n, seg in enumerate(o.segments, 1):
        rss = (f"RSS first {seg.rss_first_mb or 0:.0f} MB" +
               (f", after warm-up {seg.rss_base_mb:.0f} -> peak {seg.rss_peak_mb:.0f} MB "
                f"(+{seg.rss_growth_mb:.1f}; while calls remained {seg.rss_calls_peak_mb or 0:.0f} MB)"
                if seg.rss_base_mb is not None else ", warm-up not reached"))
        end = f"SIGKILL at {seg.rows_at_end} rows (target {seg.kill_at})" if seg.killed else f"exit {seg.exit_code}"
        first = f"first row after {seg.first_row_s:.1f} s" if seg.first_row_s is not None else "no row"
        log(f"  process {n} pid {seg.pid}: {seg.rows_at_start} -> {seg.rows_at_end} rows in {seg.wall_s:.1f} s "
            f"({first}), {end}; {rss}")
    log(f"server: {st['requests']} requests, by status {st['by_status']}, faults {st['faults']}, "
        f"max in flight {st['max_in_flight']}, {st['connections']} connections")
    log(f"results: {o.rows} rows, by status {o.by_status}, not ok by class {o.errors_by_class}, "
        f"{o.cached} cache hits; attempts recorded {o.attempts} ({o.ok_attempts} ok, {o.timeouts} timed out "
        f"against {st['faults'].get('hang', 0)} hangs injected)")
    log(f"requests lost with the kills (any outcome): {st['requests'] - o.attempts}; "
        f"paid at server {o.paid_at_server}, ok rows that needed a call {o.ok_needing_call}")
    for line in o.warnings[:5]:
        log(f"  warning: {line[:200]}")
    passed = True
    for name, ok, figures in checks(o):
        passed &= ok
        log(f"{'PASS' if ok else 'FAIL'}  {name}: {figures}")
    return passed


def main(argv: list[str] | None = None) -> int:
    d = Settings()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=d.calls)
    ap.add_argument("--kills", type=int, default=d.kills)
    ap.add_argument("--concurrency", type=int, default=d.concurrency)
    ap.add_argument("--repeat", type=int, default=d.repeat)
    ap.add_argument("--latency-ms", type=float, default=d.latency_ms)
    ap.add_argument("--retry-after-s", type=float, default=d.retry_after_s)
    ap.add_argument("--timeout-s", type=float, default=d.timeout_s)
    ap.add_argument("--warmup", type=int, default=d.warmup, help="results a process writes before its RSS baseline")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--keep", action="store_true", help="keep the workspace (printed) for inspection")
    a = ap.parse_args(argv)
    s = Settings(calls=a.calls, kills=a.kills, concurrency=a.concurrency, repeat=a.repeat, latency_ms=a.latency_ms,
                 retry_after_s=a.retry_after_s, timeout_s=a.timeout_s, warmup=a.warmup, seed=a.seed)
    work = Path(tempfile.mkdtemp(prefix="assay-soak-"))
    try:
        passed = report(soak(s, work))
    finally:
        if a.keep:
            print(f"workspace kept: {work}")
        else:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
