"""Edits typed in a dialog or in $EDITOR become validated changes; escaped display keeps originals."""

from __future__ import annotations

import json

import pytest

from core.errors import UsageError
from store.datasets import CaseRow
from tui.case_edit import expected_from_text, expected_to_text, from_editor_json, to_editor_json

ROW = CaseRow(pk=1, dataset_id=1, case_id="c1", input_text="hi", expected="a\x1bb", task_type="t",
              difficulty=None, metadata={}, tags=["x"], excluded=False, ord=0)


def test_unchanged_escaped_text_keeps_the_original():
    shown = expected_to_text(ROW.expected)
    assert shown == "a\\x1bb"
    assert expected_from_text(shown, ROW.expected) == "a\x1bb"
    assert expected_from_text("", ROW.expected) is None
    assert expected_from_text('{"k": 1}', ROW.expected) == {"k": 1}
    with pytest.raises(UsageError):
        expected_from_text('{"k": ', ROW.expected)


def test_editor_round_trip_escapes_controls_and_validates():
    text = to_editor_json(ROW)
    assert "\x1b" not in text and json.loads(text)["expected_output"] == "a\x1bb"
    assert from_editor_json(ROW, text, "f") == {}
    data = json.loads(text) | {"difficulty": "hard", "tags": ["x", "y"]}
    assert from_editor_json(ROW, json.dumps(data), "f") == {"difficulty": "hard", "tags": ["x", "y"]}
    with pytest.raises(UsageError, match="difficulty"):
        from_editor_json(ROW, json.dumps(data | {"difficulty": "extreme"}), "f")
    with pytest.raises(UsageError, match="only"):
        from_editor_json(ROW, json.dumps(data | {"input_text": "x"}), "f")
