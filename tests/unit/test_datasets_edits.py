"""Edits typed in a dialog or in $EDITOR become validated changes; escaped display keeps originals;
edit_case writes only what changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.datasets.browse import CaseRow, dataset_id, page
from core.datasets.edits import edit_case, expected_from_text, expected_to_text, from_editor_json, to_editor_json
from core.datasets.importing import import_file
from core.errors import UsageError
from store import connect

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


@pytest.fixture
def db(tmp_path: Path):
    src = tmp_path / "cases.jsonl"
    src.write_text(json.dumps({"id": "c1", "input_text": "hi", "expected_output": "a", "tags": ["x"]}) + "\n")
    conn = connect(tmp_path / "assay.db")
    import_file(conn, src, "d")
    yield conn
    conn.close()


def stored(db) -> CaseRow:
    (row,) = page(db, dataset_id(db, "d")).cases
    return row


def test_edit_case_writes_only_what_changed(db):
    row = stored(db)
    assert edit_case(db, row, {"tags": ["x"], "difficulty": "hard"}) == {"difficulty": "hard"}
    assert edit_case(db, row, {"excluded": True}) == {"excluded": True}
    after = stored(db)
    assert (after.difficulty, after.excluded, after.tags, after.expected) == ("hard", True, ["x"], "a")
    assert edit_case(db, after, {"excluded": True, "tags": ["x"]}) == {}


def test_edit_case_refuses_invalid_or_unknown_fields(db):
    row = stored(db)
    with pytest.raises(UsageError, match="difficulty"):
        edit_case(db, row, {"difficulty": "extreme"})
    with pytest.raises(UsageError, match="can be changed"):
        edit_case(db, row, {"input_text": "other"})
    assert stored(db) == row
