"""Judge calibration: how well an LLM judge (an llm-rubric scorer) agrees with the experts.

A *judge verdict* is a score row of a run's latest scoring round that called the judge (it has a
`judge_model`) and came out ok, with pass/fail: the verdict of that scorer (for an assertion set
that mixes a rubric with other checks, the set's verdict). Verdicts are grouped per rubric and
judge model: (scorer name, judge_prompt_hash, judge_model); a changed rubric or template is a new
hash, so a new group that starts uncalibrated.

An *expert grade* is a verdict an expert gave on one model output, matched to the judge's by the
output itself: (case id, sha256 of the output text). Two sources, the first wins:

1. The grades dataset `<dataset>-judge-grades` that `assay judge-sample` fills (core.labeling.
   judge_sample): one pass/fail case per sampled output, its metadata pointing at the case and the
   output's hash. Unambiguous: each grade is about exactly one output.
2. Labels on the run's own dataset, for task types of kind "pass_fail" or "rating": the Label
   screen shows such a case's model outputs (the latest ok output of each model, across the
   dataset's runs) and the expert grades what it sees. A label grades a particular output only
   when the screen shows one output text for the case, and it is the output the judge graded.
   With several different outputs on screen one label cannot say which it grades: it is not
   used (sample those outputs with `assay judge-sample` instead).

A grade counts once the label log decides the case ([labeling] required_labels agreeing labels,
or an adjudication), exactly as for ground truth. pass_fail: "pass" is a pass. rating: a rating
at or above [judge] pass_rating (default 4 of 1-5) is a pass.

Figures per group, over the distinct outputs both graded (an output judged in several repeats
counts once, with the judge's latest verdict on it): the 2x2 table (expert x judge), percent
agreement, Cohen's kappa with its Fleiss-Cohen-Everitt standard error and 95% interval
(core.common.stats.kappa_estimate), and the judge's precision and recall on "pass" (the experts'
pass being the truth). A judge is *calibrated* when at least [judge] min_graded (30) outputs are
graded and kappa >= [judge] min_kappa (0.6); otherwise uncalibrated, with the reasons.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import sqlite_utils

from core.common.stats import kappa_estimate
from core.config.schema import WorkspaceConfig
from core.datasets.ground_truth import case_states, decided_values
from core.errors import NotFoundError
from core.labeling.outputs import outputs_shown
from store import datasets as store_ds
from store import runs as store_runs
from store import scores as store_scores
from store.labels import iter_events

GRADE_TASK = "judge-grade"  # the task type (kind pass_fail) of the cases `assay judge-sample` creates
SAMPLE_KEY = "judge_sample"  # the metadata key of such a case: what it grades
GRADED_KINDS = ("pass_fail", "rating")  # task kinds whose labels grade model outputs


def grades_dataset_name(dataset: str) -> str:
    """The dataset `assay judge-sample` fills for a dataset's outputs, and `judge-check` reads."""
    return f"{dataset}-judge-grades"


def output_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, order=True)
class JudgeKey:
    """One rubric graded by one judge model."""

    scorer: str
    judge_prompt_hash: str
    judge_model: str


@dataclass(frozen=True)
class JudgedOutput:
    """A judge verdict on one result's output."""

    key: JudgeKey
    result_id: int
    case_id: str
    model: str
    task_type: str
    output: str
    passed: bool

    @property
    def output_key(self) -> tuple[str, str]:
        return self.case_id, output_sha(self.output)


@dataclass(frozen=True)
class JudgeRows:
    """Every judge row of a run's latest scoring: the ok verdicts and the count of judge errors per group."""

    verdicts: list[JudgedOutput]
    errors: dict[JudgeKey, int]

    @property
    def keys(self) -> list[JudgeKey]:
        return sorted({v.key for v in self.verdicts} | set(self.errors))


def _run(db: sqlite_utils.Database, run_id: str) -> dict[str, Any]:
    run = store_runs.get_run(db, run_id)
    if run is None:
        raise NotFoundError(f"no run '{run_id}'")
    return run


def judge_rows(db: sqlite_utils.Database, run_id: str) -> JudgeRows:
    run = _run(db, run_id)
    latest = store_scores.latest_scores(db, run_id)
    judged = {rid for rid, rows in latest.items() if any(r["judge_model"] for r in rows)}
    if not judged:
        return JudgeRows([], {})
    task_of = {c["id"]: c.get("task_type") or "generation"
               for c in store_ds.iter_version_cases(db, run["dataset_version_id"])}
    verdicts: list[JudgedOutput] = []
    errors: dict[JudgeKey, int] = {}
    for r in store_scores.iter_results(db, run_id, status="ok"):
        if r["id"] not in judged:
            continue
        for row in latest[r["id"]]:
            if not row["judge_model"]:
                continue
            key = JudgeKey(row["scorer"], row["judge_prompt_hash"] or "", row["judge_model"])
            if row["status"] == "ok" and row["passed"] is not None:
                verdicts.append(JudgedOutput(key, r["id"], r["case_id"], r["model"],
                                             task_of.get(r["case_id"], "generation"), r["output"] or "", row["passed"]))
            else:
                errors[key] = errors.get(key, 0) + 1
    return JudgeRows(verdicts, errors)


# --- expert grades ----------------------------------------------------------------------------------


def expert_passed(kind: str, value: Any, pass_rating: int) -> bool | None:
    """An expert's label as pass/fail: pass_fail directly, a rating at or above `pass_rating` is a
    pass. None for anything else (another kind, or a value that is not a grade)."""
    if kind == "pass_fail":
        return {"pass": True, "fail": False}.get(value) if isinstance(value, str) else None
    if kind == "rating":
        try:
            return int(value) >= pass_rating
        except (TypeError, ValueError):
            return None
    return None


@dataclass(frozen=True)
class ExpertGrade:
    passed: bool
    source: str  # "sample" (a judge-sample grade case) or "label" (a label on the run's dataset)


def _decided(db: sqlite_utils.Database, dataset_id: int, required: int) -> dict[str, Any]:
    return decided_values(case_states(iter_events(db, dataset_id)), required)


def sample_grades(db: sqlite_utils.Database, cfg: WorkspaceConfig, dataset: str,
                  grades_dataset: str | None = None) -> dict[tuple[str, str], bool]:
    """(case id, output sha) -> the experts' pass/fail, from the grades dataset of `dataset`."""
    try:
        gid = store_ds.dataset_id(db, grades_dataset or grades_dataset_name(dataset))
    except store_ds.DatasetMissing:
        return {}
    decided = _decided(db, gid, cfg.labeling.required_labels)
    out: dict[tuple[str, str], bool] = {}
    for case in store_ds.iter_cases(db, gid):
        ref = case.metadata.get(SAMPLE_KEY)
        if case.excluded or not isinstance(ref, dict) or ref.get("dataset") != dataset:
            continue
        passed = expert_passed("pass_fail", decided.get(case.case_id), cfg.judge.pass_rating)
        if passed is not None:
            out[(ref["case_id"], ref["output_sha256"])] = passed
    return out


def label_grades(db: sqlite_utils.Database, cfg: WorkspaceConfig, dataset_id: int,
                 verdicts: Iterable[JudgedOutput]) -> dict[tuple[str, str], bool]:
    """(case id, output sha) -> pass/fail from labels on the run's own dataset (rule 2 above)."""
    kinds = {t: task.kind for t, task in cfg.tasks.items() if task.kind in GRADED_KINDS}
    wanted = {v.case_id: v.task_type for v in verdicts if v.task_type in kinds}
    if not wanted:
        return {}
    decided = _decided(db, dataset_id, cfg.labeling.required_labels)
    out: dict[tuple[str, str], bool] = {}
    for case_id, task_type in wanted.items():
        passed = expert_passed(kinds[task_type], decided.get(case_id), cfg.judge.pass_rating)
        if passed is None:
            continue
        case = store_ds.get_case(db, dataset_id, case_id)
        shown = {text for _, text in outputs_shown(db, dataset_id, case)} if case is not None else set()
        if len(shown) == 1:
            out[(case_id, output_sha(shown.pop()))] = passed
    return out


def expert_grades(db: sqlite_utils.Database, cfg: WorkspaceConfig, run: dict[str, Any],
                  verdicts: list[JudgedOutput], grades_dataset: str | None = None) -> dict[tuple[str, str], ExpertGrade]:
    out = {k: ExpertGrade(p, "label") for k, p in label_grades(db, cfg, run["dataset_id"], verdicts).items()}
    out.update({k: ExpertGrade(p, "sample") for k, p in sample_grades(db, cfg, run["dataset"], grades_dataset).items()})
    return out


# --- figures --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Confusion:
    """Expert x judge counts over the graded outputs; 'pass' is the positive class."""

    expert_pass_judge_pass: int
    expert_pass_judge_fail: int
    expert_fail_judge_pass: int
    expert_fail_judge_fail: int

    @property
    def table(self) -> list[list[int]]:
        """Rows expert pass/fail, columns judge pass/fail (kappa_estimate's orientation)."""
        return [[self.expert_pass_judge_pass, self.expert_pass_judge_fail],
                [self.expert_fail_judge_pass, self.expert_fail_judge_fail]]


@dataclass(frozen=True)
class JudgeCalibration:
    """One rubric and judge model against the experts."""

    scorer: str
    judge_prompt_hash: str
    judge_model: str
    judged_outputs: int  # distinct outputs with a judge verdict in this run
    judge_errors: int  # judge rows that ended in error (no verdict)
    graded: int  # of those outputs, how many experts graded: n of every figure below
    graded_from_samples: int
    graded_from_labels: int
    agreed: int
    percent_agreement: float | None
    kappa: float | None
    kappa_se: float | None
    kappa_ci95: tuple[float, float] | None
    confusion: Confusion
    precision_pass: float | None  # of the outputs the judge passed, the share experts passed
    recall_pass: float | None  # of the outputs experts passed, the share the judge passed
    calibrated: bool
    reasons: list[str]  # why uncalibrated ([] when calibrated)


@dataclass(frozen=True)
class CalibrationReport:
    run_id: str
    dataset: str
    grades_dataset: str
    min_kappa: float
    min_graded: int
    pass_rating: int
    judges: list[JudgeCalibration]
    method: str = ("Cohen's kappa with the Fleiss-Cohen-Everitt (1969) asymptotic standard error; "
                   "95% CI = kappa +/- 1.96 SE, clipped to [-1, 1]")

    @property
    def uncalibrated(self) -> list[JudgeCalibration]:
        return [j for j in self.judges if not j.calibrated]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _status(graded: int, kappa: float | None, cfg: WorkspaceConfig) -> list[str]:
    reasons = []
    if graded < cfg.judge.min_graded:
        reasons.append(f"only {graded} expert-graded output(s), need {cfg.judge.min_graded}")
    if kappa is None:
        if graded:
            reasons.append("kappa undefined: experts and judge gave one and the same verdict to every output")
    elif kappa < cfg.judge.min_kappa:
        reasons.append(f"kappa {kappa:.3f} < {cfg.judge.min_kappa:g}")
    return reasons


def calibrate_group(key: JudgeKey, verdicts: list[JudgedOutput], errors: int,
                    grades: dict[tuple[str, str], ExpertGrade], cfg: WorkspaceConfig) -> JudgeCalibration:
    latest = distinct_outputs(verdicts)
    pairs = [(grades[v.output_key], v.passed) for v in latest if v.output_key in grades]
    cells = {(e, j): 0 for e in (True, False) for j in (True, False)}
    for grade, judge in pairs:
        cells[(grade.passed, judge)] += 1
    confusion = Confusion(cells[(True, True)], cells[(True, False)], cells[(False, True)], cells[(False, False)])
    est = kappa_estimate(confusion.table)
    n = len(pairs)
    agreed = cells[(True, True)] + cells[(False, False)]
    kappa = est.kappa if est else None
    reasons = _status(n, kappa, cfg)
    return JudgeCalibration(
        scorer=key.scorer, judge_prompt_hash=key.judge_prompt_hash, judge_model=key.judge_model,
        judged_outputs=len(latest), judge_errors=errors, graded=n,
        graded_from_samples=sum(g.source == "sample" for g, _ in pairs),
        graded_from_labels=sum(g.source == "label" for g, _ in pairs),
        agreed=agreed, percent_agreement=_ratio(agreed, n),
        kappa=kappa, kappa_se=est.se if est else None, kappa_ci95=est.ci95 if est else None,
        confusion=confusion,
        precision_pass=_ratio(cells[(True, True)], cells[(True, True)] + cells[(False, True)]),
        recall_pass=_ratio(cells[(True, True)], cells[(True, True)] + cells[(True, False)]),
        calibrated=not reasons, reasons=reasons,
    )


def calibrate(db: sqlite_utils.Database, cfg: WorkspaceConfig, run_id: str, *,
              grades_dataset: str | None = None) -> CalibrationReport:
    """Every judge of a run against the experts' grades. `grades_dataset`: read grades from this
    dataset instead of `<dataset>-judge-grades`."""
    run = _run(db, run_id)
    rows = judge_rows(db, run_id)
    grades = expert_grades(db, cfg, run, rows.verdicts, grades_dataset) if rows.keys else {}
    judges = [calibrate_group(key, [v for v in rows.verdicts if v.key == key], rows.errors.get(key, 0), grades, cfg)
              for key in rows.keys]
    return CalibrationReport(
        run_id=run_id, dataset=run["dataset"], grades_dataset=grades_dataset or grades_dataset_name(run["dataset"]),
        min_kappa=cfg.judge.min_kappa, min_graded=cfg.judge.min_graded, pass_rating=cfg.judge.pass_rating,
        judges=judges,
    )



def distinct_outputs(verdicts: Iterable[JudgedOutput]) -> list[JudgedOutput]:
    """One verdict per distinct (case, output text): the latest (highest result id)."""
    latest: dict[tuple[str, str], JudgedOutput] = {}
    for v in sorted(verdicts, key=lambda v: v.result_id):
        latest[v.output_key] = v
    return list(latest.values())
