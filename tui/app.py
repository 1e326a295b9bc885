"""The Assay terminal app: six screens (Datasets, Label, Models, Run, Review, Trends) as modes.

Screens switch with number keys 1-6 (not on Label, where digits are labels), the tab bar and the
command palette (ctrl+p). Every binding has an id (tui/keymap.py) that the user config's
[keymap] can rebind. The app never imports litellm: nothing on these screens calls a model.

Threads: the app's thread owns the widgets. Every database read or write runs in a thread worker
(`tui.workers.background`) on its own connection (`open_db()`), and posts a message with the
result; a worker's unexpected failure reaches `on_worker_failed`, which shows it and keeps the app up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from contextlib import closing

import sqlite_utils
from textual.app import App
from textual.filter import LineFilter, Monochrome
from textual.reactive import reactive
from textual.screen import Screen

from core.config.schema import WorkspaceConfig
from core.common.safe_text import safe_text
from core.labeling.overview import first_dataset_to_label
from core.workspace import Workspace
from tui import keymap
from tui.commands import AssayCommands
from tui.no_color import SafeMonochrome
from tui.screens.help import HelpScreen
from tui.screens.message_dialog import MessageDialog
from tui.workers import WorkerFailed, describe_error


def _lazy(module: str, name: str) -> Callable[[], Screen]:
    """A mode's screen, imported when first shown: the first screen appears sooner."""
    def make() -> Screen:
        return getattr(importlib.import_module(module), name)()

    return make


class AssayApp(App[None], inherit_bindings=False):
    TITLE = "Assay"
    CSS_PATH = "app.tcss"
    MODES = {
        "datasets": _lazy("tui.screens.datasets", "DatasetsScreen"),
        "label": _lazy("tui.screens.label", "LabelScreen"),
        "models": _lazy("tui.screens.models", "ModelsScreen"),
        "run": _lazy("tui.screens.run", "RunScreen"),
        "review": _lazy("tui.screens.review", "ReviewScreen"),
        "trends": _lazy("tui.screens.trends", "TrendsScreen"),
    }
    BINDINGS = keymap.APP
    COMMANDS = App.COMMANDS | {AssayCommands}

    dataset_id: reactive[int | None] = reactive(None)
    dataset_name: reactive[str] = reactive("")

    def __init__(
        self, ws: Workspace, *, config: WorkspaceConfig, annotator: str, user_keymap: dict[str, str] | None = None,
        start: str = "datasets", dataset: tuple[int, str] | None = None, stable_display: bool = False,
    ) -> None:
        """`stable_display` hides wall-clock figures (rate, ETA) so screenshots are reproducible."""
        # The first screen is a mode like the others; there is no blank default screen.
        self.DEFAULT_MODE = start
        super().__init__()
        self.ws = ws
        self.config = config
        self.annotator = annotator
        self.user_keymap = dict(user_keymap or {})
        self.stable_display = stable_display
        # dataset id -> case edits made in this app; Label reloads its queue when its dataset's count moves.
        self.case_edits: dict[int, int] = {}
        # The run the Review screen shows next: set by the Run screen (v) before it opens Review.
        self.review_run_id: str | None = None
        self._monochrome = SafeMonochrome()  # NO_COLOR (tui.no_color)
        if dataset is None:  # open where there is work: the first dataset with cases to label
            with closing(self.open_db()) as db:
                found = first_dataset_to_label(db, config, annotator)
            dataset = (found.id, found.name) if found else None
        if dataset is not None:
            self.set_reactive(AssayApp.dataset_id, dataset[0])
            self.set_reactive(AssayApp.dataset_name, dataset[1])

    def get_line_filters(self) -> Sequence[LineFilter]:
        return [self._monochrome if isinstance(f, Monochrome) else f for f in super().get_line_filters()]

    def open_db(self) -> sqlite_utils.Database:
        """A connection for the calling thread (workers each open their own; sqlite3 refuses sharing)."""
        return self.ws.connect(migrate=False)

    def on_mount(self) -> None:
        if self.user_keymap:
            self.set_keymap(self.user_keymap)
            unknown = keymap.unknown_ids(self.user_keymap)
            if unknown:
                names = safe_text(", ".join(unknown), single_line=True, max_len=200)
                self.notify(f"[keymap] in your user config names unknown bindings: {names}. "
                            "Press ? to see the ids.", severity="warning", markup=False, timeout=10)

    def on_worker_failed(self, message: WorkerFailed) -> None:
        """The one funnel for failed background work (tui/workers.py): a dialog, never an exit."""
        title, text = describe_error(message.error)
        self.push_screen(MessageDialog(title, text))

    def select_dataset(self, dataset_id: int | None, name: str) -> None:
        self.dataset_id, self.dataset_name = dataset_id, name

    def note_cases_edited(self, dataset_id: int) -> None:
        """Cases of `dataset_id` were edited, excluded or included (Datasets screen)."""
        self.case_edits[dataset_id] = self.case_edits.get(dataset_id, 0) + 1

    def open_screen(self, name: str) -> None:
        if name != self.current_mode:
            self.switch_mode(name)

    def action_open_screen(self, name: str) -> None:
        self.open_screen(name)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def run_screen_action(self, mode: str, action: str) -> None:
        """Switch to `mode`, then run one of its actions (used by the command palette)."""
        self.open_screen(mode)

        async def run() -> None:
            await self.run_action(action, self.screen)

        # After the refresh the new mode's screen is `self.screen`.
        self.call_after_refresh(run)
