"""TUI figures on a 10,000-case workspace. A plain script: it prints what it measured.

    .venv/bin/python bench/tui_bench.py [--cases 10000] [--keys 200]

1. Time to first screen: a fresh Python process starts, imports the app, opens the workspace and
   runs it headless until the Datasets screen shows its first page of cases (median of 3 runs).
2. Resume: the app opened straight on Label (`assay label`) with 1,000 labels already in the log,
   until the first undecided case is on screen.
3. Label key -> next case rendered: one label key posted to the app, until the Label screen has
   painted the next case (the label event is committed before that). Median, p95, max.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CONFIG = """
[tasks.sentiment]
kind = "classification"
labels = ["positive", "negative", "neutral"]
"""

FIRST_SCREEN = r"""
import time
t0 = time.perf_counter()
import asyncio, sys
from core.workspace import resolve
from core.config.schema import load_config
from tui.app import AssayApp

async def main():
    ws = resolve(sys.argv[1], None)
    ws.db()
    app = AssayApp(ws, config=load_config(ws.config_path), annotator="bench")
    async with app.run_test(size=(120, 36)):
        while True:
            try:
                if app.screen.query_one("#cases").row_count:
                    break
            except Exception:
                pass
            await asyncio.sleep(0.002)
        print(time.perf_counter() - t0, "litellm" in sys.modules)

asyncio.run(main())
"""


def build(root: Path, n: int, labels: int) -> None:
    from store import connect, write
    from store import datasets as store_ds
    from store.labels import append_event

    root.mkdir(parents=True, exist_ok=True)
    (root / "assay.toml").write_text(CONFIG, encoding="utf-8")
    db = connect(root / "assay.db")
    with write(db):
        ds = store_ds.create_dataset(db, "big")
        store_ds.insert_cases(db, ds, ({"id": f"c{i:05d}", "input_text": f"Review {i}: " + "words " * 40,
                                        "task_type": "sentiment", "metadata": {"i": i}} for i in range(n)))
        for i in range(labels):
            append_event(db, dataset_id=ds, case_id=f"c{i:05d}", annotator="earlier", kind="label", value="positive")
    db.close()


def first_screen(root: Path) -> tuple[list[float], bool]:
    times, litellm = [], False
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", FIRST_SCREEN, str(root)], capture_output=True, text=True,
                             cwd=REPO, check=True, env={"ASSAY_USER_CONFIG": "/dev/null", "PATH": "/usr/bin:/bin"})
        elapsed, imported = out.stdout.split()
        times.append(float(elapsed))
        litellm = litellm or imported == "True"
    return times, litellm


async def label_keys(root: Path, keys: int) -> tuple[float, list[float]]:
    from textual import events

    from core.workspace import resolve
    from core.config.schema import load_config
    from tui.app import AssayApp
    from tui.messages import CaseRendered

    rendered = asyncio.Event()
    stamps: list[float] = []

    def hook(message: object) -> None:
        if isinstance(message, CaseRendered):
            stamps.append(time.perf_counter())
            rendered.set()

    ws = resolve(str(root), None)
    ws.db()
    from store import connect
    from store.datasets import dataset_id

    db = connect(ws.db_path)
    chosen = (dataset_id(db, "big"), "big")
    db.close()
    t0 = time.perf_counter()
    app = AssayApp(ws, config=load_config(ws.config_path), annotator="earlier", dataset=chosen, start="label")
    latencies: list[float] = []
    async with app.run_test(size=(120, 36), message_hook=hook):
        await rendered.wait()
        resume = stamps[-1] - t0
        screen = app.screen
        for _ in range(keys):
            rendered.clear()
            before = screen.render_count
            sent = time.perf_counter()
            app.post_message(events.Key("1", "1"))
            await rendered.wait()
            assert screen.render_count == before + 1
            latencies.append((stamps[-1] - sent) * 1000)
    return resume, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        t = time.perf_counter()
        build(root, args.cases, labels=1000)
        print(f"workspace: {args.cases} cases, 1000 labels in the log (built in {time.perf_counter() - t:.1f} s)")
        times, litellm = first_screen(root)
        print(f"first screen (process start -> Datasets with its first page): median {statistics.median(times):.2f} s "
              f"(runs: {', '.join(f'{x:.2f}' for x in times)}); litellm imported: {litellm}")
        resume, lat = asyncio.run(label_keys(root, args.keys))
        from core.common.stats import percentile

        p95 = percentile(lat, 95)
        print(f"resume on Label (app start -> first undecided case on screen): {resume:.2f} s")
        print(f"label key -> next case rendered ({len(lat)} keys): median {statistics.median(lat):.1f} ms, "
              f"p95 {p95:.1f} ms, max {max(lat):.1f} ms")


if __name__ == "__main__":
    main()
