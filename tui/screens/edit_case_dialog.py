"""Edit one case in place: expected output, task type, difficulty, tags. Returns only the changes."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from core.common.safe_text import safe_text
from core.datasets.browse import CaseRow
from core.datasets.edits import expected_from_text, expected_to_text, tags_from_text, validated_changes
from core.errors import UsageError
from tui import keymap
from tui.render import plain
from tui.screens.dialog import FormDialog

DIFFICULTIES = ("easy", "medium", "hard")


class EditCaseDialog(FormDialog[dict[str, Any]]):
    CSS_PATH = "edit_case_dialog.tcss"
    BINDINGS = keymap.EDIT_CASE

    def __init__(self, row: CaseRow) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        row = self.row
        with Vertical(id="form-box"):
            title = plain("Edit case ", style="bold")
            title.append(plain(row.case_id, single_line=True, max_len=60))
            yield Static(title, classes="panel-title")
            yield Label("Expected output (blank = unlabeled; a JSON object stays an object) · ctrl+s saves")
            yield TextArea(expected_to_text(row.expected), id="expected", soft_wrap=True, show_line_numbers=False)
            with Horizontal(id="row-fields"):
                with Vertical():
                    yield Label("Task type")
                    yield Input(safe_text(row.task_type, single_line=True), id="task")
                with Vertical():
                    yield Label("Difficulty")
                    yield Select([(d, d) for d in DIFFICULTIES], id="difficulty", value=row.difficulty or Select.NULL,
                                 prompt="none")
            yield Label("Tags (comma-separated)")
            yield Input(safe_text(", ".join(row.tags), single_line=True), id="tags")
            yield Static(id="dialog-error")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="go", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#expected", TextArea).focus()

    def action_save(self) -> None:
        self.submit()

    def submit(self) -> None:
        row = self.row
        task_text = self.query_one("#task", Input).value.strip()
        tags_text = self.query_one("#tags", Input).value
        difficulty = self.query_one("#difficulty", Select).value
        try:
            fields = {
                "expected_output": expected_from_text(self.query_one("#expected", TextArea).text, row.expected),
                # What was shown through safe_text and left alone keeps its original value.
                "task_type": row.task_type if task_text == safe_text(row.task_type, single_line=True) else task_text,
                "difficulty": None if difficulty is Select.NULL else difficulty,
                "tags": row.tags if tags_text == safe_text(", ".join(row.tags), single_line=True)
                else tags_from_text(tags_text),
            }
            changes = validated_changes(row, fields)
        except UsageError as exc:
            self.show_error(exc.message)
            return
        self.dismiss(changes)
