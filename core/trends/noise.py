"""The noise floor of a run made with `--repeat k` (k >= 2): how much its verdicts and scores move
when nothing changed but the draw. `noise_report(db, run_id)` -> NoiseReport (`assay noise`), and
`measured_flip_rate` for the comparison's minimum detectable drop (core.trends.alerts).

Per model, over every task type together (core.report.types.ALL) and per task type when the run has
more than one, from the report's verdicts (core.report.build: human overrides applied):

- Only graded results count (verdict pass or fail); the others (errors, skips, scorer errors,
  unscored) are left out and counted (`ungraded`). A case needs at least two graded repeats to
  show noise: `cases` is the number that have them, `cases_too_few` the number left out.
- flip share: the share of those cases whose graded repeats do not all agree, with a 95% Wilson
  interval. It grows with k (more draws, more chances to disagree): compare runs with the same k.
- discordance: the chance that two different repeats of a case disagree, averaged over cases. A
  case with m graded repeats of which p passed contributes 2p(m - p) / (m(m - 1)), the share of its
  ordered pairs of repeats that disagree (an unbiased estimate whatever m is). This is the flip
  rate of two re-runs of an unchanged model on the same cases, the figure the paired minimum
  detectable drop assumes (core.common.stats.paired_mdd): `measured_flip_rate` returns it. 95%
  interval: seeded percentile bootstrap over cases.
- mdd: the minimum detectable drop (exact McNemar, alpha 0.05, 80% power) of a paired comparison of
  two single-repeat runs on these `cases` cases, when a share `discordance` of their verdicts flips
  by noise alone. None when no flip was measured (nothing to assume) or when not even a drop of
  every flip would be detected.
- score SD: for cases with at least two scored, graded repeats, the standard deviation of the score
  across repeats (sample SD, n - 1), averaged over cases, with a seeded bootstrap interval over
  cases. 0 when every repeat scored the same.

Example: a model whose answers each go wrong independently with probability f, on cases it gets
right otherwise, has discordance 2f(1 - f) and flip share 1 - (1 - f)^k - f^k.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from core.common.stats import BootstrapCI, paired_bootstrap, paired_mdd, wilson_interval
from core.errors import NotFoundError, UsageError
from core.report.build import build_report
from core.report.flags import case_discordance
from core.report.types import ALL, GradedResult
from store import runs as store_runs


@dataclass(frozen=True, slots=True)
class NoiseFigures:
    """One model x task type (or ALL) of a run with repeats. Rates are fractions; None where no case
    has two graded repeats. Field order is the `--json` key order."""

    model: str
    task_type: str
    results: int  # the model's results in this group (cases x repeats when the run finished)
    ungraded: int  # results left out: no pass/fail verdict
    cases: int  # cases with >= 2 graded repeats: the n of every figure below
    cases_too_few: int  # cases with results but fewer than 2 graded repeats
    flipped_cases: int  # cases whose graded repeats do not all agree
    flip_share: float | None
    flip_share_ci95: tuple[float, float] | None
    discordance: float | None  # P(two repeats of a case disagree), mean over cases
    discordance_ci95: tuple[float, float] | None
    mdd: float | None  # minimum detectable drop at n = cases and flip rate = discordance
    score_cases: int  # cases with >= 2 scored graded repeats
    score_sd: float | None  # mean within-case standard deviation of the score
    score_sd_ci95: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class NoiseReport:
    run_id: str
    dataset: str
    repeats: int
    task_types: tuple[str, ...]
    series: tuple[NoiseFigures, ...]  # per model: ALL first, then each task type when more than one

    def figures(self, model: str, task_type: str = ALL) -> NoiseFigures | None:
        """A model's figures for a task type (or ALL); with a single task type, its figures are ALL's."""
        if self.task_types == (task_type,):
            task_type = ALL
        return next((s for s in self.series if s.model == model and s.task_type == task_type), None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (`assay noise --json`)."""
        return dataclasses.asdict(self)


def _ci(boot: BootstrapCI | None) -> tuple[float, float] | None:
    return (boot.low, boot.high) if boot is not None else None


def _figures(model: str, task_type: str, results: Sequence[GradedResult]) -> NoiseFigures:
    verdicts: dict[str, list[bool]] = defaultdict(list)
    scores: dict[str, list[float]] = defaultdict(list)
    cases_seen = set()
    for r in results:
        cases_seen.add(r.case_id)
        if r.graded:
            verdicts[r.case_id].append(r.verdict == "pass")
            if r.score is not None:
                scores[r.case_id].append(r.score)
    repeated = [v for v in verdicts.values() if len(v) >= 2]
    n = len(repeated)
    flipped = sum(1 for v in repeated if len(set(v)) > 1)
    per_case = [case_discordance(v) for v in repeated]  # the share of its ordered pairs of repeats that disagree
    disc = paired_bootstrap(per_case)  # resamples cases (any sequence of values, not only differences)
    sds = [statistics.stdev(s) for s in scores.values() if len(s) >= 2]
    sd = paired_bootstrap(sds)
    discordance = disc.mean if disc is not None else None
    return NoiseFigures(
        model=model, task_type=task_type, results=len(results), ungraded=sum(1 for r in results if not r.graded),
        cases=n, cases_too_few=len(cases_seen) - n, flipped_cases=flipped,
        flip_share=flipped / n if n else None, flip_share_ci95=wilson_interval(flipped, n) if n else None,
        discordance=discordance, discordance_ci95=_ci(disc),
        mdd=paired_mdd(n, min(1.0, discordance)) if discordance else None,
        score_cases=len(sds), score_sd=sd.mean if sd is not None else None, score_sd_ci95=_ci(sd))


def _repeats(db: sqlite_utils.Database, run_id: str) -> tuple[dict[str, Any], int]:
    run = store_runs.get_run(db, run_id)
    if run is None:
        raise NotFoundError(f"no run '{run_id}' (see `assay runs`)")
    return run, int(run["repeats"] or 1)


def _measure(db: sqlite_utils.Database, run_id: str, run: dict[str, Any], repeats: int) -> NoiseReport:
    report = build_report(db, run_id, pairwise=False)
    by_model: dict[str, list[GradedResult]] = defaultdict(list)
    for r in report.results:
        by_model[r.model].append(r)
    types = report.task_types
    series = []
    for model in report.models:
        mine = by_model.get(model, [])
        if not mine:
            continue
        series.append(_figures(model, ALL, mine))
        if len(types) > 1:
            for task in types:
                group = [r for r in mine if r.task_type == task]
                if group:
                    series.append(_figures(model, task, group))
    return NoiseReport(run_id=run_id, dataset=run["dataset"], repeats=repeats, task_types=tuple(types),
                       series=tuple(series))


def noise_report(db: sqlite_utils.Database, run_id: str) -> NoiseReport:
    """The noise figures of a run made with --repeat k >= 2 (UsageError for a single-repeat run:
    it has nothing to measure). NotFoundError for an unknown run."""
    run, repeats = _repeats(db, run_id)
    if repeats < 2:
        raise UsageError(f"run {run_id} was made with --repeat 1: the noise floor needs repeats of each case; "
                         "run again with --repeat 2 or more (e.g. `assay run --repeat 3 ...`)")
    return _measure(db, run_id, run, repeats)


def measured_flip_rates(db: sqlite_utils.Database, run_id: str) -> dict[tuple[str, str], float]:
    """(model, task type or ALL) -> measured discordance between repeats, for a run with repeats;
    {} for a single-repeat run. A run with one task type answers for it and for ALL."""
    run, repeats = _repeats(db, run_id)
    if repeats < 2:
        return {}
    report = _measure(db, run_id, run, repeats)
    rates = {}
    for s in report.series:
        if s.discordance is not None:
            rates[(s.model, s.task_type)] = s.discordance
            if s.task_type == ALL and len(report.task_types) == 1:  # ALL is the single task type
                rates[(s.model, report.task_types[0])] = s.discordance
    return rates


def measured_flip_rate(db: sqlite_utils.Database, run_id: str, model: str, task_type: str = ALL) -> float | None:
    """The flip rate measured between repeats of `model` in `run_id` (its discordance, see the module
    docstring), for a task type or ALL; None when the run has no repeats or no case with two graded
    repeats. Builds the run's report: a caller checking many series reads `measured_flip_rates` once."""
    return measured_flip_rates(db, run_id).get((model, task_type))
