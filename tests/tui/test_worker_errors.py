"""The one worker-error funnel: a failing background worker shows a dialog and the app stays up."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Static
from textual.worker import WorkerState
from tui_helpers import make_app, until

from core.errors import InputError
from tui.screens.message_dialog import MessageDialog
from tui.workers import background


class Failing(Static):
    @background(group="test")
    def fail(self, error: Exception) -> None:
        raise error


@pytest.mark.parametrize("error, title, text", [
    (InputError("cases.csv", 3, "expected 5 fields, found 4"), "Could not do that", "cases.csv:3: expected 5 fields, found 4"),
    (KeyError("boom"), "Unexpected error", "KeyError: 'boom'"),
    (RuntimeError("[bold]x[/] \x1b[31m"), "Unexpected error", "RuntimeError: [bold]x[/] \x1b[31m"),
])
def test_a_failing_worker_shows_a_dialog_and_the_app_stays_up(reviews, error, title, text):
    asyncio.run(_fail_and_recover(make_app(reviews), error, title, text))


async def _fail_and_recover(app, error, title, text) -> None:
    async with app.run_test(size=(100, 30)) as pilot:
        widget = Failing("probe")
        await app.screen.mount(widget)
        worker = widget.fail(error)
        await until(lambda: isinstance(app.screen, MessageDialog) and app.screen.query("#message-body"))
        assert worker.state == WorkerState.ERROR
        dialog = app.screen
        assert (dialog.title_text, dialog.message) == (title, text)
        body = str(dialog.query_one("#message-body").render())
        # Shown literally: markup not interpreted, the escape made visible, never sent to the terminal.
        assert "\x1b" not in body and text.replace("\x1b", "\\x1b") in body
        await pilot.press("enter")
        await until(lambda: not isinstance(app.screen, MessageDialog))
        assert app.is_running and app.return_code is None
