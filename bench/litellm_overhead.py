"""litellm's CPU per call through `ModelClient`, with and without Assay's trims (issue 12 item 3).

    .venv/bin/python bench/litellm_overhead.py [--calls 1000] [--rounds 3]

`assay serve --latency-ms 0` runs in its own process, so the figures are the client's alone.
CALLS unstreamed calls at concurrency 8 to `openai/demo-fast` (a model litellm does not know,
no price in the config: cost stays unknown) per variant, variants interleaved per round:

- before:   no prices handed to litellm, its success logging on (Assay until issue 12)
- prices:   + `litellm_price_kwargs` (litellm prices from them instead of searching its map)
- unlogged: + litellm's success logging skipped (`internal_sub_call`), its own pricing still on
- now:      + its pricing skipped too, and so no prices handed to it: `provider.unlogged()` as
            `ModelClient` uses it today (the prices cost it a model-info entry per call)

Printed per variant: process CPU per call (median of the rounds; the machine is shared, so
this moves with load) and Python function calls per call from one cProfile'd round (does not
move with load: the steadier measure of work removed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo.serve.process import serve_process  # noqa: E402
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

CONCURRENCY = 8
VARIANTS = ("before", "prices", "unlogged", "now")


def start_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    proc, root = serve_process(tmp, ["--latency-ms", "0"], dict(os.environ))
    return proc, root + "/v1"


async def calls(base: str, n: int, variant: str) -> None:
    from core.config.schema import parse_config
    from core.models import client as client_mod
    from core.models import provider

    cfg = parse_config({"run": {"concurrency": CONCURRENCY},
                        "models": {"m": {"model": "openai/demo-fast", "api_base": base}}})
    client = client_mod.ModelClient("m", cfg.models["m"], cfg.run)
    if variant == "before":
        client._litellm_prices = {}

    @contextlib.contextmanager
    def priced_by_litellm() -> Iterator[None]:  # unlogged(), with litellm's own pricing back on
        with provider.unlogged():
            token = provider._UNPRICED.set(False)
            try:
                yield
            finally:
                provider._UNPRICED.reset(token)

    saved = client_mod.unlogged
    if variant in ("before", "prices"):
        client_mod.unlogged = contextlib.nullcontext  # type: ignore[assignment]
    elif variant == "unlogged":
        client_mod.unlogged = priced_by_litellm  # type: ignore[assignment]
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            out = await client.complete([{"role": "user", "content": f"What is {i} plus {i}?"}], use_cache=False)
            assert out.status == "ok" and out.cost_usd is None, out

    try:
        await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        client_mod.unlogged = saved
        await provider.close_clients()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    server, base = start_server(Path(tempfile.mkdtemp(prefix="assay-bench-")))
    try:
        from core.models.provider import litellm_module

        litellm_module()
        for v in VARIANTS:  # warm-up: litellm's lazy imports and first-call costs
            asyncio.run(calls(base, 30, v))
        cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for _ in range(args.rounds):
            for v in VARIANTS:
                c0 = time.process_time()
                asyncio.run(calls(base, args.calls, v))
                cpu[v].append((time.process_time() - c0) / args.calls * 1000)
        print(f"{args.calls} calls x {args.rounds} rounds per variant, concurrency {CONCURRENCY}, server latency 0")
        for v in VARIANTS:
            prof = cProfile.Profile()
            prof.enable()
            asyncio.run(calls(base, args.calls, v))
            prof.disable()
            fcalls = pstats.Stats(prof).total_calls  # type: ignore[attr-defined]
            rounds = ", ".join(f"{c:.2f}" for c in cpu[v])
            print(f"  {v:7s} CPU {statistics.median(cpu[v]):.2f} ms per call (rounds {rounds}); "
                  f"{fcalls / args.calls:,.0f} Python function calls per call")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
