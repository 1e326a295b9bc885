"""Datasets screen: keyset pages, filters, and each curation action writing through the store."""

from __future__ import annotations

import asyncio
import json

from tui_helpers import make_app, seed, sentiment_cases, until

from store import connect
from store import datasets as store_ds


def _table(app):
    return app.screen.query_one("#cases")


def _cell(app, row: int, col: int) -> str | None:
    table = _table(app)
    return str(table.get_row_at(row)[col]) if row < table.row_count else None


def test_pages_of_100_and_filters(tmp_path):
    cases = sentiment_cases(250)
    cases[137]["input_text"] = "needle in a haystack"
    ws = seed(tmp_path / "ws", cases)

    async def run() -> None:
        app = make_app(ws)
        async with app.run_test(size=(120, 36)) as pilot:
            await until(lambda: _table(app).row_count == 100)
            await pilot.press("escape", "right_square_bracket")
            await until(lambda: _cell(app, 0, 0) == "r100")
            await pilot.press("right_square_bracket")
            await until(lambda: _table(app).row_count == 50)
            assert "cases 201–250 of 250" in str(app.screen.query_one("#pager").render())
            await pilot.press("up")  # cursor at the top: moving up loads the previous page
            await until(lambda: _table(app).row_count == 100 and _cell(app, 0, 0) == "r100")
            assert _table(app).cursor_row == 99
            await pilot.press("slash", *"needle")
            await until(lambda: _table(app).row_count == 1)
            assert "needle in a haystack" in str(app.screen.query_one("#detail").render())

    asyncio.run(run())


def test_exclude_edit_and_versions(tmp_path):
    ws = seed(tmp_path / "ws", sentiment_cases(5))

    async def run() -> None:
        app = make_app(ws)
        async with app.run_test(size=(120, 36)) as pilot:
            await until(lambda: _table(app).row_count == 5)
            await pilot.press("escape", "x")
            await until(lambda: _cell(app, 0, 3) == "excluded")
            await pilot.press("e")
            await pilot.pause()
            await pilot.press(*"negative")  # the expected-output editor has focus
            await pilot.press("ctrl+s")
            await until(lambda: _cell(app, 0, 3) == "excluded"
                        and "negative" in str(app.screen.query_one("#detail").render()))
            app.screen.query_one("#f-state").value = "truth"  # label-state filter
            await until(lambda: _table(app).row_count == 1)
            app.screen.query_one("#f-state").value = "open"
            await until(lambda: _table(app).row_count == 4)
            await pilot.press("v")
            await pilot.press("n")
            await until(lambda: app.screen.query_one("#versions").row_count == 1)
            await pilot.press("escape")

    asyncio.run(run())
    db = connect(ws.db_path)
    row = store_ds.get_case(db, 1, "r000")
    assert row.excluded and row.expected == "negative"
    assert [v["version"] for v in store_ds.list_versions(db, 1)] == [1]


def test_import_error_names_file_and_line_and_import_and_export_work(tmp_path):
    ws = seed(tmp_path / "ws", sentiment_cases(2))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input_text": "fine"}\n{"input_text": \n', encoding="utf-8")
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps({"input_text": f"q{i}", "expected_output": "a"}) + "\n" for i in range(3)))
    out = tmp_path / "out.jsonl"

    async def import_file(pilot, path, name) -> None:
        await pilot.press("i")
        await pilot.pause()
        # Typed paths cost a key press per character: set the fields, then Enter in the path field.
        await until(lambda: pilot.app.focused is not None and pilot.app.focused.id == "path")
        pilot.app.screen.query_one("#path").value = str(path)
        pilot.app.screen.query_one("#name").value = name
        await pilot.press("enter")

    async def run() -> None:
        app = make_app(ws)
        async with app.run_test(size=(120, 36)) as pilot:
            await until(lambda: _table(app).row_count == 2)
            await import_file(pilot, bad, "broken")
            await until(lambda: app.screen.__class__.__name__ == "MessageDialog")
            body = str(app.screen.query_one("#message-body").render())
            assert f"{bad}:2" in body
            await pilot.press("escape")
            await import_file(pilot, good, "fresh")
            await until(lambda: app.dataset_name == "fresh" and _table(app).row_count == 3)
            await pilot.press("o")
            await pilot.pause()
            path_input = app.screen.query_one("#path")
            path_input.value = str(out)
            await pilot.press("enter")
            await until(lambda: out.exists())
            # The same export again, without ticking Overwrite: refused by core, shown by the app.
            await pilot.press("o")
            await pilot.pause()
            app.screen.query_one("#path").value = str(out)
            await pilot.press("enter")
            await until(lambda: app.screen.__class__.__name__ == "MessageDialog")
            assert "already exists" in str(app.screen.query_one("#message-body").render())

    asyncio.run(run())
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["expected_output"] == "a"


def test_sample_dialog_previews_coverage_before_creating(tmp_path):
    ws = seed(tmp_path / "ws", sentiment_cases(2))
    log = tmp_path / "prod.jsonl"
    log.write_text("".join(json.dumps({"prompt": f"question {i}", "task_type": ("a", "b")[i % 2]}) + "\n"
                           for i in range(40)))

    async def run() -> None:
        app = make_app(ws)
        async with app.run_test(size=(120, 36)) as pilot:
            await until(lambda: _table(app).row_count == 2)
            await pilot.press("s")
            await pilot.pause()
            dialog = app.screen
            dialog.query_one("#path").value = str(log)
            dialog.query_one("#size").value = "10"
            dialog.query_one("#name").value = "prod-sample"
            await pilot.click("#preview")
            await until(lambda: dialog.query_one("#coverage").row_count == 2)
            assert "Nothing written yet" in str(dialog.query_one("#coverage-total").render())
            db = connect(ws.db_path)
            assert [s["name"] for s in store_ds.dataset_summaries(db)] == ["reviews"]
            await pilot.click("#create")
            await until(lambda: app.dataset_name == "prod-sample" and _table(app).row_count == 10)

    asyncio.run(run())
