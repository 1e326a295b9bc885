"""`?` / F1: the bindings that work right now on the screen below, with their ids for [keymap]."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from core.config.user import user_config_path
from tui import keymap
from tui.render import plain, short_path


class HelpScreen(ModalScreen[None], inherit_bindings=False):
    CSS_PATH = "help.tcss"
    BINDINGS = [*keymap.MODAL, *(b for b in keymap.APP if b.id == "app.help")]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static("Keys on this screen", classes="panel-title")
            yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
            hint = Text("Rebind any key by its id in ")
            hint.append(plain(short_path(user_config_path()), single_line=True))  # a path from the environment
            hint.append(' under [keymap], e.g. "label.skip" = "k". Label keys come from [tasks.<type>].keys '
                        "in assay.toml. Esc closes.")
            yield Static(hint, classes="muted", id="help-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "does", "id")
        seen: set[str] = set()
        for row in getattr(self.under, "help_rows", lambda: [])():
            table.add_row(plain(row[0]), plain(row[1], single_line=True), Text("from assay.toml", style="dim"))
        hidden = getattr(self.under, "HIDDEN_IN_HELP", ())
        for active in self.under.active_bindings.values():
            binding = active.binding
            name = binding.id or binding.action
            if binding.system or name in seen or (hidden and name.startswith(hidden)):
                continue
            seen.add(name)
            table.add_row(
                Text(self.app.get_key_display(binding)), Text(binding.description or binding.action),
                Text(binding.id or "", style="dim"),
            )
        table.focus()

    def action_help(self) -> None:
        self.dismiss()

    def action_cancel(self) -> None:
        self.dismiss()
