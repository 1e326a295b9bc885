"""One round trip through the real litellm HTTP path (openai/<model> + api_base), plain and streamed."""

from __future__ import annotations

import asyncio
import os

from demo.serve import DemoServer

TICKET = "Please cancel my subscription at the end of this billing period."


def test_litellm_plain_and_stream_against_the_demo_server():
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before the import: no network
    import litellm

    async def calls(base_url: str) -> tuple:
        kwargs = dict(model="openai/demo-strong", api_base=base_url, api_key="x", num_retries=0, timeout=10,
                      messages=[{"role": "user", "content": TICKET}])
        try:
            plain = await litellm.acompletion(**kwargs)
            stream = await litellm.acompletion(**kwargs, stream=True, stream_options={"include_usage": True})
            chunks = [chunk async for chunk in stream]
        finally:
            await litellm.close_litellm_async_clients()
        return plain, chunks

    with DemoServer() as srv:
        plain, chunks = asyncio.run(calls(srv.base_url))
        stats = srv.stats()
    assert plain.choices[0].message.content == "cancellation"
    assert plain.choices[0].finish_reason == "stop"
    assert plain.usage.prompt_tokens > 0 and plain.usage.completion_tokens == 3
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "cancellation"
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    assert stats["by_model"] == {"demo-strong": 2} and stats["by_status"] == {"200": 2}
