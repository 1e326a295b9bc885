"""Pilot test helpers: a seeded workspace on a real SQLite file, and waiting for the Label screen.

(Not named conftest.py: tests/conftest.py already is, and `from conftest import` would be ambiguous.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from core.workspace import Workspace, resolve
from core.config.schema import load_config
from store import connect, write
from store import datasets as store_ds

CONFIG = """
[labeling]
guidelines = "# Guidelines\\nLabel the **sentiment** of the review."

[tasks.sentiment]
kind = "classification"
labels = ["positive", "negative", "neutral"]
hints = { positive = "happy customer", negative = "complaint" }

[tasks.invoice]
kind = "extraction"
fields = ["vendor", "total"]

[tasks.answer]
kind = "free_text"
"""


def seed(root: Path, cases: list[dict[str, Any]], *, name: str = "reviews", config: str = CONFIG) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    (root / "assay.toml").write_text(config, encoding="utf-8")
    db = connect(root / "assay.db")
    with write(db):
        ds = store_ds.create_dataset(db, name)
        store_ds.insert_cases(db, ds, cases)
    db.close()
    return resolve(str(root), None)


def sentiment_cases(n: int) -> list[dict[str, Any]]:
    return [{"id": f"r{i:03d}", "input_text": f"Review {i}: the product was {'great' if i % 2 else 'awful'}.",
             "task_type": "sentiment", "difficulty": ("easy", "medium", "hard")[i % 3],
             "metadata": {"source": "web"}} for i in range(n)]


def make_app(ws: Workspace, *, annotator: str = "ana", start: str = "datasets", dataset: str | None = None,
             keymap: dict[str, str] | None = None):
    from tui.app import AssayApp

    chosen = None
    if dataset is not None:
        db = connect(ws.db_path)
        chosen = (store_ds.dataset_id(db, dataset), dataset)
        db.close()
    return AssayApp(ws, config=load_config(ws.config_path), annotator=annotator, user_keymap=keymap,
                    start=start, dataset=chosen, stable_display=True)


async def until(predicate, timeout: float = 10.0) -> None:
    """Wait (polling the event loop) until predicate() is true."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("timed out waiting for the app")
        await asyncio.sleep(0.01)


async def label_ready(app, count: int = 1):
    """Wait until the Label screen has painted its `count`-th view; return the screen."""
    from tui.screens.label import LabelScreen

    await until(lambda: isinstance(app.screen, LabelScreen) and app.screen.render_count >= count)
    return app.screen


async def press_and_render(pilot, key: str):
    """Press one key on the Label screen (or a dialog above it) and wait for the view that answers it."""
    from tui.screens.label import LabelScreen

    screen = next(s for s in reversed(pilot.app.screen_stack) if isinstance(s, LabelScreen))
    before = screen.render_count
    await pilot.press(key)
    await until(lambda: screen.render_count > before)
