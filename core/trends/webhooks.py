"""Send regression alerts to `[alerts.webhooks.NAME]`: Slack incoming webhooks or a signed JSON POST.

- The URL is a secret (a Slack webhook URL is its own credential): it is read from the environment
  variable `url_env` names at send time, kept in memory, and never stored, logged or returned.
  Results, log lines and errors name only its host. httpx's own INFO line ("HTTP Request: POST
  <url>") is rewritten to the host too, for as long as a delivery is in flight.
- `json` payloads (and `slack` ones, when a `secret_env` is set) are signed per the Standard
  Webhooks spec: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
  "{id}.{timestamp}.{body}">`; a `whsec_<base64>` secret is decoded first, as the spec says.
- Retries: 5xx, 429, timeouts and connection errors, MAX_ATTEMPTS in all, with exponential backoff
  or the server's `Retry-After` (capped at RETRY_AFTER_CAP_S); any other status is final.
- One message per alert per webhook: `send_alert` claims (webhook, dedupe key) in the delivery log
  (store.webhooks) before sending, and never raises: a failed delivery is recorded and returned,
  so the run that raised the alert keeps its result.

The json payload (`json_payload`), documented in README.md ("Configuration", `[alerts]`):

    {"type": "assay.alert.regression", "timestamp": "2025-01-31T12:00:00Z",
     "data": {"dataset": ..., "model": ..., "task_type": ..., "delta_points": -4.2,
              "ci95_points": [-6.1, -2.3], "q_value": 0.012, "n_matched": 300,
              "baseline_run_id": ..., "candidate_run_id": ..., "why": ..., "dedupe_key": ...}}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
import sqlite_utils

from core.common.figures import pct_points
from core.common.safe_text import safe_text
from core.config.schema import AlertsConfig, WebhookConfig
from core.errors import ConfigError
from store.webhooks import claim_delivery, finish_delivery

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
BACKOFF_BASE_S = 0.5  # waits 0.5 s, then 1 s: a webhook receiver recovers fast or not at all
RETRY_AFTER_CAP_S = 60.0
# A 'sending' row older than this belongs to a process that died mid-send: it may be claimed again.
# Longer than any delivery can take (3 attempts x timeout + 2 capped waits).
STALE_SENDING_S = 15 * 60

Outcome = Literal["delivered", "failed", "duplicate"]


@dataclass(frozen=True)
class AlertMessage:
    """One regression alert as sent: a series (dataset x model x task type), its drop against the
    baseline in percentage points with a 95% CI, the BH-adjusted q-value and a one-line why."""

    dataset: str
    model: str
    task_type: str
    delta_points: float  # candidate minus baseline pass rate, in points (negative = worse)
    ci95_points: tuple[float, float]
    q_value: float
    n_matched: int
    baseline_run_id: str
    candidate_run_id: str
    why: str

    @property
    def series(self) -> str:
        return f"{self.dataset} / {self.model} / {self.task_type}"

    @property
    def dedupe_key(self) -> str:
        """Series + baseline + candidate, as a JSON list (unambiguous whatever the names hold)."""
        return json.dumps([self.dataset, self.model, self.task_type, self.baseline_run_id, self.candidate_run_id],
                          ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one message to one webhook. `host` and `error` never hold the URL itself.
    `duplicate`: this alert was already delivered (or is being delivered) to this webhook."""

    webhook: str
    host: str | None
    outcome: Outcome
    attempts: int = 0
    last_status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"

    def describe(self) -> str:
        """One line for a terminal: `slack-team (hooks.slack.com): delivered after 2 attempts (HTTP 200)`."""
        where = f"{self.webhook} ({self.host or 'no host'})"
        if self.outcome == "duplicate":
            return f"{where}: already sent, not sent again"
        status = f", HTTP {self.last_status}" if self.last_status is not None else ""
        tries = f"after {self.attempts} attempt{'s' if self.attempts != 1 else ''}{status}"
        if self.outcome == "delivered":
            return f"{where}: delivered {tries}"
        return f"{where}: failed {tries}: {self.error}"


# --- payloads ------------------------------------------------------------------------------------


def _q(q: float) -> str:
    return "q < 0.001" if q < 0.001 else f"q = {q:.3f}"


def _ci(msg: AlertMessage) -> str:
    lo, hi = msg.ci95_points
    return f"95% CI {lo:+.1f} to {hi:+.1f}"


def _slack_escape(value: object) -> str:
    """Untrusted text for Slack mrkdwn: control and BiDi characters made visible, then the three
    characters Slack parses as markup (`<@U123>`, `<!channel>`, links) escaped, as Slack documents."""
    text = safe_text(value, single_line=True)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(msg: AlertMessage) -> dict[str, Any]:
    """`text` (the notification and fallback) plus blocks: the headline, the figures, the runs."""
    e = _slack_escape
    headline = f"Regression: {e(msg.series)}: {pct_points(msg.delta_points / 100)} ({_ci(msg)}), " \
               f"{_q(msg.q_value)}, n = {msg.n_matched}"
    return {
        "text": headline,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f":rotating_light: *{headline}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": e(msg.why)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": (
                f"baseline `{e(msg.baseline_run_id)}` → candidate `{e(msg.candidate_run_id)}` · "
                f"dataset *{e(msg.dataset)}* · model *{e(msg.model)}* · task *{e(msg.task_type)}*")}]},
        ],
    }


def json_payload(msg: AlertMessage, *, sent_at: datetime) -> dict[str, Any]:
    """The documented JSON body (Standard Webhooks' recommended {type, timestamp, data} envelope)."""
    return {
        "type": "assay.alert.regression",
        "timestamp": sent_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {
            "dataset": msg.dataset,
            "model": msg.model,
            "task_type": msg.task_type,
            "delta_points": msg.delta_points,
            "ci95_points": list(msg.ci95_points),
            "q_value": msg.q_value,
            "n_matched": msg.n_matched,
            "baseline_run_id": msg.baseline_run_id,
            "candidate_run_id": msg.candidate_run_id,
            "why": msg.why,
            "dedupe_key": msg.dedupe_key,
        },
    }


def _secret_bytes(secret: str) -> bytes:
    """Standard Webhooks secrets are `whsec_<base64>`; anything else is used as its UTF-8 bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            raise ConfigError("the webhook secret starts with 'whsec_' but the rest is not base64") from None
    return secret.encode("utf-8")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


# --- delivery ------------------------------------------------------------------------------------


class _HostOnlyUrls(logging.Filter):
    """Rewrites the webhook URLs in flight to their host in httpx's records ("HTTP Request: POST
    <url> ..."), which would otherwise put the secret into any log that shows INFO."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._urls: dict[str, str] = {}  # url -> "scheme://host/…"

    def add(self, url: str, shown: str) -> None:
        with self._lock:
            self._urls[url] = shown

    def discard(self, url: str) -> None:
        with self._lock:
            self._urls.pop(url, None)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            urls = dict(self._urls)
        if urls:
            text = record.getMessage()
            for url in sorted(urls, key=len, reverse=True):
                text = text.replace(url, urls[url])
            record.msg, record.args = text, None
        return True


_httpx_filter = _HostOnlyUrls()
logging.getLogger("httpx").addFilter(_httpx_filter)


@dataclass(frozen=True)
class _Target:
    """A resolved webhook: the URL (secret) and signing secret live only here, never in a repr."""

    url: str
    host: str
    secret: str | None

    def __repr__(self) -> str:
        return f"_Target(host={self.host!r})"


def _resolve(name: str, hook: WebhookConfig, env: Mapping[str, str]) -> _Target | DeliveryResult:
    url = env.get(hook.url_env, "").strip()
    if not url:
        return DeliveryResult(name, None, "failed", error=f"environment variable {hook.url_env} is not set")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        return DeliveryResult(name, None, "failed", error=f"${hook.url_env} does not hold an http(s) URL")
    secret = None
    if hook.secret_env is not None:
        secret = env.get(hook.secret_env, "")
        if not secret:
            return DeliveryResult(name, parsed.host, "failed",
                                  error=f"environment variable {hook.secret_env} (the signing secret) is not set")
    return _Target(url, parsed.host, secret)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _body(hook: WebhookConfig, msg: AlertMessage, now: datetime) -> bytes:
    payload = slack_payload(msg) if hook.kind == "slack" else json_payload(msg, sent_at=now)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _message_id(webhook: str, dedupe_key: str) -> str:
    """Stable per (webhook, alert), so a receiver can dedupe a message sent again after a failure."""
    return "msg_" + hashlib.sha256(f"{webhook}\n{dedupe_key}".encode()).hexdigest()[:32]


def deliver(name: str, hook: WebhookConfig, msg: AlertMessage, *, message_id: str | None = None,
            env: Mapping[str, str] | None = None, sleep: Callable[[float], None] = time.sleep,
            transport: httpx.BaseTransport | None = None) -> DeliveryResult:
    """POST one message to one webhook, with retries; no dedupe, no record (see send_alert).
    Never raises for a delivery problem: the result says what went wrong, naming only the host."""
    target = _resolve(name, hook, os.environ if env is None else env)
    if isinstance(target, DeliveryResult):
        log.warning("webhook %s not sent: %s", name, target.error)
        return target
    now = datetime.now(timezone.utc)
    body = _body(hook, msg, now)
    headers = {"content-type": "application/json", "user-agent": "assay-webhooks"}
    if target.secret is not None:
        msg_id = message_id or _message_id(name, msg.dedupe_key)
        ts = int(now.timestamp())
        try:
            signature = sign(target.secret, msg_id, ts, body)
        except ConfigError as exc:
            return DeliveryResult(name, target.host, "failed", error=f"{hook.secret_env}: {exc.message}")
        headers |= {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}

    attempts, status, error = 0, None, None
    _httpx_filter.add(target.url, f"<{hook.kind} webhook at {target.host}>")
    try:
        with httpx.Client(timeout=hook.timeout_s, transport=transport, follow_redirects=False) as client:
            while attempts < MAX_ATTEMPTS:
                attempts += 1
                wait = BACKOFF_BASE_S * 2 ** (attempts - 1)
                try:
                    response = client.post(target.url, content=body, headers=headers)
                except httpx.TimeoutException:
                    status, error = None, f"timed out after {hook.timeout_s:g} s ({target.host})"
                except httpx.TransportError as exc:
                    # The exception's own text is not shown: a proxy or DNS error can quote the URL.
                    status, error = None, f"connection failed: {type(exc).__name__} ({target.host})"
                else:
                    status = response.status_code
                    if 200 <= status < 300:
                        return DeliveryResult(name, target.host, "delivered", attempts, status)
                    error = f"HTTP {status} from {target.host}"
                    if status != 429 and status < 500:
                        break
                    retry_after = _retry_after(response.headers.get("retry-after"))
                    if retry_after is not None:
                        wait = min(retry_after, RETRY_AFTER_CAP_S)
                if attempts < MAX_ATTEMPTS:
                    log.info("webhook %s: %s; retrying in %.1f s", name, error, wait)
                    sleep(wait)
    finally:
        _httpx_filter.discard(target.url)
    log.warning("webhook %s: delivery failed after %d attempt(s): %s", name, attempts, error)
    return DeliveryResult(name, target.host, "failed", attempts, status, error)


def send_alert(db: sqlite_utils.Database, webhooks: Mapping[str, WebhookConfig], msg: AlertMessage, *,
               env: Mapping[str, str] | None = None, sleep: Callable[[float], None] = time.sleep,
               transport: httpx.BaseTransport | None = None) -> list[DeliveryResult]:
    """Send one alert to every configured webhook, at most once each (dedupe on msg.dedupe_key),
    recording every delivery. Never raises (the run that raised the alert keeps its result)."""
    results = []
    for name, hook in webhooks.items():
        msg_id = _message_id(name, msg.dedupe_key)
        try:
            if not claim_delivery(db, webhook=name, dedupe_key=msg.dedupe_key, message_id=msg_id,
                                  stale_after_s=STALE_SENDING_S):
                results.append(DeliveryResult(name, None, "duplicate"))
                continue
            result = deliver(name, hook, msg, message_id=msg_id, env=env, sleep=sleep, transport=transport)
            finish_delivery(db, webhook=name, dedupe_key=msg.dedupe_key, delivered=result.ok,
                            attempts=result.attempts, http_status=result.last_status, error=result.error)
        except Exception as exc:  # a webhook must never change a run's outcome
            # Only the class: the text of an unexpected error is not known to be free of the URL.
            result = DeliveryResult(name, None, "failed", error=f"unexpected {type(exc).__name__}")
            log.warning("webhook %s: %s", name, result.error)
        results.append(result)
    return results


SAMPLE_MESSAGE = AlertMessage(
    dataset="support-tickets", model="demo-fast", task_type="classification", delta_points=-4.2,
    ci95_points=(-6.1, -2.3), q_value=0.012, n_matched=300, baseline_run_id="sample-baseline",
    candidate_run_id="sample-candidate",
    why="Test message from `assay alerts test-webhook`: pass rate 86.0% → 81.8% on 300 matched cases "
        "(14 newly failing, 1 newly passing).",
)


def send_test(config: AlertsConfig, name: str, *, env: Mapping[str, str] | None = None,
              transport: httpx.BaseTransport | None = None) -> DeliveryResult:
    """Send SAMPLE_MESSAGE to one webhook now: not deduped, not recorded, with a fresh message id."""
    hook = config.webhooks.get(name)
    if hook is None:
        known = ", ".join(sorted(config.webhooks)) or "none"
        raise ConfigError(f"no [alerts.webhooks.{name}] section (configured: {known})")
    return deliver(name, hook, SAMPLE_MESSAGE, message_id=f"msg_{uuid.uuid4().hex}", env=env, transport=transport)
