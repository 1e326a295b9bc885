"""Timestamps are ISO-8601 UTC strings with microseconds, so they sort as text."""

from __future__ import annotations

from datetime import datetime, timezone


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
