"""Classification: the output's label against the expected label.

The prediction is read from the output by stripping, in this order and nothing else:
  1. surrounding whitespace;
  2. one leading `label:` prefix (any case, spaces allowed around the colon);
  3. surrounding whitespace again;
  4. one trailing period (`billing.` -> `billing`);
then compared case- and whitespace-insensitively (scorers.normalize.norm_text). So
"Label: Billing." predicts `billing`, but "billing\nBecause ..." is not the label `billing`.

details.valid_label says whether the prediction is one of the task's labels
(`[tasks.<task_type>].labels`); it is null when the task declares no labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from scorers.base import ScoreContext, Scorer, ScoreResult, ScorerError
from scorers.normalize import norm_text

_PREFIX = re.compile(r"^label\s*:\s*", re.IGNORECASE)
_SHOWN = 200


def parse_label(output: str) -> str:
    text = _PREFIX.sub("", output.strip(), count=1).strip()
    if text.endswith("."):
        text = text[:-1]
    return norm_text(text)


class ClassificationScorer(Scorer):
    name = "classification"
    inline = True

    def __call__(self, output: str, case: Mapping[str, Any], ctx: ScoreContext) -> ScoreResult:
        expected = case.get("expected_output")
        if not isinstance(expected, str):
            raise ScorerError("expected output of a classification case must be a label string")
        predicted = parse_label(output)
        by_norm = {norm_text(label): label for label in ctx.valid_labels}
        valid = (predicted in by_norm) if by_norm else None
        want = norm_text(expected)
        passed = predicted == want
        details = {
            # Labels as declared in assay.toml where they match, so the confusion matrix uses one spelling.
            "expected": by_norm.get(want, expected),
            "predicted": by_norm.get(predicted, predicted[:_SHOWN]),
            "valid_label": valid,
        }
        return ScoreResult(1.0 if passed else 0.0, passed, details)
