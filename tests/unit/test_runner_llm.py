"""ModelClient logic without HTTP: failure classification, Retry-After parsing, the retry loop,
the circuit breaker, cancellation and prices (litellm imported once per process, no network)."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from types import SimpleNamespace

import httpx
import pytest

from core.config.schema import ModelConfig, RunConfig
from core.models.client import CallCancelled, CallHooks, ModelClient
from core.models.failures import classify, retry_after_s
from core.models.prices import prices_for
from core.models.provider import litellm_module


@pytest.fixture(scope="session")
def litellm():
    return litellm_module()


def _resp(status: int, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers or {}, request=httpx.Request("POST", "http://x/v1/chat/completions"))


def _rate_limit(litellm, message: str = "Rate limit reached", headers: dict | None = None):
    return litellm.RateLimitError(message, "openai", "m", response=_resp(429, headers))


def test_retry_after_parsing(litellm):
    assert retry_after_s(_rate_limit(litellm, headers={"retry-after": "7"})) == 7.0
    assert retry_after_s(_rate_limit(litellm, headers={"retry-after-ms": "1500"})) == 1.5
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= retry_after_s(_rate_limit(litellm, headers={"retry-after": date}), now=now) <= 30
    assert retry_after_s(_rate_limit(litellm, headers={"retry-after": "soon"})) is None
    assert retry_after_s(_rate_limit(litellm, headers={"retry-after": "-5"})) == 0.0
    assert retry_after_s(_rate_limit(litellm)) is None
    assert retry_after_s(ValueError("no headers")) is None


def test_classification(litellm):
    json_cause = litellm.InternalServerError("Expecting value", "openai", "m")
    json_cause.__cause__ = json.JSONDecodeError("Expecting value", "<html", 0)
    conn_cause = litellm.InternalServerError("Connection error.", "openai", "m")
    conn_cause.__cause__ = ConnectionResetError()
    cases = [
        (_rate_limit(litellm), "rate_limited"),
        (_rate_limit(litellm, "You exceeded your current quota (insufficient_quota)"), "quota_exhausted"),
        (litellm.AuthenticationError("bad key", "openai", "m"), "auth"),
        (litellm.PermissionDeniedError("no", "openai", "m", response=_resp(403)), "auth"),
        (litellm.BadRequestError("bad", "m", "openai"), "bad_request"),
        (litellm.ContextWindowExceededError("too long", "m", "openai"), "bad_request"),
        (litellm.NotFoundError("no model", "m", "openai"), "not_found"),
        # A 400 that names the model as unknown (LiteLLM proxy, Mistral, OpenRouter wording)...
        (litellm.BadRequestError("/chat/completions: Invalid model name passed in model=nosuch. Call `/v1/models` "
                                 "to view available models for your key.", "m", "openai", response=_resp(400)),
         "not_found"),
        (litellm.BadRequestError("Invalid model: mistral-huge", "m", "mistral", response=_resp(400)), "not_found"),
        (litellm.BadRequestError("foo/bar is not a valid model ID", "m", "openrouter", response=_resp(400)),
         "not_found"),
        # ...but one about the case's content stays a bad request.
        (litellm.BadRequestError("This model's maximum context length is 8192 tokens", "m", "openai",
                                 response=_resp(400)), "bad_request"),
        (litellm.BadRequestError("Invalid value for 'temperature': must be <= 2", "m", "openai",
                                 response=_resp(400)), "bad_request"),
        (litellm.Timeout("slow", "m", "openai"), "timeout"),
        (asyncio.TimeoutError(), "timeout"),
        (litellm.InternalServerError("boom", "openai", "m"), "server"),
        (litellm.ServiceUnavailableError("busy", "openai", "m"), "server"),
        (litellm.APIConnectionError("refused", "openai", "m"), "network"),
        (json_cause, "bad_response"),
        (conn_cause, "network"),
    ]
    for exc, expected in cases:
        assert classify(exc)[0] == expected, (type(exc).__name__, str(exc))


def test_prices_config_wins_then_price_map_then_unknown(litellm):
    assert prices_for(ModelConfig(model="openai/gpt-4o-mini"))[0] == "price_map"
    assert prices_for(ModelConfig(model="openai/gpt-4o-mini", input_price_per_1m=1, output_price_per_1m=2)) == \
        ("config", 1e-6, 2e-6)
    assert prices_for(ModelConfig(model="openai/demo-strong")) == ("unknown", None, None)


def _ok(content: str = "hi", n_in: int = 10, n_out: int = 5):
    msg = SimpleNamespace(content=content, tool_calls=None)
    return SimpleNamespace(choices=[SimpleNamespace(message=msg, finish_reason="stop")],
                           usage=SimpleNamespace(prompt_tokens=n_in, completion_tokens=n_out))


def _client(script: list, **run) -> tuple[ModelClient, list]:
    """A client whose requests replay `script` (exceptions are raised, anything else returned)."""
    run.setdefault("backoff_base_s", 0.001)
    run.setdefault("backoff_max_s", 0.002)
    client = ModelClient("m", ModelConfig(model="openai/gpt-4o-mini", api_base="http://unused"), RunConfig(**run))
    sent: list = []

    async def fake_send(messages, api_key):
        sent.append(api_key)
        item = script[min(len(sent) - 1, len(script) - 1)]
        if isinstance(item, BaseException):
            raise item
        return item

    client._send = fake_send  # type: ignore[method-assign]
    return client, sent


MSG = [{"role": "user", "content": "q"}]


def test_transient_errors_retried_then_ok_with_price_map_cost(litellm):
    client, sent = _client([litellm.InternalServerError("x", "openai", "m"), _rate_limit(litellm), _ok()])
    retries: list = []
    out = asyncio.run(client.complete(MSG, hooks=CallHooks(on_retry=lambda *a: retries.append(a))))
    assert out.status == "ok" and out.attempts == 3 and len(sent) == 3
    assert [r[1] for r in retries] == ["server", "rate_limited"]
    assert out.cost_status == "price_map" and out.cost_usd == pytest.approx(10 * 1.5e-7 + 5 * 6e-7)
    assert sent[0] == "assay-no-key"  # api_base without api_key_env
    assert [a["outcome"] for a in out.attempt_log] == ["error", "error", "ok"]


def test_retries_exhausted_is_one_error(litellm):
    client, sent = _client([litellm.InternalServerError("x", "openai", "m")], retries=2)
    out = asyncio.run(client.complete(MSG))
    assert (out.status, out.error_class, out.attempts, len(sent)) == ("error", "server", 3, 3)


def test_empty_choices_is_bad_response_never_ok(litellm):
    client, sent = _client([SimpleNamespace(choices=[], usage=None)], retries=5)
    out = asyncio.run(client.complete(MSG))
    assert (out.status, out.error_class, len(sent)) == ("error", "bad_response", 3)


def test_breaker_opens_after_threshold_and_skips_without_requests(litellm):
    client, sent = _client([litellm.AuthenticationError("bad key", "openai", "m")], breaker_threshold=2)

    async def main():
        return [await client.complete(MSG, use_cache=False) for _ in range(5)]

    outs = asyncio.run(main())
    assert [o.status for o in outs] == ["error", "error", "skipped", "skipped", "skipped"]
    assert len(sent) == 2 and "circuit breaker open" in outs[-1].error_message


def test_success_resets_the_breaker_count(litellm):
    auth = litellm.AuthenticationError("bad key", "openai", "m")
    client, sent = _client([auth, _ok(), auth, _ok(), auth], breaker_threshold=2)

    async def main():
        return [await client.complete(MSG) for _ in range(5)]

    assert [o.status for o in asyncio.run(main())] == ["error", "ok", "error", "ok", "error"]


def test_missing_key_env_is_an_auth_error_without_request(litellm, monkeypatch):
    monkeypatch.delenv("NOPE_KEY", raising=False)
    client = ModelClient("m", ModelConfig(model="openai/x", api_key_env="NOPE_KEY"), RunConfig())
    out = asyncio.run(client.complete(MSG))
    assert (out.status, out.error_class, out.attempts) == ("error", "auth", 0)
    assert "NOPE_KEY" in out.error_message


def test_stop_during_backoff_cancels_the_call(litellm):
    client, sent = _client([litellm.InternalServerError("x", "openai", "m")], backoff_base_s=5, backoff_max_s=5)
    # Full jitter draws the wait from [0, 5 s]: 1 draw in 100 came under the 0.05 s below and the
    # retry went out before the stop (a CI failure). The longest wait makes it the case under test.
    client._rng = SimpleNamespace(uniform=lambda low, high: high)

    async def main():
        hooks = CallHooks(stop=asyncio.Event())
        task = asyncio.create_task(client.complete(MSG, hooks=hooks))
        await asyncio.sleep(0.05)
        hooks.stop.set()
        return await task

    with pytest.raises(CallCancelled):
        asyncio.run(main())
    assert len(sent) == 1


def test_redacts_error_messages(litellm, monkeypatch):
    from core.models.redact import Redactor

    client, _ = _client([litellm.AuthenticationError("Incorrect API key provided: topsecretvalue99", "openai", "m")])
    client._redact = Redactor(["topsecretvalue99"])
    out = asyncio.run(client.complete(MSG))
    assert "topsecretvalue99" not in out.error_message and "[REDACTED]" in out.error_message


def test_default_redactor_masks_the_models_own_key_by_value(litellm, monkeypatch):
    # A client built without the runner's shared redactor (the LLM judge's) must still mask its
    # own key by value: this one matches no key-shaped pattern.
    monkeypatch.setenv("JUDGE_KEY_FOR_TEST", "plainjudgesecret42")
    client = ModelClient("j", ModelConfig(model="openai/x", api_base="http://unused", api_key_env="JUDGE_KEY_FOR_TEST"),
                         RunConfig())

    async def fake_send(messages, api_key):
        raise litellm.BadRequestError(f"echo of {api_key}", "openai", "x")

    client._send = fake_send  # type: ignore[method-assign]
    out = asyncio.run(client.complete(MSG))
    assert out.status == "error" and "plainjudgesecret42" not in out.error_message
    assert "[REDACTED]" in out.error_message


@pytest.mark.parametrize("usage", [None, SimpleNamespace(prompt_tokens=0, completion_tokens=0)])
def test_missing_usage_is_unknown_never_zero_cost(litellm, usage):
    # litellm fills 0/0 when a provider sends no usage: the row must say unknown, not $0.
    reply = _ok()
    reply.usage = usage
    client, _ = _client([reply])
    out = asyncio.run(client.complete(MSG))
    assert out.status == "ok" and out.output == "hi"
    assert (out.input_tokens, out.output_tokens, out.cost_usd, out.cost_status) == (None, None, None, "unknown")


def test_token_estimate_counts_text_of_list_content(litellm):
    client, _ = _client([_ok()])
    as_text = client._estimate_tokens([{"role": "user", "content": "x" * 400}])
    as_parts = client._estimate_tokens([{"role": "user", "content": [{"type": "text", "text": "x" * 400}]}])
    assert as_parts == as_text > 100
