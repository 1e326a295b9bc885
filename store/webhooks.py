"""The webhook delivery log: one row per (webhook, alert), the dedupe behind "one message per alert".

Claiming a row and sending are separate steps: `claim_delivery` marks the row 'sending' under the
write lock (so of two processes sending the same alert, one wins), the HTTP request happens
outside any transaction, and `finish_delivery` records the outcome. No URL is ever stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlite_utils

from store.db import write
from store.timeutil import now_iso


@dataclass(frozen=True)
class DeliveryRow:
    webhook: str
    dedupe_key: str
    message_id: str
    status: str  # sending | delivered | failed
    attempts: int
    http_status: int | None
    error: str | None
    created_at: str
    updated_at: str


def claim_delivery(db: sqlite_utils.Database, *, webhook: str, dedupe_key: str, message_id: str,
                   stale_after_s: float) -> bool:
    """True when this caller should send: no row yet, the last try failed, or a 'sending' row is
    older than `stale_after_s` (its process died mid-send). False when delivered or in flight."""
    now = now_iso()
    stale_before = (datetime.now(timezone.utc) - timedelta(seconds=stale_after_s)).isoformat(timespec="microseconds")
    with write(db):
        row = db.execute("SELECT status, updated_at FROM webhook_deliveries WHERE webhook = ? AND dedupe_key = ?",
                         [webhook, dedupe_key]).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO webhook_deliveries (webhook, dedupe_key, message_id, status, created_at, updated_at) "
                "VALUES (?, ?, ?, 'sending', ?, ?)", [webhook, dedupe_key, message_id, now, now])
            return True
        status, updated_at = row
        if status == "delivered" or (status == "sending" and updated_at > stale_before):
            return False
        db.execute("UPDATE webhook_deliveries SET status = 'sending', updated_at = ? "
                   "WHERE webhook = ? AND dedupe_key = ?", [now, webhook, dedupe_key])
        return True


def finish_delivery(db: sqlite_utils.Database, *, webhook: str, dedupe_key: str, delivered: bool, attempts: int,
                    http_status: int | None, error: str | None) -> None:
    with write(db):
        db.execute(
            "UPDATE webhook_deliveries SET status = ?, attempts = ?, http_status = ?, error = ?, updated_at = ? "
            "WHERE webhook = ? AND dedupe_key = ?",
            ["delivered" if delivered else "failed", attempts, http_status, error, now_iso(), webhook, dedupe_key])


def list_deliveries(db: sqlite_utils.Database) -> list[DeliveryRow]:
    """Every delivery, oldest first."""
    return [DeliveryRow(*row) for row in db.execute(
        "SELECT webhook, dedupe_key, message_id, status, attempts, http_status, error, created_at, updated_at "
        "FROM webhook_deliveries ORDER BY id")]
