"""Flags that qualify a figure: can this number be trusted as it stands?

Three questions (issue 11), each answered by the module that measures it, and flagged next to the
figures it qualifies in reports (core.report.build), `assay compare` and the screens
(core.trends.flags gathers them per series):

- an uncalibrated judge: an LLM judge whose verdicts count here and that the experts' grades do
  not back (core.labeling.calibration: too few graded outputs, or kappa below the bar);
- a noise floor larger than the difference shown: the minimum detectable difference (exact
  McNemar, alpha 0.05, 80% power) at this n and flip rate is above |difference|;
- a contaminated model: the dataset's latest finished contamination probe suspects it
  (core.run.contamination: its continuations, or its recalled expected outputs, beat the
  control at p < 0.05).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import sqlite_utils

from core.common.stats import paired_mdd
from core.config.schema import WorkspaceConfig
from core.labeling.calibration import calibrate, judge_rows
from core.report.types import ALL, ContaminationFlag, GradedResult, JudgeStatus, NoiseFloorFlag, PairwiseComparison
from core.run.contamination import latest_contamination


# --- judges -----------------------------------------------------------------------------------------


def judge_statuses(db: sqlite_utils.Database, cfg: WorkspaceConfig, run_id: str) -> list[JudgeStatus]:
    """Each judge of the run with its calibration against the experts (core.labeling.calibration)."""
    return [JudgeStatus(scorer=j.scorer, judge_prompt_hash=j.judge_prompt_hash, judge_model=j.judge_model,
                        graded=j.graded, kappa=j.kappa, calibrated=j.calibrated, reasons=list(j.reasons))
            for j in calibrate(db, cfg, run_id).judges]


def uncalibrated_by_series(db: sqlite_utils.Database, cfg: WorkspaceConfig,
                           run_id: str) -> dict[tuple[str, str], list[JudgeStatus]]:
    """(model, task type or ALL) -> the uncalibrated judges whose verdicts scored that series of
    the run; only series with at least one such judge are present. {} without judge verdicts."""
    rows = judge_rows(db, run_id)
    if not rows.keys:
        return {}
    bad = {(j.scorer, j.judge_prompt_hash, j.judge_model): j
           for j in judge_statuses(db, cfg, run_id) if not j.calibrated}
    out: dict[tuple[str, str], list[JudgeStatus]] = defaultdict(list)
    for v in rows.verdicts:
        judge = bad.get((v.key.scorer, v.key.judge_prompt_hash, v.key.judge_model))
        if judge is None:
            continue
        for series in ((v.model, ALL), (v.model, v.task_type)):
            if judge not in out[series]:
                out[series].append(judge)
    return dict(out)


# --- contamination -------------------------------------------------------------------------------


def contamination_flags(db: sqlite_utils.Database, dataset: str) -> dict[str, ContaminationFlag]:
    """model -> its flag, for each model the dataset's latest finished probe suspects ({} when none)."""
    probe = latest_contamination(db, dataset)
    if probe is None:
        return {}
    return {m.model: ContaminationFlag(
        model=m.model, dataset=probe.dataset, probe_run_id=probe.run_id, dataset_version=probe.dataset_version,
        cases=m.cases, flagged_share=m.flagged_share, control_share=m.control_share, p_value=m.p_value,
        expected_share=m.expected_share, expected_chance_share=m.expected_chance_share,
        expected_p_value=m.expected_p_value) for m in probe.models if m.suspected}


# --- noise floor ----------------------------------------------------------------------------------


def noise_floor(difference: float | None, mdd: float | None, flip_rate: float | None) -> NoiseFloorFlag | None:
    """The flag of a paired difference whose minimum detectable difference `mdd` (None: none is
    detectable) at `flip_rate` is larger than |difference|; None when the difference clears it, or
    when there is no difference or no flip rate to judge by."""
    if difference is None or not flip_rate or (mdd is not None and abs(difference) >= mdd):
        return None
    return NoiseFloorFlag(difference=difference, mdd=mdd, flip_rate=flip_rate)


def case_discordance(passes: Sequence[bool]) -> float:
    """The share of ordered pairs of a case's (>= 2) graded repeats that disagree, 2p(m - p) / (m(m - 1))
    for p passes of m: an unbiased estimate of P(two repeats disagree) (core.trends.noise)."""
    m, p = len(passes), sum(passes)
    return 2 * p * (m - p) / (m * (m - 1))


def repeat_flip_rates(results: Iterable[GradedResult]) -> dict[str, float]:
    """model -> the mean discordance of its cases with >= 2 graded repeats (every task type together);
    models without such a case are absent."""
    verdicts: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        if r.graded:
            verdicts[r.model][r.case_id].append(r.verdict == "pass")
    out = {}
    for model, cases in verdicts.items():
        per_case = [case_discordance(v) for v in cases.values() if len(v) >= 2]
        if per_case:
            out[model] = sum(per_case) / len(per_case)
    return out


def pairwise_noise(c: PairwiseComparison, rates: dict[str, float]) -> NoiseFloorFlag | None:
    """The noise-floor flag of a model-against-model comparison in a run with repeats: the MDD at its
    pairs assumes the larger of the flip rate between the two models' repeats (`rates`, from
    `repeat_flip_rates`) and the discordant share it showed, as the comparison with a baseline does
    (core.trends.alerts.with_measured_noise)."""
    floor = max((rates[m] for m in (c.a, c.b) if m in rates), default=0.0)
    if not c.pairs or floor <= 0:
        return None
    assumed = min(1.0, max(floor, (c.a_only_passed + c.b_only_passed) / c.pairs))
    return noise_floor(c.pass_rate_diff, paired_mdd(c.pairs, assumed), assumed)
