"""The Prompts tab: [prompts.NAME] list, an editor for a prompt's own system + template or one
per-task variant ([prompts.NAME.tasks.TYPE]), and a live render of a case of the selected dataset.

The preview renders the edited (unsaved) prompt the way a run would: by the case's task type, so
it says which part applied. Saving (ctrl+s) goes through the screen's writer, like every edit.
Cases are read in a worker, one page of the dataset chosen on the Datasets screen.
"""

from __future__ import annotations

from contextlib import closing
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Label, Select, Static, TextArea

from core.config.preview import edited_prompt, part_texts, render_preview
from core.config.schema import DEFAULT_PROMPT, PromptConfig, WorkspaceConfig
from core.datasets.browse import page
from core.errors import ConfigError
from tui.render import plain
from tui.screens.models.confirm_dialog import ConfirmDialog
from tui.screens.text_prompt_dialog import TextPromptDialog
from tui.workers import background

if TYPE_CHECKING:
    from tui.screens.models.screen import ModelsScreen

OWN = "__own__"  # the variant Select's value for the prompt's own system + template
PREVIEW_CASES = 50


class PromptsPane(Horizontal):
    class CasesLoaded(Message):
        def __init__(self, dataset_id: int, cases: list[dict[str, Any]]) -> None:
            super().__init__()
            self.dataset_id, self.cases = dataset_id, cases

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config: WorkspaceConfig | None = None
        self.cases: list[dict[str, Any]] = []
        self.case_index = 0
        self.cases_of: int | None = None  # the dataset the cases were read from

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-list-box"):
            yield DataTable(id="prompt-list", cursor_type="row")
            yield Static("a add · d duplicate · Del delete\nctrl+s save · [ ] case", classes="muted")
        with Vertical(id="prompt-editor"):
            with Horizontal(id="variant-row"):
                yield Label("Editing")
                yield Select([(Text("the prompt's own texts"), OWN)], id="variant", value=OWN, allow_blank=False,
                             compact=True)
            yield Label("System (blank: none; in a task variant: inherited)", classes="field-label")
            yield TextArea(id="system", soft_wrap=True, show_line_numbers=False)
            yield Label("Template ({input_text} {id} {task_type} {difficulty} {metadata.KEY}; "
                        "blank in a variant: inherited)", classes="field-label")
            yield TextArea(id="template", soft_wrap=True, show_line_numbers=False)
            yield Static(id="prompt-error")
            yield Static(id="preview-title", classes="panel-title")
            yield Static(id="preview")

    @property
    def screen_(self) -> "ModelsScreen":
        return self.screen  # type: ignore[return-value]

    @property
    def table(self) -> DataTable:
        return self.query_one("#prompt-list", DataTable)

    def on_mount(self) -> None:
        self.table.add_column("Prompt", key="name")
        self.table.add_column("Tasks", key="tasks")

    def focus_list(self) -> None:
        self.table.focus()
        self._load_cases()

    # --- the list -----------------------------------------------------------------------------

    def _names(self) -> list[str]:
        assert self.config is not None
        names = list(self.config.prompts)
        return names if "default" in names else ["default", *names]

    def _prompt(self, name: str) -> PromptConfig:
        assert self.config is not None
        return self.config.prompts.get(name, DEFAULT_PROMPT)

    @property
    def selected(self) -> str | None:
        if not self.table.row_count:
            return None
        return self.table.coordinate_to_cell_key(self.table.cursor_coordinate).row_key.value

    def show_config(self, config: WorkspaceConfig) -> None:
        """A (re)loaded config: list its prompts, keep the selection, refill the editor."""
        self.config = config
        selected = self.selected
        table = self.table
        table.clear()
        for name in self._names():
            label = plain(name, single_line=True, max_len=24)
            if name == config.run.prompt:
                label.append(" ●", style="bold")  # the run's prompt
            if name not in config.prompts:
                label.append(" built-in", style="dim")
            table.add_row(label, str(len(self._prompt(name).tasks) or ""), key=name)
        if selected in self._names():
            table.move_cursor(row=table.get_row_index(selected))
        self._fill_editor()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "prompt-list":
            event.stop()
            self._fill_editor()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "prompt-list":
            event.stop()
            self.query_one("#template", TextArea).focus()

    # --- the editor ---------------------------------------------------------------------------

    def _variant(self) -> str | None:
        value = self.query_one("#variant", Select).value
        return None if value in (OWN, Select.NULL) else str(value)

    def _fill_editor(self) -> None:
        name = self.selected
        if name is None or self.config is None:
            return
        prompt = self._prompt(name)
        keep = self._variant()
        types = sorted(set(prompt.tasks) | set(self.config.tasks) | {c["task_type"] for c in self.cases if c.get("task_type")})
        select = self.query_one("#variant", Select)
        select.set_options([(Text("the prompt's own texts"), OWN),
                            *((plain(f"variant for task {t}", single_line=True, max_len=60), t) for t in types)])
        select.value = keep if keep in types else OWN
        self._fill_texts()

    def _fill_texts(self) -> None:
        name = self.selected
        if name is None:
            return
        system, template = part_texts(self._prompt(name), self._variant())
        self.query_one("#system", TextArea).text = system
        self.query_one("#template", TextArea).text = template
        self._render_preview()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "variant":
            event.stop()
            self._fill_texts()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self._render_preview()

    def _edited(self) -> PromptConfig:
        """The prompt as it would be saved; raises ConfigError."""
        name = self.selected
        assert name is not None
        return edited_prompt(self._prompt(name), self._variant(), self.query_one("#system", TextArea).text,
                             self.query_one("#template", TextArea).text)

    def _render_preview(self) -> None:
        error = self.query_one("#prompt-error", Static)
        title = self.query_one("#preview-title", Static)
        body = self.query_one("#preview", Static)
        if self.selected is None:
            return
        try:
            prompt = self._edited()
        except ConfigError as exc:
            error.update(plain(exc.message, single_line=True, max_len=300))
            return
        error.update("")
        if not self.cases:
            title.update("Preview")
            body.update(Text("Choose a dataset on the Datasets screen (1) to preview its cases here."
                             if self.screen_.assay.dataset_id is None else "No cases to preview.", style="dim"))
            return
        case = self.cases[self.case_index]
        preview = render_preview(prompt, case)
        head = Text(f"Preview  case {self.case_index + 1}/{len(self.cases)}  ")
        head.append(plain(case.get("id"), single_line=True, max_len=40))
        head.append("  task ")
        head.append(plain(case.get("task_type"), single_line=True, max_len=30))
        head.append("  → " + ("its task variant" if preview.variant else "the prompt's own texts"), style="dim")
        title.update(head)
        if preview.error:
            body.update(plain(preview.error, style="bold"))
            return
        out = Text()
        for message in preview.messages:
            out.append(f"{message['role']}\n", style="bold")
            out.append(plain(message["content"], max_len=2000))
            out.append("\n")
        body.update(out)

    # --- cases of the selected dataset ----------------------------------------------------------

    def _load_cases(self) -> None:
        ds_id = self.screen_.assay.dataset_id
        if ds_id is not None and ds_id != self.cases_of:
            self._read_cases(ds_id)
        elif ds_id is None:
            self.cases, self.cases_of = [], None
            self._render_preview()

    @background(group="prompt-cases", exclusive=True)
    def _read_cases(self, ds_id: int) -> None:
        with closing(self.screen_.assay.open_db()) as db:
            cases = [row.as_case_dict() for row in page(db, ds_id, limit=PREVIEW_CASES).cases]
        self.post_message(self.CasesLoaded(ds_id, cases))

    def on_prompts_pane_cases_loaded(self, message: CasesLoaded) -> None:
        self.cases, self.cases_of, self.case_index = message.cases, message.dataset_id, 0
        self._fill_editor()

    def step_case(self, delta: int) -> None:
        if self.cases:
            self.case_index = (self.case_index + delta) % len(self.cases)
            self._render_preview()

    # --- writes (through the screen's writer) ---------------------------------------------------

    def save(self) -> None:
        name = self.selected
        if name is None:
            return
        try:
            prompt = self._edited()
        except ConfigError as exc:
            self.query_one("#prompt-error", Static).update(plain(exc.message, single_line=True, max_len=300))
            return
        part = f"[prompts.{name}.tasks.{self._variant()}]" if self._variant() else f"[prompts.{name}]"
        self.screen_.write(lambda doc: doc.set_prompt(name, prompt), f"saved {part}")

    def _ask_name(self, title: str, then: Any) -> None:
        def done(new: str | None) -> None:
            if new:
                then(new)
                if new in self._names():
                    self.table.move_cursor(row=self.table.get_row_index(new))

        self.app.push_screen(TextPromptDialog(title, "a prompt name, e.g. concise"), done)

    def add(self) -> None:
        self._ask_name("New prompt", lambda new: self.screen_.write(
            lambda doc: doc.set_prompt(new, {"template": "{input_text}"}), f"added [prompts.{new}]"))

    def duplicate(self) -> None:
        name = self.selected
        if name is None:
            return
        if name not in (self.config.prompts if self.config else {}):
            self._ask_name(f"Copy the built-in {name} prompt as", lambda new: self.screen_.write(
                lambda doc: doc.set_prompt(new, DEFAULT_PROMPT), f"added [prompts.{new}]"))
            return
        self._ask_name(f"Duplicate {name} as", lambda new: self.screen_.write(
            lambda doc: doc.duplicate_prompt(name, new), f"duplicated {name} as {new}"))

    def delete(self) -> None:
        name = self.selected
        if name is None or self.config is None or name not in self.config.prompts:
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.screen_.write(lambda doc: doc.delete_prompt(name), f"deleted [prompts.{name}]")

        self.app.push_screen(ConfirmDialog(f"Delete [prompts.{name}] (and its task variants) from assay.toml?",
                                           action="Delete"), done)
