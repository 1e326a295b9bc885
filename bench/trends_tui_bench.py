"""Trends screen first paint on a long history. A plain script: it prints what it measured.

    .venv/bin/python bench/trends_tui_bench.py [--runs 200] [--results-per-run 5000] [--rounds 5]

Builds the history of bench/trends_bench.py (`generate_history`: 1,000,000 scored results over
200 runs of two models by default) in a temporary workspace whose assay.toml prices both models
(so the cost panel never looks a price up in litellm's map), and builds its per-run aggregates
once, as `assay run` does when each run finishes. Then, headless (Pilot, 120x36):

1. First paint: from `AssayApp(...)` opened on the Trends screen until the series table shows its
   rows and the chart its series (the screen's worker refreshes the aggregates, finds nothing
   stale, reads every series of the metric and the alerts). The first round also imports the
   screen, textual-plot and numpy; the median is over every round.
2. Metric switch: from pressing `m` until the next metric's rows and chart are shown.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from trends_bench import MODELS, generate_history  # noqa: E402

CONFIG = "".join(f'[models.{m}]\nmodel = "openai/{m}"\ninput_price_per_1m = 1.0\noutput_price_per_1m = 4.0\n\n'
                 for m in MODELS)


def _time_screen(root: Path) -> tuple[float, float]:
    """(first paint, metric switch) in seconds, one fresh app."""
    from core.config.schema import load_config
    from core.workspace import resolve
    from tui.app import AssayApp

    async def main() -> tuple[float, float]:
        t0 = time.perf_counter()
        ws = resolve(str(root), None)
        app = AssayApp(ws, config=load_config(ws.config_path), annotator="bench", start="trends",
                       dataset=(1, "history"), stable_display=True)
        async with app.run_test(size=(120, 36)) as pilot:
            while getattr(app.screen, "shown_metric", None) != "pass_rate":
                await asyncio.sleep(0.002)
            first = time.perf_counter() - t0
            assert app.screen.query_one("#series").row_count > 0
            t1 = time.perf_counter()
            await pilot.press("m")
            while app.screen.shown_metric != "pass_rate_incl_errors":
                await asyncio.sleep(0.002)
            return first, time.perf_counter() - t1

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--results-per-run", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from core.trends.aggregates import refresh
    from store import connect

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        (root / "assay.toml").write_text(CONFIG, encoding="utf-8")
        t0 = time.perf_counter()
        history = generate_history(root / "assay.db", args.runs, args.results_per_run)
        db = connect(history.path)
        built = refresh(db)
        db.close()
        print(f"history: {history.results:,} results over {args.runs} runs, {built.rows} aggregate rows "
              f"(generated and aggregated in {time.perf_counter() - t0:.1f} s)")
        rounds = [_time_screen(root) for _ in range(args.rounds)]
        firsts = [f for f, _ in rounds]
        switches = sorted(s for _, s in rounds)
        print(f"Trends first paint (Pilot, 120x36): median {statistics.median(firsts) * 1000:.0f} ms, "
              f"first round (imports textual-plot, numpy) {firsts[0] * 1000:.0f} ms, max {max(firsts) * 1000:.0f} ms")
        print(f"Trends metric switch (m): median {statistics.median(switches) * 1000:.0f} ms, "
              f"max {switches[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
