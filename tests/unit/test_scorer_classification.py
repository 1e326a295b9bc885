"""Classification and the default exact-match scorer."""

from __future__ import annotations

import pytest

from scorers.base import ScoreContext, run_scorer
from scorers.classification import ClassificationScorer, parse_label
from scorers.exact import ExactScorer
from scorers.registry import default_scorer

LABELS = ScoreContext(valid_labels=("billing", "technical", "Cancellation"))


def case(expected, task="classification"):
    return {"id": "c", "input_text": "x", "expected_output": expected, "task_type": task, "metadata": {}}


@pytest.mark.parametrize("output, label", [
    ("billing", "billing"), ("  Billing \n", "billing"), ("billing.", "billing"), ("Label: billing", "billing"),
    ("LABEL :  Billing.", "billing"), ("label:billing", "billing"),
    ("billing..", "billing."),          # only one trailing period is stripped
    ("Category: billing", "category: billing"),  # only a `label:` prefix is stripped
    ("billing\nbecause the card was charged", "billing because the card was charged"),
])
def test_parse_label_strips_exactly_what_is_documented(output, label):
    assert parse_label(output) == label


def test_pass_and_valid_label():
    v = run_scorer(ClassificationScorer(), "Label: Billing.", case("billing"), LABELS)
    assert (v.score, v.passed) == (1.0, True)
    assert v.details == {"expected": "billing", "predicted": "billing", "valid_label": True}


def test_wrong_but_valid_label():
    v = run_scorer(ClassificationScorer(), "technical", case("billing"), LABELS)
    assert (v.score, v.passed, v.details["valid_label"]) == (0.0, False, True)


def test_invalid_label_is_recorded():
    v = run_scorer(ClassificationScorer(), "refund", case("billing"), LABELS)
    assert v.passed is False and v.details["valid_label"] is False and v.details["predicted"] == "refund"


def test_label_spelling_follows_the_task_labels():
    # Declared "Cancellation": expected and prediction are reported with the declared spelling.
    v = run_scorer(ClassificationScorer(), "cancellation", case("CANCELLATION"), LABELS)
    assert v.passed and v.details["expected"] == "Cancellation" and v.details["predicted"] == "Cancellation"


def test_no_label_set_means_validity_unknown():
    v = run_scorer(ClassificationScorer(), "billing", case("billing"), ScoreContext())
    assert v.passed and v.details["valid_label"] is None


def test_non_string_expected_is_an_error():
    v = run_scorer(ClassificationScorer(), "billing", case({"label": "billing"}), LABELS)
    assert v.status == "error" and v.passed is None


def test_exact_text_is_case_and_whitespace_insensitive():
    assert run_scorer(ExactScorer(), "  Paris\n", case("paris", "qa"), ScoreContext()).passed
    assert not run_scorer(ExactScorer(), "Paris.", case("paris", "qa"), ScoreContext()).passed


def test_exact_json_object_compared_canonically():
    exp = {"b": 2, "a": [1, "x"]}
    assert run_scorer(ExactScorer(), '```json\n{"a": [1, "x"], "b": 2}\n```', case(exp, "qa"), ScoreContext()).passed
    assert not run_scorer(ExactScorer(), '{"a": [1, "X"], "b": 2}', case(exp, "qa"), ScoreContext()).passed
    v = run_scorer(ExactScorer(), "no json", case('{"a": 1}', "qa"), ScoreContext())
    assert v.passed is False and v.details["mode"] == "json"


def test_defaults_by_task_type():
    assert default_scorer("extraction").name == "extraction"
    assert default_scorer("classification").name == "classification"
    assert default_scorer("summarization").name == "exact"
