"""Screens that are not built yet say so plainly; they show no made-up data."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.widgets import Static

from tui.screens.base import AssayScreen


class PlaceholderScreen(AssayScreen):
    CSS_PATH = "placeholder.tcss"
    PURPOSE: ClassVar[str]
    MEANWHILE: ClassVar[str]

    def compose(self) -> ComposeResult:
        tabs, status, footer = self.chrome()
        yield tabs
        with Middle(), Center():
            yield Static(
                f"{self.MODE.capitalize()}: coming in a later release.\n\n{self.PURPOSE}\n\n"
                f"Nothing on this screen works yet. {self.MEANWHILE}\n\nPress 1 for Datasets or 2 for Label.",
                classes="placeholder", markup=False,
            )
        yield status
        yield footer
