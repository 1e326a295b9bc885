"""Sample a dataset from a production log: first a dry run that shows the coverage report, then
(only for exactly those settings) create the dataset. Calls core.datasets.sampling; a failure
(a bad log line, a taken name) reaches the app's error dialog and the form stays open."""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from tui.render import plain
from tui.screens.dialog import Dialog
from tui.workers import background

if TYPE_CHECKING:  # the module itself is imported when sampling starts (it pulls in pydantic)
    from core.datasets.sampling import SamplePlan


@dataclass(frozen=True)
class SampleResult:
    name: str
    dataset_id: int
    version: int
    cases: int


class SampleDialog(Dialog[SampleResult]):
    CSS_PATH = "sample_dialog.tcss"

    @dataclass
    class Planned(Message):
        params: tuple
        plan: SamplePlan

    @dataclass
    class Written(Message):
        result: SampleResult

    def __init__(self) -> None:
        super().__init__()
        self._plan: SamplePlan | None = None
        self._plan_params: tuple | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="form-box"):
            yield Static("Sample a dataset from production logs", classes="panel-title")
            with Horizontal(classes="pair"):
                with Vertical():
                    yield Label("Log file (JSONL, JSON or CSV)")
                    yield Input(id="path", placeholder="logs/2025-06.jsonl")
                with Vertical():
                    yield Label("Field mapping (optional)")
                    yield Input(id="fields", placeholder="prompt=question,verified_output=answer")
            with Horizontal(classes="pair"):
                with Vertical():
                    yield Label("Stratify by field")
                    yield Input("task_type", id="by")
                with Vertical():
                    yield Label("Quotas")
                    yield Select([("equal per stratum", "equal"), ("proportional", "proportional")],
                                 id="quotas", value="equal", allow_blank=False)
            with Horizontal(classes="pair"):
                with Vertical():
                    yield Label("Size")
                    yield Input("200", id="size", type="integer")
                with Vertical():
                    yield Label("Seed")
                    yield Input("0", id="seed", type="integer")
            yield Label("New dataset name")
            yield Input(id="name", placeholder="e.g. prod-sample-june")
            yield DataTable(id="coverage", cursor_type="none")
            yield Static(id="coverage-total", classes="muted")
            yield Static(id="dialog-error")
            with Horizontal(classes="buttons"):
                yield Button("Preview coverage", id="preview", variant="primary")
                yield Button("Create dataset", id="create", disabled=True)
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#coverage", DataTable).add_columns(
            "stratum", "in log", "duplicates", "available", "quota", "sampled", "with label")
        self.query_one("#path", Input).focus()

    def _params(self) -> tuple | None:
        get = lambda wid: self.query_one(wid, Input).value.strip()  # noqa: E731
        if not get("#path"):
            self.show_error("Give the path of the log file.")
            return None
        try:
            size, seed = int(get("#size") or 0), int(get("#seed") or 0)
        except ValueError:
            self.show_error("Size and seed must be whole numbers.")
            return None
        proportional = self.query_one("#quotas", Select).value == "proportional"
        return (str(Path(get("#path")).expanduser()), get("#by") or "task_type", size, seed, proportional, get("#fields"))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "name":
            self.query_one("#create", Button).disabled = True

    def on_select_changed(self, event: Select.Changed) -> None:
        self.query_one("#create", Button).disabled = True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
            return
        params = self._params()
        if params is None:
            return
        self.show_error("")
        if event.button.id == "preview":
            self._preview(params)
            return
        name = self.query_one("#name", Input).value.strip()
        if not name:
            self.show_error("Name the new dataset.")
        elif params != self._plan_params:
            self.show_error("The settings changed since the preview: preview again first.")
        else:
            self._write(self._plan, name)

    @background(group="sample", exclusive=True)
    def _preview(self, params: tuple) -> None:
        from core.datasets.sampling import parse_fields, plan_sample

        path, by, size, seed, proportional, fields = params
        plan = plan_sample(path, size=size, by=by, seed=seed, proportional=proportional,
                           fields=parse_fields(fields or None))
        self.post_message(self.Planned(params, plan))

    @background(group="sample", exclusive=True)
    def _write(self, plan: SamplePlan, name: str) -> None:
        from core.datasets.sampling import write_sample

        with closing(self.app.open_db()) as db:
            version = write_sample(db, plan, name)
        self.post_message(self.Written(SampleResult(name, version.dataset_id, version.version, version.n_cases)))

    def on_sample_dialog_planned(self, event: Planned) -> None:
        plan = self._plan = event.plan
        self._plan_params = event.params
        table = self.query_one("#coverage", DataTable)
        table.clear()
        for s in plan.strata:
            table.add_row(plain(s.stratum, single_line=True, max_len=30),
                          *(Text(str(n)) for n in (s.seen, s.duplicates, s.available, s.quota, s.sampled, s.labeled)))
        self.query_one("#coverage-total", Static).update(Text(
            f"Dry run: {plan.seen} records, {plan.duplicates_exact} exact + {plan.duplicates_normalised} near "
            f"duplicates dropped, {plan.available} available, {plan.sampled} would be sampled (seed {plan.seed}). "
            "Nothing written yet."))
        self.query_one("#create", Button).disabled = False

    def on_sample_dialog_written(self, event: Written) -> None:
        self.dismiss(event.result)
