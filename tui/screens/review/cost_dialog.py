"""Review's cost dialog (`$`): what each model of the run on screen would cost in production
(core.trends.costs, the figures of `assay cost`), as a cost-vs-accuracy table.

Three fields the user types: the volume (cases per day, month or year; default 10,000/day), the
review cost of a failed case (default $0, as `assay cost --review-cost`) and the pass-rate bar
(default 90%, judged by the 95% CI's lower bound; empty: no bar). Every edit recomputes the table
from the inputs loaded once by a worker; a field that does not parse says so and the last valid
table stays. Esc closes.
"""

from __future__ import annotations

import math
from contextlib import closing
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from core.errors import UsageError
from core.trends.costs import CostProjection, Volume, cost_projection, parse_volume
from tui.screens.dialog import Dialog
from tui.widgets.cost_panel import (DEFAULT_BAR, DEFAULT_VOLUME, CostInputs, CostReady, cost_table,
                                    load_cost_inputs, parse_bar)
from tui.workers import background

if TYPE_CHECKING:
    from tui.app import AssayApp

DEFAULT_REVIEW_COST = 0.0  # `assay cost --review-cost`'s default


def parse_review_cost(text: str) -> float:
    """'8', '$8', '0.5' -> dollars per failed case; ValueError for anything else or below 0."""
    try:
        value = float(text.strip().removeprefix("$") or "0")
    except ValueError:
        value = -1.0
    if not value >= 0 or not math.isfinite(value):
        raise ValueError("Review cost: dollars per failed case, 0 or more (e.g. 8).")
    return value


class CostDialog(Dialog[None]):
    CSS_PATH = "cost_dialog.tcss"

    def __init__(self, run_id: str, dataset: Text) -> None:
        super().__init__()
        self.run_id, self.dataset = run_id, dataset
        self._inputs: CostInputs | None = None
        self._volume: Volume = parse_volume(DEFAULT_VOLUME, "cases")
        self._review_cost = DEFAULT_REVIEW_COST
        self._bar: float | None = DEFAULT_BAR
        self.projection: CostProjection | None = None  # what the table shows (tests read it)

    def compose(self) -> ComposeResult:
        with Vertical(id="cost-box"):
            title = Text("Cost in production · ", style="bold")
            title.append(self.dataset)
            title.append(f" · run {self.run_id}", style="dim")
            yield Static(title, classes="panel-title")
            with Horizontal(id="cost-fields"):
                yield Label("volume")
                yield Input(DEFAULT_VOLUME, id="cost-volume", placeholder="10000/day, 2.5M/month", compact=True)
                yield Label("review $ per failure")
                yield Input(f"{DEFAULT_REVIEW_COST:g}", id="cost-review", placeholder="8", compact=True)
                yield Label("bar")
                yield Input(f"{DEFAULT_BAR:.0%}", id="cost-bar", placeholder="90% (empty: none)", compact=True)
            yield Static(Text("Loading the run's tokens and prices…", style="dim"), id="cost-table")
            yield Static(id="dialog-error")
            yield Static("Tab moves between fields · every edit recomputes · Esc closes", classes="muted")

    def on_mount(self) -> None:
        self.query_one("#cost-volume", Input).focus()
        self._load(self.run_id)

    @background(group="review-cost", exclusive=True)
    def _load(self, run_id: str) -> None:
        app = cast("AssayApp", self.app)
        with closing(app.open_db()) as db:
            inputs = load_cost_inputs(db, run_id, app.config)
        self.post_message(CostReady(run_id, inputs))

    def on_cost_ready(self, message: CostReady) -> None:
        self._inputs = message.inputs
        self._render_table()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        try:
            if event.input.id == "cost-volume":
                self._volume = parse_volume(event.value, "cases")
            elif event.input.id == "cost-review":
                self._review_cost = parse_review_cost(event.value)
            elif event.input.id == "cost-bar":
                self._bar = parse_bar(event.value)
        except UsageError as exc:
            self.show_error(exc.message.removeprefix("--cases: "))
            return
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.show_error("")
        self._render_table()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # every edit has been applied already; Enter closes nothing

    def _render_table(self) -> None:
        if self._inputs is None:
            return
        self.projection = cost_projection(self._inputs.report, self._inputs.prices, self._volume,
                                          review_cost=self._review_cost, min_pass=self._bar)
        self.query_one("#cost-table", Static).update(cost_table(self.projection, self.app.theme_variables))
