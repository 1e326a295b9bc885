"""Hostile text in cases, labels, notes, model outputs and names renders literally on every screen:
no markup is parsed, no action runs, no escape byte reaches the terminal, the app keeps running."""

from __future__ import annotations

import asyncio
import re

from tui_helpers import CONFIG, label_ready, make_app, seed, until

from core.datasets.versions import snapshot
from store import connect, write
from store.labels import append_event
from store.timeutil import now_iso

HOSTILE = "[/] [bold]x[/] [@click=app.quit]x[/] \x1b[31mred\x1b]52;c;ZXZpbA==\x07 \x9b31m \u202eevil"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]")
VISIBLE = ("[@click=app.quit]x[/]", "\\x1b]52;c;ZXZpbA==\\x07", "\\x9b31m", "[bold]x[/]")


def _workspace(tmp_path):
    cases = [
        {"id": "evil[/]\x1b[2J", "input_text": HOSTILE, "task_type": "answer[/]",
         "metadata": {"note": HOSTILE}, "tags": ["[/]", "\x1b]0;title\x07"]},
        {"id": "plain", "input_text": "hello", "task_type": "answer", "expected_output": HOSTILE},
    ]
    # Not blind and two labels required: bo's label stays visible and leaves the case in ana's queue.
    config = CONFIG.replace("[labeling]", "[labeling]\nblind = false\nrequired_labels = 2")
    ws = seed(tmp_path / "ws", cases, name="ds[/]\x9b", config=config)
    db = connect(ws.db_path)
    version, _ = snapshot(db, 1, "import[/]")
    with write(db):
        db.execute(
            "INSERT INTO runs (id, dataset_id, dataset_version_id, dataset_hash, prompt_name, config_json, config_hash, "
            "models_json, status, app_version, created_at) VALUES ('run1', 1, ?, 'h', 'p', '{}', 'c', '[]', 'finished', "
            "'0', ?)", [version["id"], now_iso()])
        for case_id in ("evil[/]\x1b[2J", "plain"):
            db.execute("INSERT INTO results (run_id, case_id, model, status, output, created_at) "
                       "VALUES ('run1', ?, 'model[/]', 'ok', ?, ?)", [case_id, HOSTILE, now_iso()])
            append_event(db, dataset_id=1, case_id=case_id, annotator="bo", kind="label", value=HOSTILE)
            append_event(db, dataset_id=1, case_id=case_id, annotator="bo", kind="note", note=HOSTILE)
    db.close()
    return ws


def _check(app) -> str:
    svg = app.export_screenshot()
    assert not RAW.search(svg), "a control character reached the screen"
    assert app.is_running
    return svg


def test_hostile_text_is_literal_everywhere(tmp_path):
    ws = _workspace(tmp_path)

    async def run() -> None:
        app = make_app(ws)
        async with app.run_test(size=(120, 36)) as pilot:
            await until(lambda: app.screen.query_one("#cases").row_count == 2)
            await pilot.press("escape")  # into the case table: the first case is the hostile one
            await pilot.pause()
            svg = _check(app)
            for visible in VISIBLE:
                assert visible in svg
            assert "\\u202eevil" in svg
            await pilot.press("x")  # exclude: the toast names the hostile case id
            await until(lambda: any("Saved excluded" in n.message for n in app._notifications))
            assert any("evil[/]\\x1b[2J" in n.message for n in app._notifications)
            _check(app)
            await pilot.press("x")  # and include it again, for the Label screen below
            await until(lambda: sum("Saved excluded" in n.message for n in app._notifications) == 2)
            for key in ("v", "escape", "e", "escape", "f1", "escape", "3", "4", "5", "6"):
                await pilot.press(key)
                await pilot.pause()
                _check(app)
            await pilot.press("2")
            screen = await label_ready(app)
            await until(lambda: screen._view is not None and screen._view.case is not None)
            await pilot.pause()
            svg = _check(app)
            # Input, the other annotator's label and note, and the model output (blind mode is off).
            assert svg.count("[@click=app.quit]x[/]") >= 3
            await pilot.press("g")
            await pilot.pause()
            _check(app)

    asyncio.run(run())
