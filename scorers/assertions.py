"""Assertions with promptfoo semantics, and the assertion-set scorer.

An assertion spec is a mapping: `type` (any type below, or `not-<type>` to negate it), `value`,
optional `threshold`, `weight` (default 1; 0 = informational: reported, never affects the
verdict or score), `metric` (a label, reported) and, for `numeric`, `tolerance`.

    equals         output == value exactly; an object/array value compares the output parsed as JSON
    contains       value is a substring (icontains: case-insensitive)
    contains-any   any of a list (or comma-separated string) is a substring; contains-all: every one;
                   icontains-any / icontains-all: case-insensitive
    starts-with    output starts with value
    regex          Python `re.search(value, output)` finds a match
    is-json        the whole output (trimmed) is JSON; an object value is a JSON Schema it must satisfy
    contains-json  some JSON inside the output (whole, fenced, embedded {...} or [...]) parses
                   (and satisfies the schema value, if given)
    levenshtein    edit distance between output and value <= threshold (default 5)
    similar        difflib.SequenceMatcher ratio of the case/whitespace-normalised texts >= threshold
                   (default 0.75); value may be a list (best match counts). LEXICAL similarity, not
                   embeddings: paraphrases with different words score low.
    numeric        the output's number is within `tolerance` (absolute, default 0) of value; the
                   number is the whole trimmed output if it is one, else the last number in the text
    latency        the call's latency_ms <= threshold (error when latency is unknown)
    cost           the call's cost_usd <= threshold (error when cost is unknown)
    llm-rubric     the judge model grades the output against the rubric in value; passes when the
                   judge says pass (and its score >= threshold, if given)

Each assertion scores 1.0/0.0 except similar (the ratio) and llm-rubric (the judge's score);
`not-` flips pass and turns the score s into 1 - s.

Set verdict: score = weighted mean of the assertion scores (weights > 0). Without a set
`threshold`, the set passes when every weighted assertion passes; with one, when the score >=
threshold. An assertion that cannot be evaluated (unknown latency, judge error) makes the whole
set a scorer error. A set with no weighted assertion passes with score 1.0.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scorers.base import JudgeUsage, ScoreContext, Scorer, ScoreResult, ScorerConfigError, ScorerError, check_unit, merge_usage
from scorers.jsontext import iter_json_values
from scorers.llm_rubric import check_rubric, grade
from scorers.normalize import norm_text, numbers_equal, parse_number

SPEC_KEYS = {"type", "value", "threshold", "weight", "metric", "tolerance"}
# Types whose cost is linear in the output (see Scorer.inline). Not here: regex and JSON Schemas
# (a pattern from a dataset can backtrack for ever), levenshtein (its band comes from the
# threshold), similar (quadratic), llm-rubric (a model call).
_INLINE_TYPES = frozenset({"equals", "contains", "icontains", "contains-any", "contains-all", "icontains-any",
                           "icontains-all", "starts-with", "numeric", "latency", "cost"})
_NUMBER_IN_TEXT = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+")


@dataclass(frozen=True)
class Assertion:
    type: str  # without the not- prefix
    negate: bool
    value: Any
    threshold: float | None
    weight: float
    metric: str | None
    tolerance: float
    checker: Any = None  # compiled regex or JSON Schema validator

    @property
    def label(self) -> str:
        return ("not-" if self.negate else "") + self.type


@dataclass(frozen=True)
class Outcome:
    passed: bool
    score: float
    reason: str
    judge: JudgeUsage | None = None


# --- value checks (build time) ----------------------------------------------------------------


def _text(value: Any, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ScorerConfigError("needs a string value", key)
    return str(value)


def _texts(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list):
        items = [_text(v, key) for v in value]
    else:
        raise ScorerConfigError("needs a list of strings (or a comma-separated string)", key)
    if not items or not all(items):
        raise ScorerConfigError("needs at least one non-empty string", key)
    return items


def _number(value: Any, key: str, *, low: float = 0.0) -> float:
    number = parse_number(value)
    if number is None or number < low:
        raise ScorerConfigError(f"needs a number >= {low:g}", key)
    return number


def _schema(value: Any, key: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ScorerConfigError("the value of is-json/contains-json must be a JSON Schema object", key)
    import jsonschema

    cls = jsonschema.validators.validator_for(value)
    try:
        cls.check_schema(value)
    except jsonschema.SchemaError as exc:
        raise ScorerConfigError(f"invalid JSON Schema: {exc.message}", key) from None
    return cls(value)


# --- evaluation -----------------------------------------------------------------------------


def _binary(ok: bool, reason: str) -> Outcome:
    return Outcome(ok, 1.0 if ok else 0.0, reason)


def _contains(a: Assertion, output: str, ctx: ScoreContext) -> Outcome:
    hay, needles = output, a.value
    if a.type.startswith("i"):
        hay, needles = output.casefold(), [n.casefold() for n in a.value]
    found = [n for n, orig in zip(needles, a.value) if n in hay]
    if a.type.endswith("-any"):
        return _binary(bool(found), f"found {found[0]!r}" if found else "none of the values found")
    if a.type.endswith("-all"):
        missing = [orig for n, orig in zip(needles, a.value) if n not in hay]
        return _binary(not missing, "all values found" if not missing else f"missing {missing!r}")
    return _binary(bool(found), "found" if found else f"{a.value[0]!r} not found")


def _equals(a: Assertion, output: str, ctx: ScoreContext) -> Outcome:
    if isinstance(a.value, (dict, list)):
        try:
            parsed = json.loads(output.strip())
        except ValueError:
            return _binary(False, "output is not JSON")
        return _binary(parsed == a.value, "JSON equal" if parsed == a.value else "JSON differs")
    return _binary(output == a.value, "equal" if output == a.value else "not equal")


def _starts_with(a: Assertion, output: str, ctx: ScoreContext) -> Outcome:
    ok = output.startswith(a.value)
    return _binary(ok, "starts with value" if ok else "does not start with value")


def _regex(a: Assertion, output: str, ctx: ScoreContext) -> Outcome:
    ok = a.checker.search(output) is not None
    return _binary(ok, "matched" if ok else "no match")


def _schema_errors(validator: Any, value: Any) -> str | None:
    if validator is None:
        return None
    err = next(iter(validator.iter_errors(value)), None)
    return None if err is None else f"schema: {err.message}"


def _is_json(a: Assertion, output: str, ctx: ScoreContext) -> Outcome:
    try:
        value = json.loads(output.strip())
    except ValueError as exc:
        return _binary(False, f"not JSON: {exc}")
    problem = _schema_errors(a.checker, value)
    return _binary(problem is None, problem or "valid JSON")


def _contains_json(a: Assertion, output: str, ctx: ScoreContext) -> Outcome:
    problem = "no JSON found"
    for value in iter_json_values(output):
        problem = _schema_errors(a.checker, value)
        if problem is None:
            return _binary(True, "contains valid JSON")
    return _binary(False, problem)


def levenshtein(a: str, b: str, limit: int | None = None) -> int:
    """Edit distance; with `limit`, any distance above it is returned as limit + 1 (banded DP, so
    long outputs cost O(len * limit) instead of O(len^2))."""
    if len(a) < len(b):
        a, b = b, a
    if limit is not None and len(a) - len(b) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        lo, hi = (1, len(b)) if limit is None else (max(1, i - limit), min(len(b), i + limit))
        if limit is not None and lo > 1:
            cur[lo - 1] = limit + 1
        for j in range(lo, hi + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != b[j - 1]))
        if limit is not None:
            for j in range(hi + 1, len(b) + 1):
                cur[j] = limit + 1
            if min(cur) > limit:
                return limit + 1
        prev = cur
    return prev[-1] if limit is None else min(prev[-1], limit + 1)


def _levenshtein(a: Assertion, output: str, ctx: ScoreContext) -> Outcome:
    limit = int(a.threshold)
    dist = levenshtein(output, a.value, limit)
    shown = f"{dist}" if dist <= limit else f"> {limit}"
    return _binary(dist <= limit, f"distance {shown} (max {limit})")


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, norm_text(a), norm_text(b), autojunk=False).ratio()


def _similar(a: Assertion, output: str, ctx: ScoreContext) -> Outcome:
    best = max(similarity(output, v) for v in a.value)
    return Outcome(best >= a.threshold, best, f"similarity {best:.3f} (min {a.threshold:g}, lexical)")


def output_number(output: str) -> float | None:
    whole = parse_number(output.strip())
    if whole is not None:
        return whole
    found = _NUMBER_IN_TEXT.findall(output)
    return parse_number(found[-1]) if found else None


def _numeric(a: Assertion, output: str, ctx: ScoreContext) -> Outcome:
    got = output_number(output)
    if got is None:
        return _binary(False, "no number in output")
    ok = numbers_equal(got, a.value, a.tolerance)
    return _binary(ok, f"{got:g} vs {a.value:g} (tolerance {a.tolerance:g})")


def _latency(a: Assertion, output: str, ctx: ScoreContext) -> Outcome:
    if ctx.latency_ms is None:
        raise ScorerError("the result's latency is unknown (cached or not recorded)")
    ok = ctx.latency_ms <= a.threshold
    return _binary(ok, f"{ctx.latency_ms:.0f} ms (max {a.threshold:g})")


def _cost(a: Assertion, output: str, ctx: ScoreContext) -> Outcome:
    if ctx.cost_usd is None:
        raise ScorerError("the result's cost is unknown")
    ok = ctx.cost_usd <= a.threshold
    return _binary(ok, f"${ctx.cost_usd:.6f} (max ${a.threshold:g})")


def _rubric(a: Assertion, output: str, ctx: ScoreContext) -> Outcome:
    verdict, usage = grade(output, a.value, ctx.judge)
    ok = verdict.passed and (a.threshold is None or verdict.score >= a.threshold)
    return Outcome(ok, verdict.score, verdict.reason, usage)


@dataclass(frozen=True)
class _Type:
    evaluate: Callable[[Assertion, str, ScoreContext], Outcome]
    value: Callable[[Any, str], Any] | None  # None: the type takes no value
    default_threshold: float | None = None
    threshold_required: bool = False


TYPES: dict[str, _Type] = {
    "equals": _Type(_equals, lambda v, k: v if isinstance(v, (dict, list)) else _text(v, k)),
    "contains": _Type(_contains, lambda v, k: [_text(v, k)]),
    "icontains": _Type(_contains, lambda v, k: [_text(v, k)]),
    "contains-any": _Type(_contains, _texts),
    "contains-all": _Type(_contains, _texts),
    "icontains-any": _Type(_contains, _texts),
    "icontains-all": _Type(_contains, _texts),
    "starts-with": _Type(_starts_with, _text),
    "regex": _Type(_regex, _text),
    "is-json": _Type(_is_json, None),
    "contains-json": _Type(_contains_json, None),
    "levenshtein": _Type(_levenshtein, _text, default_threshold=5),
    "similar": _Type(_similar, lambda v, k: _texts([v] if isinstance(v, str) else v, k), default_threshold=0.75),
    "numeric": _Type(_numeric, lambda v, k: _number(v, k, low=float("-inf"))),
    "latency": _Type(_latency, None, threshold_required=True),
    "cost": _Type(_cost, None, threshold_required=True),
    "llm-rubric": _Type(_rubric, check_rubric),
}
ASSERTION_TYPES = frozenset(TYPES)


def split_type(name: str) -> tuple[str, bool]:
    """("contains", True) for "not-contains"."""
    return (name[4:], True) if name.startswith("not-") else (name, False)


def parse_assertion(spec: Any, key: str = "assert") -> Assertion:
    """Validate one spec; raises ScorerConfigError naming `key` and the bad field."""
    if not isinstance(spec, Mapping):
        raise ScorerConfigError("an assertion must be a table/object with a 'type'", key)
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise ScorerConfigError(f"unsupported key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(SPEC_KEYS))})", key)
    name = spec.get("type")
    base, negate = split_type(name) if isinstance(name, str) else ("", False)
    kind = TYPES.get(base)
    if kind is None:
        raise ScorerConfigError(f"unknown assertion type {name!r} (known: {', '.join(sorted(TYPES))})", f"{key}.type")
    value = spec.get("value")
    if kind.value is not None:
        if value is None:
            raise ScorerConfigError(f"{base} needs a value", f"{key}.value")
        value = kind.value(value, f"{key}.value")
    threshold = spec.get("threshold", kind.default_threshold)
    if threshold is not None:
        threshold = _number(threshold, f"{key}.threshold")
        if base in ("similar", "llm-rubric") and threshold > 1:
            raise ScorerConfigError("must be in [0, 1]", f"{key}.threshold")
    elif kind.threshold_required:
        raise ScorerConfigError(f"{base} needs a threshold", f"{key}.threshold")
    checker = None
    if base == "regex":
        try:
            checker = re.compile(value)
        except re.error as exc:
            raise ScorerConfigError(f"invalid regular expression: {exc}", f"{key}.value") from None
    elif base in ("is-json", "contains-json"):
        checker = _schema(value, f"{key}.value")
    metric = spec.get("metric")
    if metric is not None and not isinstance(metric, str):
        raise ScorerConfigError("must be a string", f"{key}.metric")
    if "tolerance" in spec and base != "numeric":
        raise ScorerConfigError("tolerance applies to numeric only", f"{key}.tolerance")
    return Assertion(
        type=base, negate=negate, value=value, threshold=threshold,
        weight=_number(spec.get("weight", 1), f"{key}.weight"), metric=metric,
        tolerance=_number(spec.get("tolerance", 0), f"{key}.tolerance"), checker=checker,
    )


def evaluate(a: Assertion, output: str, ctx: ScoreContext) -> Outcome:
    """One assertion's outcome; ScorerError when it cannot be evaluated."""
    out = TYPES[a.type].evaluate(a, output, ctx)
    if a.negate:
        return Outcome(not out.passed, 1.0 - out.score, out.reason, out.judge)
    return out


class AssertionSet(Scorer):
    """A list of assertions with an optional test-level threshold (see the module docstring)."""

    needs_expected = False

    def __init__(self, asserts: list[Any], threshold: float | None = None, *, name: str = "assert", key: str = "assert"):
        if not isinstance(asserts, list) or not asserts:
            raise ScorerConfigError("needs a non-empty list of assertions", key)
        self.asserts = [parse_assertion(spec, f"{key}[{i}]") for i, spec in enumerate(asserts)]
        try:
            self.threshold = None if threshold is None else check_unit(threshold, "threshold")
        except ValueError as exc:
            raise ScorerConfigError(str(exc), "threshold") from None
        self.name = name
        self.uses_judge = any(a.type == "llm-rubric" for a in self.asserts)
        self.inline = all(a.type in _INLINE_TYPES or (a.type in ("is-json", "contains-json") and a.checker is None)
                          for a in self.asserts)

    def __call__(self, output: str, case: Mapping[str, Any], ctx: ScoreContext) -> ScoreResult:
        rows, usages = [], []
        total = weight = 0.0
        all_pass = True
        for a in self.asserts:
            try:
                out = evaluate(a, output, ctx)
            except ScorerError as exc:
                usage = merge_usage([*usages, exc.judge])
                raise ScorerError(f"{a.label}: {exc.reason}", details={"assertions": rows, **exc.details}, judge=usage) from None
            usages.append(out.judge)
            rows.append({
                "type": a.label, "pass": out.passed, "score": round(out.score, 6), "weight": a.weight,
                "reason": out.reason[:500], **({"metric": a.metric} if a.metric else {}),
            })
            if a.weight > 0:
                total += a.weight * out.score
                weight += a.weight
                all_pass = all_pass and out.passed
        score = total / weight if weight else 1.0
        passed = all_pass if self.threshold is None else score >= self.threshold
        details = {"assertions": rows, "threshold": self.threshold}
        return ScoreResult(min(1.0, max(0.0, score)), passed, details, merge_usage(usages))
