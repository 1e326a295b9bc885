"""Reported latency against a server of known latency (issue 12 item 4).

    .venv/bin/python bench/latency_honesty.py [--cases 1000] [--latency-ms 50] [--concurrency 32] [--rounds 2]

`assay serve --latency-ms L --latency-scale 0` in its own process; CASES cases x demo-fast through
Assay's engine (plan, calls, rows, scoring) at CONCURRENCY. Printed per round: wall, calls/s, the
reported latency (results.latency_ms, p50/p95: what `assay report` shows), the queueing before
each request (results.queue_ms), its part that was the client's own time (results.client_ms), the
saturation note `assay report` prints (if any) and the event loop's lag the run recorded (runs.loop_lag_*).
Target: reported p50 <= 1.1 x L (55 ms for 50 ms).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runner_throughput as rt  # noqa: E402  (same server, workspace and engine set-up)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    rt.LATENCY_MS = args.latency_ms
    from core.common.stats import percentile
    from core.report.build import build_report
    from core.report.render import saturation_note
    from core.models.provider import litellm_module

    tmp = Path(tempfile.mkdtemp(prefix="assay-bench-"))
    server, root = rt.start_server(tmp)
    try:
        litellm_module()
        models = {"demo-fast": {"model": "openai/demo-fast"}}
        rt.assay_run(root + "/v1", tmp, "warm", 20, models, args.concurrency)
        print(f"{args.cases} calls, server latency {args.latency_ms} ms, concurrency {args.concurrency}")
        for r in range(args.rounds):
            wall, fin, _ = rt.assay_run(root + "/v1", tmp, f"r{r}", args.cases, models, args.concurrency)
            from store import connect

            db = connect(tmp / f"r{r}.db")
            lat = sorted(x for (x,) in db.execute("SELECT latency_ms FROM results"))
            queue = sorted(x for (x,) in db.execute("SELECT queue_ms FROM results"))
            client = sorted(x for (x,) in db.execute("SELECT client_ms FROM results WHERE client_ms IS NOT NULL"))
            note = saturation_note(build_report(db, fin.run_id, pairwise=False))
            p50, p95, mx = db.execute("SELECT loop_lag_p50_ms, loop_lag_p95_ms, loop_lag_max_ms FROM runs").fetchone()
            db.close()

            def pct(xs: list[float], q: int) -> float:
                return percentile(xs, q, presorted=True)

            print(f"round {r + 1}: wall {wall:.2f} s ({fin.done / wall:.0f} calls/s) | reported latency p50 "
                  f"{pct(lat, 50):.1f} ms, p95 {pct(lat, 95):.1f} ms (target p50 <= {1.1 * args.latency_ms:.0f}) | "
                  f"queue_ms p50 {pct(queue, 50):.1f}, p95 {pct(queue, 95):.1f} | client_ms p50 "
                  f"{pct(client, 50) or 0:.1f} ({len(client)} kernel-timed) | loop lag p50 {p50:.0f} ms, "
                  f"p95 {p95:.0f} ms, max {mx:.0f} ms\n  {note or 'no saturation note'}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
