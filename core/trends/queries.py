"""Trend queries: series (dataset lineage x model x task type) and their points over time.

Read from the per-run aggregates only (`core.trends.aggregates`), never from the results, so a
query over a history of a million results takes milliseconds. Call `aggregates.refresh(db)` first
(in a worker, for a screen) to bring runs that finished or were re-scored since into the table.

A point whose scorer config, prompt, params, configured model id, provider model string or
provider fingerprint differs from the previous point's starts a new segment: a chart draws a gap
there, and `TrendPoint.breaks` says why ("provider model changed: X -> Y", "prompt changed", ...).
An unknown provider model (an older run, or a provider that sends none) is not a change.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field

import sqlite_utils

from core.errors import NotFoundError, UsageError
from core.report.types import ALL
from core.trends.aggregates import field_accuracies
from store import trends as store_trends
from store.trends import AggregateRow, StoredAggregate

# metric name -> (label, unit). Per-field accuracy is "field:NAME" (see `fields` on a series).
METRICS: dict[str, tuple[str, str]] = {
    "pass_rate": ("pass rate", "rate"),
    "pass_rate_incl_errors": ("pass rate incl. errors", "rate"),
    "mean_score": ("mean score", "score"),
    "latency_p50_ms": ("latency p50", "ms"),
    "latency_p95_ms": ("latency p95", "ms"),
    "cost_per_case": ("cost per case", "usd"),
    "cost_per_correct": ("cost per correct", "usd"),
}
FIELD_PREFIX = "field:"
RECENT_POINTS = 30  # values kept on a series summary (a sparkline's worth)


@dataclass(frozen=True, slots=True)
class SeriesKey:
    dataset: str
    model: str
    task_type: str  # a task type or ALL ('(all)')


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One run of a series. `value` is the metric (None when the run has no figure for it);
    `ci95` is the Wilson interval for the pass rate, None for every other metric."""

    run_id: str
    created_at: str
    dataset_version: int
    value: float | None
    ci95: tuple[float, float] | None
    pass_rate: float | None
    pass_rate_ci95: tuple[float, float] | None
    n: int
    scored: int
    segment: int  # 0 for the first segment; +1 at every break
    breaks: tuple[str, ...]  # why this point starts a new segment (empty: it continues the last one)
    tags: dict[str, str]
    provider_models: tuple[str, ...]
    fingerprints: tuple[str, ...]
    cost_status: str


@dataclass(frozen=True, slots=True)
class Series:
    key: SeriesKey
    metric: str
    points: tuple[TrendPoint, ...]
    fields: tuple[str, ...]  # extraction fields with an accuracy in some point ("field:NAME" metrics)

    @property
    def last(self) -> TrendPoint:
        return self.points[-1]


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """One row of the series list: the last point's metric and pass rate with CI, the recent values."""

    key: SeriesKey
    metric: str
    runs: int
    last_run_id: str
    last_created_at: str
    last_value: float | None
    last_pass_rate: float | None
    last_ci95: tuple[float, float] | None
    last_scored: int
    last_tags: dict[str, str]
    recent: tuple[float | None, ...]  # the metric over the last RECENT_POINTS runs, oldest first
    breaks: int  # segment starts after the first point
    last_break: tuple[str, ...]  # reasons of the latest break ((): none)
    fields: tuple[str, ...] = field(default=())


def check_metric(metric: str) -> str:
    """The metric name, or UsageError naming the valid ones."""
    if metric in METRICS or (metric.startswith(FIELD_PREFIX) and len(metric) > len(FIELD_PREFIX)):
        return metric
    raise UsageError(f"unknown metric '{metric}' (one of {', '.join(METRICS)} or field:NAME)")


def metric_label(metric: str) -> str:
    if metric.startswith(FIELD_PREFIX):
        return f"accuracy of {metric.removeprefix(FIELD_PREFIX)}"
    return METRICS[metric][0]


@functools.lru_cache(maxsize=1024)  # a series repeats the same few provider lists run after run
def _list(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text or "[]"))


def _changed(what: str, old: tuple[str, ...], new: tuple[str, ...]) -> str | None:
    if old and new and old != new:
        return f"{what} changed: {', '.join(old)} -> {', '.join(new)}"
    return None


def _break_reasons(a: AggregateRow, b: AggregateRow) -> tuple[str, ...]:
    # JSON lists are compared as stored text first: decoded only when they differ.
    reasons = [
        "scorer config changed" if a.scorer_hash != b.scorer_hash else None,
        "prompt changed" if a.prompt_hash != b.prompt_hash else None,
        "params changed" if a.params_hash != b.params_hash else None,
        f"model id changed: {a.model_id} -> {b.model_id}" if a.model_id and b.model_id and a.model_id != b.model_id
        else None,
        (_changed("provider model", _list(a.provider_models_json), _list(b.provider_models_json))
         if a.provider_models_json != b.provider_models_json else None),
        (_changed("provider fingerprint", _list(a.fingerprints_json), _list(b.fingerprints_json))
         if a.fingerprints_json != b.fingerprints_json else None),
    ]
    return tuple(r for r in reasons if r)


def break_reasons(prev: AggregateRow, cur: AggregateRow) -> tuple[str, ...]:
    """Why `cur` does not continue `prev`'s segment (empty: same conditions)."""
    return _break_reasons(prev, cur)


def _point(s: StoredAggregate, metric: str, fields: dict[str, float], segment: int,
           reasons: tuple[str, ...]) -> TrendPoint:
    row = s.row
    ci = ((row.pass_rate_low, row.pass_rate_high)
          if row.pass_rate_low is not None and row.pass_rate_high is not None else None)
    value = fields.get(metric.removeprefix(FIELD_PREFIX)) if metric.startswith(FIELD_PREFIX) else getattr(row, metric)
    return TrendPoint(
        run_id=row.run_id, created_at=row.run_created_at, dataset_version=row.dataset_version, value=value,
        ci95=ci if metric == "pass_rate" else None, pass_rate=row.pass_rate, pass_rate_ci95=ci, n=row.n,
        scored=row.scored, segment=segment, breaks=reasons, tags=s.tags, provider_models=_list(row.provider_models_json),
        fingerprints=_list(row.fingerprints_json), cost_status=row.cost_status,
    )


def _series(key: SeriesKey, metric: str, stored: list[StoredAggregate]) -> Series:
    points, names, segment, prev = [], set(), 0, None
    for s in stored:
        reasons = _break_reasons(prev, s.row) if prev is not None else ()
        segment += bool(reasons)
        fields = field_accuracies(s.row)
        names.update(fields)
        points.append(_point(s, metric, fields, segment, reasons))
        prev = s.row
    return Series(key=key, metric=metric, points=tuple(points), fields=tuple(sorted(names)))


def trend_series(db: sqlite_utils.Database, *, dataset: str | None = None, model: str | None = None,
                 task_type: str | None = None, metric: str = "pass_rate") -> list[Series]:
    """Every series matching the filters (None = any) with all its points, oldest first."""
    check_metric(metric)
    groups: dict[SeriesKey, list[StoredAggregate]] = {}
    for s in store_trends.read_aggregates(db, dataset=dataset, model=model, task_type=task_type):
        groups.setdefault(SeriesKey(s.dataset, s.row.model, s.row.task_type), []).append(s)
    return [_series(key, metric, rows) for key, rows in groups.items()]


def series_points(db: sqlite_utils.Database, dataset: str, model: str, task_type: str = ALL,
                  metric: str = "pass_rate") -> Series:
    """One series' points over time; NotFoundError when it has none."""
    found = trend_series(db, dataset=dataset, model=model, task_type=task_type, metric=metric)
    if not found:
        raise NotFoundError(f"no trend for dataset '{dataset}', model '{model}', task type '{task_type}' "
                            "(no finished runs yet?)")
    return found[0]


def summarize(series: Series) -> SeriesSummary:
    """A series' row in the list: the last point's metric, its pass rate with CI, recent values."""
    last = series.last
    breaks = [p for p in series.points if p.breaks]
    return SeriesSummary(
        key=series.key, metric=series.metric, runs=len(series.points), last_run_id=last.run_id,
        last_created_at=last.created_at, last_value=last.value, last_pass_rate=last.pass_rate,
        last_ci95=last.pass_rate_ci95, last_scored=last.scored, last_tags=last.tags,
        recent=tuple(p.value for p in series.points[-RECENT_POINTS:]), breaks=len(breaks),
        last_break=breaks[-1].breaks if breaks else (), fields=series.fields,
    )


def list_series(db: sqlite_utils.Database, *, dataset: str | None = None, model: str | None = None,
                task_type: str | None = None, metric: str = "pass_rate") -> list[SeriesSummary]:
    """Series with their last value (pass rate with its 95% CI) and recent values of `metric`,
    ordered by dataset, model, task type ('(all)' sorts first)."""
    out = [summarize(s) for s in trend_series(db, dataset=dataset, model=model, task_type=task_type, metric=metric)]
    return sorted(out, key=lambda s: (s.key.dataset, s.key.model, s.key.task_type != ALL, s.key.task_type))
