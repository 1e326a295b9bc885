"""Extraction scorer: JSON finding, field paths, normalisation, hand-worked scores."""

from __future__ import annotations

import pytest

from scorers.base import ScoreContext, ScorerConfigError, run_scorer
from scorers.extraction import ExtractionScorer
from scorers.jsontext import find_json_object
from scorers.normalize import parse_date, parse_number, parse_path, values_equal
from scorers.registry import build_scorer

CTX = ScoreContext()
EXPECTED = {"vendor": "ACME Corp", "total": 50000, "date": "2024-03-01", "currency": "USD"}


def case(expected=EXPECTED):
    return {"id": "c1", "input_text": "x", "expected_output": expected, "task_type": "extraction", "metadata": {}}


@pytest.mark.parametrize("text, how", [
    ('{"a": 1}', "bare"),
    ('  \n{"a": 1}\n', "bare"),
    ('Here it is:\n```json\n{"a": 1}\n```\nDone.', "fenced"),
    ('```\n{"a": 1}\n```', "fenced"),
    ('The answer is {"a": 1} as requested.', "embedded"),
    # String-aware matching: braces inside strings do not end the object early.
    ('Result: {"a": 1, "note": "use } and { freely"} ok', "embedded"),
    # An unparseable {...} in prose is skipped and the next object is found.
    ('I think {curly} braces... {"a": 1}', "embedded"),
])
def test_find_json_object(text, how):
    found = find_json_object(text)
    assert found is not None and found[0]["a"] == 1 and found[1] == how


def test_find_json_object_none():
    assert find_json_object("no json here {not: json") is None
    assert find_json_object("[1, 2, 3]") is None  # an array is not an object


@pytest.mark.parametrize("text, number", [
    ("50,000", 50000.0), ("50000", 50000.0), ("50000.0", 50000.0), ("$50,000.00", 50000.0),
    ("-1,234.5", -1234.5), ("1e3", 1000.0), ("12 USD", 12.0), (7, 7.0),
    ("5,00", None), ("fifty", None), (True, None), ("", None),
])
def test_parse_number(text, number):
    assert parse_number(text) == number


@pytest.mark.parametrize("text, iso", [
    ("2024-03-01", "2024-03-01"), ("March 1, 2024", "2024-03-01"), ("01 Mar 2024", "2024-03-01"),
    ("1st of March 2024", "2024-03-01"), ("Mar. 1 2024", "2024-03-01"), ("1-Mar-2024", "2024-03-01"),
    ("2024/3/1", "2024-03-01"), ("Sept 30, 2024", "2024-09-30"),
    ("01/03/2024", None),  # ambiguous day/month order: never guessed
    ("2024-02-30", None), ("Smarch 1, 2024", None),
])
def test_parse_date(text, iso):
    assert parse_date(text) == iso


def test_parse_path():
    assert parse_path("parties[0].name") == ["parties", 0, "name"]
    assert parse_path("a.b.c") == ["a", "b", "c"]
    for bad in ("a..b", "a.", "a[0]b", "a[x]", ""):
        with pytest.raises(ValueError):
            parse_path(bad)


def test_values_equal_kinds():
    assert values_equal("ACME  corp", "acme Corp")
    assert values_equal(50000, "50,000") and values_equal(50000, 50000.0)
    assert values_equal("2024-03-01", "March 1, 2024")
    assert not values_equal(100, 101) and values_equal(100, 101, tolerance=1)
    assert values_equal({"a": [1, "X"]}, {"a": ["1.0", "x"]})
    assert not values_equal({"a": 1}, {"a": 1, "b": 2})
    assert not values_equal("50000", "50,000", kind="text")
    assert not values_equal(1, "1", kind="exact")


def test_all_fields_right_with_formats_and_fence():
    out = ('```json\n{"vendor": "acme corp", "total": "$50,000.00", "date": "March 1, 2024", '
           '"currency": "usd", "notes": "x"}\n```')
    v = run_scorer(ExtractionScorer(), out, case(), CTX)
    assert (v.status, v.score, v.passed) == ("ok", 1.0, True)
    assert v.details["json_found"] == "fenced"
    assert v.details["extra_keys"] == ["notes"]  # reported, not scored


def test_hand_worked_fraction_and_verdicts():
    # 4 fields: vendor match, total wrong, date missing, currency match -> 2/4 = 0.5 < 0.85.
    out = 'Sure! {"vendor": "ACME Corp", "total": 49000, "currency": "USD"}'
    v = run_scorer(ExtractionScorer(), out, case(), CTX)
    assert v.score == 0.5 and v.passed is False
    verdicts = {k: f["verdict"] for k, f in v.details["fields"].items()}
    assert verdicts == {"vendor": "match", "total": "wrong", "date": "missing", "currency": "match"}


def test_threshold_boundary():
    # 6 of 7 right = 0.857 >= 0.85 passes; 5 of 6 = 0.833 fails.
    exp7 = {f"f{i}": i for i in range(7)}
    out7 = {**exp7, "f0": 99}
    assert run_scorer(ExtractionScorer(), str(out7).replace("'", '"'), case(exp7), CTX).passed is True
    exp6 = {f"f{i}": i for i in range(6)}
    out6 = {**exp6, "f0": 99}
    v = run_scorer(ExtractionScorer(), str(out6).replace("'", '"'), case(exp6), CTX)
    assert v.score == pytest.approx(5 / 6) and v.passed is False
    assert run_scorer(ExtractionScorer(threshold=0.8), str(out6).replace("'", '"'), case(exp6), CTX).passed


def test_nested_paths_and_extra_verdict():
    expected = {"parties": [{"name": "Acme"}, {"name": "Bolt"}], "amount": 1200}
    scorer = build_scorer({"type": "extraction", "fields": ["parties[0].name", "parties[1].name", "amount", "law"]})
    out = '{"parties": [{"name": "ACME"}, {"name": "Volt"}], "amount": "1,200", "law": "NY"}'
    v = run_scorer(scorer, out, case(expected), CTX)
    verdicts = {k: f["verdict"] for k, f in v.details["fields"].items()}
    assert verdicts == {"parties[0].name": "match", "parties[1].name": "wrong", "amount": "match", "law": "extra"}
    assert v.score == 0.5


def test_field_absent_on_both_sides_does_not_count():
    # Configured fields for two-party and multi-party contracts: only what applies is scored.
    scorer = ExtractionScorer(fields=["party_a", "party_b", "parties"])
    v = run_scorer(scorer, '{"party_a": "X", "party_b": "Z"}', case({"party_a": "X", "party_b": "Y"}), CTX)
    assert v.details["fields"]["parties"]["verdict"] == "absent"
    assert (v.score, v.details["total"]) == (0.5, 2)
    v = run_scorer(scorer, '{"other": 1}', case({"unrelated": 1}), CTX)
    assert v.status == "error" and "none of the fields" in v.details["error"]


def test_per_field_normalisation_and_tolerance():
    expected = {"amount": 100.0, "ref": "00123"}
    scorer = build_scorer({"type": "extraction", "normalize": {"ref": "text"}, "tolerance": {"amount": 0.5}})
    v = run_scorer(scorer, '{"amount": 100.4, "ref": "123"}', case(expected), CTX)
    # amount within 0.5; ref compared as text, so "123" != "00123".
    assert {k: f["verdict"] for k, f in v.details["fields"].items()} == {"amount": "match", "ref": "wrong"}


def test_unparseable_json_scores_zero_with_reason():
    v = run_scorer(ExtractionScorer(), '{"vendor": "ACME", "total": 5', case(), CTX)
    assert (v.status, v.score, v.passed) == ("ok", 0.0, False)
    assert "no JSON object" in v.details["reason"]


def test_expected_not_an_object_is_a_scorer_error():
    v = run_scorer(ExtractionScorer(), '{"a": 1}', case("just text"), CTX)
    assert (v.status, v.score, v.passed) == ("error", None, None)
    assert "not a JSON object" in v.details["error"]


def test_expected_json_string_is_accepted():
    v = run_scorer(ExtractionScorer(), '{"a": 1}', case('{"a": "1"}'), CTX)
    assert v.score == 1.0


@pytest.mark.parametrize("spec", [
    {"type": "extraction", "fields": "vendor"},
    {"type": "extraction", "fields": ["a..b"]},
    {"type": "extraction", "threshold": 1.5},
    {"type": "extraction", "normalize": {"a": "fuzzy"}},
    {"type": "extraction", "tolerance": -1},
    {"type": "extraction", "bogus": 1},
])
def test_bad_config(spec):
    with pytest.raises(ScorerConfigError):
        build_scorer(spec)
