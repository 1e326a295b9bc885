"""Answers production already gave, as a model of a run: `[models.NAME] model = "logged"`.

A dataset sampled from production logs keeps what production answered in each case's
`metadata.production_output` (`assay sample`). A model whose id is `logged` (or `logged/KEY`, to
read another metadata key) answers each case with that and makes no call. Scored by the same
scorers against the same expert ground truth, it puts today's production beside the candidates in
every report, paired comparison and trend. What production sent and spent was not logged: such a
result has no latency, tokens or cost, and its prompt was production's, not the run's. A case
without a logged answer is an error of class `not_logged` (not an infrastructure error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.common.conversation import logged_text
from core.models.client import CallOutcome


@dataclass(frozen=True)
class LoggedAnswers:
    """The runner's stand-in for a client: answers from each case's metadata, at once."""

    key: str  # the case metadata key (ModelConfig.logged_key)
    concurrency: int = 1  # nothing to wait for: one task reads them all

    def answer(self, case: dict[str, Any]) -> CallOutcome:
        value = (case.get("metadata") or {}).get(self.key)
        if value is None:
            return CallOutcome(status="error", error_class="not_logged",
                               error_message=f"no metadata.{self.key} on this case: production's answer was not logged")
        # Its cost is unknown (None, never 0) but this run spent nothing on it: "logged", not unpriced.
        return CallOutcome(status="ok", output=logged_text(value), finish_reason="logged", cost_status="logged")
