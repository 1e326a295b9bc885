"""Ask for one line of text (a note, a flag reason). Enter saves, Esc cancels."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui.screens.dialog import Dialog


class TextPromptDialog(Dialog[str]):
    CSS_PATH = "text_prompt_dialog.tcss"

    def __init__(self, title: str, hint: str, *, allow_empty: bool = False) -> None:
        super().__init__()
        self.title_text, self.hint, self.allow_empty = title, hint, allow_empty

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Static(self.title_text, classes="panel-title", markup=False)
            yield Input(id="prompt-input", placeholder=self.hint)
            yield Static("Enter saves · Esc cancels", classes="muted")
            yield Static(id="dialog-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip() and not self.allow_empty:
            self.show_error("Type something, or press Esc.")
            return
        self.dismiss(event.value.strip())
