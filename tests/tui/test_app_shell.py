"""App shell: screens by number keys, tabs and palette; help; keymap; no litellm."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tui_helpers import make_app, until

from tui.keymap import binding_ids, unknown_ids


def test_opens_on_datasets_and_switches_screens(reviews):
    async def run() -> None:
        app = make_app(reviews)
        async with app.run_test(size=(120, 36)) as pilot:
            await until(lambda: app.screen.query_one("#cases").row_count == 20)
            assert app.dataset_name == "reviews"
            await pilot.press("3")
            assert app.current_mode == "models"
            await until(lambda: app.screen.query_one("#models").row_count == len(app.config.models))
            await pilot.press("4")
            assert app.current_mode == "run"
            await until(lambda: app.screen.query_one("#dataset").value == "reviews")  # digits pass the form
            await pilot.press("5")
            assert app.current_mode == "review"  # no run in this workspace: it says how to make one
            await until(lambda: "No runs yet" in str(app.screen.query_one("#rv-head").render()))
            await pilot.press("6")
            assert app.current_mode == "trends"  # no run in this workspace: it says what to do
            await until(lambda: "No finished runs yet" in str(app.screen.query_one("#tr-head").render()))
            await pilot.press("1")
            assert app.current_mode == "datasets"
            await pilot.press("2")
            assert app.current_mode == "label"
            # On Label digits are labels: they never switch screens.
            await until(lambda: app.screen.render_count >= 1)
            await pilot.press("4")
            assert app.current_mode == "label"

    asyncio.run(run())


_PROBE = """
import asyncio, sys
sys.path.insert(0, sys.argv[2])
from tui_helpers import label_ready, make_app, until
from core.workspace import resolve

async def main():
    app = make_app(resolve(sys.argv[1], None))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(lambda: app.screen.query_one("#cases").row_count > 0)
        await pilot.press("2")
        await label_ready(app)
        print("litellm" in sys.modules, "textual" in sys.modules)

asyncio.run(main())
"""


def test_app_never_imports_litellm(reviews):
    # In a fresh process: other tests in this one may have imported litellm themselves.
    out = subprocess.run([sys.executable, "-c", _PROBE, str(reviews.root), str(Path(__file__).parent)],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "ASSAY_USER_CONFIG": os.devnull})
    assert out.stdout.split() == ["False", "True"], out.stderr[-2000:]


def test_palette_lists_screens_and_actions(reviews):
    async def run() -> None:
        from tui.commands import AssayCommands

        app = make_app(reviews)
        async with app.run_test(size=(120, 36)):
            provider = AssayCommands(app.screen)
            titles = [t for t, _, _ in provider._commands()]
            assert "Go to Trends" in titles and "Sample a dataset from production logs" in titles
            hits = [h async for h in provider.search("go to label")]
            assert hits and hits[0].text == "Go to Label"
            app.call_later(hits[0].command)
            await until(lambda: app.current_mode == "label")
            assert app.current_mode == "label"

    asyncio.run(run())


def test_help_lists_current_bindings_with_ids(reviews):
    async def run() -> None:
        from textual.widgets import DataTable

        app = make_app(reviews, start="label", dataset="reviews")
        async with app.run_test(size=(120, 36)) as pilot:
            await until(lambda: app.screen.render_count >= 1)
            await pilot.press("f1")
            table = app.screen.query_one(DataTable)
            rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
            ids = {r[2] for r in rows}
            assert {"label.skip", "label.undo", "app.help"} <= ids
            assert not any(i.startswith("app.screen.") for i in ids)  # digits are labels here
            assert ["1", "label positive — happy customer", "from assay.toml"] in rows
            await pilot.press("escape")
            assert app.current_mode == "label" and app.screen.__class__.__name__ == "LabelScreen"

    asyncio.run(run())


def test_user_keymap_rebinds_by_id(reviews):
    async def run() -> None:
        from tui_helpers import label_ready, press_and_render

        app = make_app(reviews, start="label", dataset="reviews", keymap={"label.skip": "k"})
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await label_ready(app)
            await press_and_render(pilot, "k")
            assert screen._view.progress.skipped == 1

    asyncio.run(run())


def test_every_binding_has_an_id_and_unknown_keymap_ids_are_reported():
    from tui import keymap

    for group in (keymap.APP, keymap.SCREEN, keymap.DATASETS, keymap.LABEL, keymap.MODAL, keymap.VERSIONS,
                  keymap.EDIT_CASE, keymap.MODELS, keymap.MODEL_FORM, keymap.RUN, keymap.REVIEW):
        assert all(b.id for b in group)
    assert "label.undo" in binding_ids()
    assert unknown_ids({"label.undo": "z", "labl.skip": "k"}) == ["labl.skip"]
