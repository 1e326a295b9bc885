"""Pure scoring: one module per family and a registry. No UI, no DB, no litellm, no core.

A scorer is called as `scorer(output, case, ctx) -> ScoreResult`. It raises `ScorerError` when it
cannot give a verdict (for example the expected output is not the shape it needs); `run_scorer`
records that, and any other exception, as a scorer *error*, never as a pass or a fail. Anything a
scorer needs from the outside world (the LLM judge) is injected through `ScoreContext`.
"""

from scorers.base import (
    JudgeReply, JudgeUsage, ScoreContext, Scorer, ScorerConfigError, ScorerError, ScoreResult, Verdict, combine,
    run_scorer,
)
from scorers.registry import build_scorer, default_scorer

__all__ = [
    "JudgeReply", "JudgeUsage", "ScoreContext", "ScoreResult", "Scorer", "ScorerConfigError", "ScorerError",
    "Verdict", "build_scorer", "combine", "default_scorer", "run_scorer",
]
