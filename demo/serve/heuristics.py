"""Generic answers for inputs the demo models do not know, and the demo judge's verdict rule.

Everything here is a pure function of its text arguments: simple regexes, no randomness.

Judge rule (documented for test authors): the graded output is the text between a line
`<<<OUTPUT` and a line `OUTPUT>>>`; the reference is the text after `RUBRIC:` up to the next
blank line or `<<<` line (else a `<<<RUBRIC`, `<<<EXPECTED` or `<<<REFERENCE` block). A "word"
is a run of letters/digits that is all digits or at least four characters long, compared
case-insensitively. Verdict: pass when the output is non-empty and shares at least one word
with the reference (with no reference: pass when the output is non-empty); score = shared
reference words / reference words, rounded to 2 places (1.0 or 0.0 without a reference).
"""

from __future__ import annotations

import re
from typing import Any

from scorers.normalize import parse_date

_LABELS_RE = re.compile(r"(?:labels?|categories|one of)\b[^:\n]*:\s*([^\n]+)", re.IGNORECASE)
_FIELDS_RE = re.compile(r"\bfields?\b[^:\n]*:\s*([^\n]+)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_LABEL_ITEM = re.compile(r"^[A-Za-z][\w-]*(?: [\w-]+){0,2}$")
_FIELD_ITEM = re.compile(r"\s*[`\"']?([A-Za-z_][\w.\[\]]*)")

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MDY_DATE = re.compile(r"\b([A-Z][a-z]+) (\d{1,2}),? (\d{4})\b")
_DMY_DATE = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)? (?:of )?([A-Z][a-z]+),? (\d{4})\b")
_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}
_AMOUNT = re.compile(r"(USD|EUR|GBP|CAD|SGD|SEK|CHF|\$|€|£)\s?(\d[\d,]*(?:\.\d+)?)")
_LAW = re.compile(
    r"(?:laws? of (?:the )?(?:State of |Province of )?|governing law:\s*)([A-Z][A-Za-z]+(?: [A-Z][A-Za-z]+| and [A-Z][A-Za-z]+)*)"
)
_BETWEEN = re.compile(r"\bbetween (.+?) and (.+?)(?: \(|,|\.(?:\s|$))")

_BLOCK = re.compile(r"^<<<([A-Z]+)[ \t]*\n(.*?)\n\1>>>[ \t]*$", re.MULTILINE | re.DOTALL)
_RUBRIC = re.compile(r"RUBRIC:[ \t]*(.*?)(?:\n[ \t]*\n|\n<<<|\Z)", re.DOTALL)
_WORD = re.compile(r"[^\W_]+")


def _list_after(pattern: re.Pattern[str], prompt: str) -> list[str]:
    m = pattern.search(prompt)
    if not m:
        return []
    return _SENTENCE_END.split(m.group(1), maxsplit=1)[0].split(",")


def parse_labels(prompt: str) -> list[str]:
    """Labels listed after 'labels:' / 'categories:' / 'one of:' (at least two, else none)."""
    items = []
    for chunk in _list_after(_LABELS_RE, prompt):
        for item in re.split(r"\s+or\s+|/|\|", chunk):
            item = item.strip().strip("`\"'*").strip()
            if _LABEL_ITEM.match(item):
                items.append(item)
    return items if len(items) >= 2 else []


def parse_fields(prompt: str) -> list[str]:
    """Field names listed after 'fields:' (each item's leading identifier)."""
    out = []
    for item in _list_after(_FIELDS_RE, prompt):
        m = _FIELD_ITEM.match(item)
        if m:
            out.append(m.group(1))
    return out


def pick_label(labels: list[str], text: str) -> str:
    """The first label whose word appears in the text, else the first label."""
    folded = text.casefold()
    for label in labels:
        if re.search(rf"\b{re.escape(label.casefold())}\b", folded):
            return label
    return labels[0]


def _date(text: str) -> str | None:
    """The first date the text states, as YYYY-MM-DD (the scorers' own date reading)."""
    for pattern in (_ISO_DATE, _MDY_DATE, _DMY_DATE):
        if (m := pattern.search(text)) and (iso := parse_date(m.group(0))):
            return iso
    return None


def extract_fields(text: str, fields: list[str]) -> dict[str, Any]:
    """A best-effort JSON object: regexes for parties, date, amount, currency and law.

    With `fields`, exactly those keys (null when not found); otherwise the keys found.
    """
    found: dict[str, Any] = {}
    if m := _BETWEEN.search(text):
        found["party_a"], found["party_b"] = m.group(1).strip(), m.group(2).strip()
    if date := _date(text):
        found["effective_date"] = date
    if m := _AMOUNT.search(text):
        number = float(m.group(2).replace(",", ""))
        found["amount"] = int(number) if number.is_integer() else number
        found["currency"] = _SYMBOLS.get(m.group(1), m.group(1))
    if m := _LAW.search(text):
        found["governing_law"] = m.group(1)
    if not fields:
        return found
    return {f: found.get(f) for f in fields}


def summarize(text: str, max_words: int = 25) -> str:
    """The first sentence of the text, at most `max_words` words."""
    first = _SENTENCE_END.split(text.strip(), maxsplit=1)[0].strip()
    words = first.split()
    if not words:
        return "(empty input)"
    return " ".join(words[:max_words]) + ("..." if len(words) > max_words else ".")


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.casefold()) if w.isdigit() or len(w) >= 4}


def judge_verdict(prompt: str) -> dict[str, Any]:
    """The demo judge's verdict on a judge prompt (rule in the module docstring)."""
    blocks = {name: body for name, body in _BLOCK.findall(prompt)}
    output = blocks.get("OUTPUT", "").strip()
    if m := _RUBRIC.search(prompt):
        reference = m.group(1)
    else:
        reference = blocks.get("RUBRIC") or blocks.get("EXPECTED") or blocks.get("REFERENCE") or ""
    ref_words = _words(reference)
    if not output:
        return {"pass": False, "score": 0.0, "reason": "The output is empty."}
    if not ref_words:
        return {"pass": True, "score": 1.0, "reason": "The output is non-empty and there is no rubric to check."}
    shared = sorted(ref_words & _words(output))
    score = round(len(shared) / len(ref_words), 2)
    if shared:
        return {"pass": True, "score": score,
                "reason": f"The output covers {len(shared)} of {len(ref_words)} rubric words: {', '.join(shared[:5])}."}
    return {"pass": False, "score": 0.0, "reason": "The output shares no words with the rubric."}
