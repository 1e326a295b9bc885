"""One model, called the way an evaluation needs: paced, bounded, retried on our terms, cached.

`ModelClient.complete(messages)` never raises for a provider problem: it returns a `CallOutcome`
whose status is ok, error (with a class) or skipped (open circuit breaker). Only cancellation
(`CallCancelled`, `asyncio.CancelledError`) escapes, so the caller writes no row and a resume
redoes the call.

Choices, and why:
- litellm is loaded by `core.models.provider` (lazily, offline) and called with num_retries=0
  inside asyncio.wait_for: litellm's own retries honour any Retry-After and retry daily quotas
  like transient errors; ours do not.
- Failures are classified by `core.models.failures` (litellm's exception types, the HTTP status,
  the body text such as "insufficient_quota"). Transient classes (rate_limited, timeout,
  network, server) are retried `run.retries` times with exponential backoff and full jitter;
  bad_response at most twice; quota_exhausted, auth, not_found and bad_request never.
- Retry-After (seconds or HTTP-date, also retry-after-ms) is honoured up to `retry_after_cap_s`.
  Above the cap Assay waits the cap and retries: the retry budget bounds the total wait
  (retries x cap), so a provider asking for an hour cannot stall the run. A 429's Retry-After
  pauses every call to that model, not just the one that got it.
- auth, quota_exhausted and not_found errors feed a per-model circuit breaker, and so does a call
  that ends unreachable after its retries: after `breaker_threshold` of them with no success in
  between, every remaining call is `skipped` without a request.
- Latency is the request's own time. For OpenAI-family requests on Linux the kernel times it
  (`core.models.transport`: request's last byte sent to response's last byte received, from
  TCP_INFO), so a CPU-bound loop (litellm's work for 32 calls at once) cannot add its wait.
  Otherwise it is timed on this loop from the moment the call holds its concurrency slots and
  the rate limiter let it go; the run measures the loop's lag (`core.run.lag`). Either way the
  wait before the request went out is the call's queueing, `queue_ms` (last attempt), never
  latency: slots and limiter, and when the kernel timed it, the client's own work and wait up to
  the request's last byte (with workers: the frame and the worker's loop).
- Streaming is opt-in (`stream = true` in [run], or per model when allow_overrides lists it):
  only then is latency_first_ms measured. Off by default because litellm spends CPU on every
  chunk. Unstreamed, latency_first_ms is None and latency_ms is the full request time.
- Streamed (`stream=True, stream_options={"include_usage": True}`): the same hard timeout covers
  the whole stream, not just the first chunk. latency_first_ms is the time to the first chunk
  that carries content (text or a tool-call delta), not to the role-only chunk a server sends
  first; None when no chunk carries content. latency_ms is the time to the end of the stream.
  Token counts come only from usage the provider itself sent (`core.models.responses`). A
  stream that breaks (connection dropped, truncated SSE, an invalid JSON chunk) or ends without
  a finish_reason is a retryable network/bad_response error, never an ok row with partial output.
- Cost comes from `core.models.prices` (config prices, else litellm's local price map, else NULL:
  "unknown", never 0). litellm's own pricing of each response is skipped (`provider.unlogged`);
  where it cannot be, litellm gets the same prices per call (a nominal one when unknown) so that
  work stays cheap. Its figure is never read.
- litellm's success/failure logging is skipped per request (`provider.unlogged`): Assay registers
  no callback, and the handler cost CPU on the event loop on every call.
- Responses are cached in the DB on the hash of the whole request (model id, api_base,
  messages, every param, repeat index, and the stream flag when streaming); errors are never
  cached. A cached outcome reports the tokens and cost of the original call, latency None (first
  and total, streamed or not) and cost_status "cached".
- Secrets: the key is read from os.environ[api_key_env] at call time only, and every error
  message is redacted (by value and by pattern) before it leaves this module. A model with an
  api_base and no api_key_env gets the placeholder key "assay-no-key" (litellm's openai/*
  provider refuses to call without one; local servers ignore it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.config.schema import ModelConfig, RunConfig, model_params, model_stream
from core.common.hashing import content_hash
from core.models.failures import (BREAKER_AFTER_RETRIES, BREAKER_CLASSES, TRANSIENT, classify, retry_after_s,
                                  unreachable_reason)
from core.models.prices import Prices, litellm_price_kwargs, prices_for
from core.models.provider import (NO_KEY, inline_setup, litellm_module, litellm_prices_this_call, pure_setup,
                                  unlogged)
from core.models.ratelimit import RateLimiter
from core.models.redact import Redactor, from_env
from core.models.responses import (BadResponse, Identity, Parsed, StreamAssembly, parse_response, provider_identity,
                                   provider_sent_usage)
from core.models.transport import RequestTiming, timed
from core.models.transport import current as current_timing

if TYPE_CHECKING:
    import sqlite_utils

# Retried at most this many times, whatever `retries` says: a server sending garbage twice in a
# row will likely keep doing it.
BAD_RESPONSE_RETRIES = 2
_MAX_MESSAGE = 2000


class CallCancelled(Exception):
    """The run is stopping and this call had not started its request: no row is written."""


@dataclass(slots=True)
class CallHooks:
    """Per-call wiring between the runner and a client. `in_request` is True while a request
    (or its result handling) is under way: a stopping runner lets those finish and cancels the rest."""

    on_retry: Callable[[int, str, float, str], None] | None = None  # (attempt, class, wait_s, message)
    stop: asyncio.Event | None = None
    in_request: bool = False
    # The caller writes `CallOutcome.cache_entry` itself (in the same transaction as its result row:
    # one commit per call instead of two).
    defer_cache_write: bool = False
    # Called as each attempt gives back its concurrency slots, before any other call can take them
    # (the runner opens the transaction the result joins: `core.run.group_commit`).
    before_release: Callable[[], None] | None = None


@dataclass(slots=True)
class CallOutcome:
    status: str  # ok | error | skipped
    output: str | None = None
    finish_reason: str | None = None
    latency_first_ms: float | None = None  # streamed calls only: time to the first content chunk
    latency_ms: float | None = None  # None for cached and unsent calls
    queue_ms: float | None = None  # the last attempt's wait before its request went out; None when unsent
    # The part of queue_ms after the slots and the limiter: the client's own work and wait (litellm,
    # a busy loop or worker) up to the request's last byte. Set only when the kernel timed the
    # request, so it also says latency_ms is the kernel's figure (None: this loop's clock, or unsent).
    client_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None  # None = unknown, never 0
    cost_status: str = "unknown"  # price_map | config | unknown | cached
    cached: bool = False
    attempts: int = 0  # requests sent
    error_class: str | None = None
    error_message: str | None = None  # redacted
    request_hash: str | None = None
    provider_model: str | None = None  # the model string the provider returned
    system_fingerprint: str | None = None
    attempt_log: list[dict[str, Any]] = field(default_factory=list)
    cache_entry: dict[str, Any] | None = None  # set on a fresh ok call when the caller defers the cache write

    def result_row(self) -> dict[str, Any]:
        """The columns of a results row this outcome fills."""
        return {
            "status": self.status, "output": self.output, "finish_reason": self.finish_reason,
            "latency_first_ms": self.latency_first_ms, "latency_ms": self.latency_ms,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd, "cost_status": self.cost_status, "cached": self.cached,
            "attempts": self.attempts, "error_class": self.error_class,
            "error_message": self.error_message, "request_hash": self.request_hash,
            "provider_model": self.provider_model, "system_fingerprint": self.system_fingerprint,
            "queue_ms": self.queue_ms, "client_ms": self.client_ms,
        }


def _content_chars(content: Any) -> int:
    """Characters of a message's text, whether content is a string or a list of parts."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
    return 0


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """A request's input tokens before it is sent: ~4 characters per token plus a few per message.
    The one estimate: the tpm limiter paces by it and the Run screen's estimate shows it."""
    chars = sum(_content_chars(m.get("content")) for m in messages)
    return chars // 4 + len(messages) * 4


# --- the client -------------------------------------------------------------------------------


def request_hash(model: ModelConfig, params: dict[str, Any], stream: bool, messages: list[dict[str, Any]],
                 repeat: int = 0) -> str:
    """The request identity, the response cache's key: everything that can change the response
    (`params` and `stream` as `model_params` and `model_stream` give them), nothing that cannot."""
    request: dict[str, Any] = {
        "model": model.model, "api_base": model.api_base, "messages": messages, "params": params, "repeat": repeat,
    }
    if stream:  # only when set: unstreamed requests keep the keys they always had
        request["stream"] = True
    return content_hash(request)


class ModelClient:
    """Calls one configured model. Create it inside the event loop that will use it."""

    def __init__(
        self, name: str, model: ModelConfig, run: RunConfig, db: sqlite_utils.Database | None = None, *,
        global_slots: asyncio.Semaphore | None = None, redactor: Redactor | None = None,
        rng: random.Random | None = None, prices: Prices | None = None,
    ):
        self.name, self.model, self.run, self.db = name, model, run, db
        self.params = model_params(model, run)
        self.stream = model_stream(model, run)
        self.timeout_s = model.timeout_s or run.timeout_s
        self.concurrency = model.max_concurrency or run.concurrency
        self._slots = asyncio.Semaphore(self.concurrency)
        self._global = global_slots
        self.limiter = RateLimiter(model.rpm, model.tpm)
        # Given when another process read litellm's price map (a run's workers): none here then.
        self.use_prices(prices or prices_for(model))
        # Without a shared redactor (a judge client), still redact this model's own key by value.
        self._redact = redactor or from_env([model.api_key_env])
        self._inline: bool | None = None  # litellm's set-up on the loop (provider.pure_setup); known on first use
        self._rng = rng or random.Random()
        self._breaker_strikes = 0
        self.breaker_open = False
        self.breaker_class: str | None = None
        self.breaker_reason: str | None = None
        self.on_breaker: Callable[[str, str], None] | None = None  # (error class, reason)

    def use_prices(self, prices: Prices) -> None:
        """Price this model's calls from now on: (cost source, $ per input token, $ per output token)."""
        self.cost_source, self._in_price, self._out_price = prices
        self._litellm_prices = litellm_price_kwargs(self._in_price, self._out_price)

    def request_hash(self, messages: list[dict[str, Any]], repeat: int = 0) -> str:
        return request_hash(self.model, self.params, self.stream, messages, repeat)

    def _api_key(self) -> str | None:
        if self.model.api_key_env:
            return os.environ.get(self.model.api_key_env)
        return NO_KEY if self.model.api_base else None

    def _estimate_tokens(self, messages: list[dict[str, Any]]) -> int:
        # Corrected to actual usage once the call returns.
        return estimate_prompt_tokens(messages) + int(self.params.get("max_tokens") or 0)

    def _cost(self, n_in: int | None, n_out: int | None) -> float | None:
        if self._in_price is None or self._out_price is None or n_in is None or n_out is None:
            return None
        return n_in * self._in_price + n_out * self._out_price

    def _strike(self, error_class: str, message: str) -> None:
        self._breaker_strikes += 1
        if not self.breaker_open and self._breaker_strikes >= self.run.breaker_threshold:
            self.breaker_open = True
            self.breaker_class = error_class
            self.breaker_reason = (f"circuit breaker open after {self._breaker_strikes} {error_class} errors "
                                   f"for model '{self.name}': {message}")[:_MAX_MESSAGE]
            if self.on_breaker is not None:
                self.on_breaker(error_class, self.breaker_reason)

    def _skipped(self, request_hash: str, attempts: int = 0,
                 attempt_log: list[dict[str, Any]] | None = None) -> CallOutcome:
        return CallOutcome(status="skipped", error_class=self.breaker_class, error_message=self.breaker_reason,
                           request_hash=request_hash, attempts=attempts, attempt_log=attempt_log or [])

    def _from_cache(self, request_hash: str, hit: dict[str, Any]) -> CallOutcome:
        return CallOutcome(
            status="ok", output=hit.get("output"), finish_reason=hit.get("finish_reason"),
            input_tokens=hit.get("input_tokens"), output_tokens=hit.get("output_tokens"),
            cost_usd=hit.get("cost_usd"), cost_status="cached", cached=True, request_hash=request_hash,
            provider_model=hit.get("provider_model"), system_fingerprint=hit.get("system_fingerprint"),
        )

    def _request(self, messages: list[dict[str, Any]], api_key: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(self.params)
        if self.model.api_base:
            kwargs["api_base"] = self.model.api_base
        if api_key is not None:
            kwargs["api_key"] = api_key
        # Prices go to litellm only (never into the request hash or the body), and only when it
        # prices the call: see litellm_price_kwargs and litellm_prices_this_call.
        prices = self._litellm_prices if litellm_prices_this_call() else {}
        return dict(model=self.model.model, messages=messages, num_retries=0, timeout=self.timeout_s,
                    **prices, **kwargs)

    def _litellm_call(self) -> contextlib.AbstractContextManager[None]:
        """How the request is made: unlogged, and its set-up inline when that cannot block the loop."""
        if self._inline is None:
            self._inline = pure_setup(self.model.model, self.model.api_base)
        stack = contextlib.ExitStack()
        stack.enter_context(unlogged())
        if self._inline:
            stack.enter_context(inline_setup())
        return stack

    async def _send(self, messages: list[dict[str, Any]], api_key: str | None) -> Any:
        with self._litellm_call():
            return await asyncio.wait_for(litellm_module().acompletion(**self._request(messages, api_key)),
                                          self.timeout_s)

    async def _send_stream(self, messages: list[dict[str, Any]], api_key: str | None,
                           t0: float) -> tuple[Parsed, float | None, Identity]:
        """A streamed call, the whole stream inside one hard timeout: (parsed, latency_first_ms, identity)."""
        timing = current_timing() or RequestTiming()

        async def consume() -> tuple[Parsed, float | None, Identity]:
            stream = await litellm_module().acompletion(**self._request(messages, api_key), stream=True,
                                                        stream_options={"include_usage": True})
            got = StreamAssembly()
            done = False
            try:
                async for chunk in stream:
                    got.add(chunk)
                done = True
            finally:
                closer = getattr(stream, "aclose", None)
                if not done and closer is not None:  # timed out, cancelled or a bad chunk: free the connection
                    with contextlib.suppress(Exception):  # the attempt has failed already
                        await closer()
            first_ms = None
            if got.first_at is not None:
                # Read on this loop (late when it is busy), so capped at the stream's own end.
                first_ms = (got.first_at - (timing.sent or t0)) * 1000
                if timing.request_ms is not None:
                    first_ms = min(first_ms, timing.request_ms)
            return got.result(provider_sent_usage(stream)), first_ms, got.identity

        with self._litellm_call():
            return await asyncio.wait_for(consume(), self.timeout_s)

    async def _attempt(self, messages: list[dict[str, Any]], api_key: str | None,
                       t0: float) -> tuple[Parsed, float | None, Identity]:
        """One request: (parsed response, latency_first_ms, provider identity). Raises what the
        provider raised. Called inside `transport.timed()`, which the kernel-timed transport fills
        (OpenAI-family requests on Linux). `core.run.workers` overrides it to run the request in a
        worker process."""
        if self.stream:
            return await self._send_stream(messages, api_key, t0)
        resp = await self._send(messages, api_key)
        return parse_response(resp), None, provider_identity(resp)

    def _failure(self, exc: BaseException) -> tuple[str, int | None, str, float | None]:
        """(error class, HTTP status, redacted message, Retry-After seconds) of a failed attempt."""
        error_class, status = ("bad_response", 200) if isinstance(exc, BadResponse) else classify(exc)
        if isinstance(exc, asyncio.TimeoutError):
            message = (f"timeout: the stream did not finish within {self.timeout_s:g} s" if self.stream
                       else f"timeout: no response within {self.timeout_s:g} s")
        else:
            text = (unreachable_reason(exc) if error_class == "unreachable" else None) or f"{type(exc).__name__}: {exc}"
            message = (self._redact(text) or "")[:_MAX_MESSAGE]
        return error_class, status, message, retry_after_s(exc)

    async def _wait(self, seconds: float, hooks: CallHooks | None) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)
        if hooks is not None and hooks.stop is not None and hooks.stop.is_set():
            raise CallCancelled()

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.run.backoff_max_s, self.run.backoff_base_s * (2 ** (attempt - 1)))
        return self._rng.uniform(0, ceiling)

    async def complete(
        self, messages: list[dict[str, Any]], *, repeat: int = 0, use_cache: bool = True,
        hooks: CallHooks | None = None,
    ) -> CallOutcome:
        """Call the model once (plus retries). Never raises for provider errors."""
        request_hash = self.request_hash(messages, repeat)
        if use_cache and self.db is not None:
            from store import runs as store_runs  # here: a worker process has no store

            hit = store_runs.cache_get(self.db, request_hash)
            if hit is not None:
                return self._from_cache(request_hash, hit)
        if self.breaker_open:
            return self._skipped(request_hash)
        api_key = self._api_key()
        if self.model.api_key_env and not api_key:
            out = CallOutcome(status="error", error_class="auth", request_hash=request_hash,
                              error_message=f"environment variable {self.model.api_key_env} is not set")
            self._strike("auth", out.error_message or "")
            return out

        est_tokens = self._estimate_tokens(messages) if self.model.tpm else 0
        log: list[dict[str, Any]] = []
        bad_responses = 0
        attempt = 0
        max_attempts = 1 + self.run.retries
        while True:
            attempt += 1
            if self.breaker_open:  # opened by another call while this one waited to retry
                return self._skipped(request_hash, attempt - 1, log)
            wanted = time.perf_counter()
            async with self._slots:
                # The global slot is taken inside the limiter, so a request starts the moment the
                # limiter records it (pacing holds on the wire, not just on paper).
                reservation = await self.limiter.acquire(est_tokens, gate=self._global)
                try:
                    if hooks is not None and hooks.stop is not None and hooks.stop.is_set():
                        raise CallCancelled()
                    if self.breaker_open:  # opened while this call waited for a slot: send nothing
                        return self._skipped(request_hash, attempt - 1, log)
                    if hooks is not None:
                        hooks.in_request = True
                    t0 = time.perf_counter()
                    with timed() as timing:
                        try:
                            (output, finish, n_in, n_out), first_ms, identity = await self._attempt(messages, api_key, t0)
                            exc: BaseException | None = None
                        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
                            raise
                        except BaseException as e:  # noqa: BLE001 - every provider failure becomes a row
                            exc = e
                    latency_ms = timing.request_ms
                    client_ms = None
                    if latency_ms is None:  # not kernel-timed (see core.models.transport): this loop's clock
                        latency_ms = (time.perf_counter() - t0) * 1000
                    elif timing.sent is not None:  # the kernel's tick is 4 ms: never below 0
                        client_ms = max(0.0, timing.sent - t0) * 1000
                    # Kernel-timed: up to the request's last byte out, so litellm's work and the
                    # loop's (or a worker's) wait before it count too.
                    queue_ms = (max(t0, timing.sent or t0) - wanted) * 1000
                finally:
                    try:
                        if hooks is not None and hooks.before_release is not None:
                            hooks.before_release()
                    finally:
                        if self._global is not None:
                            self._global.release()
                        if hooks is not None:
                            hooks.in_request = False

            if exc is None:
                self.limiter.settle(reservation, (n_in or 0) + (n_out or 0) if n_in is not None else None)
                self._breaker_strikes = 0
                log.append({"attempt": attempt, "outcome": "ok", "http_status": 200, "latency_ms": latency_ms})
                cost = self._cost(n_in, n_out)
                out = CallOutcome(
                    status="ok", output=output, finish_reason=finish, latency_first_ms=first_ms,
                    latency_ms=latency_ms, queue_ms=queue_ms, client_ms=client_ms,
                    input_tokens=n_in, output_tokens=n_out, cost_usd=cost,
                    cost_status=self.cost_source if cost is not None else "unknown",
                    attempts=attempt, request_hash=request_hash, attempt_log=log,
                    provider_model=identity[0], system_fingerprint=identity[1],
                )
                if use_cache:
                    payload = {"output": output, "finish_reason": finish, "input_tokens": n_in,
                               "output_tokens": n_out, "cost_usd": cost, "provider_model": identity[0],
                               "system_fingerprint": identity[1]}
                    if hooks is not None and hooks.defer_cache_write:
                        out.cache_entry = payload
                    elif self.db is not None:
                        from store import runs as store_runs

                        store_runs.cache_put(self.db, request_hash, self.name, payload)
                return out

            error_class, status, message, asked = self._failure(exc)
            entry: dict[str, Any] = {"attempt": attempt, "outcome": "error", "error_class": error_class,
                                     "http_status": status, "latency_ms": latency_ms}
            log.append(entry)
            if error_class == "bad_response":
                bad_responses += 1
            retry = (error_class in TRANSIENT and attempt < max_attempts
                     and (error_class != "bad_response" or bad_responses <= BAD_RESPONSE_RETRIES))
            if error_class in BREAKER_CLASSES or (error_class in BREAKER_AFTER_RETRIES and not retry):
                self._strike(error_class, message)
            if not retry:
                return CallOutcome(status="error", error_class=error_class, error_message=message,
                                   latency_ms=latency_ms, queue_ms=queue_ms, client_ms=client_ms, attempts=attempt,
                                   request_hash=request_hash, attempt_log=log)
            if asked is not None:
                wait = min(asked, self.run.retry_after_cap_s)
                if error_class == "rate_limited":
                    self.limiter.pause_for(wait)
            else:
                wait = self._backoff(attempt)
            entry["wait_s"] = wait
            if hooks is not None and hooks.stop is not None and hooks.stop.is_set():
                raise CallCancelled()
            if hooks is not None and hooks.on_retry is not None:
                hooks.on_retry(attempt, error_class, wait, message)
            await self._wait(wait, hooks)
