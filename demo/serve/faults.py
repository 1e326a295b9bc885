"""Fault rules: which requests fail, and how (OpenAI-shaped error bodies).

A rule is a dict: {"kind", "rate" (0..1, default 1), "first_n" (optional), "model" (name or
"*"), "match" (substring of the last user message, optional), "retry_after" (number, numeric
string or HTTP-date; sent as the Retry-After header)}. Rules are tried in order; a rule whose
filters match (model, match, and fewer than first_n earlier matches) fires when a seeded
random.Random draw is below its rate; the first rule that fires wins. The draws come from one
generator re-seeded whenever the rules or the seed change, so the same request sequence gets
the same faults.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

# kind -> (status, error type, error code, message); None for faults that send no error body.
ERRORS: dict[str, tuple[int, str, str | None, str]] = {
    "429": (429, "rate_limit_exceeded", "rate_limit_exceeded",
            "Rate limit reached for requests. Please try again later."),
    "quota": (429, "insufficient_quota", "insufficient_quota",
              "You exceeded your current quota, please check your plan and billing details."),
    "500": (500, "server_error", None, "The server had an error while processing your request. Sorry about that!"),
    "503": (503, "server_error", "overloaded", "The engine is currently overloaded, please try again later."),
    "401": (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    "400": (400, "invalid_request_error", None, "Invalid request (injected fault)."),
}
# Faults that break the transport or the body instead of returning an error status.
TRANSPORT = ("hang", "reset", "truncate", "bad_json")
KINDS = (*ERRORS, *TRANSPORT)
_KEYS = {"kind", "rate", "first_n", "model", "match", "retry_after"}


def error_body(type_: str, code: str | None, message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}}).encode()


@dataclass
class FaultRule:
    kind: str
    rate: float = 1.0
    first_n: int | None = None
    model: str = "*"
    match: str | None = None
    retry_after: str | None = None
    matched: int = field(default=0, compare=False)  # requests this rule's filters matched so far

    @classmethod
    def parse(cls, raw: Any) -> "FaultRule":
        """Validate one rule dict; ValueError says what is wrong."""
        if not isinstance(raw, dict):
            raise ValueError(f"a fault rule must be an object, not {type(raw).__name__}")
        unknown = set(raw) - _KEYS
        if unknown:
            raise ValueError(f"unknown fault key(s) {sorted(unknown)} (allowed: {sorted(_KEYS)})")
        kind = str(raw.get("kind", ""))
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (one of {', '.join(KINDS)})")
        rate = raw.get("rate", 1.0)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(f"fault rate must be a number from 0 to 1, got {rate!r}")
        first_n = raw.get("first_n")
        if first_n is not None and (isinstance(first_n, bool) or not isinstance(first_n, int) or first_n < 0):
            raise ValueError(f"first_n must be a non-negative integer, got {first_n!r}")
        retry_after = raw.get("retry_after")
        if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, (int, float, str))):
            raise ValueError(f"retry_after must be seconds or an HTTP-date, got {retry_after!r}")
        match = raw.get("match")
        return cls(
            kind=kind, rate=float(rate), first_n=first_n, model=str(raw.get("model") or "*"),
            match=None if match is None else str(match),
            retry_after=None if retry_after is None else _header_value(retry_after),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "rate": self.rate, "model": self.model}
        for key in ("first_n", "match", "retry_after"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def _header_value(value: int | float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if not text.isprintable() or "\r" in text or "\n" in text:
        raise ValueError("retry_after must be printable text")
    return text


class FaultPicker:
    """The active rules and the seeded generator that decides them. Not thread-safe: the caller locks."""

    def __init__(self, rules: list[FaultRule], seed: int):
        self.rules = rules
        self._rng = random.Random(seed)

    def pick(self, model: str, last_user: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.model not in ("*", model) or (rule.match is not None and rule.match not in last_user):
                continue
            rule.matched += 1
            if rule.first_n is not None and rule.matched > rule.first_n:
                continue
            if rule.rate >= 1.0 or self._rng.random() < rule.rate:
                return rule
        return None
