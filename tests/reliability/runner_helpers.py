"""Shared set-up for the runner's reliability and CLI tests: a workspace with a dataset, a config
pointing at an in-process DemoServer, and window checks on the server's arrival timestamps.

ASSAY_TEST_WORKERS=N runs every config made here with `[run] workers = N` (unless a test sets its
own), so the whole suite proves the runner's promises with requests sent from worker processes.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config.schema import parse_config
from core.run.engine import RunRequest, run
from store import connect, write
from store import datasets as store_ds


TEST_WORKERS = int(os.environ.get("ASSAY_TEST_WORKERS", "1"))

TWO = {"strong": {"model": "openai/demo-strong"}, "fast": {"model": "openai/demo-fast"}}


def make_dataset(db_path: Path, n: int, name: str = "d", labeled: bool = True) -> None:
    db = connect(db_path)
    with write(db):
        ds = store_ds.create_dataset(db, name)
        store_ds.insert_cases(db, ds, [
            {"id": f"c{i:04d}", "input_text": f"What is {i} plus {i}?",
             "expected_output": str(2 * i) if labeled else None}
            for i in range(n)
        ])
    db.close()


def config(base: str, models: dict[str, dict[str, Any]] | None = None, **run: Any):
    run.setdefault("backoff_base_s", 0.01)
    run.setdefault("backoff_max_s", 0.05)
    run.setdefault("workers", TEST_WORKERS)
    models = models or {"strong": {"model": "openai/demo-strong"}}
    # Fresh dicts: callers share model tables (TWO) across tests and servers.
    return parse_config({"run": run, "models": {k: {"api_base": base, **m} for k, m in models.items()}})


def toml_text(base: str, models: dict[str, dict[str, Any]], **run: Any) -> str:
    def value(v: Any) -> str:
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    run.setdefault("workers", TEST_WORKERS)
    lines = ["[run]"] + [f"{k} = {value(v)}" for k, v in run.items()]
    for name, m in models.items():
        lines.append(f"[models.{name}]")
        m = {"api_base": base, **m}
        lines += [f"{k} = {value(v)}" for k, v in m.items()]
    return "\n".join(lines) + "\n"


def run_engine(db_path: Path, cfg: Any, models: list[str], *, dataset: str = "d", events: list | None = None,
               scoring: Any = None, sink: Callable[[Any], None] | None = None, **req: Any):
    """One run on a fresh connection; its events appended to `events` (or given to `sink`)."""
    db = connect(db_path)
    try:
        return asyncio.run(run(db, cfg, RunRequest(dataset=dataset, models=models, **req),
                               sink=sink or (events.append if events is not None else None), scoring=scoring))
    finally:
        db.close()


def rows(db_path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best
