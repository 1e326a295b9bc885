"""How the Trends screen renders core results: table cells, the chart's data and the alerts list
(the cost panel is tui.widgets.cost_panel, shared with Review). Every untrusted string (dataset,
model, task type, tags, provider model strings in break reasons, an alert's why) goes through
`tui.render.plain`."""

from __future__ import annotations

from rich.text import Text

from core.common.figures import money, ms, num, pct, pct_points, pct_range
from core.report.types import ALL
from core.trends.alerts import StoredAlert
from core.trends.flags import SeriesFlags
from core.trends.queries import METRICS, Series, TrendPoint, metric_label
from tui.render import plain
from tui.screens.trends.data import SeriesRow
from tui.widgets.trend_chart import ChartData, ChartPoint, sparkline

SERIES_COLUMNS = (("dataset", 14), ("model", 12), ("task type", 14), ("trend", 14), ("last value", 20),
                  ("Δ baseline", 11), ("alert", 8), ("runs", 4))
ALERT_COLUMNS = (("", 1), ("series", 22), ("Δ", 9), ("q", 5))
Y_LABELS = {"ms": "ms", "usd": "US$"}
EMPTY = ("No finished runs yet, so no trends. Run a suite on the Run screen (4) or with `assay run`; every "
         "finished run adds a point to each dataset × model × task type series here. Pin the run you trust "
         "with `assay baseline set RUN` to see the change against it and get regression alerts.")


def unit(metric: str) -> str:
    return METRICS[metric][1] if metric in METRICS else "rate"  # field:NAME accuracies are rates


def higher_is_better(metric: str) -> bool:
    return unit(metric) in ("rate", "score")


def value(metric: str, x: float | None) -> str:
    u = unit(metric)
    if u == "rate":
        return pct(x)
    if u == "ms":
        return "-" if x is None else f"{ms(x)} ms"
    if u == "usd":
        return money(x)
    return num(x)


def delta(metric: str, x: float | None) -> str:
    u = unit(metric)
    if x is None:
        return "-"
    if u == "rate":
        return pct_points(x)
    if u == "ms":
        return f"{x:+.0f} ms"
    if u == "usd":
        return ("+" if x >= 0 else "-") + money(abs(x))
    return f"{x:+.3f}"


def _task(task_type: str) -> Text:
    return Text("all tasks", style="dim") if task_type == ALL else plain(task_type, single_line=True, max_len=14)


CONTAMINATED = "†"  # the dataset's contamination probe suspects the model
UNCALIBRATED = "‡"  # an uncalibrated judge scored the series' last run


def marks(flags: SeriesFlags | None) -> str:
    """The flag marks after a model's name ("" when none)."""
    if flags is None:
        return ""
    return "".join(m for m, on in ((CONTAMINATED, flags.contamination), (UNCALIBRATED, flags.uncalibrated_judges))
                   if on)


def model_cell(model: str, flags: SeriesFlags | None) -> Text:
    mark = marks(flags)
    out = plain(model, single_line=True, max_len=12 - len(mark) - 1 if mark else 12)
    if mark:
        out.append(" " + mark, style="bold")
    return out


def series_cells(row: SeriesRow, metric: str, theme: dict[str, str],
                 flags: SeriesFlags | None = None) -> tuple[object, ...]:
    """`theme`: the app's theme variables (Rich styles take colours, not CSS variables)."""
    s = row.summary
    last = Text(value(metric, s.last_value))
    if metric == "pass_rate" and s.last_ci95 is not None:
        last.append(f" ({pct_range(s.last_ci95)})", style="dim")
    change = Text(delta(metric, row.delta))
    if row.delta is not None and row.delta != 0:
        worse = (row.delta < 0) == higher_is_better(metric)
        change.stylize(f"bold {theme['error']}" if worse else theme["success"])
    elif row.baseline_run_id is None:
        change = Text("no baseline", style="dim")
    alert = {"alert": Text("▼ alert", style=f"bold {theme['error']}"), "acknowledged": Text("ack'd", style="dim"),
             "none": Text("")}[row.alert]
    return (plain(s.key.dataset, single_line=True, max_len=14), model_cell(s.key.model, flags),
            _task(s.key.task_type),
            sparkline(s.recent, width=14, higher_is_better=higher_is_better(metric), theme=theme),
            last, change, alert, str(s.runs))


def _label(point: TrendPoint, same_day: bool) -> str:
    """A run's x tick: its date, or its time when the whole series ran on one day."""
    return point.created_at[11:19] if same_day else point.created_at[5:10]


def flag_notes(flags: SeriesFlags | None) -> list[Text]:
    """The selected series' flags, under its chart, each after its mark."""
    if flags is None:
        return []
    out = []
    for c in flags.contamination:
        line = Text(f"{CONTAMINATED} ", style="bold")
        line.append(plain(f"{c.model} {c.note}", single_line=True, max_len=240))
        out.append(line)
    for j in flags.uncalibrated_judges:
        line = Text(f"{UNCALIBRATED} uncalibrated judge in the last run: ", style="bold")
        line.append(plain(f"{j.judge_model} ({j.scorer}): " + "; ".join(j.reasons), single_line=True, max_len=200))
        out.append(line)
    return out


def chart_data(row: SeriesRow, metric: str, flags: SeriesFlags | None = None) -> ChartData:
    series: Series = row.series
    same_day = len({p.created_at[:10] for p in series.points}) == 1
    points = [ChartPoint(label=_label(p, same_day), value=p.value,
                         low=p.ci95[0] if p.ci95 else None, high=p.ci95[1] if p.ci95 else None,
                         segment=p.segment, regression=p.run_id in row.regressions) for p in series.points]
    key = series.key
    title = Text(metric_label(metric), style="bold")
    for part in (key.dataset, key.model):
        title.append(" · ")
        title.append(plain(part, single_line=True, max_len=30))
    title.append(" · ")
    title.append(_task(key.task_type))
    title.append(f"   {len(points)} runs", style="dim")
    if metric == "pass_rate":
        title.append(" · bars: 95% CI", style="dim")
    notes = []
    for p, shown in zip(series.points, points):
        if p.breaks:
            line = Text(f"┆ series break before {shown.label} ({p.run_id}): ", style="bold")
            line.append(plain("; ".join(p.breaks), single_line=True, max_len=200))
            notes.append(line)
        if shown.regression:
            notes.append(Text(f"▼ {shown.label} ({p.run_id}): regression alert (in the alerts list)", style="bold"))
    notes += flag_notes(flags)
    if series.points and series.points[-1].tags:
        tags = Text("tags of the last run: ", style="dim")
        tags.append(plain(", ".join(f"{k}={v}" for k, v in sorted(series.points[-1].tags.items())),
                          single_line=True, max_len=120))
        notes.append(tags)
    return ChartData(title=title, points=points, notes=notes, y_label=Y_LABELS.get(unit(metric), ""),
                     percent=unit(metric) == "rate")


def alert_cells(alert: StoredAlert, theme: dict[str, str]) -> tuple[Text, ...]:
    """An open alert in the theme's error colour; an acknowledged one dimmed."""
    acked = alert.acknowledged_at is not None
    style = "dim" if acked else ""
    what = plain(f"{alert.dataset} · {alert.model}", single_line=True, max_len=22, style=style)
    if alert.task_type != ALL:
        what.append(plain(f" · {alert.task_type}", single_line=True, max_len=16, style=style))
    q = "<.001" if alert.q_value < 0.001 else f"{alert.q_value:.3f}"
    mark = Text("✓", style="dim") if acked else Text("▼", style=f"bold {theme['error']}")
    return mark, what, Text(pct_points(alert.delta), style=style), Text(q, style=style)


def alert_detail(alert: StoredAlert | None) -> Text:
    if alert is None:
        return Text("No regression alerts. An alert needs a pinned baseline (`assay baseline set RUN`) and a "
                    "run checked against it (`assay run --baseline --alert` or `assay compare`).", style="dim")
    out = Text(f"{alert.candidate_run_id} vs baseline {alert.baseline_run_id} · {alert.created_at[:16]}\n", style="bold")
    out.append(plain(alert.why, max_len=600))
    if alert.acknowledged_at:
        out.append("\nacknowledged by ", style="dim")
        out.append(plain(alert.acknowledged_by, single_line=True, max_len=40, style="dim"))
        out.append(f" {alert.acknowledged_at[:16]}", style="dim")
    else:
        out.append("\nk acknowledges it", style="dim")
    return out
