"""The case table: one page of cases at a time; moving past either edge asks for the next page."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.widgets import DataTable


class CaseTable(DataTable):
    @dataclass
    class PageRequest(Message):
        delta: int  # +1 next page, -1 previous page

    def action_cursor_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.PageRequest(1))
            return
        super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.row_count and self.cursor_row <= 0:
            self.post_message(self.PageRequest(-1))
            return
        super().action_cursor_up()
