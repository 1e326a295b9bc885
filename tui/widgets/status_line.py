"""One line above the footer: workspace, database, annotator, dataset. Always visible."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.render import plain, short_path


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "dataset_name", self._refresh_line)

    def _refresh_line(self, _: object = None) -> None:
        app = self.app
        line = Text()
        for label, value in (
            ("workspace ", short_path(app.ws.root)),
            ("db ", short_path(app.ws.db_path)),
            ("annotator ", app.annotator),
            ("dataset ", app.dataset_name or "(none selected)"),
        ):
            if line:
                line.append("  ·  ")
            line.append(label)
            line.append(plain(value, single_line=True, max_len=40, style="bold"))
        self.update(line)
