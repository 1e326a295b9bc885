"""Run screen (Pilot): start a run against the in-process demo server and watch it finish, stop one
gracefully and resume it from the history list, open a run in Review."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import closing

import pytest
from tui_helpers import CONFIG, make_app, seed, sentiment_cases, until

from core.run.history import list_runs
from demo.serve import DemoServer
from store import connect
from store import runs as store_runs
from tui.screens.models.confirm_dialog import ConfirmDialog


def _config(base: str) -> str:
    return CONFIG + f"""
[run]
backoff_base_s = 0.01
backoff_max_s = 0.05

[models.strong]
model = "openai/demo-strong"
api_base = "{base}"
input_price_per_1m = 5.0
output_price_per_1m = 15.0

[models.fast]
model = "openai/demo-fast"
api_base = "{base}"
input_price_per_1m = 0.15
output_price_per_1m = 0.6
"""


@pytest.fixture
def server():
    srv = DemoServer(latency_ms=0, latency_scale=0)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def ws(tmp_path, server):
    return seed(tmp_path / "ws", sentiment_cases(12), config=_config(server.base_url))


def _runs(ws):
    with closing(connect(ws.db_path)) as db:
        return list_runs(db, outcomes=True)


async def _form_ready(app) -> None:
    from tui.screens.run import RunScreen

    await until(lambda: isinstance(app.screen, RunScreen) and app.screen._dataset() == "reviews")
    await until(lambda: app.screen.estimate is not None)


@contextlib.asynccontextmanager
async def _on_run_screen(ws):
    """The app on the Run screen at 120x36, its form loaded: (app, pilot, screen)."""
    app = make_app(ws, start="run")
    async with app.run_test(size=(120, 36)) as pilot:
        await _form_ready(app)
        yield app, pilot, app.screen


async def _confirm(app, pilot) -> None:
    """Answer the confirmation dialog that the last key opened with its action button."""
    await until(lambda: isinstance(app.screen, ConfirmDialog))
    await pilot.click("#yes")


def test_start_a_run_watch_it_finish_and_open_it_in_review(ws):
    async def run() -> None:
        async with _on_run_screen(ws) as (app, pilot, screen):
            assert screen.estimate.calls == 24  # 12 cases x 2 models
            await pilot.press("s")
            await until(lambda: screen.last_run_id is not None and not screen.running, timeout=60)
            table = screen.query_one("#live")
            assert table.row_count == 2 and str(table.get_cell("strong", "done")) == "12/12"
            assert "Run finished" in str(screen.query_one("#live-head").render())
            await until(lambda: screen.query_one("#history").row_count == 1)
            assert not screen.query_one("#estimate").display  # the finished run stays on show...
            screen.query_one("#models").deselect("fast")  # ...until the form plans another one
            await until(lambda: screen.query_one("#estimate").display and screen.estimate.calls == 12)
            assert not table.display and not screen.query_one("#live-head").display
            await pilot.press("v")
            assert app.current_mode == "review"
            await until(lambda: getattr(app.screen, "shown_run", None) == screen.last_run_id)

    asyncio.run(run())
    [summary] = _runs(ws)
    assert summary.status == "finished" and summary.n_results == 24
    assert {o.model: o.ok for o in summary.outcomes} == {"strong": 12, "fast": 12}


def test_the_history_cursor_moves_to_a_run_started_here(ws):
    async def run() -> None:
        async with _on_run_screen(ws) as (app, pilot, screen):
            history = screen.query_one("#history")
            started: list[str] = []
            for n in (1, 2):
                await pilot.press("s")
                await until(lambda: screen.last_run_id not in (None, *started) and not screen.running, timeout=60)
                started.append(screen.last_run_id)
                await until(lambda: history.row_count == n)
                assert screen._highlighted_run() == started[-1]  # the new top row, not the one below it

    asyncio.run(run())


def test_a_short_terminal_scrolls_the_form_to_its_start_button(ws):
    async def run() -> None:
        app = make_app(ws, start="run")
        async with app.run_test(size=(80, 24)) as pilot:
            await _form_ready(app)
            form, start = app.screen.query_one("#run-form"), app.screen.query_one("#start")
            assert form.max_scroll_y > 0  # 80x24 cannot show the whole form: it scrolls, not clips
            start.focus()
            await until(lambda: start.region.bottom <= form.region.bottom and start.region.height > 0)
            await pilot.resize_terminal(80, 18)  # shorter still: the estimate no longer fits either
            main = app.screen.query_one("#run-main")
            await until(lambda: main.max_scroll_y > 0 and main.show_vertical_scrollbar)

    asyncio.run(run())


def test_the_model_checklist_shows_its_state_without_colour(ws):
    async def run() -> None:
        app = make_app(ws, start="run")
        async with app.run_test(size=(120, 36)):
            await _form_ready(app)
            models = app.screen.query_one("#models")
            models.deselect("fast")
            await until(lambda: list(models.selected) == ["strong"])
            lines = [models.render_line(y).text for y in range(2)]
            assert lines[0].startswith("▐X▌ strong") and lines[1].startswith("▐ ▌ fast"), lines

    asyncio.run(run())


def test_cancel_gracefully_then_resume_from_the_history_list(ws, server):
    server.configure(latency_ms=2000)  # 3 rounds of 8 calls: slow enough to stop part way even on a loaded machine

    async def run() -> None:
        async with _on_run_screen(ws) as (app, pilot, screen):
            await pilot.press("s")
            await until(lambda: screen.live is not None and screen.live.snapshot().progress is not None
                        and screen.live.snapshot().progress.done > 0, timeout=30)
            await pilot.press("c")
            await _confirm(app, pilot)
            await until(lambda: screen.cancel_level == 1)
            await until(lambda: not screen.running, timeout=30)
            assert "Run interrupted" in str(screen.query_one("#live-head").render())
            await until(lambda: screen.query_one("#history").row_count == 1
                        and screen.runs and next(iter(screen.runs.values())).status == "interrupted")
            interrupted = _runs(ws)[0]
            assert interrupted.status == "interrupted" and interrupted.n_results < 24

            server.configure(latency_ms=0)
            before = screen.live
            await pilot.press("h", "r")
            await until(lambda: screen.live is not before and not screen.running, timeout=60)
            assert screen.live.snapshot().started.resumed
            assert "Run finished" in str(screen.query_one("#live-head").render())

    asyncio.run(run())
    [summary] = _runs(ws)
    assert summary.status == "finished" and summary.n_results == 24


def test_the_failed_calls_of_a_finished_run_are_sent_again_from_the_history_list(ws, server):
    server.configure(faults=[{"kind": "quota", "model": "demo-fast"}])  # an outage on one model

    async def run() -> None:
        async with _on_run_screen(ws) as (app, pilot, screen):
            await pilot.press("s")
            await until(lambda: screen.last_run_id is not None and not screen.running, timeout=60)
            history = screen.query_one("#history")
            await until(lambda: history.row_count == 1 and screen.runs)
            assert str(history.get_cell(screen.last_run_id, "status")) == "finished · 12 failed"

            server.configure(faults=[])
            before = screen.live
            await pilot.press("h", "e")
            await until(lambda: isinstance(app.screen, ConfirmDialog))
            assert "Send the 12 failed calls of run" in str(app.screen.query_one("Static").render())
            await pilot.click("#yes")
            await until(lambda: screen.live is not before and not screen.running, timeout=60)
            started = screen.live.snapshot().started
            assert (started.resumed, started.already_done, started.reopened) == (True, 12, 12)
            assert "Run finished  24/24 · ok 24 · errors 0" in str(screen.query_one("#live-head").render())
            await until(lambda: str(history.get_cell(screen.last_run_id, "status")) == "finished")
            await pilot.press("e")  # nothing left to send
            await until(lambda: any("no failed call" in n.message for n in app._notifications))

    asyncio.run(run())
    [summary] = _runs(ws)
    assert summary.status == "finished" and {o.model: o.ok for o in summary.outcomes} == {"strong": 12, "fast": 12}


def test_immediate_cancel_needs_a_second_confirmed_press(ws, server):
    server.configure(latency_ms=2000)  # calls stay on the wire: only an immediate stop ends them

    async def run() -> None:
        async with _on_run_screen(ws) as (app, pilot, screen):
            await pilot.press("s")
            await until(lambda: screen.live is not None and screen.live.snapshot().progress is not None
                        and screen.live.snapshot().progress.in_flight > 0, timeout=30)
            for level in (1, 2):
                await pilot.press("c")
                await _confirm(app, pilot)
                await until(lambda: screen.cancel_level == level)
            await until(lambda: not screen.running, timeout=5)  # well before the 2 s calls or the grace period

    asyncio.run(run())
    with closing(connect(ws.db_path)) as db:
        assert store_runs.list_runs(db)[0]["status"] == "interrupted"


def test_a_model_and_a_prompt_added_to_the_config_are_offered_when_the_screen_is_shown_again(ws, server):
    from textual.widgets import Select, SelectionList

    from core.config.schema import load_config

    async def run() -> None:
        async with _on_run_screen(ws) as (app, pilot, screen):
            models = screen.query_one("#models", SelectionList)
            models.deselect("fast")
            await pilot.press("1")  # the Models screen (or an editor) adds a model meanwhile
            with ws.config_path.open("a", encoding="utf-8") as f:
                f.write(f'\n[models.extra]\nmodel = "openai/demo-fast"\napi_base = "{server.base_url}"\n'
                        '\n[prompts.terse]\nsystem = "Be terse."\ntemplate = "{input_text}"\n')
            app.config = load_config(ws.config_path)
            await pilot.press("4")
            await until(lambda: models.option_count == 3)
            assert [models.get_option_at_index(i).value for i in range(3)] == ["strong", "fast", "extra"]
            assert models.selected == ["strong", "extra"]  # "fast" keeps the check it was given
            await until(lambda: screen.estimate is not None and screen.estimate.calls == 24)  # 12 x 2
            prompt = screen.query_one("#prompt", Select)
            assert prompt.value == "default"
            prompt.value = "terse"  # a choice the old list did not have
            await until(lambda: screen.estimate.prompt == "terse")

    asyncio.run(run())
