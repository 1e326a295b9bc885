"""Domain models: validation messages name the field and the offending value."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.common.hashing import case_id_for, content_hash
from core.records import EvalCase, ScoreRecord, describe_validation_error
from core.common.safe_text import safe_text


def _msg(**kw) -> str:
    with pytest.raises(ValidationError) as info:
        EvalCase(**kw)
    return describe_validation_error(info.value)


def test_expected_output_string_object_or_number():
    assert EvalCase(id="a", input_text="x", expected_output={"k": [1]}).expected_output == {"k": [1]}
    assert EvalCase(id="a", input_text="x", expected_output=42).expected_output == "42"
    assert EvalCase(id="a", input_text="x").labeled is False


def test_messages_name_field_and_value():
    assert _msg(id="a", input_text=3) == "field 'input_text': input should be a valid string (got 3)"
    assert "missing required field 'input_text'" in _msg(id="a")
    assert "field 'difficulty': input should be 'easy', 'medium' or 'hard' (got 'extreme')" in _msg(
        id="a", input_text="x", difficulty="extreme")
    assert "field 'expected_output': must be a string or a JSON object, not list (got ['a'])" in _msg(
        id="a", input_text="x", expected_output=["a"])
    assert "field 'input_text': must not be blank" in _msg(id="a", input_text="   ")
    assert "field 'metadata'" in _msg(id="a", input_text="x", metadata="oops")


def test_score_bounds():
    with pytest.raises(ValidationError):
        ScoreRecord(result_id=1, run_id="r", scorer="x", score=1.5)


def test_ids_and_hashes_are_stable():
    assert case_id_for("hello") == case_id_for("hello") != case_id_for("hello ")
    assert content_hash({"b": 1, "a": 2}) == content_hash({"a": 2, "b": 1})


@pytest.mark.parametrize("raw, shown", [
    ("\x1b[31mred", "\\x1b[31mred"),
    ("\x1b]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07"),
    ("a\x9bb", "a\\x9bb"),
    ("\u202eevil", "\\u202eevil"),
    ("[bold]x[/]", "[bold]x[/]"),
    ("tab\tnew\nline", "tab\tnew\nline"),
    ("cr\r", "cr\\r"),
])
def test_safe_text_makes_controls_visible(raw, shown):
    assert safe_text(raw) == shown
