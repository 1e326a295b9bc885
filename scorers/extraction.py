"""Structured extraction: find the JSON object in the output and compare it field by field.

Options (from `[scorers.<task_type>]`, all optional):
    fields     list of field paths (`vendor`, `parties[0].name`); default: the expected object's
               top-level keys
    threshold  pass when the fraction of right fields >= threshold (default 0.85)
    normalize  one kind for every field, or {path: kind}; kinds: auto (default), text, number,
               date, exact (see scorers.normalize.values_equal)
    tolerance  absolute numeric tolerance, one number or {path: number} (default 0)

Per field: match, wrong (both present, different), missing (expected present, output absent),
extra (expected absent, output present), absent (on both sides: the field does not apply to this
case, e.g. `parties` in a two-party contract). Score = match / (fields - absent). Keys of the
output outside the field list are listed in details.extra_keys and do not change the score.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from scorers.base import ScoreContext, Scorer, ScoreResult, ScorerConfigError, ScorerError, check_unit
from scorers.jsontext import as_object, find_json_object
from scorers.normalize import KINDS, MISSING, get_path, parse_path, values_equal

DEFAULT_THRESHOLD = 0.85
_SHOWN = 200  # characters of a compared value kept in details


def _shown(value: Any) -> Any:
    if value is MISSING:
        return None
    if isinstance(value, str) and len(value) > _SHOWN:
        return value[: _SHOWN - 1] + "…"
    text = json.dumps(value, ensure_ascii=False)
    return value if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def expected_object(case: Mapping[str, Any]) -> dict[str, Any]:
    expected = as_object(case.get("expected_output"))
    if expected is None:
        raise ScorerError("expected output is not a JSON object, so it cannot be compared field by field")
    return expected


def _per_field(option: Any, name: str, check) -> tuple[Any, dict[str, Any]]:
    """An option given once for all fields or as {path: value}: (default, overrides)."""
    if isinstance(option, Mapping):
        return None, {str(k): check(v, f"{name}.{k}") for k, v in option.items()}
    return (check(option, name) if option is not None else None), {}


def _kind(value: Any, key: str) -> str:
    if value not in KINDS:
        raise ScorerConfigError(f"must be one of {', '.join(KINDS)}", key)
    return value


def _tolerance(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ScorerConfigError("must be a number >= 0", key)
    return float(value)


class ExtractionScorer(Scorer):
    name = "extraction"
    inline = True

    def __init__(self, fields: list[str] | None = None, threshold: float = DEFAULT_THRESHOLD,
                 normalize: Any = None, tolerance: Any = None):
        if fields is not None and (not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)):
            raise ScorerConfigError("must be a list of field paths", "fields")
        try:
            self.fields = [(f, parse_path(f)) for f in fields] if fields else None
            self.threshold = check_unit(threshold, "threshold")
        except ValueError as exc:
            raise ScorerConfigError(str(exc), "fields" if "path" in str(exc) else "threshold") from None
        self.kind, self.kinds = _per_field(normalize, "normalize", _kind)
        self.tol, self.tols = _per_field(tolerance, "tolerance", _tolerance)

    def __call__(self, output: str, case: Mapping[str, Any], ctx: ScoreContext) -> ScoreResult:
        expected = expected_object(case)
        fields = self.fields or [(k, [k]) for k in expected]
        if not fields:
            raise ScorerError("no fields to compare: the expected object is empty and no fields are configured")
        found = find_json_object(output)
        if found is None:
            return ScoreResult(0.0, False, {
                "reason": "no JSON object found in the output", "matched": 0, "total": len(fields),
                "fields": {name: {"verdict": "missing"} for name, _ in fields},
            })
        actual, how = found
        verdicts: dict[str, dict[str, Any]] = {}
        matched = 0
        for name, parts in fields:
            want, got = get_path(expected, parts), get_path(actual, parts)
            kind = self.kinds.get(name, self.kind or "auto")
            tol = self.tols.get(name, self.tol or 0.0)
            if want is MISSING and got is MISSING:
                verdict = "absent"
            elif got is MISSING:
                verdict = "missing"
            elif want is MISSING:
                verdict = "extra"
            else:
                verdict = "match" if values_equal(want, got, kind, tol) else "wrong"
            matched += verdict == "match"
            verdicts[name] = {"verdict": verdict, "expected": _shown(want), "got": _shown(got)}
        total = sum(v["verdict"] != "absent" for v in verdicts.values())
        if not total:
            raise ScorerError("none of the fields is in the expected output or the model's output")
        score = matched / total
        top = {str(p[0]) for _, p in fields}
        details = {
            "json_found": how, "matched": matched, "total": total, "threshold": self.threshold,
            "fields": verdicts, "extra_keys": sorted(k for k in actual if k not in top),
        }
        return ScoreResult(score, score >= self.threshold, details)
