"""Export the selected dataset (current ground truth, or one version) as JSON, JSONL or CSV."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from core.datasets.formats import FILE_FORMATS
from tui.render import plain
from tui.screens.dialog import FormDialog



@dataclass(frozen=True)
class ExportRequest:
    fmt: str
    path: Path
    version: int | None
    overwrite: bool


class ExportDialog(FormDialog[ExportRequest]):
    CSS_PATH = "export_dialog.tcss"

    def __init__(self, dataset_name: str) -> None:
        super().__init__()
        self.dataset_name = dataset_name

    def compose(self) -> ComposeResult:
        with Vertical(id="form-box"):
            title = plain("Export dataset ", style="bold")
            title.append(plain(self.dataset_name, single_line=True, max_len=40))
            yield Static(title, classes="panel-title")
            yield Label("Format")
            yield Select([(f, f) for f in FILE_FORMATS], id="fmt", value="jsonl", allow_blank=False)
            yield Label("Write to")
            yield Input(id="path", placeholder="path/to/file")
            yield Label("Version (blank = current cases with their ground truth)")
            yield Input(id="version", placeholder="e.g. 3", type="integer")
            yield Checkbox("Overwrite an existing file", id="overwrite")
            yield Static(id="dialog-error")
            with Horizontal(classes="buttons"):
                yield Button("Export", id="go", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._suggest_path("jsonl")
        self.query_one("#path", Input).focus()

    def _suggest_path(self, fmt: str) -> None:
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.dataset_name) or "dataset"
        self.query_one("#path", Input).value = f"{stem}.{fmt}"

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self._suggest_path(str(event.value))

    def submit(self) -> None:
        raw = self.query_one("#path", Input).value.strip()
        if not raw:
            self.show_error("Give a path to write to.")
            return
        version_text = self.query_one("#version", Input).value.strip()
        self.dismiss(ExportRequest(
            fmt=str(self.query_one("#fmt", Select).value), path=Path(raw).expanduser(),
            version=int(version_text) if version_text else None,
            overwrite=self.query_one("#overwrite", Checkbox).value,
        ))
