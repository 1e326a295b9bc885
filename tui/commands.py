"""Command palette (ctrl+p): every screen, and the actions of Datasets and Label, by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.keymap import SCREEN_TITLES, SCREENS

if TYPE_CHECKING:
    from tui.app import AssayApp

# (title, help, screen, action on that screen or None)
_ACTIONS: list[tuple[str, str, str, str | None]] = [
    ("Import a file as a dataset", "JSON, JSONL, CSV, inspect-ai or OpenAI-evals samples, chat conversations",
     "datasets", "import_file"),
    ("Sample a dataset from production logs", "stratified, deduplicated, with a coverage report first", "datasets", "sample_logs"),
    ("Export the selected dataset", "JSON, JSONL or CSV with current ground truth", "datasets", "export"),
    ("Show dataset versions", "immutable snapshots; take one now", "datasets", "versions"),
    ("Edit the selected case", "expected output, task type, difficulty, tags", "datasets", "edit_case"),
    ("Edit the selected case in $EDITOR", "as a JSON file", "datasets", "edit_external"),
    ("Label the selected dataset", "one case at a time, one key per decision", "datasets", "label_dataset"),
    ("Adjudication queue", "flagged cases and disagreements, labels side by side", "label", "toggle_adjudication"),
    ("Show labeling guidelines", "Markdown from assay.toml", "label", "guidelines"),
    ("Undo my last labeling decision", "append-only: records an undo event", "label", "undo"),
]


class AssayCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], None]]]:
        app: AssayApp = self.app  # type: ignore[assignment]
        out: list[tuple[str, str, Callable[[], None]]] = []
        for i, name in enumerate(SCREENS, 1):
            out.append((f"Go to {SCREEN_TITLES[name]}", f"screen {i}", partial(app.open_screen, name)))
        for title, help_text, screen, action in _ACTIONS:
            out.append((title, help_text, partial(app.run_screen_action, screen, action)))
        out.append(("Show keys (help)", "the bindings of this screen and their ids", app.action_help))
        return out

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
