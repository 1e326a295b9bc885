"""Assay against the tools users come from: one workload, the same server, whole processes.

    .venv/bin/python bench/peers.py                    # workload a, 3 rounds (make bench-peers)
    .venv/bin/python bench/peers.py --workload b --rounds 1 --tools assay,promptfoo

Workloads (`--workload`): a = 1,000 cases, 50 ms, concurrency 32; b = 200 cases, 1 s,
concurrency 8; c = 5,000 cases, 200 ms, concurrency 128. One `assay serve` process answers every
tool (fixed latency, `--latency-scale 0`, no faults); its stats are reset before each run.

The workload: N support-ticket lines ("Case 17: the customer reports a double charge on invoice
1017. They ask ..."). demo-strong answers a prompt it does not know with the input's first
sentence, so the answer is deterministic; the expected output is that sentence for four cases in
five and a different issue for the fifth, so each tool must find the same N // 5 failures. Every
tool sends the case text as the only (user) message and checks the answer by equality: Assay's
default exact scorer, promptfoo's `equals`, inspect-ai's `exact()`, and in the bare loop the
same case- and whitespace-insensitive comparison as Assay's.

The tools, each run as a whole process (start-up included) in a fresh folder, at the same
concurrency, in an order rotated every round:
- assay: `assay run --no-cache --json` in a fresh workspace (the dataset imported beforehand,
  not timed); assay-1w and assay-2w: the same with `--workers 1` and `--workers 2` (`assay` runs
  "auto"), for the request-phase throughput ratio of the workers (target >= 1.7x);
- promptfoo PROMPTFOO_VERSION: installed on demand with npm under --cache-dir (never in the
  repository), a generated promptfooconfig.yaml (openai provider with apiBaseUrl at the server),
  `promptfoo eval --no-cache -j C --no-progress-bar --no-table -o results.json`, its config
  folder (database) fresh each round;
- inspect-ai INSPECT_VERSION: installed on demand in a venv under --cache-dir, `inspect eval`
  with the `openai-api/` provider (its `openai/` one calls /v1/responses), --max-connections C,
  --display none;
- litellm: a bare asyncio.gather over litellm.acompletion under a semaphore, in a subprocess of
  the project's venv (`num_retries=0`, what bench/runner_throughput.py's loop does).

Per tool: median wall (range over rounds), CPU (user + system from wait4: the process and every
descendant it waited for), peak RSS (the process tree's summed VmRSS sampled every 100 ms, at
least the largest single process's ru_maxrss), the time from process start to the server's first
request, the request phase (the server's first request arrival to its last response) and the
time after it until the process exits; then Assay's ratio to each. A tool that cannot be installed is reported as such and the rest still
run. Exit 1 when a tool failed or the tools disagree on the verdicts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo.serve.process import serve_process  # noqa: E402
from soak import _rss_mb, _tree  # noqa: E402  (process-tree RSS from /proc)

PYTHON = sys.executable  # the project's venv
ASSAY = str(Path(PYTHON).parent / "assay")
PROMPTFOO_VERSION = "0.121.20"
INSPECT_VERSION = "0.3.285"
MODEL = "demo-strong"
API_KEY = "assay-no-key"
RSS_EVERY_S = 0.1
ASSAY_WORKERS = {"assay-1w": 1, "assay-2w": 2}  # `assay run --workers N`, for the workers' ratio
TOOLS = ("assay", *ASSAY_WORKERS, "promptfoo", "inspect-ai", "litellm")


@dataclass(frozen=True)
class Workload:
    cases: int
    latency_ms: float
    concurrency: int

    @property
    def ideal_s(self) -> float:
        return self.cases * self.latency_ms / 1000 / self.concurrency


WORKLOADS = {"a": Workload(1000, 50, 32), "b": Workload(200, 1000, 8), "c": Workload(5000, 200, 128)}
ISSUES = ("a double charge", "a failed login", "a missing refund", "a crash on startup", "a wrong address")


@dataclass(frozen=True)
class Case:
    id: str
    input: str
    expected: str


def make_cases(n: int) -> list[Case]:
    """Deterministic cases: demo-strong answers each with its first sentence; every fifth case
    expects another issue, so it fails in every tool."""
    cases = []
    for i in range(n):
        issue = ISSUES[i % len(ISSUES)]
        first = f"Case {i}: the customer reports {issue} on invoice {1000 + i}."
        wrong = first.replace(issue, ISSUES[(i + 1) % len(ISSUES)])
        cases.append(Case(f"c{i:05d}", f"{first} They ask for a fix before the end of the week.",
                          wrong if i % 5 == 4 else first))
    return cases


def expected_passes(n: int) -> int:
    return n - n // 5


def norm(text: str) -> str:
    """Assay's exact scorer's text comparison (scorers.normalize.norm_text)."""
    return " ".join(text.split()).casefold()


# --- the server ---------------------------------------------------------------------------------


def python_env() -> dict[str, str]:
    """The environment every tool runs in: no user config, litellm's bundled price map."""
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", ASSAY_USER_CONFIG=os.devnull)
    env.pop("ASSAY_DB", None)
    return env


def start_server(work: Path, latency_ms: float) -> tuple[subprocess.Popen, str]:
    return serve_process(work, ["--latency-ms", f"{latency_ms:g}"], python_env())


def control(root: str, path: str, post: bool = False) -> dict:
    req = urllib.request.Request(root + path, data=b"{}" if post else None, method="POST" if post else "GET",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


# --- measuring one process ----------------------------------------------------------------------


@dataclass
class Measured:
    """One whole process as seen from outside."""

    wall_s: float
    cpu_s: float
    peak_mb: float
    exit_code: int
    timed_out: bool
    start: float  # time.monotonic() at spawn: the server's clock too (CLOCK_MONOTONIC, same machine)


def measure(cmd: list[str], cwd: Path, env: dict[str, str], log: Path, timeout_s: float) -> Measured:
    """Run `cmd` to completion in its own session; wall, CPU (wait4) and the tree's peak RSS."""
    peak = [0.0]
    done, timed_out = threading.Event(), threading.Event()

    with log.open("wb") as out:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

        def sample() -> None:
            while not done.wait(RSS_EVERY_S):
                peak[0] = max(peak[0], _rss_mb(_tree(proc.pid)))

        def expire() -> None:
            if not done.wait(timeout_s):
                timed_out.set()
                os.killpg(proc.pid, signal.SIGKILL)  # the session this function started

        threads = [threading.Thread(target=sample, daemon=True), threading.Thread(target=expire, daemon=True)]
        for t in threads:
            t.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        done.set()
        for t in threads:
            t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Measured(wall, usage.ru_utime + usage.ru_stime, max(peak[0], usage.ru_maxrss / 1024),
                    proc.returncode, timed_out.is_set(), start)


# --- the tools ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    results: int  # answers the tool recorded (ok or not)
    passes: int
    errors: int  # calls that ended in error


@dataclass
class Tool:
    """How to prepare a round folder (not timed), the timed command, and how to read its verdicts."""

    name: str
    prepare: Callable[[Path, list[Case], str, Workload], tuple[list[str], dict[str, str]]]
    read: Callable[[Path], Outcome]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def assay_prepare(d: Path, cases: list[Case], base: str, w: Workload) -> tuple[list[str], dict[str, str]]:
    (d / "assay.toml").write_text(f'[run]\nconcurrency = {w.concurrency}\n\n[models.strong]\n'
                                  f'model = "openai/{MODEL}"\napi_base = "{base}"\n')
    _write_jsonl(d / "cases.jsonl", [{"id": c.id, "input_text": c.input, "expected_output": c.expected}
                                     for c in cases])
    subprocess.run([ASSAY, "import", "cases.jsonl", "--name", "peers"], cwd=d, env=python_env(), check=True,
                   capture_output=True)
    return [ASSAY, "run", "-d", "peers", "-m", "strong", "-c", str(w.concurrency), "--no-cache", "--json"], python_env()


def assay_workers(n: int) -> Callable:
    """The same run with its requests sent from `n` worker processes (`assay` runs "auto"): the
    request phases of 2 and 1 give the throughput ratio of the workers."""
    def prepare(d: Path, cases: list[Case], base: str, w: Workload) -> tuple[list[str], dict[str, str]]:
        cmd, env = assay_prepare(d, cases, base, w)
        return [*cmd, "--workers", str(n)], env
    return prepare


def assay_read(d: Path) -> Outcome:
    with sqlite3.connect(d / "assay.db") as db:
        results, errors = db.execute("SELECT COUNT(*), COALESCE(SUM(status != 'ok'), 0) FROM results").fetchone()
        passes = db.execute("SELECT COUNT(*) FROM scores WHERE passed = 1").fetchone()[0]
    return Outcome(results, passes, errors)


def assay_latency(d: Path) -> tuple[float | None, float | None]:
    """(the p50 latency Assay records for the model, what its report shows; the run's event-loop
    lag p50, null where the store has no such column)."""
    with sqlite3.connect(d / "assay.db") as db:
        values = [r[0] for r in db.execute("SELECT latency_ms FROM results WHERE latency_ms IS NOT NULL")]
        try:
            lag = db.execute("SELECT loop_lag_p50_ms FROM runs").fetchone()[0]
        except sqlite3.OperationalError:
            lag = None
    return (statistics.median(values) if values else None), lag


def promptfoo_prepare(bin_: Path) -> Callable:
    def prepare(d: Path, cases: list[Case], base: str, w: Workload) -> tuple[list[str], dict[str, str]]:
        config = {
            "description": "assay bench/peers.py",
            "prompts": ["{{input}}"],
            "providers": [{"id": f"openai:chat:{MODEL}",
                           "config": {"apiBaseUrl": base, "apiKey": API_KEY, "temperature": 0, "max_tokens": 1024}}],
            "tests": [{"vars": {"input": c.input}, "assert": [{"type": "equals", "value": c.expected}]} for c in cases],
            "evaluateOptions": {"maxConcurrency": w.concurrency},
        }
        (d / "promptfooconfig.yaml").write_text(json.dumps(config, indent=1))  # JSON is YAML
        env = dict(os.environ, PROMPTFOO_CONFIG_DIR=str(d / "promptfoo-home"), PROMPTFOO_DISABLE_TELEMETRY="1",
                   PROMPTFOO_DISABLE_UPDATE="1", PROMPTFOO_DISABLE_SHARING="1",
                   PROMPTFOO_FAILED_TEST_EXIT_CODE="0")  # failed checks are part of the workload
        return [str(bin_), "eval", "-c", "promptfooconfig.yaml", "--no-cache", "-j", str(w.concurrency),
                "--no-progress-bar", "--no-table", "-o", "results.json"], env
    return prepare


def promptfoo_read(d: Path) -> Outcome:
    doc = json.loads((d / "results.json").read_text())["results"]
    rows = doc["results"]
    errors = sum(1 for r in rows if r.get("error") and not (r.get("response") or {}).get("output"))
    return Outcome(len(rows), sum(1 for r in rows if r.get("success")), errors)


INSPECT_TASK = '''from inspect_ai import Task, task
from inspect_ai.dataset import json_dataset
from inspect_ai.scorer import exact
from inspect_ai.solver import generate


@task
def peers():
    return Task(dataset=json_dataset("cases.jsonl"), solver=generate(), scorer=exact())
'''
INSPECT_READ = '''import json, sys
from inspect_ai.log import list_eval_logs, read_eval_log
log = read_eval_log(list_eval_logs(sys.argv[1])[0])
samples = log.samples or []
values = [next(iter(s.scores.values())).value if s.scores else None for s in samples]
print(json.dumps({"results": len(samples), "passes": sum(v == "C" for v in values),
                  "errors": sum(1 for s in samples if s.error)}))
'''


def inspect_prepare(venv: Path) -> Callable:
    def prepare(d: Path, cases: list[Case], base: str, w: Workload) -> tuple[list[str], dict[str, str]]:
        (d / "task.py").write_text(INSPECT_TASK)
        _write_jsonl(d / "cases.jsonl", [{"id": c.id, "input": c.input, "target": c.expected} for c in cases])
        env = dict(os.environ, PEERS_API_KEY=API_KEY, PEERS_BASE_URL=base)
        return [str(venv / "bin" / "inspect"), "eval", "task.py", "--model", f"openai-api/peers/{MODEL}",
                "--max-connections", str(w.concurrency), "--log-dir", "logs", "--display", "none"], env
    return prepare


def inspect_read(venv: Path) -> Callable[[Path], Outcome]:
    def read(d: Path) -> Outcome:
        out = subprocess.run([str(venv / "bin" / "python"), "-c", INSPECT_READ, str(d / "logs")], check=True,
                             capture_output=True, text=True).stdout
        return Outcome(**json.loads(out))
    return read


def litellm_prepare(d: Path, cases: list[Case], base: str, w: Workload) -> tuple[list[str], dict[str, str]]:
    _write_jsonl(d / "cases.jsonl", [{"input": c.input, "expected": c.expected} for c in cases])
    return [PYTHON, __file__, "--bare-loop", str(d), base, str(w.concurrency)], python_env()


def litellm_read(d: Path) -> Outcome:
    return Outcome(**json.loads((d / "outcome.json").read_text()))


def bare_loop(d: Path, base: str, concurrency: int) -> None:
    """The bare litellm loop (runs in its own process): every case under one semaphore."""
    import litellm

    cases = [json.loads(line) for line in (d / "cases.jsonl").read_text().splitlines()]
    sem = asyncio.Semaphore(concurrency)

    async def one(case: dict) -> bool | None:
        async with sem:
            try:
                resp = await litellm.acompletion(
                    model=f"openai/{MODEL}", api_base=base, api_key=API_KEY, num_retries=0, timeout=60,
                    messages=[{"role": "user", "content": case["input"]}], temperature=0.0, max_tokens=1024)
            except Exception:  # noqa: BLE001 - an error is a result too: counted, not raised
                return None
        return norm(resp.choices[0].message.content or "") == norm(case["expected"])

    async def main() -> list[bool | None]:
        verdicts = await asyncio.gather(*(one(c) for c in cases))
        await litellm.close_litellm_async_clients()
        return verdicts

    verdicts = asyncio.run(main())
    (d / "outcome.json").write_text(json.dumps({"results": len(verdicts), "passes": sum(v is True for v in verdicts),
                                                "errors": sum(v is None for v in verdicts)}))


# --- installing the peers -------------------------------------------------------------------


def _install(what: str, marker: Path, steps: list[list[str]], cwd: Path, log: Path) -> str | None:
    """Run the install steps once (marker written on success); None, or why it failed."""
    if marker.exists():
        return None
    print(f"installing {what} into {cwd} (log: {log}) ...", flush=True)
    t0 = time.monotonic()
    with log.open("w") as out:
        for step in steps:
            try:
                rc = subprocess.run(step, cwd=cwd, stdout=out, stderr=subprocess.STDOUT).returncode
            except OSError as exc:
                return f"{step[0]}: {exc}"
            if rc != 0:
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                return f"`{' '.join(step)}` exited {rc}: {' / '.join(tail)}"
    marker.touch()
    print(f"  {what} installed in {time.monotonic() - t0:.0f} s", flush=True)
    return None


def install_promptfoo(cache: Path) -> tuple[Path | None, str | None]:
    folder = cache / f"promptfoo-{PROMPTFOO_VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "package.json").exists():
        (folder / "package.json").write_text('{"private": true}\n')
    if shutil.which("npm") is None:
        return None, "npm not found"
    why = _install(f"promptfoo {PROMPTFOO_VERSION}", folder / ".installed",
                   [["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", f"promptfoo@{PROMPTFOO_VERSION}"]],
                   folder, cache / "promptfoo-install.log")
    return (None, why) if why else (folder / "node_modules" / ".bin" / "promptfoo", None)


def install_inspect(cache: Path) -> tuple[Path | None, str | None]:
    venv = cache / f"inspect-ai-{INSPECT_VERSION}"
    cache.mkdir(parents=True, exist_ok=True)
    base_python = getattr(sys, "_base_executable", None) or shutil.which("python3") or "python3"
    why = _install(f"inspect-ai {INSPECT_VERSION}", venv / ".installed",
                   [[base_python, "-m", "venv", str(venv)],
                    [str(venv / "bin" / "pip"), "install", "-q", f"inspect-ai=={INSPECT_VERSION}", "openai"]],
                   cache, cache / "inspect-install.log")
    return (None, why) if why else (venv, None)


def build_tools(names: list[str], cache: Path) -> tuple[list[Tool], dict[str, str]]:
    tools, missing = [], {}
    for name in names:
        if name == "assay":
            tools.append(Tool(name, assay_prepare, assay_read))
        elif name in ASSAY_WORKERS:
            tools.append(Tool(name, assay_workers(ASSAY_WORKERS[name]), assay_read))
        elif name == "litellm":
            tools.append(Tool(name, litellm_prepare, litellm_read))
        elif name == "promptfoo":
            bin_, why = install_promptfoo(cache)
            if bin_ is None:
                missing[name] = why or "not installed"
            else:
                tools.append(Tool(name, promptfoo_prepare(bin_), promptfoo_read))
        elif name == "inspect-ai":
            venv, why = install_inspect(cache)
            if venv is None:
                missing[name] = why or "not installed"
            else:
                tools.append(Tool(name, inspect_prepare(venv), inspect_read(venv)))
    return tools, missing


# --- the rounds ---------------------------------------------------------------------------------


@dataclass
class Round:
    """One tool's run in one round."""

    process: Measured
    outcome: Outcome | None
    requests: int  # chat requests the server saw
    to_first_request_s: float | None
    request_span_s: float | None
    load: tuple[float, float]  # 1-minute load average before and after
    failure: str | None = None
    assay_p50_ms: float | None = None
    assay_loop_lag_ms: float | None = None

    @property
    def after_last_s(self) -> float | None:
        """From the server's last response to the process's exit (writing up, shutting down)."""
        if self.to_first_request_s is None or self.request_span_s is None:
            return None
        return self.process.wall_s - self.to_first_request_s - self.request_span_s


@dataclass
class Figures:
    tool: str
    rounds: list[Round] = field(default_factory=list)

    def ok_rounds(self) -> list[Round]:
        return [r for r in self.rounds if r.failure is None]

    def median(self, attr: str) -> float | None:
        values = [v for r in self.ok_rounds() if (v := self._get(r, attr)) is not None]
        return statistics.median(values) if values else None

    def spread(self, attr: str) -> tuple[float, float] | None:
        values = [v for r in self.ok_rounds() if (v := self._get(r, attr)) is not None]
        return (min(values), max(values)) if values else None

    @staticmethod
    def _get(r: Round, attr: str) -> float | None:
        return getattr(r.process, attr) if hasattr(r.process, attr) else getattr(r, attr)


def run_once(tool: Tool, folder: Path, cases: list[Case], root: str, w: Workload) -> Round:
    folder.mkdir(parents=True)
    cmd, env = tool.prepare(folder, cases, root + "/v1", w)
    control(root, "/_assay/reset", post=True)
    load0 = os.getloadavg()[0]
    proc = measure(cmd, folder, env, folder / "output.log", timeout_s=max(600.0, 20 * w.ideal_s + 300))
    stats = control(root, "/_assay/stats")
    first, last = stats.get("first_arrival"), stats.get("last_left")
    rnd = Round(proc, None, stats["requests"], None if first is None else first - proc.start,
                None if first is None or last is None else last - first, (load0, os.getloadavg()[0]))
    if proc.timed_out:
        rnd.failure = "timed out"
    elif proc.exit_code != 0:
        tail = (folder / "output.log").read_text(errors="replace").strip().splitlines()[-5:]
        rnd.failure = f"exit {proc.exit_code}: {' / '.join(tail)}"
    if rnd.failure is None:
        try:
            rnd.outcome = tool.read(folder)
        except (OSError, ValueError, KeyError, TypeError, sqlite3.Error, subprocess.CalledProcessError) as exc:
            rnd.failure = f"could not read its results: {exc!r}"
    if tool.name.startswith("assay") and rnd.failure is None:
        rnd.assay_p50_ms, rnd.assay_loop_lag_ms = assay_latency(folder)
    return rnd


def _s(v: float | None, unit: str = " s", fmt: str = ".2f") -> str:
    return "-" if v is None else f"{v:{fmt}}{unit}"


def report(figs: list[Figures], missing: dict[str, str], w: Workload, n: int) -> bool:
    """Print the table, the checks and the ratios; False when a tool failed or the verdicts differ."""
    ok = True
    want = expected_passes(n)
    print(f"\n{n} cases, server latency {w.latency_ms:g} ms, concurrency {w.concurrency}; "
          f"ideal request phase {w.ideal_s:.2f} s; expected passes {want}/{n}")
    loads = [x for f in figs for r in f.rounds for x in r.load]
    if loads:
        print(f"machine: {os.cpu_count()} cores, 1-minute load average {min(loads):.1f}-{max(loads):.1f} during the runs")
    print(f"\n{'tool':<11} {'wall median (range)':<22} {'CPU':>8} {'peak RSS':>9} {'to 1st req':>10} "
          f"{'req phase':>10} {'after':>7} {'results':>8} {'passes':>7} {'errors':>6}")
    for f in figs:
        rounds = f.ok_rounds()
        if not rounds:
            print(f"{f.tool:<11} failed: {f.rounds[0].failure if f.rounds else 'no round'}")
            ok = False
            continue
        lo, hi = f.spread("wall_s") or (0, 0)
        outcomes = {r.outcome for r in rounds}
        last = rounds[-1].outcome
        assert last is not None
        wall = f"{_s(f.median('wall_s'))} ({lo:.1f}-{hi:.1f})"
        print(f"{f.tool:<11} {wall:<22} {_s(f.median('cpu_s')):>8} "
              f"{_s(f.median('peak_mb'), ' MB', '.0f'):>9} {_s(f.median('to_first_request_s')):>10} "
              f"{_s(f.median('request_span_s')):>10} {_s(f.median('after_last_s')):>7} "
              f"{last.results:>8} {last.passes:>7} {last.errors:>6}")
        for r in f.rounds:
            if r.failure:
                print(f"  a round failed: {r.failure}")
                ok = False
        if len(outcomes) > 1:
            print(f"  rounds disagree: {sorted(outcomes, key=str)}")
        for o in outcomes:
            if (o.results, o.passes, o.errors) != (n, want, 0):
                print(f"  CHECK FAILED: {o.results} results, {o.passes} passes, {o.errors} errors "
                      f"(want {n}, {want}, 0)")
                ok = False
        requests = {r.requests for r in rounds}
        if requests != {n}:
            print(f"  server saw {sorted(requests)} chat requests per round (want {n})")
    for name, why in missing.items():
        print(f"{name:<11} not run: {why}")
    assay = next((f for f in figs if f.tool == "assay" and f.ok_rounds()), None)
    if assay is not None:
        p50, lag = assay.median("assay_p50_ms"), assay.median("assay_loop_lag_ms")
        print(f"\nassay's recorded p50 latency: {_s(p50, ' ms', '.1f')} (server latency {w.latency_ms:g} ms); "
              f"its event-loop lag p50: {_s(lag, ' ms', '.1f')}")
        print("assay / tool (medians):  wall   CPU   request phase   wall, same round: median (range)")
        for f in figs:
            if f is assay or not f.ok_rounds():
                continue
            ratios = []
            for attr in ("wall_s", "cpu_s", "request_span_s"):
                a, b = assay.median(attr), f.median(attr)
                ratios.append("-" if not a or not b else f"{a / b:.2f}x")
            paired = [a.process.wall_s / b.process.wall_s for a, b in zip(assay.rounds, f.rounds)
                      if a.failure is None and b.failure is None]
            same_round = (f"{statistics.median(paired):.2f}x ({min(paired):.2f}-{max(paired):.2f})"
                          if paired else "-")
            print(f"  {f.tool:<21} {ratios[0]:>6} {ratios[1]:>5} {ratios[2]:>15}   {same_round}")
    one, two = (next((f for f in figs if f.tool == t and f.ok_rounds()), None) for t in ASSAY_WORKERS)
    if one is not None and two is not None:
        span1, span2 = one.median("request_span_s"), two.median("request_span_s")
        if span1 and span2:
            print(f"request-phase throughput, assay --workers 2 / --workers 1: {n / span2:.0f} / {n / span1:.0f} "
                  f"calls/s = {span1 / span2:.2f}x (target >= 1.7x); the concurrency allows at most "
                  f"{w.concurrency * 1000 / w.latency_ms:.0f} calls/s")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default="a")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cases", type=int, help="override the workload's case count (a quick check)")
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "assay-peers",
                    help="where promptfoo and inspect-ai are installed, kept between runs")
    ap.add_argument("--json-out", type=Path, help="also write every round's figures here")
    ap.add_argument("--keep", action="store_true", help="keep the round folders (printed)")
    ap.add_argument("--bare-loop", nargs=3, metavar=("DIR", "BASE", "CONCURRENCY"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.bare_loop:
        bare_loop(Path(args.bare_loop[0]), args.bare_loop[1], int(args.bare_loop[2]))
        return 0
    names = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(names) - set(TOOLS)
    if unknown:
        ap.error(f"unknown tool(s) {sorted(unknown)}")
    w = WORKLOADS[args.workload]
    if args.cases:
        w = Workload(args.cases, w.latency_ms, w.concurrency)
    cases = make_cases(w.cases)
    tools, missing = build_tools(names, args.cache_dir)
    for name, why in missing.items():
        print(f"{name}: cannot be installed, not run ({why})", flush=True)
    work = Path(tempfile.mkdtemp(prefix="assay-peers-"))
    server, root = start_server(work, w.latency_ms)
    figs = [Figures(t.name) for t in tools]
    try:
        for r in range(args.rounds):
            k = r % len(tools) if tools else 0
            for tool, fig in zip(tools[k:] + tools[:k], figs[k:] + figs[:k]):
                rnd = run_once(tool, work / f"r{r}-{tool.name}", cases, root, w)
                fig.rounds.append(rnd)
                print(f"round {r + 1} {tool.name:<11} wall {rnd.process.wall_s:6.2f} s  CPU {rnd.process.cpu_s:6.2f} s  "
                      f"peak {rnd.process.peak_mb:5.0f} MB  to 1st req {_s(rnd.to_first_request_s)}  "
                      f"req phase {_s(rnd.request_span_s)}  load {rnd.load[0]:.1f}/{rnd.load[1]:.1f}"
                      + (f"  FAILED: {rnd.failure}" if rnd.failure else f"  {rnd.outcome}"), flush=True)
    finally:
        server.terminate()
        server.wait(30)
        if args.keep:
            print(f"round folders kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json_out:
        args.json_out.write_text(json.dumps({
            "workload": args.workload, **w.__dict__, "missing": missing,
            "versions": {"promptfoo": PROMPTFOO_VERSION, "inspect-ai": INSPECT_VERSION},
            "tools": {f.tool: [{**r.process.__dict__, **{k: v for k, v in r.__dict__.items() if k != "process"}}
                               for r in f.rounds] for f in figs},
        }, indent=1, default=str))
    return 0 if report(figs, missing, w, w.cases) else 1


if __name__ == "__main__":
    sys.exit(main())
