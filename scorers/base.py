"""The scorer interface and the shapes that cross it.

    scorer(output: str, case: Mapping, ctx: ScoreContext) -> ScoreResult

`case` is the frozen case dict (id, input_text, expected_output, task_type, metadata, ...).
A scorer that cannot give a verdict raises `ScorerError`; `run_scorer` turns that, and any other
exception, into an *error* verdict (score and passed None), which is never a pass or a fail.
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class JudgeReply:
    """What the injected judge function returns for one prompt."""

    text: str
    model: str
    temperature: float | None = None
    cost_usd: float | None = None  # None = unknown, never 0
    cached: bool = False


# Synchronous on purpose: scorers run in worker threads and core bridges this to its async client.
JudgeFn = Callable[[str], JudgeReply]


@dataclass(frozen=True)
class JudgeUsage:
    """Judge calls behind one verdict, stored on the score row (scores.judge_* columns)."""

    model: str
    prompt_hash: str
    temperature: float | None
    cost_usd: float | None
    calls: int = 1

    def merge(self, other: JudgeUsage) -> JudgeUsage:
        # Several rubric assertions in one set: costs add (unknown stays unknown) and the
        # stored hash identifies the combination of judge instructions.
        cost = None if self.cost_usd is None or other.cost_usd is None else self.cost_usd + other.cost_usd
        combined = hashlib.sha256(f"{self.prompt_hash}+{other.prompt_hash}".encode()).hexdigest()
        return JudgeUsage(self.model, combined, self.temperature, cost, self.calls + other.calls)


def merge_usage(usages: Iterable[JudgeUsage | None]) -> JudgeUsage | None:
    out: JudgeUsage | None = None
    for u in usages:
        if u is not None:
            out = u if out is None else out.merge(u)
    return out


@dataclass(frozen=True)
class ScoreContext:
    """What a scorer may know besides the output and the case (its own options are given to it
    when it is built). `judge` is None when no judge model is configured."""

    latency_ms: float | None = None
    cost_usd: float | None = None
    valid_labels: Sequence[str] = ()
    judge: JudgeFn | None = None


def check_unit(value: Any, what: str = "score") -> float:
    """A real number in [0, 1] (bools and NaN refused), as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{what} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be in [0, 1], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ScoreResult:
    score: float
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)
    judge: JudgeUsage | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "score", check_unit(self.score))
        if not isinstance(self.passed, bool):
            raise ValueError(f"passed must be a bool, got {self.passed!r}")
        if not isinstance(self.details, dict):
            raise ValueError("details must be a dict")


class ScorerError(Exception):
    """The scorer cannot give a verdict; recorded as status 'error'."""

    def __init__(self, reason: str, *, details: Mapping[str, Any] | None = None, judge: JudgeUsage | None = None):
        super().__init__(reason)
        self.reason = reason
        self.details = dict(details or {})
        self.judge = judge


class ScorerConfigError(ValueError):
    """A scorer spec that cannot be built; `key` is the dotted location inside the spec."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class Scorer(ABC):
    name: str = "scorer"
    needs_expected: bool = True  # unlabeled cases are not scored by this scorer
    uses_judge: bool = False
    timeout_s: float | None = None  # None = the caller's default
    # True when the scorer is pure and its cost is bounded by the output's length (no user code,
    # no judge, no regex or schema from the data): the caller may run it on its own thread,
    # without the timeout a worker thread buys, for outputs that are not huge.
    inline: bool = False

    @abstractmethod
    def __call__(self, output: str, case: Mapping[str, Any], ctx: ScoreContext) -> ScoreResult: ...


@dataclass(frozen=True)
class Verdict:
    """One scorer's outcome on one result, errors included: what a scores row holds."""

    scorer: str
    status: Literal["ok", "error"]
    score: float | None
    passed: bool | None
    details: dict[str, Any]
    judge: JudgeUsage | None = None

    @classmethod
    def error(cls, scorer: str, reason: str, details: Mapping[str, Any] | None = None,
              judge: JudgeUsage | None = None) -> Verdict:
        return cls(scorer, "error", None, None, {**(details or {}), "error": reason}, judge)


def run_scorer(scorer: Scorer, output: str, case: Mapping[str, Any], ctx: ScoreContext) -> Verdict:
    """Call a scorer; every way it can go wrong becomes an error verdict, never a pass or fail."""
    try:
        result = scorer(output, case, ctx)
        if not isinstance(result, ScoreResult):
            raise TypeError(f"scorer returned {type(result).__name__}, not ScoreResult")
        details = json.loads(json.dumps(result.details, allow_nan=False))
    except ScorerError as exc:
        return Verdict.error(scorer.name, exc.reason, exc.details, exc.judge)
    except Exception as exc:  # noqa: BLE001 - a broken scorer must never stop the run
        return Verdict.error(scorer.name, f"{type(exc).__name__}: {exc}")
    return Verdict(scorer.name, "ok", result.score, result.passed, details, result.judge)


@dataclass(frozen=True)
class Combined:
    """A result's overall verdict from all its scorers' verdicts."""

    status: Literal["ok", "error"]
    score: float | None
    passed: bool | None


def combine(verdicts: Sequence[Verdict] | Sequence[Mapping[str, Any]]) -> Combined:
    """Any scorer error makes the result an error; otherwise it passes when every scorer passes
    and its score is the mean of the scorers' scores."""
    rows = [v if isinstance(v, Mapping) else v.__dict__ for v in verdicts]
    if not rows:
        raise ValueError("no verdicts to combine")
    if any(r["status"] == "error" for r in rows):
        return Combined("error", None, None)
    return Combined("ok", sum(r["score"] for r in rows) / len(rows), all(bool(r["passed"]) for r in rows))
