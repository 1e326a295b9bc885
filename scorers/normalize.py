"""Value normalisation shared by the scorers: text, numbers, dates, JSON paths.

Everything here is deterministic and locale-independent (month names are matched from our own
table, not through strptime, whose %B depends on the process locale).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from typing import Any

# --- text -----------------------------------------------------------------------------------


def norm_text(value: Any) -> str:
    """Case- and whitespace-insensitive form: casefold, whitespace runs collapsed, ends stripped.

    Non-strings are first written as JSON (so True -> "true", {"a": 1} -> canonical JSON)."""
    text = value if isinstance(value, str) else canonical_json(value)
    return " ".join(text.split()).casefold()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- numbers --------------------------------------------------------------------------------

_NUMBER = re.compile(
    r"^(?P<sign>[+-]?)\s*(?P<cur>[$€£¥])?\s*"
    r"(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?P<exp>[eE][+-]?\d+)?"
    r"\s*(?:USD|EUR|GBP|JPY)?$"
)


def parse_number(value: Any) -> float | None:
    """A number from a JSON number or a string such as "50,000", "50000.0", "$50,000.00", "-1.5e3".

    Commas are accepted only as thousands separators in groups of three ("5,00" is not a number);
    a leading currency symbol ($ € £ ¥) or trailing USD/EUR/GBP/JPY code is ignored. Booleans,
    NaN and infinities are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    m = _NUMBER.match(value.strip())
    if not m:
        return None
    number = float(m["num"].replace(",", "") + (m["exp"] or ""))
    return -number if m["sign"] == "-" else number


def numbers_equal(a: float, b: float, tolerance: float = 0.0) -> bool:
    # The tiny relative slack absorbs binary rounding ("0.1" + "0.2" style) without loosening
    # any comparison a user would notice.
    return abs(a - b) <= tolerance + 1e-9 * max(1.0, abs(a), abs(b))


# --- dates ----------------------------------------------------------------------------------

_MONTHS = {
    name: i + 1
    for i, names in enumerate([
        ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
        ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
        ("october", "oct"), ("november", "nov"), ("december", "dec"),
    ])
    for name in names
}
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_MONTH_FIRST = re.compile(r"^([A-Za-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})$")
_DAY_FIRST = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?(?:\s+of)?[\s-]+([A-Za-z]+)\.?,?[\s-]+(\d{4})$")


def parse_date(value: Any) -> str | None:
    """ISO date (YYYY-MM-DD) from "2024-03-01", "2024/3/1", "March 1, 2024", "Mar 1st 2024",
    "1 March 2024", "01 Mar 2024", "1-Mar-2024". All-numeric day/month orders such as
    "01/03/2024" are NOT parsed: they are ambiguous (1 March or 3 January)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if m := _ISO.match(text):
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    elif m := _MONTH_FIRST.match(text):
        mo, d, y = _MONTHS.get(m[1].casefold(), 0), int(m[2]), int(m[3])
    elif m := _DAY_FIRST.match(text):
        d, mo, y = int(m[1]), _MONTHS.get(m[2].casefold(), 0), int(m[3])
    else:
        return None
    try:
        return _dt.date(y, mo, d).isoformat()
    except ValueError:
        return None


# --- comparison -----------------------------------------------------------------------------

KINDS = ("auto", "text", "number", "date", "exact")


def values_equal(expected: Any, actual: Any, kind: str = "auto", tolerance: float = 0.0) -> bool:
    """Compare one expected value with an extracted one.

    auto: objects key by key and lists item by item (recursively); scalars compare as numbers
    when both parse as numbers, else as dates when both parse as dates, else as normalised text.
    text / number / date force one reading; exact compares the JSON values unchanged."""
    if kind == "exact":
        return canonical_json(expected) == canonical_json(actual)
    if kind == "number":
        a, b = parse_number(expected), parse_number(actual)
        return a is not None and b is not None and numbers_equal(a, b, tolerance)
    if kind == "date":
        a, b = parse_date(expected), parse_date(actual)
        return a is not None and a == b
    if kind == "text":
        return norm_text(expected) == norm_text(actual)
    if isinstance(expected, dict) or isinstance(actual, dict):
        return (isinstance(expected, dict) and isinstance(actual, dict) and expected.keys() == actual.keys()
                and all(values_equal(expected[k], actual[k], kind, tolerance) for k in expected))
    if isinstance(expected, list) or isinstance(actual, list):
        return (isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual)
                and all(values_equal(e, a, kind, tolerance) for e, a in zip(expected, actual)))
    if expected is None or actual is None:
        return expected is None and actual is None
    a, b = parse_number(expected), parse_number(actual)
    if a is not None and b is not None:
        return numbers_equal(a, b, tolerance)
    da, db = parse_date(expected), parse_date(actual)
    if da is not None and db is not None:
        return da == db
    return norm_text(expected) == norm_text(actual)


# --- JSON paths -----------------------------------------------------------------------------

_PATH = re.compile(r"(?:[^.\[\]]+|\[\d+\])(?:\.[^.\[\]]+|\[\d+\])*")
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(path: str) -> list[str | int]:
    """`parties[0].name` -> ["parties", 0, "name"]. Raises ValueError on a malformed path."""
    if not _PATH.fullmatch(path):
        raise ValueError(f"malformed field path {path!r} (use a.b, a[0].b)")
    return [m[1] if m[1] is not None else int(m[2]) for m in _SEGMENT.finditer(path)]


_MISSING = object()


def get_path(obj: Any, parts: list[str | int]) -> Any:
    """The value at a parsed path, or `MISSING` when any step does not exist."""
    for part in parts:
        if isinstance(part, int):
            if not isinstance(obj, list) or part >= len(obj):
                return _MISSING
            obj = obj[part]
        else:
            if not isinstance(obj, dict) or part not in obj:
                return _MISSING
            obj = obj[part]
    return obj


MISSING = _MISSING
