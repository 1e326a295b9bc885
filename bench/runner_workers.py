"""Request-phase throughput and reported latency with 1 and 2 worker processes (issue 12 item 2).

    .venv/bin/python bench/runner_workers.py [--cases 1000] [--rounds 3] [--workers 2] [--concurrency 32]
    .venv/bin/python bench/runner_workers.py --whole 125,500,1000 [--rounds 1] [--workers 2]
    .venv/bin/python bench/runner_workers.py --ceiling 3000 [--rounds 3] [--workers 2]

CASES cases x 2 models at concurrency 32 (--concurrency) against `assay serve` with 50 ms latency
(a subprocess), through the engine (`core.run.engine.run`, rows written and scored as in `assay
run`), rounds alternating `[run] workers = 1` (today's in-process path) and `workers = N`. The request phase
is first to last result (so the workers' litellm import, which overlaps planning, is left out);
its throughput is (results - 1) / span. Printed per round and as medians: calls/s, the ratio
N/1 (target >= 1.7), the reported p50 latency (target <= 55 ms) and the parent loop's lag p50.

--whole SIZES: whole `assay run` processes instead (fresh workspace, start-up and every litellm
import included), for each size in cases (x 2 models), alternating --workers 1 and N: wall and
CPU (the process and its workers). The size where N stops losing to 1 is where `[run] workers =
"auto"` starts using every core (core.run.workers.AUTO_MIN_CALLS).

--warm SIZES: what `workers = "auto"` weighs in a process that has imported litellm already (the
app after its first run): for each size in cases (x 2 models, concurrency 64), the wall time of
the engine's whole run in this process, alternating `workers = 1` (its own loop, no start-up) and
N (new worker processes: their litellm import counted). The size where N starts winning is
core.run.workers.AUTO_MIN_CALLS_WARM.

--ceiling CALLS: what any N-worker design can get on this machine. The bare client loop (one
`ModelClient`, litellm with Assay's trims, no parent, no store, no frames) against `assay serve`
with 0 ms latency, in one process, then in N processes at once: calls/s and CPU per call. The
ratio N/1 bounds the request-phase ratio above, whose parent and server share the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner_throughput import CONCURRENCY, LATENCY_MS, MODELS, make_workspace, start_server  # noqa: E402


def one_run(base: str, tmp: Path, name: str, cases: int, workers: int,
            concurrency: int = CONCURRENCY) -> tuple[float, ...]:
    """(calls/s over the request phase, reported p50 ms, loop lag p50 ms, this process's CPU ms
    per call, the workers' CPU ms per call; their import included)."""
    from core.config.schema import parse_config
    from core.run.engine import RunRequest, run
    from core.run.events import ResultEvent

    db = make_workspace(tmp, name, cases)
    cfg = parse_config({"run": {"concurrency": concurrency, "workers": workers},
                        "models": {m: {"api_base": base, "model": f"openai/{m}"} for m in MODELS}})
    stamps: list[float] = []

    def sink(event: object) -> None:
        if isinstance(event, ResultEvent):
            stamps.append(time.perf_counter())

    cpu0, kids0 = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    fin = asyncio.run(run(db, cfg, RunRequest(dataset="bench", models=list(MODELS), use_cache=False), sink=sink))
    cpu = (time.process_time() - cpu0) * 1000 / fin.done
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    kids = (kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime) * 1000 / fin.done
    assert fin.done == fin.total and fin.errors == 0, fin
    (lag,) = db.execute("SELECT loop_lag_p50_ms FROM runs WHERE id = ?", [fin.run_id]).fetchone()
    db.close()
    p50 = statistics.median(m.latency_p50_ms for m in fin.models if m.latency_p50_ms is not None)
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]), p50, lag if lag is not None else float("nan"), cpu, kids


def whole_run(base: str, tmp: Path, name: str, cases: int, workers: int) -> tuple[float, float]:
    """(wall s, CPU s of the process and its workers) of one `assay run` in a fresh workspace."""
    ws = tmp / name
    ws.mkdir()
    make_workspace(ws, "assay", cases).close()
    models = "".join(f'[models.{m}]\nmodel = "openai/{m}"\napi_base = "{base}"\n' for m in MODELS)
    (ws / "assay.toml").write_text(f"[run]\nconcurrency = {CONCURRENCY}\n{models}")
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", ASSAY_USER_CONFIG=os.devnull)
    env.pop("ASSAY_DB", None)
    assay = str(Path(sys.executable).parent / "assay")
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([assay, "run", "-d", "bench", "-m", ",".join(MODELS), "--no-cache", "--workers", str(workers)],
                   cwd=ws, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers are its children: counted once reaped
    return wall, kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime


def warm(base: str, tmp: Path, sizes: list[int], rounds: int, n: int) -> None:
    import asyncio

    from core.config.schema import parse_config
    from core.models.provider import litellm_module
    from core.run.engine import RunRequest, run

    litellm_module()
    for cases in sizes:
        got: dict[int, list[float]] = {1: [], n: []}
        for r in range(rounds + 1):  # the first round warms the in-process path's first calls up
            for workers in (1, n):
                db = make_workspace(tmp, f"w{cases}r{r}w{workers}", cases)
                cfg = parse_config({"run": {"concurrency": 64, "workers": workers},
                                    "models": {m: {"api_base": base, "model": f"openai/{m}"} for m in MODELS}})
                t0 = time.perf_counter()
                fin = asyncio.run(run(db, cfg, RunRequest(dataset="bench", models=list(MODELS), use_cache=False)))
                wall = time.perf_counter() - t0
                db.close()
                assert fin.done == fin.total and fin.errors == 0, fin
                if r:
                    got[workers].append(wall)
        w1, wn = (statistics.median(got[w]) for w in (1, n))
        print(f"{cases * len(MODELS)} calls: in this process {w1:.2f} s, {n} new workers {wn:.2f} s "
              f"(ranges {min(got[1]):.2f}-{max(got[1]):.2f}, {min(got[n]):.2f}-{max(got[n]):.2f}): "
              f"ratio {n}/1 {wn / w1:.2f}x", flush=True)


def whole(base: str, tmp: Path, sizes: list[int], rounds: int, n: int) -> None:
    for cases in sizes:
        got: dict[int, list[tuple[float, float]]] = {1: [], n: []}
        for r in range(rounds):
            for workers in (1, n):
                got[workers].append(whole_run(base, tmp, f"s{cases}r{r}w{workers}", cases, workers))
        (w1, c1), (wn, cn) = (tuple(statistics.median(x[i] for x in got[w]) for i in range(2)) for w in (1, n))
        print(f"{cases * len(MODELS)} calls: workers 1 {w1:.1f} s wall, {c1:.1f} s CPU; workers {n} {wn:.1f} s "
              f"wall, {cn:.1f} s CPU; wall ratio {n}/1 {wn / w1:.2f}x", flush=True)


def _client_loop(base: str, calls: int) -> None:
    """(--ceiling's child) CALLS calls through the bare client loop: prints calls/s and CPU ms per call."""
    from litellm_overhead import calls as client_calls

    from core.models.provider import litellm_module

    litellm_module()
    asyncio.run(client_calls(base, 100, "now"))  # litellm's first-call imports
    t0, cpu0 = time.perf_counter(), time.process_time()
    asyncio.run(client_calls(base, calls, "now"))
    print(f"{calls / (time.perf_counter() - t0):.1f} {(time.process_time() - cpu0) * 1000 / calls:.2f}", flush=True)


def ceiling(calls: int, rounds: int, workers: int) -> None:
    from litellm_overhead import start_server as start_bare_server

    def together(n: int, base: str) -> list[tuple[float, float]]:
        procs = [subprocess.Popen([sys.executable, __file__, "--ceiling-child", base, str(calls)],
                                  stdout=subprocess.PIPE, text=True) for _ in range(n)]
        outs = [p.communicate()[0].split() for p in procs]
        if any(p.returncode for p in procs):
            raise SystemExit("a --ceiling child failed (its error is above)")
        return [(float(rate), float(cpu)) for rate, cpu in outs]

    with tempfile.TemporaryDirectory() as d:
        server, base = start_bare_server(Path(d))
        try:
            got: dict[int, list[tuple[float, float]]] = {1: [], workers: []}
            for r in range(rounds):
                for n in (1, workers):
                    figures = together(n, base)
                    got[n].append((sum(f[0] for f in figures), statistics.mean(f[1] for f in figures)))
                    print(f"round {r + 1}, {n} process(es): {got[n][-1][0]:.0f} calls/s, "
                          f"CPU {got[n][-1][1]:.2f} ms per call", flush=True)
        finally:
            server.terminate()
            server.wait()
    (r1, c1), (r2, c2) = ((statistics.median(x[0] for x in got[n]), statistics.median(x[1] for x in got[n]))
                          for n in (1, workers))
    print(f"median: 1 process {r1:.0f} calls/s ({c1:.2f} ms CPU per call), {workers} at once {r2:.0f} calls/s "
          f"({c2:.2f} ms each): ceiling {workers}/1 = {r2 / r1:.2f}x")


def main() -> None:
    if sys.argv[1:2] == ["--ceiling-child"]:
        _client_loop(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=CONCURRENCY,
                    help="for the request-phase rounds (default %(default)s)")
    ap.add_argument("--whole", metavar="SIZES", help="comma-separated case counts: whole processes")
    ap.add_argument("--ceiling", metavar="CALLS", type=int, help="the bare client loop in 1, then N processes")
    ap.add_argument("--warm", metavar="SIZES", help="comma-separated case counts: in a process with litellm imported")
    args = ap.parse_args()
    if args.ceiling:
        ceiling(args.ceiling, args.rounds, args.workers)
        return
    if args.whole or args.warm:
        with tempfile.TemporaryDirectory() as d:
            server, base = start_server(Path(d))
            try:
                mode, sizes = (whole, args.whole) if args.whole else (warm, args.warm)
                mode(base + "/v1", Path(d), [int(x) for x in sizes.split(",")], args.rounds, args.workers)
            finally:
                server.terminate()
                server.wait()
        return
    calls = args.cases * len(MODELS)
    print(f"{calls} calls ({args.cases} cases x {len(MODELS)} models), server {LATENCY_MS} ms, "
          f"concurrency {args.concurrency}; ideal {calls * LATENCY_MS / 1000 / args.concurrency:.2f} s")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        server, base = start_server(tmp)
        figures: dict[int, list[tuple[float, ...]]] = {1: [], args.workers: []}
        try:
            for r in range(args.rounds):
                for workers in (1, args.workers):
                    got = one_run(base + "/v1", tmp, f"r{r}w{workers}", args.cases, workers, args.concurrency)
                    figures[workers].append(got)
                    print(f"round {r + 1} workers {workers}: {got[0]:.0f} calls/s, p50 {got[1]:.1f} ms, "
                          f"loop lag p50 {got[2]:.0f} ms, CPU per call {got[3]:.1f} ms here + {got[4]:.1f} ms "
                          "in workers", flush=True)
        finally:
            server.terminate()
            server.wait()
    med = {w: tuple(statistics.median(x[i] for x in runs) for i in range(5)) for w, runs in figures.items()}
    for w, (rate, p50, lag, cpu, kids) in med.items():
        print(f"median workers {w}: {rate:.0f} calls/s, p50 {p50:.1f} ms, loop lag p50 {lag:.0f} ms, "
              f"CPU per call {cpu:.1f} ms here + {kids:.1f} ms in workers")
    print(f"throughput ratio {args.workers}/1: {med[args.workers][0] / med[1][0]:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()
