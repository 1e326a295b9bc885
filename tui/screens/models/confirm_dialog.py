"""Ask before something that cannot be undone from the app (deleting a model or a prompt)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from tui.render import plain
from tui.screens.dialog import Dialog


class ConfirmDialog(Dialog[bool]):
    """Dismisses with True when confirmed; Esc or Cancel gives None."""

    DEFAULT_CSS = """
    ConfirmDialog #confirm-box { width: 64; height: auto; border: round $error; background: $panel; padding: 0 1; }
    """

    def __init__(self, question: str, *, action: str) -> None:
        super().__init__()
        self.question, self.action = question, action

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(plain(self.question))
            with Horizontal(classes="buttons"):
                yield Button(self.action, id="yes", variant="error")
                yield Button("Cancel", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(True if event.button.id == "yes" else None)
