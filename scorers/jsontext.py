"""Finding JSON inside model output: bare, in a ``` fence, or embedded in prose."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)
# Bounds the prose scan: each attempt is linear in the text, so a pathological output full of
# '{' costs at most this many scans.
MAX_SCAN_STARTS = 64


def _loads(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def _balanced_end(text: str, start: int, open_ch: str, close_ch: str) -> int | None:
    """Index one past the bracket closing text[start], string-aware (quotes and escapes), or None."""
    depth = 0
    in_string = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == open_ch:
            depth += 1
        elif ch == close_ch:
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def iter_embedded(text: str, open_ch: str = "{", close_ch: str = "}") -> Iterator[Any]:
    """Every JSON value that is a balanced {...} (or [...]) span of `text`, in order of position."""
    pos, starts = 0, 0
    while starts < MAX_SCAN_STARTS:
        start = text.find(open_ch, pos)
        if start < 0:
            return
        starts += 1
        end = _balanced_end(text, start, open_ch, close_ch)
        if end is not None:
            ok, value = _loads(text[start:end])
            if ok:
                yield value
                pos = end
                continue
        pos = start + 1


def as_object(value: Any) -> dict[str, Any] | None:
    """`value` itself when it is a dict, the object a string holds when it is exactly one JSON
    object (surrounding whitespace allowed), else None. For expected outputs and labels, which
    are stored either way; model output goes through find_json_object."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.lstrip().startswith("{"):
        ok, parsed = _loads(value)
        return parsed if ok and isinstance(parsed, dict) else None
    return None


def find_json_object(text: str) -> tuple[dict[str, Any], str] | None:
    """The first JSON object in `text` and how it was found ("bare", "fenced", "embedded")."""
    ok, value = _loads(text.strip())
    if ok and isinstance(value, dict):
        return value, "bare"
    for m in _FENCE.finditer(text):
        ok, value = _loads(m[2].strip())
        if ok and isinstance(value, dict):
            return value, "fenced"
    for value in iter_embedded(text):
        if isinstance(value, dict):
            return value, "embedded"
    return None


def iter_json_values(text: str) -> Iterator[Any]:
    """Candidate JSON values for `contains-json`: the whole text, fenced blocks, embedded objects
    and arrays."""
    ok, value = _loads(text.strip())
    if ok:
        yield value
    for m in _FENCE.finditer(text):
        ok, value = _loads(m[2].strip())
        if ok:
            yield value
    yield from iter_embedded(text, "{", "}")
    yield from iter_embedded(text, "[", "]")
