"""The one chart adapter of the Trends screen: a metric of one series over its runs, and the
per-row sparkline of the trends table.

`TrendChart` draws `ChartData` with textual-plot (numpy-based; imported here, and this module is
imported only by the Trends screen, which the app loads when it is first opened, so app start
stays light): each point with its 95% CI as an error bar, points joined by a line within a
segment, a series break drawn as a gap between segments (its explanation listed below the chart),
and regressions marked on the point that regressed. The x axis is the run's position in the
series, labelled with its date: runs are what the chart compares, however far apart they were.

`sparkline()` is Textual's own Sparkline renderable, for a DataTable cell.

Colours come from the app's theme variables (textual-plot takes Rich styles, not CSS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.color import Color
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.renderables.sparkline import Sparkline
from textual.widgets import Static
from textual_plot import HiResMode, PlotWidget
from textual_plot.axis_formatter import CategoricalAxisFormatter, NumericAxisFormatter

from tui.render import plain


@dataclass(frozen=True, slots=True)
class ChartPoint:
    """One run's value. `segment` numbers the stretch between series breaks: points of different
    segments are never joined."""

    label: str  # the x tick (the run's date)
    value: float | None  # None: no value in this run (left out, not drawn as 0)
    low: float | None = None  # 95% CI, same unit as value
    high: float | None = None
    segment: int = 0
    regression: bool = False


@dataclass(frozen=True, slots=True)
class ChartData:
    title: Text  # already safe (built from plain())
    points: list[ChartPoint]
    notes: list[Text] = field(default_factory=list)  # series breaks and regressions explained, safe Text
    y_label: str = ""
    percent: bool = False  # values are fractions shown as percent on the axis


class _PercentFormatter(NumericAxisFormatter):
    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        return [f"{t * 100:.0f}%" if abs(t * 100 - round(t * 100)) < 1e-9 else f"{t * 100:.1f}%" for t in ticks]


class _Plot(PlotWidget, can_focus=False, inherit_bindings=False):
    """textual-plot's widget without its own keys and focus: the screen's keys drive the chart."""

    BINDINGS = []


class TrendChart(Vertical):
    DEFAULT_CSS = """
    TrendChart { height: 1fr; }
    TrendChart #chart-title { height: 1; padding: 0 1; }
    TrendChart _Plot { height: 1fr; min-height: 8; }
    TrendChart #chart-notes { height: auto; max-height: 5; padding: 0 1; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="chart-title")
        yield _Plot(id="chart-plot", allow_pan_and_zoom=False)
        yield Static(id="chart-notes")

    def show(self, data: ChartData | None, empty: str = "Select a series to chart it.") -> None:
        """Draw `data` (None: clear the chart and say `empty`)."""
        plot = self.query_one(_Plot)
        plot.clear()
        title = self.query_one("#chart-title", Static)
        notes = self.query_one("#chart-notes", Static)
        if data is None or not any(p.value is not None for p in data.points):
            title.update(data.title if data is not None else Text(""))
            notes.update(Text(empty if data is None else "No value of this metric in these runs.", style="dim"))
            return
        title.update(data.title)
        colours = self.app.theme_variables
        line, bars, marker, alarm = (colours[k] for k in ("secondary", "primary", "primary", "error"))
        n = len(data.points)
        plot.set_x_formatter(CategoricalAxisFormatter([p.label for p in data.points]))
        plot.set_y_formatter(_PercentFormatter() if data.percent else NumericAxisFormatter())
        plot.set_xlimits(0.5, n + 0.5)
        plot.set_ylimits(*_y_limits(data))
        plot.set_ylabel(data.y_label)
        for segment in sorted({p.segment for p in data.points}):
            xs = [i + 1 for i, p in enumerate(data.points) if p.segment == segment and p.value is not None]
            ys = [p.value for p in data.points if p.segment == segment and p.value is not None]
            if len(xs) > 1:
                plot.plot(xs, ys, line_style=line, hires_mode=HiResMode.BRAILLE)
        with_ci = [(i + 1, p) for i, p in enumerate(data.points)
                   if p.value is not None and p.low is not None and p.high is not None]
        if with_ci:
            # textual-plot draws symmetric error bars: draw each interval around its own midpoint.
            plot.errorbar([x for x, _ in with_ci], [(p.low + p.high) / 2 for _, p in with_ci],
                          yerr=[(p.high - p.low) / 2 for _, p in with_ci], marker="│", marker_style=bars)
        plot.scatter([i + 1 for i, p in enumerate(data.points) if p.value is not None],
                     [p.value for p in data.points if p.value is not None], marker="●", marker_style=marker)
        regressed = [(i + 1, p.value) for i, p in enumerate(data.points) if p.regression and p.value is not None]
        if regressed:
            plot.scatter([x for x, _ in regressed], [y for _, y in regressed], marker="▼", marker_style=f"bold {alarm}")
        for i in range(1, n):
            if data.points[i].segment != data.points[i - 1].segment:
                plot.add_v_line(i + 0.5, line_style=alarm)
        notes.update(Text("\n").join(data.notes) if data.notes else Text(""))


def _y_limits(data: ChartData) -> tuple[float, float]:
    """The y range: every value and interval, padded by at least 5% of the largest magnitude (so
    near-equal values do not fill the chart with noise); percent charts stay within 0-100%."""
    values = [v for p in data.points for v in (p.value, p.low, p.high) if v is not None]
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.1, max(abs(lo), abs(hi)) * 0.05) or 0.05
    lo, hi = lo - pad, hi + pad
    if data.percent:
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    elif min(values) >= 0:
        lo = max(lo, 0.0)
    return lo, hi


def sparkline(values: Sequence[float | None], *, width: int, higher_is_better: bool,
              theme: dict[str, str]) -> Sparkline | Text:
    """A DataTable cell: the series' values (missing ones left out), the worst end in the theme's
    error colour and the best in its success colour."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return plain("·" if known else "", style="dim")
    bad, good = Color.parse(theme["error"]), Color.parse(theme["success"])
    low, high = (bad, good) if higher_is_better else (good, bad)
    return Sparkline(known, width=min(width, len(known)), min_color=low, max_color=high,
                     summary_function=lambda bucket: sum(bucket) / len(bucket))
