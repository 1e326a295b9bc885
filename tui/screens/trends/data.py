"""What the Trends screen shows, read in a worker from core: the series of one metric with their
baseline and alert state, and the alerts. No widgets here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlite_utils

from core.config.schema import WorkspaceConfig
from core.datasets.browse import dataset_id
from core.report.types import ALL
from core.trends.aggregates import refresh
from core.trends.alerts import StoredAlert, list_alerts
from core.trends.baselines import resolve_baseline
from core.trends.flags import SeriesFlags, TrendKey, trend_flags
from core.trends.queries import Series, SeriesKey, SeriesSummary, summarize, trend_series

AlertState = Literal["alert", "acknowledged", "none"]


@dataclass(frozen=True, slots=True)
class SeriesRow:
    """One row of the series table: the summary, the series' pinned baseline and the last value's
    difference from the baseline run's value (None: no baseline, or the baseline run is not a
    point of this series or has no value of the metric)."""

    summary: SeriesSummary
    series: Series
    baseline_run_id: str | None
    delta: float | None
    alert: AlertState
    regressions: frozenset[str]  # run ids of this series with a stored alert (marked on the chart)

    @property
    def flag_key(self) -> TrendKey:
        """The series and the run its row shows: what its trust flags are about."""
        key = self.summary.key
        return TrendKey(key.dataset, key.model, key.task_type, self.summary.last_run_id)


@dataclass(frozen=True, slots=True)
class TrendsData:
    metric: str
    rows: list[SeriesRow]
    alerts: list[StoredAlert]  # open ones first, then acknowledged; newest first within each


def _alert_state(key: SeriesKey, alerts: list[StoredAlert]) -> tuple[AlertState, frozenset[str]]:
    mine = [a for a in alerts if (a.dataset, a.model, a.task_type) == (key.dataset, key.model, key.task_type)]
    state: AlertState = ("alert" if any(a.acknowledged_at is None for a in mine)
                         else "acknowledged" if mine else "none")
    return state, frozenset(a.candidate_run_id for a in mine)


def _order(series: Series) -> tuple[str, str, bool, str]:
    """Rows by dataset, then model, each model's all-tasks series first."""
    key = series.key
    return key.dataset, key.model, key.task_type != ALL, key.task_type


def load_trends(db: sqlite_utils.Database, metric: str) -> TrendsData:
    """Bring the per-run aggregates up to date, then read every series of `metric`."""
    refresh(db)
    # One read of every series (list_series would read them again for its summaries).
    every = sorted(trend_series(db, metric=metric), key=_order)
    alerts = list_alerts(db, include_acknowledged=True)
    alerts.sort(key=lambda a: a.acknowledged_at is not None)  # stable: newest first within each group
    ids: dict[str, int] = {}
    rows = []
    for series in every:
        summary = summarize(series)
        key = summary.key
        if key.dataset not in ids:
            ids[key.dataset] = dataset_id(db, key.dataset)
        pin = resolve_baseline(db, ids[key.dataset], key.model)
        base = next((p for p in series.points if pin is not None and p.run_id == pin.run_id), None)
        delta = (summary.last_value - base.value
                 if base is not None and base.value is not None and summary.last_value is not None else None)
        state, regressions = _alert_state(key, alerts)
        rows.append(SeriesRow(summary, series, pin.run_id if pin else None, delta, state, regressions))
    return TrendsData(metric, rows, alerts)


def load_flags(db: sqlite_utils.Database, cfg: WorkspaceConfig, rows: list[SeriesRow]) -> dict[TrendKey, SeriesFlags]:
    """The trust flags of the rows' series (an uncalibrated judge in the last run, a model the
    dataset's contamination probe suspects): read after the table paints, since a judge's
    calibration reads its run's results."""
    return trend_flags(db, cfg, [r.flag_key for r in rows])
