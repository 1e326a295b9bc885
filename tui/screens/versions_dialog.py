"""The versions of one dataset (immutable snapshots), and `n` to take one now.

A snapshot freezes every case with its current ground truth (imported, edited or decided by the
label log); identical content reuses the latest version, so `n` is safe to press twice. Versions
are read by the same core function as `assay datasets versions`.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from core.datasets.versions import list_versions, take_snapshot
from core.records import DatasetVersion
from tui import keymap
from tui.render import plain
from tui.screens.dialog import Dialog
from tui.workers import background


class VersionsDialog(Dialog[None]):
    CSS_PATH = "versions_dialog.tcss"
    BINDINGS = keymap.VERSIONS

    @dataclass
    class Loaded(Message):
        versions: list[DatasetVersion]
        note: str

    def __init__(self, dataset_id: int, dataset_name: str) -> None:
        super().__init__()
        self.dataset_id, self.dataset_name = dataset_id, dataset_name

    def compose(self) -> ComposeResult:
        with Vertical(id="versions-box"):
            title = plain("Versions of ", style="bold")
            title.append(plain(self.dataset_name, single_line=True, max_len=50))
            yield Static(title, classes="panel-title")
            yield DataTable(id="versions", cursor_type="row", zebra_stripes=True)
            yield Static(id="versions-note", classes="muted")
            yield Static("n snapshot now · Esc close", classes="muted")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("version", "created (UTC)", "cases", "labeled", "reason", "content hash")
        table.focus()
        self._load(snapshot=False)

    def action_snapshot(self) -> None:
        self._load(snapshot=True)

    @background(group="versions", exclusive=True)
    def _load(self, snapshot: bool) -> None:
        note = ""
        with closing(self.app.open_db()) as db:
            if snapshot:
                taken = take_snapshot(db, self.dataset_id, required=self.app.config.labeling.required_labels)
                number = taken.version.version
                note = (f"Took version {number}." if taken.created
                        else f"Nothing changed since version {number}; no new version.")
            versions = list_versions(db, self.dataset_id)
        self.post_message(self.Loaded(versions, note))

    def on_versions_dialog_loaded(self, event: Loaded) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for v in reversed(event.versions):
            table.add_row(
                Text(str(v.version)), Text(v.created_at[:19].replace("T", " ")), Text(str(v.n_cases)),
                Text(str(v.n_labeled)), plain(v.reason, single_line=True), Text(v.content_hash[:12]),
            )
        note = event.note or ("No versions yet." if not event.versions else "")
        self.query_one("#versions-note", Static).update(plain(note))
