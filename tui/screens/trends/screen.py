"""Trends: did it get worse, and is that real?

Top: one row per dataset × model × task type series with a sparkline of its recent runs, the last
value (the pass rate with its 95% CI), the change against the pinned baseline and the alert state.
`m`/`M` switch the metric (pass rate, incl. errors, mean score, p50/p95 latency, cost per case,
cost per correct). Below: the selected series over its runs (TrendChart: CI bars, regression
markers, series breaks as gaps explained under the chart); beside it the regression alerts
(`a` to focus, `k` acknowledges the selected one as the app's annotator) and the cost projection
of the selected dataset's latest run (`v` volume, `n` the pass-rate bar).

Flags after a model's name: † the dataset's latest contamination probe suspects the model, ‡ an
uncalibrated judge scored the series' last run (core.trends.flags); the selected series' flags are
explained under its chart, and the header counts them. They load in their own worker after the
table paints (a judge's calibration reads its run's results).

Loading: one worker refreshes the per-run aggregates and reads every series of the metric with
the alerts (core.trends); the table paints from that, and selecting a row redraws the chart from
memory. The cost inputs (the latest run's report and prices) load next, in their own worker; the
volume and the bar then recompute on the screen. Workers post, handlers mutate.
"""

from __future__ import annotations

from contextlib import closing

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from core.errors import UsageError
from core.trends.alerts import acknowledge_alert
from core.trends.costs import Volume, cost_projection, parse_volume
from core.trends.queries import METRICS, metric_label
from tui import keymap
from tui.screens.base import AssayScreen
from tui.screens.text_prompt_dialog import TextPromptDialog
from tui.screens.trends import view
from core.trends.flags import SeriesFlags, TrendKey
from tui.screens.trends.data import SeriesRow, TrendsData, load_flags, load_trends
from tui.screens.trends.messages import Acknowledged, FlagsReady, TrendsReady
from tui.widgets.cost_panel import (DEFAULT_BAR, DEFAULT_VOLUME, CostInputs, CostReady, cost_panel, load_cost_inputs,
                                    parse_bar)
from tui.widgets.trend_chart import TrendChart
from tui.workers import background

METRIC_ORDER = tuple(METRICS)


class TrendsScreen(AssayScreen):
    MODE = "trends"
    CSS_PATH = "trends.tcss"
    BINDINGS = keymap.TRENDS

    def __init__(self) -> None:
        super().__init__()
        self._metric = METRIC_ORDER[0]
        self._data: TrendsData | None = None
        self._flags: dict[TrendKey, SeriesFlags] = {}
        self._token = 0
        self._volume: Volume = parse_volume(DEFAULT_VOLUME, "cases")
        self._bar: float | None = DEFAULT_BAR
        self._cost: tuple[str, CostInputs] | None = None  # (run id, inputs)
        self._cost_wanted: str | None = None  # the run whose cost inputs are loading or shown
        self.shown_metric: str | None = None  # the metric on screen (tests and the bench wait on it)

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        tabs, status, footer = self.chrome()
        yield tabs
        yield Static(id="tr-head")
        yield DataTable(id="series", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="tr-body"):
            yield TrendChart(id="chart")
            with Vertical(id="tr-side"):
                yield Static(Text("Regression alerts", style="bold"), id="alerts-title")
                yield DataTable(id="alerts", cursor_type="row", show_header=False)
                yield Static(id="alert-detail")
                yield Static(id="cost")
        yield status
        yield footer

    def on_mount(self) -> None:
        table = self.query_one("#series", DataTable)
        for label, width in view.SERIES_COLUMNS:
            table.add_column(label, width=width)
        alerts = self.query_one("#alerts", DataTable)
        for label, width in view.ALERT_COLUMNS:
            alerts.add_column(label, width=width)
        table.focus()
        self.query_one("#tr-head", Static).update(Text("Loading trends…", style="dim"))
        self._reload()

    def _reload(self) -> None:
        self._token += 1
        self._load(self._metric, self._token)

    # -- workers (post only) ----------------------------------------------------------------

    @background(group="trends-load", exclusive=True)
    def _load(self, metric: str, token: int) -> None:
        with closing(self.assay.open_db()) as db:
            data = load_trends(db, metric)
        self.post_message(TrendsReady(data, token))

    @background(group="trends-flags", exclusive=True)
    def _load_flags(self, rows: list[SeriesRow], token: int) -> None:
        with closing(self.assay.open_db()) as db:
            flags = load_flags(db, self.assay.config, rows)
        self.post_message(FlagsReady(flags, token))

    @background(group="trends-cost", exclusive=True)
    def _load_cost(self, run_id: str) -> None:
        with closing(self.assay.open_db()) as db:
            inputs = load_cost_inputs(db, run_id, self.assay.config)
        self.post_message(CostReady(run_id, inputs))

    @background(group="trends-write")
    def _acknowledge(self, alert_id: int) -> None:
        with closing(self.assay.open_db()) as db:
            alert, first = acknowledge_alert(db, alert_id, by=self.assay.annotator)
        self.post_message(Acknowledged(alert, first))

    # -- handlers (mutate) --------------------------------------------------------------------

    def on_trends_ready(self, message: TrendsReady) -> None:
        if message.token != self._token:
            return
        data = self._data = message.data
        table = self.query_one("#series", DataTable)
        at = table.cursor_row
        table.clear()
        theme = self.app.theme_variables
        for i, row in enumerate(data.rows):
            table.add_row(*view.series_cells(row, data.metric, theme, self._flags.get(row.flag_key)), key=str(i))
        self._render_head()
        self._render_alerts()
        if data.rows:
            table.move_cursor(row=min(max(at, 0), len(data.rows) - 1))
            self._select()
        else:
            self.query_one("#chart", TrendChart).show(None, "")
            self.query_one("#cost", Static).update("")
        self.shown_metric = data.metric
        self._load_flags(data.rows, message.token)

    def on_flags_ready(self, message: FlagsReady) -> None:
        if message.token != self._token or self._data is None:
            return
        self._flags = message.flags
        table = self.query_one("#series", DataTable)
        model_column = table.ordered_columns[1].key
        for i, row in enumerate(self._data.rows):
            table.update_cell(str(i), model_column, view.model_cell(row.summary.key.model,
                                                                    message.flags.get(row.flag_key)))
        self._render_head()
        self._select()

    def _render_head(self) -> None:
        data = self._data
        assert data is not None
        if not data.rows:
            self.query_one("#tr-head", Static).update(Text(view.EMPTY))
            return
        head = Text("Metric ", style="dim")
        head.append(metric_label(data.metric), style="bold")
        head.append(f" (m next, M previous)  ·  {len(data.rows)} series  ·  ", style="dim")
        open_alerts = sum(a.acknowledged_at is None for a in data.alerts)
        head.append(f"{open_alerts} open alert{'s' if open_alerts != 1 else ''}",
                    style=f"bold {self.app.theme_variables['error']}" if open_alerts else "dim")
        flagged = list(self._flags.values())
        if flagged:
            counts = [(view.CONTAMINATED, "contaminated?", sum(bool(f.contamination) for f in flagged)),
                      (view.UNCALIBRATED, "uncalibrated judge", sum(bool(f.uncalibrated_judges) for f in flagged))]
            head.append("  ·  flagged series: " + ", ".join(f"{m} {what} {n}" for m, what, n in counts if n)
                        + " (see under the chart)", style="bold")
        self.query_one("#tr-head", Static).update(head)

    def _render_alerts(self) -> None:
        data = self._data
        assert data is not None
        table = self.query_one("#alerts", DataTable)
        at = table.cursor_row
        table.clear()
        theme = self.app.theme_variables
        for alert in data.alerts:
            table.add_row(*view.alert_cells(alert, theme))
        if data.alerts:
            table.move_cursor(row=min(max(at, 0), len(data.alerts) - 1))
        self._render_alert_detail()

    def _render_alert_detail(self) -> None:
        data = self._data
        table = self.query_one("#alerts", DataTable)
        alert = data.alerts[table.cursor_row] if data and 0 <= table.cursor_row < len(data.alerts) else None
        self.query_one("#alert-detail", Static).update(view.alert_detail(alert))

    @on(DataTable.RowHighlighted, "#alerts")
    def _alert_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._render_alert_detail()

    @on(DataTable.RowHighlighted, "#series")
    def _series_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._select()

    def _selected(self) -> SeriesRow | None:
        data = self._data
        row = self.query_one("#series", DataTable).cursor_row
        return data.rows[row] if data is not None and 0 <= row < len(data.rows) else None

    def _select(self) -> None:
        row = self._selected()
        if row is None or self._data is None:
            return
        self.query_one("#chart", TrendChart).show(view.chart_data(row, self._data.metric,
                                                                  self._flags.get(row.flag_key)))
        latest = max((r.summary for r in self._data.rows if r.summary.key.dataset == row.summary.key.dataset),
                     key=lambda s: s.last_created_at).last_run_id
        if latest != self._cost_wanted:
            self._cost_wanted = latest
            self.query_one("#cost", Static).update(Text(f"Cost · loading {latest}…", style="dim"))
            self._load_cost(latest)

    def on_cost_ready(self, message: CostReady) -> None:
        if message.run_id == self._cost_wanted:
            self._cost = (message.run_id, message.inputs)
            self._render_cost()

    def _render_cost(self) -> None:
        if self._cost is None:
            return
        inputs = self._cost[1]
        projection = cost_projection(inputs.report, inputs.prices, self._volume, min_pass=self._bar)
        self.query_one("#cost", Static).update(cost_panel(projection, self.app.theme_variables))

    def on_acknowledged(self, message: Acknowledged) -> None:
        who = message.alert.acknowledged_by or "someone"
        self.notify(f"Alert {message.alert.id} acknowledged." if message.first
                    else f"Alert {message.alert.id} was already acknowledged by {who}.", markup=False)
        self._reload()

    # -- actions --------------------------------------------------------------------------------

    def action_metric(self, step: int) -> None:
        self._metric = METRIC_ORDER[(METRIC_ORDER.index(self._metric) + step) % len(METRIC_ORDER)]
        self.query_one("#tr-head", Static).update(Text(f"Loading {metric_label(self._metric)}…", style="dim"))
        self._reload()

    def action_focus_series(self) -> None:
        self.query_one("#series", DataTable).focus()

    def action_focus_alerts(self) -> None:
        self.query_one("#alerts", DataTable).focus()

    def action_acknowledge(self) -> None:
        data = self._data
        row = self.query_one("#alerts", DataTable).cursor_row
        if data is None or not (0 <= row < len(data.alerts)):
            self.notify("No alert to acknowledge.", severity="information", markup=False)
            return
        alert = data.alerts[row]
        if alert.acknowledged_at is not None:
            self.notify("That alert is acknowledged already.", severity="information", markup=False)
            return
        self._acknowledge(alert.id)

    def action_volume(self) -> None:
        def done(text: str | None) -> None:
            if not text:
                return
            try:
                self._volume = parse_volume(text, "cases")
            except UsageError as exc:
                self.notify(exc.message.removeprefix("--cases: "), severity="warning", markup=False)
                return
            self._render_cost()

        self.app.push_screen(TextPromptDialog(f"Production volume (now {self._volume})",
                                              "cases per day, month or year: 10000/day, 2.5M/month"), done)

    def action_bar(self) -> None:
        def done(text: str | None) -> None:
            if text is None:
                return
            try:
                self._bar = parse_bar(text)
            except ValueError as exc:
                self.notify(str(exc), severity="warning", markup=False)
                return
            self._render_cost()

        self.app.push_screen(TextPromptDialog("Minimum pass rate a model must meet (by its 95% CI's lower bound)",
                                              "0.9 or 90% (empty: no bar)", allow_empty=True), done)

    def action_open_review(self) -> None:
        row = self._selected()
        if row is None:
            return
        run_id = row.summary.last_run_id
        self.assay.review_run_id = run_id  # the app's hand-off: Review opens it when shown
        self.app.open_screen("review")

    def action_reload(self) -> None:
        self._cost_wanted = None
        self._reload()
