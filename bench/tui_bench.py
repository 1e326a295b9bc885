"""TUI figures on a 10,000-case workspace. A plain script: it prints what it measured.

    .venv/bin/python bench/tui_bench.py [--cases 10000] [--keys 200]

1. Time to first screen: a fresh Python process starts, imports the app, opens the workspace and
   runs it headless until the Datasets screen shows its first page of cases (median of 3 runs).
2. Resume: the app opened straight on Label (`assay label`) with 1,000 labels already in the log,
   until the first undecided case is on screen.
3. Label key -> next case rendered: one label key posted to the app, until the Label screen has
   painted the next case (the label event is committed before that). Median, p95, max.
4. The Run screen during a run (`--run-calls`, default 1,000 calls at concurrency 32, two demo
   models, against `assay serve` in its own process with the demo models' own latency, cache off):
   key -> render latency (a cursor key on the live table, until the app wrote the frame that shows
   the moved cursor), and the run's time in the app vs `assay run` headless on the same workspace.
   Both times are the engine's own elapsed (RunFinished.elapsed_s: first call to last row, prompts
   rendered before), plus each front end's start-to-end wall time (the CLI's includes starting
   Python and importing litellm; the app's includes the lazy litellm import on its first run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo.serve.process import serve_process  # noqa: E402

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


RUN_MODELS = ("strong", "fast")


def build_run_workspace(root: Path, base: str, calls: int, concurrency: int) -> None:
    from store import connect, write
    from store import datasets as store_ds

    root.mkdir(parents=True, exist_ok=True)
    models = "".join(f'\n[models.{name}]\nmodel = "openai/demo-{name}"\napi_base = "{base}"\n'
                     f"input_price_per_1m = 1.0\noutput_price_per_1m = 2.0\n" for name in RUN_MODELS)
    (root / "assay.toml").write_text(f"[run]\nconcurrency = {concurrency}\ncache = false\n{models}", encoding="utf-8")
    db = connect(root / "assay.db")
    with write(db):
        ds = store_ds.create_dataset(db, "calls")
        store_ds.insert_cases(db, ds, ({"id": f"q{i:05d}", "input_text": f"What is {i} plus {i}?",
                                        "expected_output": str(2 * i)} for i in range(calls // len(RUN_MODELS))))
    db.close()


def start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    # The demo models' own latencies: the last --latency-scale given wins over serve_process's 0.
    proc, root = serve_process(tmp, ["--latency-scale", "1"], dict(os.environ))
    return proc, root + "/v1"


def headless_run(root: Path) -> tuple[float, float]:
    """(engine elapsed, process wall) of `assay run` on the workspace."""
    t0 = time.perf_counter()
    out = subprocess.run([str(Path(sys.executable).parent / "assay"), "-w", str(root), "run", "--dataset", "calls",
                          "--models", ",".join(RUN_MODELS), "--json"], capture_output=True, text=True, check=True,
                         env={**os.environ, "ASSAY_USER_CONFIG": "/dev/null"})
    return json.loads(out.stdout)["elapsed_s"], time.perf_counter() - t0


async def run_screen(root: Path) -> tuple[float, float, list[float]]:
    """Start a run from the Run screen (the s key), press cursor keys on its live table until the
    run ends. Returns (engine elapsed, key-to-end wall, key -> frame latencies in ms)."""
    from textual import events

    from core.config.schema import load_config
    from core.workspace import resolve
    from tui.app import AssayApp

    ws = resolve(str(root), None)
    app = AssayApp(ws, config=load_config(ws.config_path), annotator="bench", start="run")
    frames: list[float] = []
    latencies: list[float] = []
    async with app.run_test(size=(120, 36)):
        original = app._display

        def display(screen: object, renderable: object) -> None:  # every frame the app writes
            frames.append(time.perf_counter())
            original(screen, renderable)  # type: ignore[arg-type]

        app._display = display  # type: ignore[method-assign]
        screen = app.screen
        while getattr(screen, "estimate", None) is None:
            await asyncio.sleep(0.01)
        t0 = time.perf_counter()
        app.post_message(events.Key("s", "s"))
        while screen.live is None or screen.live.snapshot().progress is None:  # first results are in
            await asyncio.sleep(0.005)
        table = screen.query_one("#live")
        key = "down"
        while screen.running:
            row = table.cursor_row
            sent, seen = time.perf_counter(), len(frames)
            app.post_message(events.Key(key, None))
            while table.cursor_row == row:
                await asyncio.sleep(0.0005)
            moved = len(frames)  # the frame after the move shows it
            while len(frames) <= max(seen, moved):
                await asyncio.sleep(0.0005)
            latencies.append((frames[max(seen, moved)] - sent) * 1000)
            key = "up" if key == "down" else "down"
            await asyncio.sleep(0.05)  # a person pressing keys, not a flood
        while screen.live.snapshot().finished is None:
            await asyncio.sleep(0.01)
        wall = time.perf_counter() - t0
        finished = screen.live.snapshot().finished
    return finished.elapsed_s, wall, latencies


def run_figures(calls: int, concurrency: int, rounds: int) -> None:
    """Alternating rounds (app, then headless) on one server and workspace, cache off. The app's
    first round imports litellm inside the run (as a user's first run in the app does); later
    rounds reuse it, as the CLI never can (each `assay run` is a fresh process)."""
    from core.common.stats import percentile

    lat: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        server, base = start_server(Path(tmp))
        try:
            root = Path(tmp) / "run-ws"
            build_run_workspace(root, base, calls, concurrency)
            for i in range(1, rounds + 1):
                app_elapsed, app_wall, keys = asyncio.run(run_screen(root))
                cli_elapsed, cli_wall = headless_run(root)
                lat += keys
                print(f"round {i}{' (litellm imported during the app run)' if i == 1 else ''}: engine elapsed "
                      f"app {app_elapsed:.2f} s, assay run {cli_elapsed:.2f} s, ratio {app_elapsed / cli_elapsed:.2f}x; "
                      f"wall from the s key {app_wall:.2f} s vs CLI process {cli_wall:.2f} s "
                      f"({app_wall / cli_wall:.2f}x)")
        finally:
            server.terminate()
            server.wait()
    print(f"run screen, {calls} calls at concurrency {concurrency} against assay serve: key -> frame "
          f"({len(lat)} keys during the runs): median {statistics.median(lat):.1f} ms, "
          f"p95 {percentile(lat, 95):.1f} ms, max {max(lat):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--run-calls", type=int, default=1000)
    parser.add_argument("--run-concurrency", type=int, default=32)
    parser.add_argument("--run-rounds", type=int, default=2, help="0: no Run screen figures")
    parser.add_argument("--only-run", action="store_true", help="Only the Run screen figures (4).")
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    if args.only_run:
        run_figures(args.run_calls, args.run_concurrency, args.run_rounds)
        return
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
    if args.run_rounds > 0:
        run_figures(args.run_calls, args.run_concurrency, args.run_rounds)


if __name__ == "__main__":
    main()
