"""Import a file as a new dataset: path, name, format, optional field mapping and task type.

The dialog only collects the request; the Datasets screen runs `core.datasets.importing.import_file` in a
worker and shows any error (file:line) in a message dialog.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from core.datasets.formats import IMPORT_FORMATS
from tui.screens.dialog import FormDialog



@dataclass(frozen=True)
class ImportRequest:
    path: Path
    name: str
    fmt: str | None
    mapping: str
    task_type: str | None


class ImportDialog(FormDialog[ImportRequest]):
    CSS_PATH = "import_dialog.tcss"

    def compose(self) -> ComposeResult:
        with Vertical(id="form-box"):
            yield Static("Import a file as a dataset", classes="panel-title")
            yield Label("File (JSON, JSONL, CSV)")
            yield Input(id="path", placeholder="path/to/cases.jsonl")
            yield Label("Dataset name (default: the file name)")
            yield Input(id="name", placeholder="e.g. support-tickets")
            yield Label("Format")
            yield Select([(f, f) for f in IMPORT_FORMATS], id="fmt", prompt="from the file extension")
            yield Label("Field mapping (optional)")
            yield Input(id="mapping", placeholder="input_text=question,expected_output=answer")
            yield Label("Task type for cases without one (optional)")
            yield Input(id="task", placeholder="e.g. classification")
            yield Static(id="dialog-error")
            with Horizontal(classes="buttons"):
                yield Button("Import", id="go", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def submit(self) -> None:
        raw = self.query_one("#path", Input).value.strip()
        if not raw:
            self.show_error("Give the path of the file to import.")
            return
        path = Path(raw).expanduser()
        if not path.is_file():
            self.show_error(f"{raw}: no such file")
            return
        name = self.query_one("#name", Input).value.strip() or path.stem
        fmt = self.query_one("#fmt", Select).value
        self.dismiss(ImportRequest(
            path=path, name=name, fmt=None if fmt is Select.NULL else str(fmt),
            mapping=self.query_one("#mapping", Input).value.strip(),
            task_type=self.query_one("#task", Input).value.strip() or None,
        ))
