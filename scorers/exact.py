"""The default scorer: normalised exact match.

Text: case- and whitespace-insensitive (scorers.normalize.norm_text). When the expected output
is a JSON object (or a string holding one), the first JSON object found in the output (bare,
fenced or embedded) is compared with it as canonical JSON (sorted keys, exact values).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scorers.base import ScoreContext, Scorer, ScoreResult
from scorers.jsontext import as_object, find_json_object
from scorers.normalize import canonical_json, norm_text


class ExactScorer(Scorer):
    name = "exact"
    inline = True

    def __call__(self, output: str, case: Mapping[str, Any], ctx: ScoreContext) -> ScoreResult:
        expected = case.get("expected_output")
        obj = as_object(expected)
        if obj is not None:
            found = find_json_object(output)
            if found is None:
                return ScoreResult(0.0, False, {"mode": "json", "reason": "no JSON object found in the output"})
            ok = canonical_json(found[0]) == canonical_json(obj)
            return ScoreResult(float(ok), ok, {"mode": "json"})
        ok = norm_text(output) == norm_text(expected)
        return ScoreResult(float(ok), ok, {"mode": "text"})
