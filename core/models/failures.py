"""What went wrong with a call: every failed attempt gets one error class (and the HTTP status
when known), and the provider's Retry-After is read here.

Classes come from litellm's exception types, the HTTP status, the body text ("insufficient_quota")
and the exception's cause chain. The client's retry policy is stated in these classes: TRANSIENT
ones are retried, BREAKER_CLASSES feed the per-model circuit breaker, the rest (bad_request,
unknown) fail at once. not_found (a 404: no such model, deployment or endpoint; or a 400 whose
body says the model is unknown) is a breaker class: every later call would get it too. unreachable (the connection refused, or the host name does not
resolve) is retried like any network failure, but a call that ends on it after its retries counts
toward the breaker (BREAKER_AFTER_RETRIES): a server that is not running stops the model's calls
after a few, while one still starting up is given the retries' backoff.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import socket
import time
from typing import Any

from core.models.provider import litellm_module

TRANSIENT = frozenset({"rate_limited", "timeout", "network", "unreachable", "server", "bad_response"})
BREAKER_CLASSES = frozenset({"auth", "quota_exhausted", "not_found"})
BREAKER_AFTER_RETRIES = frozenset({"unreachable"})
# Body text of a 402/403/429 that means the account is out of quota (not worth retrying), not a
# passing rate limit.
_QUOTA_MARKERS = ("insufficient_quota", "quota exceeded", "exceeded your current quota", "quota_exceeded",
                  "billing", "credit balance", "out of credits", "resource_exhausted")

# Body text of a 400 that names the model as unknown: some servers answer a wrong model name with a
# 400, not a 404 (LiteLLM proxy "Invalid model name passed in model=x", Mistral "Invalid model",
# OpenRouter "is not a valid model ID", Bedrock "The provided model identifier is invalid"). Every
# later call would get it too: not_found. Model-specific wording only: a 400 about one case's
# content (too long, a bad parameter value) stays bad_request.
_MODEL_MISSING_MARKERS = ("invalid model", "not a valid model", "model_not_found", "model not found",
                          "unknown model", "no such model", "model identifier is invalid")


def _headers(exc: BaseException) -> Any:
    for holder in (getattr(exc, "litellm_response_headers", None), getattr(getattr(exc, "response", None), "headers", None)):
        if holder:
            return holder
    return None


def retry_after_s(exc: BaseException, now: float | None = None) -> float | None:
    """Seconds the provider asked us to wait (Retry-After as seconds or HTTP-date, or retry-after-ms)."""
    headers = _headers(exc)
    if not headers:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
    except (TypeError, ValueError, AttributeError):
        return None
    if value is None:
        return None
    value = str(value).strip()
    try:
        seconds = float(value)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _body_text(exc: BaseException) -> str:
    parts = [str(exc)]
    body = getattr(exc, "body", None)
    if body:
        parts.append(body if isinstance(body, str) else json.dumps(body, default=str))
    return " ".join(parts).lower()


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        nxt = cur.__cause__ or cur.__context__
        if nxt is None:  # litellm's MidStreamFallbackError keeps the real failure here
            original = getattr(cur, "original_exception", None)
            nxt = original if isinstance(original, BaseException) else None
        cur = nxt
    return out


def unreachable_reason(exc: BaseException) -> str | None:
    """Why nothing answered, in words a user can act on: the connection was refused (nothing is
    listening) or the host name does not resolve; None for any other failure."""
    chain = _chain(exc)
    host, port = next(((e.host, getattr(e, "port", None)) for e in chain if getattr(e, "host", None)), (None, None))
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        target = f"{host}:{port}" if host else "the server"
        return f"connection refused by {target}: nothing is listening there (is the server running? check api_base)"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return f"cannot resolve the host name {host or '(unknown)'} (check api_base and the network)"
    return None


def _transport_failure(chain: list[BaseException]) -> str | None:
    """litellm reports a dropped connection, a truncated body and a 200 with invalid JSON all as
    InternalServerError(500); the cause chain tells them apart from a real 500."""
    if any(isinstance(e, json.JSONDecodeError) for e in chain):
        return "bad_response"
    if any(isinstance(e, (ConnectionRefusedError, socket.gaierror)) for e in chain):
        return "unreachable"
    for e in chain:
        cls = type(e)
        module = cls.__module__.split(".")[0]
        if cls.__name__ in ("APIConnectionError", "ContentLengthError") or isinstance(e, (ConnectionError, EOFError)):
            return "network"
        if module in ("httpx", "httpcore", "aiohttp") and cls.__name__ != "HTTPStatusError":
            return "network"
    return None


def classify(exc: BaseException) -> tuple[str, int | None]:
    """(error class, HTTP status if known) for a failed attempt."""
    litellm = litellm_module()
    if isinstance(exc, (asyncio.TimeoutError, litellm.Timeout)):
        return "timeout", None
    chain = _chain(exc)
    if any(isinstance(e, asyncio.TimeoutError) for e in chain[1:]):
        return "timeout", None
    transport = _transport_failure(chain)
    if transport is not None:
        return transport, None
    mid_stream = getattr(litellm, "MidStreamFallbackError", None)
    if mid_stream is not None and isinstance(exc, mid_stream):
        # A stream that broke after it started. litellm gives it a 503 of its own; only an error
        # the provider itself sent mid-stream (a 429, an auth error...) keeps its own class.
        original = getattr(exc, "original_exception", None)
        if isinstance(original, BaseException) and not isinstance(original, mid_stream):
            cls, status = classify(original)
            if cls not in ("server", "unknown"):
                return cls, status
        return "network", None
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    text = _body_text(exc)
    if status in (402, 403, 429) or isinstance(exc, litellm.RateLimitError):
        if any(m in text for m in _QUOTA_MARKERS):
            return "quota_exhausted", status
    if status == 429 or isinstance(exc, litellm.RateLimitError):
        return "rate_limited", status
    if status in (401, 403) or isinstance(exc, (litellm.AuthenticationError, litellm.PermissionDeniedError)):
        return "auth", status
    if status == 408:
        return "timeout", status
    if status == 404 or isinstance(exc, litellm.NotFoundError):
        return "not_found", status
    if status == 400 and any(m in text for m in _MODEL_MISSING_MARKERS):
        return "not_found", status
    if (status is not None and status >= 500) or isinstance(
            exc, (litellm.InternalServerError, litellm.ServiceUnavailableError, litellm.BadGatewayError)):
        return "server", status
    if (status is not None and 400 <= status < 500) or isinstance(exc, litellm.BadRequestError):
        return "bad_request", status
    if isinstance(exc, (litellm.APIConnectionError, ConnectionError, OSError)):
        return "network", status
    if isinstance(exc, (ValueError, KeyError, TypeError, AttributeError)):
        return "bad_response", status
    return "unknown", status
