"""Runner throughput and pacing, against `assay serve` in a subprocess.

    .venv/bin/python bench/runner_throughput.py [--cases 1000] [--rounds 2] [--skip-pacing] [--stream]

1. Throughput: CASES cases x 2 models at concurrency 32, server latency 50 ms. Assay's engine
   (plan + calls + one committed row per result + scoring) vs a bare asyncio loop of
   litellm.acompletion under the same semaphore vs the ideal (calls x latency / concurrency).
   Target: assay <= 1.25x bare litellm. Rounds alternate bare/assay; the best of each is kept
   (the machine is shared, the best is the least disturbed).
2. Pacing: CASES calls on one model with rpm = 3000 against a server enforcing rpm_limit = 3000.
   Target: wall <= 1.05x the rpm ideal (CASES / 3000 min) with zero 429s.
3. CPU: one assay run under cProfile (timer: the thread's CPU clock, so fsync waits do not
   count); assay's own CPU per call — our functions plus the stdlib and sqlite work they call
   directly; litellm, openai, httpx, aiohttp and asyncio excluded — and where it goes.
   Scoring is listed separately: core/scoring.py belongs to the scorers, not the runner.

--stream: every call is streamed (`stream=True, stream_options={"include_usage": True}`), the
bare loop consuming each stream to its end too, and Assay with `[run] stream = true`; prints
the time to first token (latency_first_ms) p50/p95 of the last throughput round as well.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo.serve.process import serve_process  # noqa: E402
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

LATENCY_MS = 50
CONCURRENCY = 32
RPM = 3000
STREAM = False  # --stream
MODELS = ("demo-strong", "demo-fast")
OURS = (str(REPO / "core"), str(REPO / "store"), str(REPO / "scorers"))
NOT_OURS = ("litellm", "openai", "httpx", "httpcore", "aiohttp", "asyncio", "concurrent", "threading", "selectors",
            "pydantic", "tiktoken", "anyio", "serve")


def start_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    return serve_process(tmp, ["--latency-ms", str(LATENCY_MS)], dict(os.environ))


def control(root: str, path: str, payload: dict | None = None) -> dict:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(root + path, data=data, method="GET" if data is None else "POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def make_workspace(tmp: Path, name: str, cases: int):
    from store import connect, write
    from store import datasets as store_ds

    db = connect(tmp / f"{name}.db")
    with write(db):
        ds = store_ds.create_dataset(db, "bench")
        store_ds.insert_cases(db, ds, [{"id": f"c{i:05d}", "input_text": f"What is {i} plus {i}?",
                                        "expected_output": str(2 * i)} for i in range(cases)])
    return db


async def bare(base: str, cases: int) -> float:
    import litellm

    sem = asyncio.Semaphore(CONCURRENCY)

    async def call(i: int, model: str) -> None:
        kwargs = {"model": f"openai/{model}", "api_base": base, "api_key": "assay-no-key", "num_retries": 0,
                  "timeout": 60, "messages": [{"role": "user", "content": f"What is {i} plus {i}?"}],
                  "temperature": 0.0, "max_tokens": 1024}
        if not STREAM:
            await litellm.acompletion(**kwargs)
            return
        stream = await litellm.acompletion(**kwargs, stream=True, stream_options={"include_usage": True})
        async for _ in stream:
            pass

    async def one(i: int, model: str) -> None:
        async with sem:
            await asyncio.wait_for(call(i, model), 60)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i, m) for i in range(cases) for m in MODELS))
    wall = time.perf_counter() - t0
    await litellm.close_litellm_async_clients()
    return wall


def assay_run(base: str, tmp: Path, name: str, cases: int, models: dict, concurrency: int = CONCURRENCY,
              profile: cProfile.Profile | None = None):
    from core.config.schema import parse_config
    from core.run.engine import RunRequest, run

    db = make_workspace(tmp, name, cases)
    if profile is not None:
        profile.enable()
    cfg = parse_config({"run": {"concurrency": concurrency, "stream": STREAM},
                        "models": {k: {"api_base": base, **v} for k, v in models.items()}})
    t0 = time.perf_counter()
    fin = asyncio.run(run(db, cfg, RunRequest(dataset="bench", models=list(models), use_cache=False)))
    wall = time.perf_counter() - t0
    if profile is not None:
        profile.disable()
    firsts = [r[0] for r in db.execute("SELECT latency_first_ms FROM results WHERE latency_first_ms IS NOT NULL")]
    db.close()
    assert fin.done == fin.total and fin.errors == 0, fin
    assert not STREAM or len(firsts) == fin.done, "a streamed row without latency_first_ms"
    return wall, fin, sorted(firsts)


def own_cpu(stats: pstats.Stats) -> tuple[dict[str, float], list[tuple[float, str]]]:
    """CPU seconds in our code by bucket (runner / scoring): our functions' own time, plus the
    full time of calls they make straight into code that is neither ours nor excluded (sqlite,
    json, hashlib, sqlite-utils...)."""
    def bucket(fn: tuple) -> str | None:
        path = fn[0]
        # store/db.py's write() is entered through contextlib from its callers: its time is
        # already in their edges, charged to whoever opened the transaction.
        if not path.startswith(OURS) or "/core/serve/" in path or path.endswith("/store/db.py"):
            return None
        return "scoring" if path.endswith(("/core/scoring.py", "/store/scores.py")) or "/scorers/" in path \
            else "runner"

    def excluded(fn: tuple) -> bool:
        return any(f"/{name}/" in fn[0] or fn[0].endswith(f"/{name}.py") for name in NOT_OURS) or \
            "asyncio" in fn[2] or fn[2] == "<method 'run' of '_contextvars.Context' objects>"

    per: dict[str, float] = {}
    totals = {"runner": 0.0, "scoring": 0.0}
    for fn, (_, _, tt, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        b = bucket(fn)
        if b is not None:
            key = f"[{b}] {Path(fn[0]).name}:{fn[2]}"
            per[key] = per.get(key, 0.0) + tt
            totals[b] += tt
        elif not excluded(fn):
            for caller, edge in callers.items():
                cb = bucket(caller)
                if cb is not None:
                    key = f"[{cb}] {Path(caller[0]).name}:{caller[2]} -> {fn[2]}"
                    per[key] = per.get(key, 0.0) + edge[3]
                    totals[cb] += edge[3]
    return totals, sorted(((t, k) for k, t in per.items()), reverse=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip-pacing", action="store_true")
    ap.add_argument("--stream", action="store_true", help="stream every call (bare loop and Assay)")
    args = ap.parse_args()
    global STREAM
    STREAM = args.stream
    tmp = Path(tempfile.mkdtemp(prefix="assay-bench-"))
    server, root = start_server(tmp)
    base = root + "/v1"
    try:
        t0 = time.perf_counter()
        from core.models.provider import litellm_module

        litellm_module()
        print(f"import litellm: {time.perf_counter() - t0:.1f} s")
        models = {m: {"model": f"openai/{m}"} for m in MODELS}
        # Warm-up: first-call costs (litellm's lazy imports, connection pools) are not throughput.
        asyncio.run(bare(base, 20))
        assay_run(base, tmp, "warm", 20, models)

        calls = args.cases * len(MODELS)
        ideal = calls * LATENCY_MS / 1000 / CONCURRENCY
        bare_walls, assay_walls, bare_cpus, assay_cpus = [], [], [], []
        for r in range(args.rounds):
            c0 = time.process_time()
            bare_walls.append(asyncio.run(bare(base, args.cases)))
            bare_cpus.append(time.process_time() - c0)
            c0 = time.process_time()
            wall, _, firsts = assay_run(base, tmp, f"t{r}", args.cases, models)
            assay_cpus.append(time.process_time() - c0)
            assay_walls.append(wall)
            print(f"round {r + 1}: bare litellm {bare_walls[-1]:.2f} s, assay {assay_walls[-1]:.2f} s")
        b, a = min(bare_walls), min(assay_walls)
        bare_cpu, assay_cpu = min(bare_cpus), min(assay_cpus)
        print(f"\nthroughput: {args.cases} cases x {len(MODELS)} models = {calls} calls, concurrency {CONCURRENCY}, "
              f"latency {LATENCY_MS} ms{', streamed' if STREAM else ''}")
        print(f"  ideal {ideal:.2f} s | bare litellm {b:.2f} s ({calls / b:.0f} calls/s) | "
              f"assay {a:.2f} s ({calls / a:.0f} calls/s) | assay/bare {a / b:.2f}x (target <= 1.25x)")
        if STREAM:
            from core.common.stats import percentile  # the p50/p95 `assay report` shows

            print(f"  time to first token (assay, last round): p50 {percentile(firsts, 50, presorted=True):.1f} ms, "
                  f"p95 {percentile(firsts, 95, presorted=True):.1f} ms over {len(firsts)} calls")

        if not args.skip_pacing:
            control(root, "/_assay/config", {"rpm_limit": RPM})
            control(root, "/_assay/reset", {})
            wall, fin, _ = assay_run(base, tmp, "pace", args.cases, {"demo-fast": {"model": "openai/demo-fast", "rpm": RPM}})
            st = control(root, "/_assay/stats")
            rpm_ideal = args.cases / RPM * 60
            print(f"\npacing: {args.cases} calls at rpm {RPM} vs server rpm_limit {RPM}: wall {wall:.2f} s, "
                  f"ideal {rpm_ideal:.2f} s, {wall / rpm_ideal:.3f}x (target <= 1.05x), "
                  f"429s {st['by_status'].get('429', 0)}, max in flight {st['max_in_flight']}")
            control(root, "/_assay/config", {"rpm_limit": None})

        prof = cProfile.Profile(time.thread_time)
        wall, fin, _ = assay_run(base, tmp, "prof", args.cases, models, profile=prof)
        totals, where = own_cpu(pstats.Stats(prof))
        n = fin.done
        print(f"\nprocess CPU per call (unprofiled, all threads): bare litellm {bare_cpu / calls * 1000:.2f} ms, "
              f"assay {assay_cpu / calls * 1000:.2f} ms (+{(assay_cpu - bare_cpu) / calls * 1000:.2f} ms)")
        print(f"cProfile (event-loop thread CPU; profiling inflates every figure): runner "
              f"{totals['runner'] / n * 1000:.2f} ms per call, scoring {totals['scoring'] / n * 1000:.2f} ms per call")
        for t, name in where[:14]:
            print(f"  {t / n * 1000:6.3f} ms  {name}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
