"""Regression alerts: is a drop against the baseline real, and big enough to act on?

`assess` judges every series of a comparison (core.trends.compare: dataset x model x task type,
and each model's (all) series) with `[alerts]` threshold_points, q and min_matched:

- insufficient data: fewer than `min_matched` matched cases (whatever the figures say);
- alert: the pass rate dropped by at least the threshold AND the drop is significant after
  Benjamini-Hochberg across every series tested in this check (exact McNemar p-values of the
  series with enough matched cases; q < `q`);
- within noise: a drop of at least the threshold that is not significant (reported with its
  numbers: the MDD, and the cases that would tell);
- insufficient data: no such drop, but the series could not have told one from noise (its minimum
  detectable drop is above the threshold, or none is detectable): says how many matched cases it
  would need;
- improved: the pass rate rose significantly (same BH q); ok: otherwise.

When the candidate or the baseline run was made with repeats, the flip rate measured between its
repeats (core.trends.noise) is a floor on the flip rate a series' minimum detectable drop assumes:
two runs of an unchanged model disagree that often, whatever this pair of runs happened to show.

`check_run` compares a finished run with its baseline, stores the alerts (append-only, one per
candidate x baseline x model x task type: checking again stores nothing twice), and sends each
new alert to the configured webhooks (which never raises: a failed delivery is recorded).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import sqlite_utils

from core.common.figures import pct, pct_points
from core.common.stats import bh_adjust
from core.config.schema import AlertsConfig, WorkspaceConfig
from core.errors import NotFoundError
from core.trends.compare import RunComparison, SeriesComparison, _detectability, compare_runs, compare_with_pinned
from core.trends.noise import measured_flip_rates
from core.trends.webhooks import AlertMessage, DeliveryResult, send_alert
from store import alerts as store_alerts

Status = Literal["alert", "within_noise", "insufficient_data", "improved", "ok"]
STATUS_TITLES: dict[Status, str] = {"alert": "ALERT", "within_noise": "within noise",
                                    "insufficient_data": "insufficient data", "improved": "improved", "ok": "ok"}
_EPS = 1e-9  # 9/300 is a 3-point drop, whatever the float rounding of either side


@dataclass(frozen=True, slots=True)
class SeriesVerdict:
    series: SeriesComparison
    status: Status
    q_value: float | None  # BH-adjusted p; None when the series was not tested (too few matched)
    why: str  # one line: the figures behind the status


@dataclass(frozen=True, slots=True)
class Assessment:
    comparison: RunComparison
    threshold_points: float
    q: float
    min_matched: int
    tested: int  # series in the BH family
    verdicts: tuple[SeriesVerdict, ...]

    @property
    def alerts(self) -> list[SeriesVerdict]:
        return [v for v in self.verdicts if v.status == "alert"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (`assay compare --format json`): the comparison's fields, the rules, and
        each series' figures with its status, BH q and why."""
        c = self.comparison
        return {
            "candidate_run_id": c.candidate_run_id, "dataset": c.dataset, "baseline_run_ids": list(c.baseline_run_ids),
            "threshold_points": self.threshold_points, "q": self.q, "min_matched": self.min_matched,
            "tested": self.tested, "alerts": len(self.alerts), "unpaired_models": list(c.unpaired_models),
            "series": [{**dataclasses.asdict(v.series), "status": v.status, "q_value": v.q_value, "why": v.why}
                       for v in self.verdicts],
        }


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert as stored (`assay alerts list`). Field order is the `--json` key order."""

    id: int
    dataset: str
    model: str
    baseline_model: str
    task_type: str
    baseline_run_id: str
    candidate_run_id: str
    delta: float
    ci95: tuple[float, float] | None
    p_value: float
    q_value: float
    n_matched: int
    why: str
    created_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None


@dataclass(frozen=True, slots=True)
class AlertCheck:
    """What `check_run` did: the assessment, the alerts stored (with whether each is new) and the
    webhook deliveries of the new ones."""

    assessment: Assessment
    stored: tuple[tuple[StoredAlert, bool], ...]
    deliveries: tuple[DeliveryResult, ...]


def _p(value: float, name: str) -> str:
    return f"{name} < 0.001" if value < 0.001 else f"{name} = {value:.3f}"


def _why(s: SeriesComparison, status: Status, q: float | None, cfg: AlertsConfig, tested: int) -> str:
    if s.matched == 0:
        return f"no matched cases ({s.missing} missing, {s.new} new, {s.ungraded} not graded on both sides)"
    head = (f"pass rate {pct(s.pass_rate_baseline)} → {pct(s.pass_rate_candidate)} ({pct_points(s.pass_rate_diff)}"
            + (f", 95% CI {pct_points(s.pass_rate_diff_ci95[0])} to {pct_points(s.pass_rate_diff_ci95[1])}"
               if s.pass_rate_diff_ci95 else "")
            + f") on {s.matched} matched cases: {len(s.newly_failing)} newly failing, "
              f"{len(s.newly_passing)} newly passing")
    test = _p(s.mcnemar_p, "McNemar p") + (f", {_p(q, 'BH q')} over {tested} series" if q is not None else "")
    mdd = "no drop is detectable" if s.mdd is None else f"smallest detectable drop {100 * s.mdd:.1f} pts"
    need = f"; ≈{s.cases_needed} matched cases would detect {cfg.threshold_points:g} pts" if s.cases_needed else ""
    if status == "insufficient_data" and s.matched < cfg.min_matched:
        return f"{head}; only {s.matched} matched cases (< {cfg.min_matched}){need}"
    if status == "insufficient_data":
        return f"{head}; {test}; {mdd} at this n and flip rate (> {cfg.threshold_points:g}){need}"
    if status == "within_noise":
        return f"{head}; {test}: not significant (q ≥ {cfg.q:g}); {mdd}{need}"
    return f"{head}; {test}; {mdd}"


def _status(s: SeriesComparison, q: float | None, cfg: AlertsConfig) -> Status:
    threshold = cfg.threshold_points / 100
    if q is None or s.pass_rate_diff is None:
        return "insufficient_data"
    dropped = s.pass_rate_diff <= -threshold + _EPS
    if dropped:
        return "alert" if q < cfg.q else "within_noise"
    if s.pass_rate_diff > 0 and q < cfg.q:
        return "improved"
    if s.mdd is None or s.mdd > threshold + _EPS:
        return "insufficient_data"
    return "ok"


def assess(comparison: RunComparison, cfg: AlertsConfig) -> Assessment:
    """Judge every series of the comparison (see the module docstring)."""
    tested = [i for i, s in enumerate(comparison.series) if s.matched >= cfg.min_matched]
    qs: list[float | None] = [None] * len(comparison.series)
    for i, q in zip(tested, bh_adjust([comparison.series[i].mcnemar_p for i in tested])):
        qs[i] = q
    verdicts = []
    for s, q in zip(comparison.series, qs):
        status = _status(s, q, cfg)
        verdicts.append(SeriesVerdict(s, status, q, _why(s, status, q, cfg, len(tested))))
    return Assessment(comparison, cfg.threshold_points, cfg.q, cfg.min_matched, len(tested), tuple(verdicts))


def with_measured_noise(db: sqlite_utils.Database, comparison: RunComparison) -> RunComparison:
    """The comparison with each series' MDD (and cases needed) recomputed at the flip rate measured
    between repeats of its candidate or baseline run, where that is above the flip rate it showed."""
    runs = (comparison.candidate_run_id, *comparison.baseline_run_ids)
    measured = {run: measured_flip_rates(db, run) for run in runs}
    series = []
    for s in comparison.series:
        rates = (measured[s.candidate_run_id].get((s.model, s.task_type)),
                 measured[s.baseline_run_id].get((s.baseline_model, s.task_type)))
        floor = max((r for r in rates if r is not None), default=None)
        if floor is not None and s.matched and floor > (s.flip_rate or 0.0):
            mdd, assumed, needed = _detectability(s.matched, floor, comparison.detect_drop)
            s = dataclasses.replace(s, mdd=mdd, mdd_flip_rate=assumed, cases_needed=needed)
        series.append(s)
    return dataclasses.replace(comparison, series=tuple(series))


def compare_and_assess(db: sqlite_utils.Database, candidate: str, baseline: str | None,
                       cfg: AlertsConfig) -> Assessment:
    """`candidate` against `baseline`, or against its pinned baselines when `baseline` is None."""
    drop = cfg.threshold_points / 100
    comparison = (compare_with_pinned(db, candidate, detect_drop=drop) if baseline is None
                  else compare_runs(db, candidate, baseline, detect_drop=drop))
    return assess(with_measured_noise(db, comparison), cfg)


def _stored(row: store_alerts.AlertRow) -> StoredAlert:
    ci = (row.ci_low, row.ci_high) if row.ci_low is not None and row.ci_high is not None else None
    return StoredAlert(id=row.id, dataset=row.dataset, model=row.model, baseline_model=row.baseline_model,
                       task_type=row.task_type, baseline_run_id=row.baseline_run_id,
                       candidate_run_id=row.candidate_run_id, delta=row.delta, ci95=ci, p_value=row.p_value,
                       q_value=row.q_value, n_matched=row.n_matched, why=row.why, created_at=row.created_at,
                       acknowledged_at=row.acknowledged_at, acknowledged_by=row.acknowledged_by)


def message_of(alert: StoredAlert) -> AlertMessage:
    """The webhook message of a stored alert (points, as the payload documents)."""
    ci = alert.ci95 or (alert.delta, alert.delta)
    return AlertMessage(dataset=alert.dataset, model=alert.model, task_type=alert.task_type,
                        delta_points=100 * alert.delta, ci95_points=(100 * ci[0], 100 * ci[1]),
                        q_value=alert.q_value, n_matched=alert.n_matched, baseline_run_id=alert.baseline_run_id,
                        candidate_run_id=alert.candidate_run_id, why=alert.why)


def record_alerts(db: sqlite_utils.Database, assessment: Assessment) -> list[tuple[StoredAlert, bool]]:
    """Store the assessment's alerts; each with whether it is new (not stored by an earlier check)."""
    new = [store_alerts.NewAlert(
        dataset_id=assessment.comparison.dataset_id, model=v.series.model, baseline_model=v.series.baseline_model,
        task_type=v.series.task_type, baseline_run_id=v.series.baseline_run_id,
        candidate_run_id=v.series.candidate_run_id, delta=v.series.pass_rate_diff or 0.0,
        ci_low=v.series.pass_rate_diff_ci95[0] if v.series.pass_rate_diff_ci95 else None,
        ci_high=v.series.pass_rate_diff_ci95[1] if v.series.pass_rate_diff_ci95 else None,
        p_value=v.series.mcnemar_p, q_value=v.q_value if v.q_value is not None else 1.0,
        n_matched=v.series.matched, why=v.why) for v in assessment.alerts]
    return [(_stored(row), is_new) for row, is_new in store_alerts.record(db, new)]


def check_run(db: sqlite_utils.Database, candidate: str, baseline: str | None, cfg: WorkspaceConfig, *,
              send: bool = True) -> AlertCheck:
    """Compare a run with its baseline (the pinned one when None), store the alerts and send the
    new ones to `[alerts.webhooks]` (unless `send` is False)."""
    assessment = compare_and_assess(db, candidate, baseline, cfg.alerts)
    stored = record_alerts(db, assessment)
    deliveries: list[DeliveryResult] = []
    if send:
        for alert, is_new in stored:
            if is_new:
                deliveries += send_alert(db, cfg.alerts.webhooks, message_of(alert))
    return AlertCheck(assessment, tuple(stored), tuple(deliveries))


def list_alerts(db: sqlite_utils.Database, *, include_acknowledged: bool = False) -> list[StoredAlert]:
    """Stored alerts, newest first: the open ones, or all."""
    return [_stored(r) for r in store_alerts.list_alerts(db, include_acknowledged=include_acknowledged)]


def acknowledge_alert(db: sqlite_utils.Database, alert_id: int, *, by: str) -> tuple[StoredAlert, bool]:
    """Acknowledge an alert; (the alert, False) when it had been acknowledged already (the first
    acknowledgement stays)."""
    done = store_alerts.acknowledge(db, alert_id, by)
    row = store_alerts.get_alert(db, alert_id)
    if row is None:
        raise NotFoundError(f"no alert {alert_id} (see `assay alerts list --all`)")
    return _stored(row), done
