"""What every main screen shares: the tab bar, the status line, the footer, and help rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.screen import Screen
from textual.widgets import Footer

from tui import keymap
from tui.widgets.screen_tabs import ScreenTabs
from tui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from tui.app import AssayApp


class AssayScreen(Screen, inherit_bindings=False):
    MODE: ClassVar[str]
    BINDINGS = keymap.SCREEN
    # Binding ids the help screen leaves out here (e.g. digits, which are labels on Label).
    HIDDEN_IN_HELP: ClassVar[tuple[str, ...]] = ()
    # Never let Textual pick a widget to focus: a text field would swallow digit keys.
    AUTO_FOCUS = ""

    @property
    def assay(self) -> "AssayApp":
        return self.app  # type: ignore[return-value]

    def chrome(self) -> tuple[ScreenTabs, StatusLine, Footer]:
        # A screen that hides the screen-switching digits (Label: they are label keys) shows no
        # numbers on its tabs either, so the bar does not promise what the keys do there.
        return ScreenTabs(self.MODE, numbered="app.screen." not in self.HIDDEN_IN_HELP), StatusLine(), Footer()

    def help_rows(self) -> list[tuple[str, str]]:
        """Keys that are not bindings (e.g. label keys from assay.toml): (key, what it does)."""
        return []
