"""litellm's per-call set-up runs on the event loop for OpenAI-family models (core.models.provider
.inline_setup), once per request, and everything else the loop's default pool gets keeps its thread."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading

import pytest

from core.config.schema import parse_config
from core.models.client import ModelClient
from core.models.provider import close_clients, inline_setup, litellm_module, pure_setup


def _litellm_shaped(fn):
    """What litellm's acompletion hands the loop's pool: partial(context.run, partial(completion, ...))."""
    return functools.partial(contextvars.copy_context().run, fn)


def test_only_the_marked_set_up_runs_on_the_loop_and_only_once():
    async def main():
        loop = asyncio.get_running_loop()
        here = threading.get_ident()
        with inline_setup():
            dns_like = await loop.run_in_executor(None, threading.get_ident)  # not litellm's shape
            first = await loop.run_in_executor(None, _litellm_shaped(threading.get_ident))
            second = await loop.run_in_executor(None, _litellm_shaped(threading.get_ident))
        outside = await loop.run_in_executor(None, _litellm_shaped(threading.get_ident))
        return here, dns_like, first, second, outside

    here, dns_like, first, second, outside = asyncio.run(main())
    assert first == here
    assert dns_like != here and second != here and outside != here


def test_a_failing_set_up_raises_from_the_await_as_on_a_thread():
    def boom():
        raise ValueError("bad params")

    async def main():
        with inline_setup():
            await asyncio.get_running_loop().run_in_executor(None, _litellm_shaped(boom))

    with pytest.raises(ValueError, match="bad params"):
        asyncio.run(main())


def test_which_models_get_it():
    litellm_module()
    assert pure_setup("openai/demo-fast", "http://127.0.0.1:9/v1")
    assert pure_setup("gpt-4o-mini", None)
    assert not pure_setup("azure/my-deployment", "https://x.openai.azure.com")  # may fetch an Entra ID token
    assert not pure_setup("bedrock/anthropic.claude-3-haiku", None)
    assert not pure_setup("no-such-provider/x", None)


def test_a_real_call_sets_up_on_the_loop_and_streams_too(srv, monkeypatch):
    """Through ModelClient and litellm to the demo server: litellm's `completion()` ran on the
    loop's thread for an openai/ model, plain and streamed, and the answers are unchanged."""
    import litellm.main

    threads = []
    real = litellm.main.completion

    def recording(*args, **kwargs):
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(litellm.main, "completion", recording)
    answers = []
    for stream in (False, True):
        cfg = parse_config({"run": {"stream": stream},
                            "models": {"m": {"model": "openai/demo-strong", "api_base": srv.base_url}}})

        async def main(cfg=cfg):
            try:
                client = ModelClient("m", cfg.models["m"], cfg.run)
                out = await client.complete([{"role": "user", "content": "Please cancel my subscription."}],
                                            use_cache=False)
                return threading.get_ident(), out
            finally:
                await close_clients()

        loop_thread, out = asyncio.run(main())
        assert out.status == "ok", out
        answers.append(out.output)
        assert threads[-1] == loop_thread
    assert answers[0] and answers[0] == answers[1] and len(threads) == 2
