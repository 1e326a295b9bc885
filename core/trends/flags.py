"""The trust flags of each series (model x task type) that `assay compare` and the Trends screen
show next to their figures (core.report.flags has the rules and the report's own flags):

- `uncalibrated_judges`: judges whose verdicts scored the series (in the candidate or the baseline
  run; for Trends, in the series' last run) and that the experts' grades do not back;
- `noise_floor`: the series' |pass-rate difference| is below its minimum detectable drop (the MDD
  the comparison shows, at the flip rate it assumes: measured between repeats when there are any,
  core.trends.alerts.with_measured_noise). Comparisons only: a trend row shows no paired difference;
- `contamination`: the dataset's latest contamination probe suspects the model (or, in a
  comparison, the baseline's model).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from core.config.schema import WorkspaceConfig
from core.report.flags import contamination_flags, noise_floor, uncalibrated_by_series
from core.report.types import ContaminationFlag, JudgeStatus, NoiseFloorFlag
from core.trends.alerts import Assessment
from core.trends.compare import RunComparison


@dataclass(frozen=True, slots=True)
class SeriesFlags:
    """The flags of one series. Field order is the `--json` key order."""

    model: str
    task_type: str
    uncalibrated_judges: tuple[JudgeStatus, ...] = ()
    noise_floor: NoiseFloorFlag | None = None
    contamination: tuple[ContaminationFlag, ...] = ()  # the model's, and the baseline model's when another

    @property
    def any(self) -> bool:
        return bool(self.uncalibrated_judges or self.noise_floor or self.contamination)

    @property
    def markers(self) -> list[str]:
        """Short markers for a table cell, in a fixed order."""
        return ([m for m, on in (("uncalibrated judge", self.uncalibrated_judges),
                                 ("below noise floor", self.noise_floor),
                                 ("contaminated?", self.contamination)) if on])

    @property
    def notes(self) -> list[str]:
        """One line per flag, with its figures."""
        out = [f"uncalibrated judge {j.judge_model} ({j.scorer}): " + "; ".join(j.reasons)
               for j in self.uncalibrated_judges]
        if self.noise_floor:
            out.append(self.noise_floor.note)
        out += [f"{c.model} {c.note}" for c in self.contamination]
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _Lookups:
    """Judge calibrations per run and contamination per dataset, each read once."""

    def __init__(self, db: sqlite_utils.Database, cfg: WorkspaceConfig) -> None:
        self.db, self.cfg = db, cfg
        self._judges: dict[str, dict[tuple[str, str], list[JudgeStatus]]] = {}
        self._probes: dict[str, dict[str, ContaminationFlag]] = {}

    def judges(self, run_id: str, model: str, task_type: str) -> list[JudgeStatus]:
        if run_id not in self._judges:
            self._judges[run_id] = uncalibrated_by_series(self.db, self.cfg, run_id)
        return self._judges[run_id].get((model, task_type), [])

    def contamination(self, dataset: str, model: str) -> ContaminationFlag | None:
        if dataset not in self._probes:
            self._probes[dataset] = contamination_flags(self.db, dataset)
        return self._probes[dataset].get(model)


def _unique_judges(judges: Iterable[JudgeStatus]) -> tuple[JudgeStatus, ...]:
    return tuple({(j.scorer, j.judge_prompt_hash, j.judge_model): j for j in judges}.values())


def comparison_flags(db: sqlite_utils.Database, cfg: WorkspaceConfig,
                     comparison: RunComparison) -> tuple[SeriesFlags, ...]:
    """The flags of each series of a comparison, in its order."""
    look = _Lookups(db, cfg)
    out = []
    for s in comparison.series:
        judges = _unique_judges([*look.judges(s.candidate_run_id, s.model, s.task_type),
                          *look.judges(s.baseline_run_id, s.baseline_model, s.task_type)])
        probes = tuple(dict.fromkeys(c for c in (look.contamination(s.dataset, s.model),
                                     look.contamination(s.dataset, s.baseline_model)) if c is not None))
        out.append(SeriesFlags(model=s.model, task_type=s.task_type, uncalibrated_judges=judges,
                               noise_floor=noise_floor(s.pass_rate_diff, s.mdd, s.mdd_flip_rate),
                               contamination=probes))
    return tuple(out)


def flagged_assessment(assessment: Assessment, flags: tuple[SeriesFlags, ...]) -> dict[str, Any]:
    """The JSON shape of `assay compare --format json`: the assessment's, each series with its `flags`."""
    out = assessment.to_dict()
    for series, f in zip(out["series"], flags):
        series["flags"] = f.to_dict()
    return out


@dataclass(frozen=True, slots=True)
class TrendKey:
    """A trend series and the run whose figures its row shows."""

    dataset: str
    model: str
    task_type: str
    last_run_id: str


def trend_flags(db: sqlite_utils.Database, cfg: WorkspaceConfig,
                keys: Iterable[TrendKey]) -> dict[TrendKey, SeriesFlags]:
    """The flags of trend series that have any: an uncalibrated judge in the last run, a suspected model."""
    look = _Lookups(db, cfg)
    out = {}
    for k in keys:
        probe = look.contamination(k.dataset, k.model)
        flags = SeriesFlags(model=k.model, task_type=k.task_type,
                            uncalibrated_judges=tuple(look.judges(k.last_run_id, k.model, k.task_type)),
                            contamination=(probe,) if probe else ())
        if flags.any:
            out[k] = flags
    return out
