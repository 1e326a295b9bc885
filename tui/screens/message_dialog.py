"""A message (usually an error naming file and line) that stays until the user closes it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Static

from tui.render import plain
from tui.screens.dialog import Dialog


class MessageDialog(Dialog[None]):
    CSS_PATH = "message_dialog.tcss"

    def __init__(self, title: str, message: str, *, error: bool = True) -> None:
        super().__init__()
        self.title_text, self.message, self.error = title, message, error

    def compose(self) -> ComposeResult:
        with Vertical(id="message-box", classes="error" if self.error else ""):
            yield Static(plain(self.title_text, single_line=True), classes="panel-title")
            with VerticalScroll():
                yield Static(plain(self.message), id="message-body")
            with Horizontal(classes="buttons"):
                yield Button("OK", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)
