"""Test one configured model's connection: a single tiny request through the runner's own client.

`check_connection(config, name)` sends one short chat message through `ModelClient` (the same
pacing, key lookup, error classification and redaction as a run), with no retries, no cache and a
small `max_tokens`, and returns a `ConnectionCheck`: latency, tokens and cost when it worked, the
error class (auth, rate_limited, network, ...) and the redacted message when it did not.

Blocking: it runs its own event loop, so call it from a worker thread, never from a UI thread.
Like a run, it closes litellm's cached async clients when it is done, unless a run still uses them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from core.config.schema import ModelConfig, RunConfig, WorkspaceConfig
from core.errors import ConfigError
from core.models.client import ModelClient
from core.models.provider import model_calls

# Short enough to cost next to nothing, long enough that any chat model can answer it.
PROBE_MESSAGES = [{"role": "user", "content": "Reply with the single word OK."}]
PROBE_MAX_TOKENS = 16
_MAX_REPLY = 200


@dataclass(frozen=True)
class ConnectionCheck:
    model: str  # the [models.NAME] name
    ok: bool
    latency_ms: float | None = None  # the request's round trip (None when no request was sent)
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None  # None = unknown, never 0
    cost_status: str = "unknown"  # config | price_map | unknown
    reply: str | None = None  # the model's answer, cut to a few hundred characters (untrusted)
    error_class: str | None = None  # auth, rate_limited, network, timeout, ... (core.models.failures)
    error_message: str | None = None  # redacted (untrusted: it can quote the provider's body)
    http_status: int | None = None
    logged: str | None = None  # a logged-answers model's metadata key: nothing was sent


def check_connection(config: WorkspaceConfig, model_name: str, *, timeout_s: float | None = None) -> ConnectionCheck:
    """Send one tiny request to `config.models[model_name]`; never raises for a provider problem."""
    model = config.models.get(model_name)
    if model is None:
        raise ConfigError(f"no [models.{model_name}] section")
    if model.logged_key is not None:
        return ConnectionCheck(model=model_name, ok=True, logged=model.logged_key)
    # One attempt: a connection test reports the first failure instead of waiting out backoffs.
    run = config.run.model_copy(update={"retries": 0, "max_tokens": PROBE_MAX_TOKENS})
    # The probe's own max_tokens, even for a model allowed to override [run]'s.
    model = model.model_copy(update={"max_tokens": None, **({"timeout_s": timeout_s} if timeout_s else {})})
    return asyncio.run(_probe(model_name, model, run))


async def _probe(name: str, model: ModelConfig, run: RunConfig) -> ConnectionCheck:
    async with model_calls():
        client = ModelClient(name, model, run)
        out = await client.complete([dict(m) for m in PROBE_MESSAGES], use_cache=False)
    statuses = [a.get("http_status") for a in out.attempt_log if a.get("http_status") is not None]
    return ConnectionCheck(
        model=name, ok=out.status == "ok", latency_ms=out.latency_ms, input_tokens=out.input_tokens,
        output_tokens=out.output_tokens, cost_usd=out.cost_usd, cost_status=out.cost_status,
        reply=None if out.output is None else out.output[:_MAX_REPLY], error_class=out.error_class,
        error_message=out.error_message, http_status=statuses[-1] if statuses else None,
    )
