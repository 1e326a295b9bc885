"""The typed report: what `core.report.build.build_report` returns and every renderer and screen reads.

Plain frozen dataclasses (the report holds one `GradedResult` per result, so no per-object
validation cost). `Report.to_dict()` is the JSON shape of `assay report --format json`: field
names and order here are that format's keys and order, so renaming a field changes the format.

The definitions of the figures are in `core.report.build`'s docstring (and README "Scoring and
reports").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

# The task-type group of every task type together (the key next to each task type in `summary`).
ALL = "(all)"
# The confusion-matrix column of predictions that are not one of the task's labels.
INVALID = "(invalid)"

Verdict = Literal["pass", "fail", "scorer_error", "unscored", "error", "skipped"]
CostStatus = Literal["known", "partial", "unknown"]
JudgeCostStatus = Literal["none", "known", "partial", "unknown"]


@dataclass(frozen=True, slots=True)
class RunHeader:
    """The run a report is about."""

    id: str
    dataset: str
    dataset_version: int
    models: list[str]
    repeats: int
    prompt: str
    status: str
    created_at: str
    finished_at: str | None
    # The client's event-loop lag while the run executed (core.run.lag; None: not measured).
    loop_lag_p50_ms: float | None = None
    loop_lag_p95_ms: float | None = None
    # Over its fresh ok calls: the median of the client's own time before each request went out
    # (`client_ms`, kernel-timed calls only; None: none), and how many latencies the kernel timed
    # (they exclude that time) of all the latencies timed.
    client_p50_ms: float | None = None
    latency_kernel_n: int = 0
    latency_n: int = 0


@dataclass(frozen=True, slots=True)
class ScorerVerdict:
    """One scorer's row (of the latest round that scored the result)."""

    scorer: str
    status: str
    score: float | None
    passed: bool | None
    round: int


@dataclass(frozen=True, slots=True)
class HumanOverride:
    """A reviewer's verdict that replaces the scored one; append-only, the latest in force."""

    passed: bool
    replaces: Verdict  # the verdict in force when the override was written
    reason: str
    annotator: str
    created_at: str
    scored: Verdict  # what the scorers say now


@dataclass(frozen=True, slots=True)
class GradedResult:
    """One result (case x model x repeat) with its verdict: pass, fail, scorer_error or unscored
    for an ok call, else the call's own status (error, skipped). `message` says why it did not pass."""

    result_id: int
    case_id: str
    model: str
    repeat: int
    task_type: str
    status: str
    latency_ms: float | None
    latency_first_ms: float | None
    cached: bool
    cost_usd: float | None
    input_tokens: int | None
    output_tokens: int | None
    error_class: str | None
    error_message: str | None
    verdict: Verdict
    score: float | None
    scorers: list[ScorerVerdict]
    message: str | None
    # A human verdict in force on this result (Review screen): `verdict` is then the human's
    # (score 1.0 or 0.0) and `scored_verdict` what the scorers said.
    override: HumanOverride | None = None
    # The client's own time before the request went out (core.models.client.CallOutcome.client_ms):
    # set only when the kernel timed latency_ms.
    client_ms: float | None = None

    @property
    def scored_verdict(self) -> Verdict:
        return self.override.scored if self.override else self.verdict

    @property
    def graded(self) -> bool:
        """Scored with an ok verdict (pass or fail): counts toward the pass rate and comparisons."""
        return self.verdict in ("pass", "fail")


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """Figures for one group of results: one model, over all its task types (ALL) or one."""

    n: int
    ok: int
    errors: int
    skipped: int
    scorer_errors: int
    unscored: int
    scored: int
    passed: int
    failed: int
    pass_rate: float | None
    pass_rate_ci95: tuple[float, float] | None
    pass_rate_incl_errors: float | None
    mean_score: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_n: int
    client_p50_ms: float | None  # the client's own time before the request went out (not latency)
    first_token_p50_ms: float | None
    first_token_p95_ms: float | None
    cached: int
    input_tokens: int | None  # None: no result reported tokens
    output_tokens: int | None
    cost_usd: float | None
    cost_status: CostStatus
    cost_unknown_results: int
    cost_per_case: float | None
    cost_per_correct: float | None
    judge_scores: int
    judge_cost_usd: float | None
    judge_cost_status: JudgeCostStatus


@dataclass(frozen=True, slots=True)
class FieldAccuracy:
    """One extraction field: verdict counts over the cases it applies to; accuracy = match / n."""

    n: int
    match: int
    wrong: int
    missing: int
    extra: int
    accuracy: float


@dataclass(frozen=True, slots=True)
class ClassFigures:
    """One label of a confusion matrix; None where undefined (no predictions or no cases of it)."""

    support: int
    precision: float | None
    recall: float | None
    f1: float | None


@dataclass(frozen=True, slots=True)
class ConfusionMatrix:
    """Rows: expected labels; columns: predicted labels then INVALID. `matrix[expected][predicted]`."""

    labels: list[str]
    columns: list[str]
    matrix: dict[str, dict[str, int]]
    per_class: dict[str, ClassFigures]
    invalid: int
    n: int


@dataclass(frozen=True, slots=True)
class NoiseFloorFlag:
    """A difference smaller than the noise floor: the minimum detectable drop (exact McNemar, alpha
    0.05, 80% power) at this n and flip rate is larger than |difference|, so the difference shown
    cannot be told from noise (core.report.flags.noise_floor)."""

    difference: float
    mdd: float | None  # None: not even a drop of every flip is detectable at this n
    flip_rate: float  # the flip rate the MDD assumes
    kind: str = "below_noise_floor"

    @property
    def note(self) -> str:
        if self.mdd is None:
            return "below the noise floor (no drop detectable at this n)"
        return f"below the noise floor (MDD {100 * self.mdd:.1f} pts)"


@dataclass(frozen=True, slots=True)
class ContaminationFlag:
    """A model the latest contamination probe of the dataset suspects (`assay probe contamination`):
    its continuations (or its recalled expected outputs) match the real text significantly more often
    than its control (core.run.contamination, exact McNemar p < 0.05)."""

    model: str
    dataset: str
    probe_run_id: str
    dataset_version: int  # the version the probe read
    cases: int
    flagged_share: float | None
    control_share: float | None
    p_value: float | None
    expected_share: float | None
    expected_chance_share: float | None
    expected_p_value: float | None
    kind: str = "contaminated"

    @property
    def note(self) -> str:
        def p(x: float | None) -> str:
            return "-" if x is None else "<0.001" if x < 0.001 else f"{x:.3f}"

        def share(x: float | None) -> str:
            return "-" if x is None else f"{100 * x:.0f}%"

        return (f"contaminated? probe {self.probe_run_id} (dataset v{self.dataset_version}): "
                f"{share(self.flagged_share)} of {self.cases} inputs continued verbatim vs "
                f"{share(self.control_share)} control (p {p(self.p_value)}); expected outputs recalled "
                f"{share(self.expected_share)} vs chance {share(self.expected_chance_share)} "
                f"(p {p(self.expected_p_value)})")


@dataclass(frozen=True, slots=True)
class PairwiseComparison:
    """Model a against model b on the (case, repeat) pairs both graded."""

    a: str
    b: str
    pairs: int
    pass_rate_a: float | None
    pass_rate_b: float | None
    pass_rate_diff: float | None
    a_only_passed: int
    b_only_passed: int
    mcnemar_p: float
    score_diff: float | None
    score_diff_ci95: tuple[float, float] | None
    verdict: str
    # Set in a run with repeats when the flip rate measured between them makes the minimum
    # detectable difference larger than |pass_rate_diff| (core.report.flags.pairwise_noise).
    noise_floor: NoiseFloorFlag | None = None


@dataclass(frozen=True, slots=True)
class BootstrapMethod:
    resamples: int
    seed: int


@dataclass(frozen=True, slots=True)
class Method:
    """How the intervals and tests were computed (stated in the JSON so a reader need not guess)."""

    ci: str
    paired_test: str
    alpha: float
    bootstrap: BootstrapMethod


@dataclass(frozen=True, slots=True)
class JudgeStatus:
    """An LLM judge (one rubric, one judge model) whose verdicts count in this report, checked
    against the experts' grades (core.labeling.calibration; `assay judge-check` has every figure)."""

    scorer: str
    judge_prompt_hash: str
    judge_model: str
    graded: int  # expert-graded outputs the judge also graded
    kappa: float | None
    calibrated: bool
    reasons: list[str]  # why it is uncalibrated


@dataclass(frozen=True, slots=True)
class Report:
    """A run's report. `summary[model][ALL or task type]`, `field_accuracy[model][task][field]` and
    `confusion[model][task]` are keyed by name (only groups with results are present); `models` is
    the run's order."""

    run: RunHeader
    score_rounds: list[int]
    task_types: list[str]
    models: list[str]
    summary: dict[str, dict[str, GroupFigures]]
    field_accuracy: dict[str, dict[str, dict[str, FieldAccuracy]]]
    confusion: dict[str, dict[str, ConfusionMatrix]]
    pairwise: list[PairwiseComparison]
    results: list[GradedResult]
    method: Method
    overrides: int = 0  # verdicts that are human overrides (counted in every figure above)
    judges: list[JudgeStatus] = dataclasses.field(default_factory=list)  # [] when no judge graded
    # Models of the run the dataset's latest contamination probe suspects ([] when none, or no probe).
    contamination: list[ContaminationFlag] = dataclasses.field(default_factory=list)

    @property
    def uncalibrated_judges(self) -> list[JudgeStatus]:
        return [j for j in self.judges if not j.calibrated]

    def contaminated(self, model: str) -> ContaminationFlag | None:
        return next((c for c in self.contamination if c.model == model), None)

    def figures(self, model: str, task_type: str = ALL) -> GroupFigures | None:
        """A model's figures over all task types (default) or one; None when it has no results there."""
        return self.summary.get(model, {}).get(task_type)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (`assay report --format json`)."""
        return dataclasses.asdict(self)
