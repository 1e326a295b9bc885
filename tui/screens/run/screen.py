"""The Run screen: choose what to run, see what it will cost, start it, watch it, stop it, and find
every earlier run (resume an interrupted one, send a run's failed calls again, open any in Review).

Form: dataset (+ version), models, prompt, repeat, concurrency, all Selects and a SelectionList,
so digits still switch screens. Every change re-estimates in a worker (core.run.estimate): first
without the price map (no litellm import), then with it when some model has no config price.

Running: the core engine (`core.run.engine.run_sync`) runs in a thread worker with a `LiveRun`
sink and a `CancelToken`. The screen never receives one message per event: a timer pulls
`LiveRun.snapshot()` every POLL_S and, when its version moved, updates only the cells that changed
(`update_cell`, never `clear()`, which would lose the cursor). Measured with Textual 8.2.8, a
message per event cost ~80% CPU at 200 events/s and stalled the runner (DESIGN.md).

Cancel (c): the first press, once confirmed, stops gracefully (no new calls, calls on the wire get
their grace period); a second press, once confirmed, cancels everything at once, as Ctrl+C twice
does in the CLI. Leaving the app stops a run at once; it stays resumable from the history list.
"""

from __future__ import annotations

from contextlib import closing
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Button, DataTable, Label, Select, SelectionList, Static
from textual.worker import Worker, WorkerState

from core.datasets.browse import dataset_id
from core.datasets.versions import list_versions
from core.errors import AssayError
from core.labeling.overview import summaries_with_labels
from core.records import DatasetVersion
from core.run.engine import CancelToken, run_sync
from core.run.estimate import RunEstimate, estimate_run
from core.run.history import RunSummary, list_runs
from core.run.live import LiveRun, LiveSnapshot
from core.run.plan import RunRequest
from tui import keymap
from tui.render import plain
from tui.screens.base import AssayScreen
from tui.screens.models.confirm_dialog import ConfirmDialog
from tui.screens.run import views
from tui.widgets.check_list import CheckList
from tui.workers import background

POLL_S = 0.15  # how often a running run's figures are pulled (100-250 ms: fresh, yet cheap)
ESTIMATE_DELAY_S = 0.3  # form changes within this window cost one estimate
HISTORY_LIMIT = 200
CURRENT = 0  # the version Select's value for "current content" (versions start at 1)
RESUMABLE = ("interrupted", "stale", "failed")
REPEATS = (1, 2, 3, 5, 10)
CONCURRENCIES = (1, 2, 4, 8, 16, 32, 64)


def _choices(defaults: tuple[int, ...], configured: int) -> list[tuple[str, int]]:
    values = sorted(set(defaults) | {configured})
    return [(f"{v} (config)" if v == configured else str(v), v) for v in values]


class RunScreen(AssayScreen):
    MODE = "run"
    CSS_PATH = "run.tcss"
    BINDINGS = [*AssayScreen.BINDINGS, *keymap.RUN]

    class FormLoaded(Message):
        def __init__(self, datasets: list[str]) -> None:
            super().__init__()
            self.datasets = datasets

    class VersionsLoaded(Message):
        def __init__(self, dataset: str, versions: list[DatasetVersion]) -> None:
            super().__init__()
            self.dataset, self.versions = dataset, versions

    class Estimated(Message):
        def __init__(self, generation: int, estimate: RunEstimate | None, error: str | None = None) -> None:
            super().__init__()
            self.generation, self.estimate, self.error = generation, estimate, error

    class HistoryLoaded(Message):
        def __init__(self, runs: list[RunSummary]) -> None:
            super().__init__()
            self.runs = runs

    def __init__(self) -> None:
        super().__init__()
        self.live: LiveRun | None = None
        self.token: CancelToken | None = None
        self.cancel_level = 0
        self.last_run_id: str | None = None  # the run started (or resumed) here most recently
        self.runs: dict[str, RunSummary] = {}
        self.estimate: RunEstimate | None = None  # the form's latest estimate
        self._estimate_generation = 0
        self._estimate_timer: Timer | None = None
        self._poll_timer: Timer | None = None
        self._shown_version = -1
        self._shown_cells: dict[tuple[str, str], str] = {}
        self._shown_log: tuple[int, object] = (-1, None)  # never shown
        self._run_worker: Worker[Any] | None = None
        self._prompts: tuple[str, ...] = ()  # the prompt names offered

    @property
    def running(self) -> bool:
        # Until the finish is handled on the UI thread (the summary painted), the run still counts as
        # going: the worker thread's end alone would let a caller see a half-updated screen.
        return self._run_worker is not None

    # --- layout -------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        tabs, status, footer = self.chrome()
        cfg = self.assay.config
        yield tabs
        with Horizontal(id="run-top"):
            with VerticalScroll(id="run-form"):  # a short terminal (80x24) scrolls it to Start
                yield Label("Dataset", classes="field-label")
                yield Select([], id="dataset", prompt="(loading)", compact=True, allow_blank=True)
                yield Label("Version", classes="field-label")
                yield Select([("current content", CURRENT)], id="version", value=CURRENT, compact=True,
                             allow_blank=False)
                yield Label("Prompt", classes="field-label")
                self._prompts = self._prompt_names()
                yield Select([(plain(p, single_line=True), p) for p in self._prompts], id="prompt",
                             value=cfg.run.prompt if cfg.run.prompt in self._prompts else "default", compact=True,
                             allow_blank=False)
                with Horizontal(id="numbers"):
                    with Vertical():
                        yield Label("Repeat", classes="field-label")
                        yield Select(_choices(REPEATS, cfg.run.repeat), id="repeat", value=cfg.run.repeat,
                                     compact=True, allow_blank=False)
                    with Vertical():
                        yield Label("Concurrency", classes="field-label")
                        yield Select(_choices(CONCURRENCIES, cfg.run.concurrency), id="concurrency",
                                     value=cfg.run.concurrency, compact=True, allow_blank=False)
                yield Label("Models (space toggles)", classes="field-label")
                yield CheckList(*self._model_choices(), id="models")
                yield Button("Start (s)", id="start", variant="primary")
            with VerticalScroll(id="run-main"):
                yield Static(id="estimate")
                yield Static(id="live-head")
                yield DataTable(id="live", cursor_type="row", zebra_stripes=True)
                yield Static(id="error-log")
        yield Static("Run history: v open in Review · r resume an interrupted or stale run · "
                     "e send its failed calls again", classes="muted hint")
        yield DataTable(id="history", cursor_type="row", zebra_stripes=True)
        yield status
        yield footer

    def on_mount(self) -> None:
        live = self.query_one("#live", DataTable)
        for key, label in views.LIVE_COLUMNS:
            live.add_column(label, key=key)
        history = self.query_one("#history", DataTable)
        for key, label in views.HISTORY_COLUMNS:
            history.add_column(label, key=key)
        self.query_one("#live-head", Static).display = False
        live.display = False
        self.query_one("#error-log", Static).display = False
        self.query_one("#estimate", Static).update(Text("choose a dataset and models", style="dim"))
        if not self.assay.config.models:
            self.query_one("#estimate", Static).update(
                Text("No models configured: add one on the Models screen (3) first.", style="bold"))
        self._load_form()
        self._load_history()
        self.query_one("#dataset", Select).focus()

    def on_screen_resume(self) -> None:
        self._sync_models()
        self._sync_prompts()
        self._load_history()

    def _prompt_names(self) -> tuple[str, ...]:
        return ("default", *(p for p in self.assay.config.prompts if p != "default"))

    def _sync_prompts(self) -> None:
        """Offer the prompts of the current config (see `_sync_models`); the chosen one stays chosen
        while it exists."""
        names = self._prompt_names()
        if names == self._prompts:
            return
        self._prompts = names
        select = self.query_one("#prompt", Select)
        chosen = select.value
        select.set_options([(plain(p, single_line=True), p) for p in names])
        select.value = chosen if chosen in names else "default"

    def _model_choices(self, offered: tuple[str, ...] = (), checked: frozenset[str] = frozenset(),
                       ) -> list[tuple[Text, str, bool]]:
        """The checklist's entries for the models `assay.toml` has now: one already offered keeps its
        check; a new one starts checked, unless it is the judge."""
        cfg = self.assay.config
        return [(plain(name, single_line=True, max_len=30), name,
                 name in checked if name in offered else name != cfg.judge.model) for name in cfg.models]

    def _sync_models(self) -> None:
        """Offer the models of the current config: the Models screen or an editor may have added,
        renamed or removed one since this screen was built."""
        models = self.query_one("#models", SelectionList)
        offered = tuple(models.get_option_at_index(i).value for i in range(models.option_count))
        if offered == tuple(self.assay.config.models):
            return
        choices = self._model_choices(offered, frozenset(models.selected))
        models.clear_options()
        models.add_options(choices)
        self._schedule_estimate()  # clearing the list says nothing when no model was checked

    def on_unmount(self) -> None:
        """The app is closing: stop a run at once (it stays resumable) rather than keep it alive.
        Asked of the run itself, not the worker: Textual marks every worker cancelled before the
        screens unmount, yet a thread runs on until its function returns (and the app waits for it)."""
        if self.token is not None and self.live is not None and self.live.snapshot().finished is None:
            while self.cancel_level < 2:
                self.cancel_level += 1
                self.token.cancel()

    # --- form ---------------------------------------------------------------------------------------

    @background(group="run-form", exclusive=True)
    def _load_form(self) -> None:
        with closing(self.assay.open_db()) as db:
            summaries = summaries_with_labels(db, self.assay.config.labeling.required_labels)
        self.post_message(self.FormLoaded([s.name for s in summaries]))

    def on_run_screen_form_loaded(self, message: FormLoaded) -> None:
        select = self.query_one("#dataset", Select)
        names = message.datasets
        select.set_options([(plain(name, single_line=True, max_len=40), name) for name in names])
        select.prompt = "(no datasets: import one on Datasets)" if not names else "Select a dataset"
        if names:
            select.value = self.assay.dataset_name if self.assay.dataset_name in names else names[0]

    @background(group="run-versions", exclusive=True)
    def _load_versions(self, dataset: str) -> None:
        with closing(self.assay.open_db()) as db:
            versions = list_versions(db, dataset_id(db, dataset))
        self.post_message(self.VersionsLoaded(dataset, versions))

    def on_run_screen_versions_loaded(self, message: VersionsLoaded) -> None:
        if message.dataset != self._dataset():
            return
        select = self.query_one("#version", Select)
        options: list[tuple[Text | str, int]] = [("current content", CURRENT)]
        options += [(plain(f"v{v.version} · {v.n_cases} cases · {v.reason}", single_line=True, max_len=40), v.version)
                    for v in reversed(message.versions)]
        select.set_options(options)
        select.value = CURRENT

    def _dataset(self) -> str | None:
        value = self.query_one("#dataset", Select).value
        return value if isinstance(value, str) else None

    def _form(self) -> dict[str, Any] | None:
        """The form as estimate_run keywords; None while no dataset is chosen."""
        dataset = self._dataset()
        if dataset is None:
            return None
        version = self.query_one("#version", Select).value
        return dict(dataset=dataset, version=None if version == CURRENT else version,
                    models=list(self.query_one("#models", SelectionList).selected),
                    prompt=self.query_one("#prompt", Select).value, repeat=self.query_one("#repeat", Select).value,
                    concurrency=self.query_one("#concurrency", Select).value)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "dataset" and isinstance(event.value, str):
            self._load_versions(event.value)
        self._schedule_estimate()

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged) -> None:
        self._schedule_estimate()

    # --- estimate -----------------------------------------------------------------------------------

    def _schedule_estimate(self) -> None:
        if self._estimate_timer is not None:
            self._estimate_timer.stop()
        self._estimate_timer = self.set_timer(ESTIMATE_DELAY_S, self._estimate_now)

    def _estimate_now(self) -> None:
        form = self._form()
        self._estimate_generation += 1
        if form is None or not form["models"]:
            if not self.running:
                self.query_one("#estimate", Static).update(Text("choose a dataset and at least one model", style="dim"))
                self._show(estimate=True)
            return
        self._estimate(self._estimate_generation, form)

    @background(group="run-estimate", exclusive=True)
    def _estimate(self, generation: int, form: dict[str, Any]) -> None:
        cfg = self.assay.config
        try:
            with closing(self.assay.open_db()) as db:
                est = estimate_run(db, cfg, prices=False, **form)
                self.post_message(self.Estimated(generation, est))
                if any(m.price_source is None for m in est.models):  # the price map: imports litellm
                    self.post_message(self.Estimated(generation, estimate_run(db, cfg, prices=True, **form)))
        except AssayError as exc:  # shown in the estimate panel: the form is what needs fixing
            self.post_message(self.Estimated(generation, None, exc.message))

    def on_run_screen_estimated(self, message: Estimated) -> None:
        if message.generation != self._estimate_generation:
            return
        panel = self.query_one("#estimate", Static)
        if message.estimate is None:
            panel.update(plain(message.error, style="bold red"))
        else:
            from rich.console import Group

            est = self.estimate = message.estimate
            panel.update(Group(views.estimate_head(est), views.estimate_table(est)))
        if not self.running:  # after a run, a changed form is planning the next one
            self._show(estimate=True)

    # --- starting, watching, stopping ---------------------------------------------------------------

    def _idle(self) -> bool:
        """No run is going here (else say so): one run at a time."""
        if self.running:
            self.notify("A run is already going: wait for it or cancel it (c).", severity="warning")
        return not self.running

    def action_start(self) -> None:
        if not self._idle():
            return
        form = self._form()
        if form is None or not form["models"]:
            self.notify("Choose a dataset and at least one model first.", severity="warning")
            return
        self._start(RunRequest(dataset=form["dataset"], version=form["version"], models=form["models"], prompt=form["prompt"],
                               repeat=form["repeat"], concurrency=form["concurrency"]))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()

    def _start(self, request: RunRequest) -> None:
        self.live, self.token, self.cancel_level = LiveRun(), CancelToken(), 0
        self._shown_version, self._shown_cells, self._shown_log = -1, {}, (-1, None)
        self.query_one("#live", DataTable).clear()  # a new run: the previous run's rows go
        self._show(estimate=False)
        self._run_worker = self._execute(request, self.live, self.token)
        self._poll_timer = self.set_interval(POLL_S, self._poll)
        self._poll()
        self.query_one("#live", DataTable).focus()

    def _show(self, *, estimate: bool) -> None:
        """The right-hand side shows the form's estimate, or the run started last (live, then its summary)."""
        for widget in (self.query_one("#live-head"), self.query_one("#live"), self.query_one("#error-log")):
            widget.display = not estimate
        self.query_one("#estimate", Static).display = estimate

    @background(group="run", exclusive=True)
    def _execute(self, request: RunRequest, live: LiveRun, token: CancelToken) -> None:
        ws = self.assay.ws
        run_sync(ws.db_path, self.assay.config, request, sink=live, cancel=token)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._run_worker or not event.worker.is_finished:
            return
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        self._poll()
        snap = self.live.snapshot() if self.live is not None else None
        head = self.query_one("#live-head", Static)
        if snap is not None and snap.finished is not None:
            head.update(views.summary_text(snap.finished, stable=self.assay.stable_display,
                                           resume_hint=snap.finished.status == "interrupted"))
        elif event.state == WorkerState.ERROR:
            head.update(Text("The run stopped with an error (see the dialog); it can be resumed from the history "
                             "list when it got as far as starting.", style="bold red"))
        self._run_worker = None
        self._load_history()

    def _poll(self) -> None:
        if self.live is None:
            return
        snap = self.live.snapshot()
        if snap.version == self._shown_version:
            return
        self._shown_version = snap.version
        if snap.run_id is not None:
            self.last_run_id = snap.run_id
        self._paint(snap)

    def _paint(self, snap: LiveSnapshot) -> None:
        stable = self.assay.stable_display
        if snap.finished is None:
            self.query_one("#live-head", Static).update(
                views.live_head(snap, stable=stable, cancel_level=self.cancel_level))
        table = self.query_one("#live", DataTable)
        for model in snap.models:
            cells = views.live_cells(model, stable=stable)
            if model.model not in table.rows:
                table.add_row(*(cells[key] for key, _ in views.LIVE_COLUMNS), key=model.model)
                self._shown_cells.update({(model.model, k): str(v) for k, v in cells.items()})
                continue
            for key, value in cells.items():
                if self._shown_cells.get((model.model, key)) != str(value):
                    self._shown_cells[(model.model, key)] = str(value)
                    table.update_cell(model.model, key, value, update_width=True)
        log_key = (len(snap.log), snap.log[-1] if snap.log else None)
        if log_key != self._shown_log:
            self._shown_log = log_key
            self.query_one("#error-log", Static).update(views.log_text(snap.log))

    def action_cancel_run(self) -> None:
        if not self.running or self.token is None:
            self.notify("No run is going.", severity="information")
            return
        if self.cancel_level == 0:
            question = ("Stop this run? No new calls start; calls already on the wire get a short grace period "
                        "to finish. The run is marked interrupted and can be resumed from the history list.")
            action = "Stop gracefully"
        else:
            question = ("Stop NOW? Calls in flight are cancelled and get no result (a resume redoes them).")
            action = "Stop now"
        level = self.cancel_level

        def answered(yes: bool | None) -> None:
            if yes and self.running and self.token is not None and self.cancel_level == level:
                self.cancel_level += 1
                self.token.cancel()
                self._shown_version = -1  # repaint the head with the stopping note
                self._poll()

        self.app.push_screen(ConfirmDialog(question, action=action), answered)

    # --- history ------------------------------------------------------------------------------------

    @background(group="run-history", exclusive=True)
    def _load_history(self) -> None:
        with closing(self.assay.open_db()) as db:
            runs = list_runs(db, HISTORY_LIMIT, outcomes=True)
        self.post_message(self.HistoryLoaded(runs))

    def on_run_screen_history_loaded(self, message: HistoryLoaded) -> None:
        """Same runs in the same order: only cells change. Otherwise (a new run on top) the short
        list is rebuilt and the cursor put back on the run it was on, or on the run just started
        here when it is new to the list (what `r`, `e` and `v` then act on)."""
        table = self.query_one("#history", DataTable)
        shown = [k.value for k in table.rows]
        selected = self._highlighted_run()
        if self.last_run_id not in shown:
            selected = self.last_run_id
        stable = self.assay.stable_display
        self.runs = {r.id: r for r in message.runs}
        same_rows = shown == [r.id for r in message.runs]
        if not same_rows:
            table.clear()
        for run in message.runs:
            cells = views.history_cells(run, stable=stable)
            if same_rows:
                for (key, _), value in zip(views.HISTORY_COLUMNS, cells):
                    table.update_cell(run.id, key, value, update_width=True)
            else:
                table.add_row(*cells, key=run.id)
        if selected in self.runs:
            table.move_cursor(row=table.get_row_index(selected))

    def _highlighted_run(self) -> str | None:
        table = self.query_one("#history", DataTable)
        if not table.row_count:
            return None
        key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return key.value

    def action_focus_history(self) -> None:
        self.query_one("#history", DataTable).focus()

    def action_focus_form(self) -> None:
        self.query_one("#dataset", Select).focus()

    def action_review(self) -> None:
        history = self.query_one("#history", DataTable)
        run_id = self._highlighted_run() if history.has_focus or self.last_run_id is None else self.last_run_id
        if run_id is None:
            self.notify("No run to open yet.", severity="information")
            return
        self.assay.review_run_id = run_id
        self.app.open_screen("review")

    def _history_run(self) -> RunSummary | None:
        """The run under the history cursor (else say how to pick one)."""
        run = self.runs.get(self._highlighted_run() or "")
        if run is None:
            self.notify("Select a run in the history list (h) first.", severity="information")
        return run

    def action_resume(self) -> None:
        run = self._history_run()
        if run is None:
            return
        if run.status not in RESUMABLE:
            self.notify(f"Run {run.id} is {run.status}: only an interrupted, stale or failed run can be resumed.",
                        severity="warning", markup=False)
            return
        if self._idle():
            self._start(RunRequest(resume=run.id))

    def action_retry_errors(self) -> None:
        run = self._history_run()
        if run is None:
            return
        failed = run.failed
        if not failed:
            self.notify(f"Run {run.id} has no failed call to send again.", severity="information", markup=False)
            return
        if run.status == "running":
            self.notify(f"Run {run.id} is still going: wait for it, or stop it first.", severity="warning",
                        markup=False)
            return
        if not self._idle():
            return
        question = (f"Send the {failed} failed call{'s' if failed > 1 else ''} of run {run.id} again (errors, and "
                    "calls a breaker skipped)? Each one's error row is replaced by its new outcome; the answered "
                    "calls stay as they are.")
        if run.status in RESUMABLE:
            question += f" The run is {run.status}: the calls it never made are made too."

        def answered(yes: bool | None) -> None:
            if yes and not self.running:
                self._start(RunRequest(resume=run.id, retry_errors=True))

        self.app.push_screen(ConfirmDialog(question, action="Send again"), answered)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "history":
            self.action_review()
