"""Assertions with promptfoo semantics: each type, not-, weights, thresholds, errors."""

from __future__ import annotations

import random

import pytest

from scorers.assertions import AssertionSet, levenshtein, output_number, parse_assertion, similarity
from scorers.base import ScoreContext, ScorerConfigError, run_scorer
from scorers.registry import build_scorer

CASE = {"id": "c", "input_text": "x", "expected_output": None, "task_type": "generation", "metadata": {}}
CTX = ScoreContext(latency_ms=250.0, cost_usd=0.002)


def check(spec, output, ctx=CTX):
    v = run_scorer(AssertionSet([spec]), output, CASE, ctx)
    assert v.status == "ok", v.details
    return v.passed


@pytest.mark.parametrize("spec, output, passed", [
    ({"type": "equals", "value": "Paris"}, "Paris", True),
    ({"type": "equals", "value": "Paris"}, "paris", False),           # exact, like promptfoo
    ({"type": "equals", "value": {"a": 1}}, ' {"a": 1} ', True),      # object value: JSON equality
    ({"type": "equals", "value": 42}, "42", True),
    ({"type": "contains", "value": "Par"}, "Paris", True),
    ({"type": "contains", "value": "par"}, "Paris", False),
    ({"type": "icontains", "value": "PAR"}, "Paris", True),
    ({"type": "contains-any", "value": ["Rome", "Paris"]}, "Paris!", True),
    ({"type": "contains-any", "value": "Rome, Oslo"}, "Paris!", False),  # comma-separated string
    ({"type": "contains-all", "value": ["a", "b"]}, "ab", True),
    ({"type": "contains-all", "value": ["a", "c"]}, "ab", False),
    ({"type": "icontains-any", "value": ["ROME", "PARIS"]}, "paris", True),
    ({"type": "icontains-all", "value": ["A", "B"]}, "ab", True),
    ({"type": "starts-with", "value": "Yes"}, "Yes, it is", True),
    ({"type": "starts-with", "value": "Yes"}, " Yes", False),
    ({"type": "regex", "value": r"\d{3}-\d{4}"}, "call 555-1234", True),
    ({"type": "regex", "value": r"^\d+$"}, "12a", False),
    ({"type": "is-json"}, '{"a": 1}', True),
    ({"type": "is-json"}, 'Here: {"a": 1}', False),
    ({"type": "is-json", "value": {"type": "object", "required": ["b"]}}, '{"a": 1}', False),
    ({"type": "contains-json"}, 'Here: {"a": 1} done', True),
    ({"type": "contains-json", "value": {"type": "object", "required": ["a"]}}, 'x {"b": 1} y {"a": 2}', True),
    ({"type": "contains-json"}, "none here", False),
    ({"type": "levenshtein", "value": "kitten"}, "sitting", True),     # distance 3 <= default 5
    ({"type": "levenshtein", "value": "kitten", "threshold": 2}, "sitting", False),
    ({"type": "similar", "value": "bcde"}, "abcd", True),              # ratio 2*3/8 = 0.75 >= 0.75
    ({"type": "similar", "value": "bcde", "threshold": 0.8}, "abcd", False),
    ({"type": "similar", "value": ["zzzz", "bcde"]}, "abcd", True),    # best of a list
    ({"type": "numeric", "value": 42}, "The answer is 42.", True),
    ({"type": "numeric", "value": 1000}, "1,000", True),
    ({"type": "numeric", "value": 3.14, "tolerance": 0.01}, "about 3.141", True),
    ({"type": "numeric", "value": 3.14}, "about 3.141", False),
    ({"type": "numeric", "value": 5}, "no number", False),
    ({"type": "latency", "threshold": 300}, "x", True),
    ({"type": "latency", "threshold": 200}, "x", False),
    ({"type": "cost", "threshold": 0.002}, "x", True),
    ({"type": "cost", "threshold": 0.001}, "x", False),
    ({"type": "not-contains", "value": "error"}, "all good", True),
    ({"type": "not-contains", "value": "good"}, "all good", False),
    ({"type": "not-is-json"}, "plain", True),
    ({"type": "not-regex", "value": "^x"}, "xyz", False),
    ({"type": "not-similar", "value": "bcde", "threshold": 0.8}, "abcd", True),
])
def test_assertion_semantics(spec, output, passed):
    assert check(spec, output) is passed


def test_hand_worked_levenshtein_and_similarity():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("flaw", "lawn") == 2
    assert levenshtein("", "abc") == 3
    assert levenshtein("kitten", "sitting", limit=2) == 3  # capped at limit + 1
    assert similarity("abcd", "bcde") == pytest.approx(0.75)
    assert similarity("Hello  World", "hello world") == 1.0  # case/whitespace-normalised


def test_banded_levenshtein_agrees_with_full():
    rng = random.Random(7)
    for _ in range(300):
        a = "".join(rng.choice("abc") for _ in range(rng.randint(0, 12)))
        b = "".join(rng.choice("abc") for _ in range(rng.randint(0, 12)))
        full = levenshtein(a, b)
        for limit in (0, 1, 3, 5):
            assert levenshtein(a, b, limit) == (full if full <= limit else limit + 1)


def test_output_number_takes_the_whole_output_or_the_last_number():
    assert output_number(" $1,234.50 ") == 1234.5
    assert output_number("Step 1: 3 apples; answer: 12") == 12.0
    assert output_number("none") is None


def test_weights_and_threshold_hand_worked():
    specs = [
        {"type": "contains", "value": "Paris"},                     # pass, weight 1
        {"type": "not-contains", "value": "France", "weight": 2},   # fail, weight 2
        {"type": "contains", "value": "zzz", "weight": 0},          # fail, informational
    ]
    out = "Paris, France"
    # No threshold: every weighted assertion must pass -> fail; score = (1*1 + 2*0) / 3.
    v = run_scorer(AssertionSet(specs), out, CASE, CTX)
    assert v.passed is False and v.score == pytest.approx(1 / 3)
    assert [a["pass"] for a in v.details["assertions"]] == [True, False, False]
    # Threshold 0.3: weighted mean 0.333 >= 0.3 -> pass; 0.5 -> fail.
    assert run_scorer(AssertionSet(specs, threshold=0.3), out, CASE, CTX).passed is True
    assert run_scorer(AssertionSet(specs, threshold=0.5), out, CASE, CTX).passed is False


def test_weight_zero_never_decides():
    specs = [{"type": "contains", "value": "a"}, {"type": "contains", "value": "zzz", "weight": 0}]
    v = run_scorer(AssertionSet(specs), "abc", CASE, CTX)
    assert v.passed is True and v.score == 1.0


def test_only_informational_assertions_pass_vacuously():
    v = run_scorer(AssertionSet([{"type": "contains", "value": "zzz", "weight": 0}]), "abc", CASE, CTX)
    assert (v.passed, v.score) == (True, 1.0)


def test_graded_scores_and_negation():
    v = run_scorer(AssertionSet([{"type": "similar", "value": "bcde"}]), "abcd", CASE, CTX)
    assert v.score == pytest.approx(0.75)
    v = run_scorer(AssertionSet([{"type": "not-similar", "value": "bcde", "threshold": 0.8}]), "abcd", CASE, CTX)
    assert v.score == pytest.approx(0.25) and v.passed is True


@pytest.mark.parametrize("spec, ctx", [
    ({"type": "latency", "threshold": 100}, ScoreContext()),
    ({"type": "cost", "threshold": 1}, ScoreContext(latency_ms=1)),
])
def test_unknown_latency_or_cost_is_an_error_not_a_fail(spec, ctx):
    v = run_scorer(AssertionSet([{"type": "contains", "value": "x"}, spec]), "x", CASE, ctx)
    assert (v.status, v.passed, v.score) == ("error", None, None)
    assert "unknown" in v.details["error"]


@pytest.mark.parametrize("spec, key", [
    ({"type": "python", "value": "file://x.py"}, "type"),
    ({"type": "javascript", "value": "output.length > 3"}, "type"),
    ({"type": "bogus"}, "type"),
    ({"type": "contains"}, "value"),
    ({"type": "regex", "value": "("}, "value"),
    ({"type": "is-json", "value": {"type": 12}}, "value"),
    ({"type": "contains", "value": "x", "transform": "output.trim()"}, None),
    ({"type": "latency"}, "threshold"),
    ({"type": "similar", "value": "x", "threshold": 2}, "threshold"),
    ({"type": "contains", "value": "x", "weight": -1}, "weight"),
    ({"type": "contains", "value": "x", "tolerance": 1}, "tolerance"),
    ("contains", None),
])
def test_bad_specs_are_config_errors(spec, key):
    with pytest.raises(ScorerConfigError) as info:
        parse_assertion(spec, "assert[0]")
    if key:
        assert info.value.key == f"assert[0].{key}"


def test_registry_forms():
    s = build_scorer({"assert": [{"type": "contains", "value": "a"}], "threshold": 0.5})
    assert s.name == "assert" and not s.needs_expected and s.threshold == 0.5
    s = build_scorer({"type": "not-icontains", "value": "sorry"})
    assert s.name == "not-icontains" and run_scorer(s, "Fine", CASE, CTX).passed
    s = build_scorer({"type": "llm-rubric", "value": "polite", "timeout_s": 5})
    assert s.uses_judge and s.timeout_s == 5
    with pytest.raises(ScorerConfigError):
        build_scorer({"assert": [{"type": "contains", "value": "a"}], "weights": 2})
    with pytest.raises(ScorerConfigError):
        build_scorer({"type": "nope"})
    with pytest.raises(ScorerConfigError):
        build_scorer({"type": "exact", "timeout_s": 0})
