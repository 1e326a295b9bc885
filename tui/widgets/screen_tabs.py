"""The tab bar at the top of every screen: one tab per screen, the current one highlighted.

Not focusable: the keyboard switches screens with 1-6 and the command palette, the mouse with a
click here, so the tab bar never steals a key meant for the screen.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from tui.keymap import SCREEN_TITLES, SCREENS


class ScreenTab(Static):
    def __init__(self, number: int | None, name: str, active: bool) -> None:
        label = SCREEN_TITLES[name] if number is None else f"{number} {SCREEN_TITLES[name]}"
        super().__init__(f" {label} ", classes="-active" if active else "", markup=False)
        self.target = name

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.app.open_screen(self.target)


class ScreenTabs(Horizontal):
    DEFAULT_CSS = """
    ScreenTabs { height: 1; dock: top; background: $panel; }
    ScreenTabs ScreenTab { width: auto; color: $text-muted; margin-right: 1; }
    ScreenTabs ScreenTab:hover { color: $text; }
    ScreenTabs ScreenTab.-active { background: $primary; color: $text; text-style: bold; }
    ScreenTabs .-hint { width: auto; color: $text-muted; text-style: italic; }
    """

    def __init__(self, current: str, *, numbered: bool = True) -> None:
        super().__init__()
        self.current, self.numbered = current, numbered

    def compose(self) -> ComposeResult:
        for i, name in enumerate(SCREENS, 1):
            yield ScreenTab(i if self.numbered else None, name, name == self.current)
        if not self.numbered:
            yield Static("digits label · d goes back", classes="-hint", markup=False)
