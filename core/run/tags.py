"""Run tags: `assay run --tag KEY=VALUE` (repeatable; e.g. a git sha or the reason for the run),
stored on the run (table run_tags) and shown by `assay runs` and in trends."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import sqlite_utils

from core.errors import UsageError
from store import trends as store_trends

_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_VALUE = 200


def parse_tags(values: Iterable[str]) -> dict[str, str]:
    """KEY=VALUE strings -> {key: value}; a key given twice keeps the last value. UsageError on a
    malformed tag (keys: letters, digits, '_', '.', '-'; values up to MAX_VALUE characters)."""
    tags: dict[str, str] = {}
    for text in values:
        key, sep, value = text.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _KEY.match(key):
            raise UsageError(f"--tag {text!r}: expected KEY=VALUE with a key of letters, digits, '_', '.' or '-'")
        if not value or len(value) > MAX_VALUE or not value.isprintable():
            raise UsageError(f"--tag {key}: the value must be 1-{MAX_VALUE} printable characters")
        tags[key] = value
    return tags


def run_tags(db: sqlite_utils.Database, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """run id -> {key: value} for the runs that have tags."""
    return store_trends.run_tags(db, run_ids)


def format_tags(tags: dict[str, str]) -> str:
    """`k=v k2=v2`, keys sorted (as stored)."""
    return " ".join(f"{k}={v}" for k, v in tags.items())
