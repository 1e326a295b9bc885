"""A candidate run against a baseline run, paired case by case, per model x task type:
`assay compare`, and what the regression alerts (core.trends.alerts) judge.

Built on the Review screen's core: `core.review.cases.build_index` pairs the models (by name, or
the single model of each run) and places every (case, repeat) with its task type, and
`core.review.compare.pair_verdict` gives the paired test on the (case, repeat) both runs graded
(pass or fail): exact McNemar p on the pass/fail flips and a seeded paired bootstrap interval of the
mean-score difference, with n matched / missing / new / ungraded. Missing (in the baseline, not in
the candidate) is never counted as passing: it is left out of the matched pairs and counted.

Added here, per series:
- the pass-rate difference's 95% interval (the same seeded paired bootstrap, on the 1/0 verdicts);
- the flip rate: the share of matched pairs whose verdict changed (the discordant share);
- the minimum detectable drop (core.common.stats.paired_mdd: exact McNemar, alpha 0.05, 80% power)
  for that n, assuming a flip rate of at least `detect_drop` (a drop of d points flips at least d
  of the verdicts, so a series with few flips today would still see that many under such a drop),
  and, when it exceeds `detect_drop`, the matched cases that would detect it (paired_cases_needed);
- the newly failing (baseline pass, candidate fail) and newly passing cases, by case id and repeat.

Series: for each paired model, every task type together (core.report.types.ALL), plus each task
type when the cases have more than one. With pinned baselines (`compare_with_pinned`) each model of
the candidate is compared with its own pin when it has one, else with the dataset's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
import sqlite_utils

from core.common.stats import paired_bootstrap, paired_cases_needed, paired_mdd
from core.errors import NotFoundError
from core.report.types import ALL
from core.review.cases import ScoredMark, build_index, marks_by_key
from core.review.compare import pair_verdict
from core.trends.baselines import resolve_baseline
from store import runs as store_runs

DEFAULT_DETECT_DROP = 0.03  # [alerts] threshold_points = 3
GRADED = ("pass", "fail")


@dataclass(frozen=True, slots=True)
class CaseRef:
    case_id: str
    repeat: int


@dataclass(frozen=True, slots=True)
class SeriesComparison:
    """One dataset x model x task-type series: the candidate's `model` against the baseline's
    `baseline_model`. Rates and differences are fractions (candidate minus baseline: negative =
    worse); None where there is no matched pair. Field order is the JSON key order."""

    dataset: str
    model: str
    baseline_model: str
    task_type: str  # a task type, or ALL
    baseline_run_id: str
    candidate_run_id: str
    matched: int
    missing: int  # (case, repeat) the baseline answered and the candidate has no row for
    new: int  # the reverse
    ungraded: int  # both have a row, at least one is not a pass/fail verdict (error, unscored, ...)
    pass_rate_baseline: float | None
    pass_rate_candidate: float | None
    pass_rate_diff: float | None
    pass_rate_diff_ci95: tuple[float, float] | None
    mcnemar_p: float
    mean_score_diff: float | None
    mean_score_diff_ci95: tuple[float, float] | None
    flip_rate: float | None  # discordant pairs / matched
    mdd: float | None  # minimum detectable drop; None: not even a drop of every flip is detectable
    mdd_flip_rate: float | None  # the flip rate the MDD assumes: max(flip_rate, detect_drop)
    cases_needed: int | None  # matched cases to detect `detect_drop`, when the MDD is above it
    newly_failing: tuple[CaseRef, ...]
    newly_passing: tuple[CaseRef, ...]

    @property
    def series(self) -> str:
        return f"{self.dataset} / {self.model} / {self.task_type}"


@dataclass(frozen=True, slots=True)
class RunComparison:
    candidate_run_id: str
    dataset: str
    dataset_id: int
    baseline_run_ids: tuple[str, ...]
    detect_drop: float
    series: tuple[SeriesComparison, ...]
    unpaired_models: tuple[str, ...]  # candidate models with no counterpart in their baseline


def _detectability(matched: int, flip_rate: float | None,
                   detect_drop: float) -> tuple[float | None, float | None, int | None]:
    """(mdd, the flip rate it assumes, cases needed to detect `detect_drop` when the MDD is above it)."""
    if not matched or flip_rate is None:
        assumed = max(flip_rate or 0.0, detect_drop)
        return None, assumed, paired_cases_needed(detect_drop, assumed)
    assumed = min(1.0, max(flip_rate, detect_drop))
    mdd = paired_mdd(matched, assumed)
    needed = None if mdd is not None and mdd <= detect_drop else paired_cases_needed(detect_drop, assumed)
    return mdd, assumed, needed


def _series(dataset: str, candidate: str, baseline: str, model: str, baseline_model: str, task_type: str,
            mine: dict[tuple[str, int], ScoredMark], theirs: dict[tuple[str, int], ScoredMark],
            detect_drop: float) -> SeriesComparison:
    verdict = pair_verdict(model, baseline_model, mine, theirs, against_baseline=True)
    c = verdict.comparison
    keys = sorted(k for k in mine.keys() & theirs.keys()
                  if mine[k].verdict in GRADED and theirs[k].verdict in GRADED)
    failing = tuple(CaseRef(*k) for k in keys if theirs[k].verdict == "pass" and mine[k].verdict == "fail")
    passing = tuple(CaseRef(*k) for k in keys if theirs[k].verdict == "fail" and mine[k].verdict == "pass")
    boot = paired_bootstrap([(mine[k].verdict == "pass") - (theirs[k].verdict == "pass") for k in keys])
    flip_rate = (len(failing) + len(passing)) / len(keys) if keys else None
    mdd, assumed, needed = _detectability(len(keys), flip_rate, detect_drop)
    return SeriesComparison(
        dataset=dataset, model=model, baseline_model=baseline_model, task_type=task_type,
        baseline_run_id=baseline, candidate_run_id=candidate, matched=verdict.matched, missing=verdict.missing,
        new=verdict.new, ungraded=verdict.ungraded, pass_rate_baseline=c.pass_rate_b,
        pass_rate_candidate=c.pass_rate_a, pass_rate_diff=c.pass_rate_diff,
        pass_rate_diff_ci95=(boot.low, boot.high) if boot else None, mcnemar_p=c.mcnemar_p,
        mean_score_diff=c.score_diff, mean_score_diff_ci95=c.score_diff_ci95, flip_rate=flip_rate, mdd=mdd,
        mdd_flip_rate=assumed, cases_needed=needed, newly_failing=failing, newly_passing=passing)


def _against(db: sqlite_utils.Database, candidate: str, baseline: str, models: set[str] | None,
             detect_drop: float) -> tuple[list[SeriesComparison], list[str], str, int]:
    """The series of the candidate's models (all, or `models`) against one baseline run."""
    index = build_index(db, candidate, baseline=baseline)
    task_of = {(e.case_id, e.repeat): e.task_type for e in index.entries}
    groups = (ALL, *index.task_types) if len(index.task_types) > 1 else (ALL,)
    mine_all, theirs_all = marks_by_key(db, candidate), marks_by_key(db, baseline)
    out = []
    wanted = [m for m in index.models if models is None or m in models]
    paired = dict(index.baseline_pairs)
    for model in wanted:
        if model not in paired:
            continue
        mine, theirs = mine_all.get(model, {}), theirs_all.get(paired[model], {})
        split_mine: dict[str, dict] = defaultdict(dict)
        split_theirs: dict[str, dict] = defaultdict(dict)
        for marks, split in ((mine, split_mine), (theirs, split_theirs)):
            for key, mark in marks.items():
                split[task_of.get(key, "generation")][key] = mark
        for task in groups:
            m, t = (mine, theirs) if task == ALL else (split_mine[task], split_theirs[task])
            if m or t:
                out.append(_series(index.dataset, candidate, baseline, model, paired[model], task, m, t, detect_drop))
    unpaired = [m for m in wanted if m not in paired]
    return out, unpaired, index.dataset, index.dataset_id


def compare_runs(db: sqlite_utils.Database, candidate: str, baseline: str, *,
                 detect_drop: float = DEFAULT_DETECT_DROP) -> RunComparison:
    """Every model of `candidate` against its counterpart in `baseline` (a run on the same dataset)."""
    series, unpaired, dataset, dataset_id = _against(db, candidate, baseline, None, detect_drop)
    return RunComparison(candidate, dataset, dataset_id, (baseline,), detect_drop, tuple(series), tuple(unpaired))


def compare_with_pinned(db: sqlite_utils.Database, candidate: str, *,
                        detect_drop: float = DEFAULT_DETECT_DROP) -> RunComparison:
    """Each model of `candidate` against its pinned baseline (its own pin, else the dataset's).
    NotFoundError when no model has one."""
    run = store_runs.get_run(db, candidate)
    if run is None:
        raise NotFoundError(f"no run '{candidate}' (see `assay runs`)")
    by_baseline: dict[str, set[str]] = defaultdict(set)
    unpinned = []
    for model in run["models"]:
        pin = resolve_baseline(db, run["dataset_id"], model)
        if pin is None or pin.run_id == candidate:
            unpinned.append(model)
        else:
            by_baseline[pin.run_id].add(model)
    if not by_baseline:
        raise NotFoundError(f"no baseline pinned for dataset '{run['dataset']}' (or for the models of run "
                            f"{candidate}): pin one with `assay baseline set RUN`")
    series: list[SeriesComparison] = []
    for baseline, models in by_baseline.items():
        found, unpaired, _, _ = _against(db, candidate, baseline, models, detect_drop)
        series += found
        unpinned += unpaired
    order = {m: i for i, m in enumerate(run["models"])}
    series.sort(key=lambda s: order[s.model])  # stable: ALL then task types within a model
    return RunComparison(candidate, run["dataset"], run["dataset_id"], tuple(by_baseline), detect_drop,
                         tuple(series), tuple(sorted(unpinned, key=order.__getitem__)))
