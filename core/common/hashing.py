"""Canonical JSON and content hashes: ids, dataset versions, config and request hashes."""

from __future__ import annotations

import hashlib
import json
from typing import Any


# One encoder for every call: `json.dumps` with options builds a new one each time, which costs
# more than encoding a small value (an import encodes every case once).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 kept as is."""
    return _CANONICAL.encode(value)


def content_hash(value: Any) -> str:
    """sha256 hex of the canonical JSON of `value`."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def case_id_for(input_text: str) -> str:
    """Stable id for a case that came without one: derived from its input, never its row order."""
    return "c_" + hashlib.sha256(input_text.encode("utf-8")).hexdigest()[:16]
