"""Base of every modal dialog: Esc cancels, a title, an error line. Dialogs return plain data."""

from __future__ import annotations

from typing import Any, TypeVar

from rich.text import Text
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from tui import keymap
from tui.render import plain

T = TypeVar("T")


class Dialog(ModalScreen[T], inherit_bindings=False):
    BINDINGS = keymap.MODAL
    AUTO_FOCUS = ""

    def action_cancel(self) -> None:
        self.dismiss(None)

    def show_error(self, message: Any) -> None:
        """Untrusted parts of `message` (paths, values) are made safe here."""
        self.query_one("#dialog-error", Static).update(plain(message, style="bold") if message else Text(""))


class FormDialog(Dialog[T]):
    """A dialog whose form is submitted by Enter in any input or its `go` button."""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "go":
            self.submit()
        else:
            self.dismiss(None)

    def submit(self) -> None:
        raise NotImplementedError
