"""Case edits: what a user typed (in a dialog or in $EDITOR) as validated changes, and the write.

A case is edited in place (expected output, task type, difficulty, tags) or excluded from runs;
its old content stays in the versions taken before. Every change is validated as an EvalCase
would be, and only what actually changed is written.

Untrusted text is shown through safe_text, so a field may display visible escapes (\\x1b) instead
of the raw characters. A field the user left as displayed keeps its original value.
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlite_utils
from pydantic import ValidationError

from core.common.safe_text import safe_text
from core.datasets.browse import CaseRow
from core.errors import UsageError
from core.records import EvalCase, describe_validation_error
from store import datasets as store_ds
from store.db import write

EDITABLE = ("expected_output", "task_type", "difficulty", "tags")  # what the editors offer
CHANGEABLE = (*EDITABLE, "excluded")
# JSON for $EDITOR: readable non-ASCII, but C1 and BiDi controls escaped (json escapes C0 itself).
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def expected_to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return safe_text(value)
    return safe_text(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))


def expected_from_text(text: str, original: Any) -> Any:
    """Blank = unlabeled; a JSON object = an object; anything else = the text itself."""
    if text == expected_to_text(original):
        return original
    if not text.strip():
        return None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except ValueError as exc:
            raise UsageError(f"expected output looks like JSON but is not valid: {exc}") from None
        if isinstance(value, dict):
            return value
    return text


def tags_from_text(text: str) -> list[str]:
    seen: list[str] = []
    for tag in (t.strip() for t in text.split(",")):
        if tag and tag not in seen:
            seen.append(tag)
    return seen


def validated_changes(row: CaseRow, fields: dict[str, Any]) -> dict[str, Any]:
    """Check the edited fields as an EvalCase would and return only those that changed."""
    unknown = sorted(set(fields) - set(CHANGEABLE))
    if unknown:
        raise UsageError(f"only {', '.join(CHANGEABLE)} of a case can be changed (not {', '.join(unknown)})")
    merged = {**row.as_case_dict(), **fields}
    try:
        case = EvalCase.model_validate({**merged, "tags": list(merged["tags"])})
    except ValidationError as exc:
        raise UsageError(describe_validation_error(exc)) from None
    data = case.model_dump(mode="json")
    return {k: data[k] for k in CHANGEABLE if k in fields and data[k] != row.as_case_dict()[k]}


def edit_case(db: sqlite_utils.Database, row: CaseRow, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate `fields` against the case and write what changed, in one write transaction.
    Returns the changes written (empty: nothing changed, nothing written)."""
    changes = validated_changes(row, fields)
    if changes:
        with write(db):
            store_ds.update_case(db, row.dataset_id, row.case_id, **changes)
    return changes


def to_editor_json(row: CaseRow) -> str:
    data = {k: row.as_case_dict()[k] for k in EDITABLE}
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text) + "\n"


def from_editor_json(row: CaseRow, text: str, file: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{file}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{file}: expected a JSON object with {', '.join(EDITABLE)}")
    unknown = sorted(set(data) - set(EDITABLE))
    if unknown:
        raise UsageError(f"{file}: only {', '.join(EDITABLE)} can be edited here (found {', '.join(unknown)})")
    return validated_changes(row, data)
