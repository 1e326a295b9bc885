"""The Models screen: the configured models (add, edit, duplicate, delete, test a connection) and,
on a second tab, the prompts.

assay.toml is the screen's source of truth, read and written only through the one
comment-preserving writer (core.config.writer.ConfigDocument). After every save or reload,
`app.config` is replaced so the other screens see the change. The file is polled about once a
second (a stat, and a hash only when the stat moved): an edit made in an editor is reloaded, and a
save whose document is older than the file is refused by the writer, reported, and reloaded:
never written over the editor's change.

The price map needs litellm (seconds to import), so prices not set in the config are looked up
in a worker after the table is shown. Test connection sends one tiny request through the
runner's own client (core.models.probe) in a worker.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from core.config.model_form import FormErrors, edited_copy, save_model
from core.config.schema import ModelConfig, WorkspaceConfig
from core.config.writer import ConfigDocument
from core.errors import ConfigError
from core.models.overview import ModelRow, model_rows
from core.models.probe import ConnectionCheck, check_connection
from tui import keymap
from tui.render import plain, short_path
from tui.screens.base import AssayScreen
from tui.screens.message_dialog import MessageDialog
from tui.screens.models.confirm_dialog import ConfirmDialog
from tui.screens.models.model_dialog import ModelDialog
from tui.screens.models.prompts_pane import PromptsPane
from tui.screens.text_prompt_dialog import TextPromptDialog
from tui.workers import background

COLUMNS = (("name", "Name"), ("model", "litellm id"), ("api_base", "API base"), ("price", "Price"),
           ("prices", "$/1M in/out"), ("limits", "rpm/tpm"), ("conc", "Conc."), ("key", "Key"), ("test", "Test"))
_PRICE_SOURCE = {"config": "config", "price_map": "price map", "unknown": "unknown", "logged": "no call", None: "…"}
POLL_S = 1.0
REFUSED = ("assay.toml was changed outside the app since it was read, so nothing was written (your "
           "editor's change is kept). The screen has reloaded the file: make your change again.")


def _price(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _prices(row: ModelRow) -> str:
    if row.input_per_1m is None and row.output_per_1m is None:
        return "-"
    return f"{_price(row.input_per_1m)}/{_price(row.output_per_1m)}"


def _count(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1000:.4g}k" if n >= 10_000 else str(n)


_KEY = {"set": ("✓ set", "green"), "missing": ("✗ not set", "bold red"), "not_needed": ("not needed", "dim"),
        "provider": ("provider's", "dim"), "logged": ("no call", "dim")}


def _key_cell(row: ModelRow) -> Text:
    return Text(*_KEY[row.key_status])


def describe_model(row: ModelRow) -> Text:
    """The selected model in full (the table cuts long values): id, api_base, where its key comes from."""
    out = plain(row.name, style="bold", single_line=True, max_len=40)
    out.append("  ")
    out.append(plain(row.model, single_line=True, max_len=60))
    if row.api_base:
        out.append("  at ")
        out.append(plain(row.api_base, single_line=True, max_len=80))
    out.append("\nkey: ")
    if row.key_status in ("set", "missing"):
        out.append(plain(row.api_key_env, single_line=True, max_len=60))
        out.append(" is set" if row.key_status == "set" else " is NOT set in this environment",
                   style="green" if row.key_status == "set" else "bold red")
    elif row.key_status == "not_needed":
        out.append("none needed (a local server: api_base without api_key_env)", style="dim")
    elif row.key_status == "logged":
        out.append("none: the answers are what production logged, read from the cases", style="dim")
    else:
        out.append("litellm reads the provider's usual variable (no api_key_env set)", style="dim")
    return out


def _test_cell(check: ConnectionCheck | None, running: bool) -> Text:
    if running:
        return Text("testing…", style="italic")
    if check is None:
        return Text("")
    if check.logged:
        return Text("✓ logged", style="green")
    if check.ok:
        return Text(f"✓ {check.latency_ms:.0f} ms" if check.latency_ms is not None else "✓", style="green")
    return Text(f"✗ {check.error_class or 'error'}", style="bold red")


def describe_check(check: ConnectionCheck) -> Text:
    """The full result of a connection test, for the panel under the table."""
    out = Text("test: ")
    if check.logged:
        out.append("nothing to call", style="green")
        out.append(": answers are what production logged, read from each case's metadata.")
        out.append(plain(check.logged, single_line=True, max_len=60))
        out.append(" (assay sample keeps them)")
        return out
    if check.ok:
        out.append("connection ok", style="green")
        figures = [f"{check.latency_ms:.0f} ms" if check.latency_ms is not None else None,
                   f"{check.input_tokens} in / {check.output_tokens} out tokens"
                   if check.input_tokens is not None else "tokens not reported",
                   f"cost ${check.cost_usd:.6f} ({_PRICE_SOURCE[check.cost_status]})"
                   if check.cost_usd is not None else "cost unknown (no price)"]
        out.append("  ·  " + "  ·  ".join(f for f in figures if f))
        out.append("\nreply: ")
        out.append(plain(check.reply, single_line=True, max_len=100))
    else:
        out.append(f"{check.error_class or 'error'}", style="bold red")
        if check.http_status is not None:
            out.append(f" (HTTP {check.http_status})")
        out.append("\n")
        out.append(plain(check.error_message, max_len=400))
    return out


class ModelsScreen(AssayScreen):
    MODE = "models"
    CSS_PATH = "models.tcss"
    BINDINGS = [*AssayScreen.BINDINGS, *keymap.MODELS]

    class PricesLoaded(Message):
        def __init__(self, rows: list[ModelRow], generation: int) -> None:
            super().__init__()
            self.rows, self.generation = rows, generation

    class Checked(Message):
        def __init__(self, check: ConnectionCheck) -> None:
            super().__init__()
            self.check = check

    def __init__(self) -> None:
        super().__init__()
        self.doc: ConfigDocument | None = None
        self.rows: dict[str, ModelRow] = {}
        self.checks: dict[str, ConnectionCheck] = {}
        self.testing: set[str] = set()
        self._generation = 0  # bumped on every load; stale price lookups are dropped
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of assay.toml at the last poll
        self._refused = False  # a form's save was refused for an external change: say so once it closes
        self._form_open = False  # a ModelDialog is open: its values come from the file as last read

    # --- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        tabs, status, footer = self.chrome()
        yield tabs
        yield Static(id="config-note")
        with TabbedContent(id="models-tabs"):
            with TabPane("Models", id="tab-models"):
                with Vertical(id="models-box"):
                    yield DataTable(id="models", cursor_type="row", zebra_stripes=True)
                    yield Static(id="check", classes="panel")
                    yield Static("a add · e/Enter edit · d duplicate · Del delete · t test connection · "
                                 "p prompts · r reload assay.toml", classes="muted hint")
            with TabPane("Prompts", id="tab-prompts"):
                yield PromptsPane(id="prompts-pane")
        yield status
        yield footer

    @property
    def config_path(self) -> Path:
        return self.assay.ws.config_path

    @property
    def table(self) -> DataTable:
        return self.query_one("#models", DataTable)

    @property
    def prompts(self) -> PromptsPane:
        return self.query_one(PromptsPane)

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.table.add_column(label, key=key)
        self._load()
        self.set_interval(POLL_S, self._poll)
        self.table.focus()

    # --- assay.toml: load, poll, write ---------------------------------------------------------

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.config_path.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def _load(self, note: str | None = None) -> bool:
        """(Re)read assay.toml; on a file that does not load, keep showing the last good one."""
        self._seen = self._stat()
        try:
            doc = ConfigDocument.read(self.config_path)
        except ConfigError as exc:
            self._note(plain(f"assay.toml does not load, showing its last good version: {exc.message}",
                             style="bold", max_len=300), error=True)
            return False
        self.doc = doc
        self.assay.config = doc.config()
        self._generation += 1
        self._note(note)
        self._show_models()
        self.prompts.show_config(self.assay.config)
        if any(r.price_source is None for r in self.rows.values()):
            self._look_up_prices(self.assay.config, self._generation)
        return True

    def _note(self, text: Text | str | None, *, error: bool = False) -> None:
        line = Text("assay.toml  ", style="bold")
        line.append(plain(short_path(self.config_path), single_line=True, max_len=60))
        if text:
            line.append("  ·  ")
            line.append(text if isinstance(text, Text) else Text(text))
        note = self.query_one("#config-note", Static)
        note.update(line)
        note.set_class(error, "error")

    def _poll(self) -> None:
        if self._form_open:
            # Reloading under the form would let its save overwrite an external edit it never saw.
            # Its save is refused instead; the poll resumes once it closes. (On other screens the
            # poll goes on: the app's config stays the file's.)
            return
        stat = self._stat()
        if stat == self._seen:
            return
        self._seen = stat
        if self.doc is None or self.doc.changed_on_disk():
            if self._load("changed on disk: reloaded"):
                self.notify("assay.toml changed on disk: reloaded", timeout=4)

    def write(self, edit: Callable[[ConfigDocument], None], saved: str) -> bool:
        """Apply writer edits to a copy of the document and save it. Returns True when saved.

        FormErrors propagate (a form shows them on its fields); a refusal because the file changed
        on disk reloads and is reported; any other refusal is shown in a dialog."""
        if self.doc is None:
            self.app.push_screen(MessageDialog("Not saved", "assay.toml does not load; fix it in your editor first."))
            return False
        try:
            self.doc = edited_copy(self.doc, edit)
        except FormErrors:
            raise
        except ConfigError as exc:
            if self.doc.changed_on_disk():
                self._load("changed on disk: reloaded")
                self.app.push_screen(MessageDialog("assay.toml changed on disk", REFUSED))
                return False
            self.app.push_screen(MessageDialog("Not saved", exc.message))
            return False
        except OSError as exc:
            self.app.push_screen(MessageDialog("Not saved", f"cannot write {self.config_path}: {exc.strerror}"))
            return False
        self._load(saved)
        return True

    def _open_form(self, form: ModelDialog) -> None:
        self._form_open = True
        self.app.push_screen(form, self._form_closed)

    def _form_closed(self, _: object = None) -> None:
        self._form_open = False
        if self._refused:  # its save was refused: say so now that it is closed
            self._refused = False
            self.app.push_screen(MessageDialog("assay.toml changed on disk", REFUSED))

    def action_reload(self) -> None:
        if self._load("reloaded"):
            self.notify("assay.toml reloaded", timeout=3)

    # --- the table ----------------------------------------------------------------------------

    def _show_models(self) -> None:
        table = self.table
        selected = self.selected
        self.rows = {r.name: r for r in model_rows(self.assay.config, prices=False)}
        table.clear()
        for row in self.rows.values():
            table.add_row(*self._cells(row), key=row.name)
        if selected in self.rows:
            table.move_cursor(row=table.get_row_index(selected))
        self._show_check()

    def _cells(self, row: ModelRow) -> list[Text | str]:
        return [
            plain(row.name, single_line=True, max_len=16, style="bold"),
            plain(row.model, single_line=True, max_len=26),
            plain(row.api_base or "-", single_line=True, max_len=24),
            self._price_source(row), _prices(row), f"{_count(row.rpm)}/{_count(row.tpm)}",
            Text(str(row.concurrency), style="dim" if row.concurrency_from_run else ""),
            _key_cell(row), _test_cell(self.checks.get(row.name), row.name in self.testing),
        ]

    @staticmethod
    def _price_source(row: ModelRow) -> Text:
        return Text(_PRICE_SOURCE[row.price_source],
                    style="dim" if row.price_source in (None, "unknown", "logged") else "")

    @property
    def selected(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def _show_check(self) -> None:
        name = self.selected
        panel = self.query_one("#check", Static)
        if name is None or name not in self.rows:
            panel.update(Text("No models yet. Press a to add one (e.g. openai/gpt-4o-mini with api_key_env "
                              "OPENAI_API_KEY, or a local server's api_base)."))
            return
        check = self.checks.get(name)
        out = describe_model(self.rows[name])
        out.append("\n")
        if name in self.testing:
            out.append("testing the connection…", style="italic")
        elif check is None:
            out.append("Press t to test the connection (one tiny request).", style="dim")
        else:
            out.append(describe_check(check))
        panel.update(out)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "models":
            self._show_check()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "models":
            event.stop()
            self.action_edit()

    @background(group="models-prices", exclusive=True)
    def _look_up_prices(self, config: WorkspaceConfig, generation: int) -> None:
        self.post_message(self.PricesLoaded(model_rows(config, prices=True), generation))

    def on_models_screen_prices_loaded(self, message: PricesLoaded) -> None:
        if message.generation != self._generation:
            return
        for row in message.rows:
            if row.name in self.rows:
                self.rows[row.name] = row
                for key, value in (("price", self._price_source(row)), ("prices", _prices(row))):
                    self.table.update_cell(row.name, key, value, update_width=True)

    # --- actions ------------------------------------------------------------------------------

    def _on_models_tab(self) -> bool:
        return self.query_one(TabbedContent).active == "tab-models"

    def action_switch_tab(self) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = "tab-prompts" if tabs.active == "tab-models" else "tab-models"
        if tabs.active == "tab-models":
            self.table.focus()
        else:
            self.prompts.focus_list()

    def _save_model(self, name: str, model: ModelConfig, original: str | None) -> None:
        """The form's save: raises FormErrors for the form to show on its fields."""
        assert self.doc is not None
        doc = self.doc
        try:
            self.doc = save_model(doc, name, model, original=original)
        except FormErrors:
            raise
        except ConfigError as exc:
            if not doc.changed_on_disk():
                raise FormErrors({"": exc.message}) from None
            self._refused = True
            self._load("changed on disk: reloaded")
            return
        except OSError as exc:
            raise FormErrors({"": f"cannot write {self.config_path}: {exc.strerror}"}) from None
        self.checks.pop(original or name, None)  # a test of the old settings says nothing now
        self._load(f"saved [models.{name}]")
        self.table.move_cursor(row=self.table.get_row_index(name))

    def action_add(self) -> None:
        if not self._on_models_tab():
            self.prompts.add()
            return
        self._open_form(ModelDialog("Add a model", name="", model=None, taken=self.rows,
                                    save=lambda name, model: self._save_model(name, model, None)))

    def action_edit(self) -> None:
        name = self.selected
        if not self._on_models_tab() or name is None:
            return
        model = self.assay.config.models[name]
        self._open_form(ModelDialog(f"Edit [models.{name}]", name=name, model=model, taken=self.rows,
                                    save=lambda new, m: self._save_model(new, m, name)))

    def action_duplicate(self) -> None:
        if not self._on_models_tab():
            self.prompts.duplicate()
            return
        name = self.selected
        if name is None:
            return

        def done(new: str | None) -> None:
            if new:
                if self.write(lambda doc: doc.duplicate_model(name, new), f"duplicated {name} as {new}"):
                    self.table.move_cursor(row=self.table.get_row_index(new))

        self.app.push_screen(TextPromptDialog(f"Duplicate {name} as", "a new model name"), done)

    def action_delete(self) -> None:
        if not self._on_models_tab():
            self.prompts.delete()
            return
        name = self.selected
        if name is None:
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.write(lambda doc: doc.delete_model(name), f"deleted [models.{name}]")

        self.app.push_screen(ConfirmDialog(f"Delete [models.{name}] from assay.toml? Comments elsewhere in the "
                                           "file are kept.", action="Delete"), done)

    def action_test_connection(self) -> None:
        name = self.selected
        if not self._on_models_tab() or name is None or name in self.testing:
            return
        self.testing.add(name)
        self.table.update_cell(name, "test", _test_cell(None, True), update_width=True)
        self._show_check()
        self._test(name)

    @background(group="models-test")
    def _test(self, name: str) -> None:
        self.post_message(self.Checked(check_connection(self.assay.config, name)))

    def on_models_screen_checked(self, message: Checked) -> None:
        check = message.check
        self.testing.discard(check.model)
        self.checks[check.model] = check
        if check.model in self.rows:
            self.table.update_cell(check.model, "test", _test_cell(check, False), update_width=True)
        self._show_check()

    def action_save_prompt(self) -> None:
        if not self._on_models_tab():
            self.prompts.save()

    def action_step_case(self, delta: int) -> None:
        if not self._on_models_tab():
            self.prompts.step_case(delta)
