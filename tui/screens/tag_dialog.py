"""Set the tags of one case (comma-separated)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from core.common.safe_text import safe_text
from core.datasets.browse import CaseRow
from core.datasets.edits import tags_from_text
from tui.render import plain
from tui.screens.dialog import Dialog


class TagDialog(Dialog[list[str]]):
    CSS_PATH = "tag_dialog.tcss"

    def __init__(self, row: CaseRow) -> None:
        super().__init__()
        self.row = row
        self.shown = safe_text(", ".join(row.tags), single_line=True)

    def compose(self) -> ComposeResult:
        with Vertical(id="tag-box"):
            title = plain("Tags of ", style="bold")
            title.append(plain(self.row.case_id, single_line=True, max_len=50))
            yield Static(title, classes="panel-title")
            yield Input(self.shown, id="tags", placeholder="e.g. refund, hard-case")
            yield Static("Comma-separated · Enter saves · Esc cancels", classes="muted")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(self.row.tags if event.value == self.shown else tags_from_text(event.value))
