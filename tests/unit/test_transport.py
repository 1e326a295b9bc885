"""The kernel-timed HTTP path (core.models.transport): TCP_INFO read right, figures per call, and a
shared session that outlives litellm's own cleanup."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time

import pytest

from core.config.schema import parse_config
from core.models import transport
from core.models.client import ModelClient
from core.models.provider import close_clients, litellm_module

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_INFO is Linux's")


def test_tcp_info_gives_the_request_time_however_late_the_reader_is():
    server = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            while conn.recv(100):
                time.sleep(0.05)  # the "provider" takes 50 ms
                conn.sendall(b"x" * 100)

    threading.Thread(target=answer, daemon=True).start()
    with socket.create_connection(server.getsockname()) as client:
        for busy_s in (0.0, 0.2):  # the reader comes 0 and 200 ms after the answer arrived
            client.sendall(b"ask")
            time.sleep(0.05 + busy_s)
            assert client.recv(1000)
            sent_ago, recv_ago = transport._last_data_ms(client)
            assert recv_ago >= busy_s * 1000 - 8  # kernel ticks are 4 ms here
            assert 42 <= sent_ago - recv_ago <= 70
    server.close()


def test_each_call_gets_its_own_figure_and_the_session_survives_litellms_cleanup(clean_srv):
    clean_srv.configure(latency_ms=30)
    cfg = parse_config({"run": {"retries": 0},
                        "models": {"m": {"model": "openai/demo-fast", "api_base": clean_srv.base_url}}})

    async def calls() -> list:
        client = ModelClient("m", cfg.models["m"], cfg.run)
        try:
            outs = await asyncio.gather(*(client.complete([{"role": "user", "content": f"q{i}"}], use_cache=False)
                                          for i in range(8)))
            await litellm_module().close_litellm_async_clients()  # closes every cached SDK client's http client
            outs.append(await client.complete([{"role": "user", "content": "after"}], use_cache=False))
        finally:
            await close_clients()
        return outs

    outs = asyncio.run(calls())
    assert [o.status for o in outs] == ["ok"] * 9, [o.error_message for o in outs]
    # Kernel-timed: whole milliseconds (the kernel's tick), near the server's 30 ms.
    assert all(o.latency_ms == int(o.latency_ms) and 26 <= o.latency_ms < 80 for o in outs)
