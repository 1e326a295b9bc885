"""The demo server speaks OpenAI's chat-completions protocol over real HTTP, and its faults,
limits and statistics behave as documented (core/serve)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import httpx
import pytest

from demo.serve import MODELS, DemoServer

CANCEL = "Please cancel my subscription at the end of this billing period."


def chat(content: str = CANCEL, model: str = "demo-strong", **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


@pytest.fixture(scope="module")
def server():
    with DemoServer() as srv:
        yield srv


@pytest.fixture()
def srv(server):
    server.configure(faults=[], rpm_limit=None, latency_ms=0, latency_jitter_ms=0, latency_scale=0, seed=0,
                     api_key=None)
    server.reset_stats()
    return server


@pytest.fixture()
def client(srv):
    with httpx.Client(base_url=srv.base_url, timeout=5) as c:
        yield c


def sse_events(lines) -> list[str]:
    return [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]


# --- protocol ---------------------------------------------------------------------------------


def test_plain_completion_is_openai_shaped(client):
    r = client.post("/chat/completions", json=chat())
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert isinstance(body["created"], int) and body["model"] == "demo-strong"
    (choice,) = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"] == "cancellation"
    usage = body["usage"]
    assert usage["prompt_tokens"] == -(-len(CANCEL) // 4)
    assert usage["completion_tokens"] == 3  # ceil(len("cancellation") / 4)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_streaming_sends_chunks_finish_usage_and_done(client):
    payload = chat(model="demo-fast", content="Tell me about the weather today in Lisbon and Porto, please.",
                   stream=True, stream_options={"include_usage": True})
    with client.stream("POST", "/chat/completions", json=payload) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.iter_lines())
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert len(chunks) > 4  # role, several content pieces, finish, usage
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [f["choices"][0]["finish_reason"] for f in finals] == ["stop"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == -(-len(text) // 4)
    plain = client.post("/chat/completions", json={**payload, "stream": False}).json()
    assert text == plain["choices"][0]["message"]["content"]


def test_stream_without_include_usage_has_no_usage_chunk(client):
    with client.stream("POST", "/chat/completions", json=chat(stream=True)) as r:
        chunks = [json.loads(e) for e in sse_events(r.iter_lines())[:-1]]
    assert all(c["choices"] and "usage" not in c for c in chunks)


def test_max_tokens_truncates_with_finish_reason_length(client):
    body = client.post("/chat/completions", json=chat(max_tokens=1)).json()
    assert body["choices"][0]["message"]["content"] == "canc"
    assert body["choices"][0]["finish_reason"] == "length" and body["usage"]["completion_tokens"] == 1


def test_unknown_model_is_404_and_bad_bodies_are_400(client):
    r = client.post("/chat/completions", json=chat(model="gpt-nope"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = client.post("/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert client.post("/chat/completions", json={"model": "demo-strong"}).status_code == 400
    assert client.post("/chat/completions", json=chat(max_tokens=0)).status_code == 400


def test_models_endpoint_lists_every_demo_model(client):
    data = client.get("/models").json()
    assert data["object"] == "list" and [m["id"] for m in data["data"]] == list(MODELS)
    assert client.get("/models/demo-judge").json()["id"] == "demo-judge"


def test_api_key_required_only_when_configured(srv, client):
    assert client.post("/chat/completions", json=chat()).status_code == 200  # no key needed by default
    srv.configure(api_key="sekret")
    for headers in ({}, {"authorization": "Bearer wrong"}):
        r = client.post("/chat/completions", json=chat(), headers=headers)
        assert r.status_code == 401
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error" and err["code"] == "invalid_api_key" and err["message"]
    assert client.get("/_assay/stats").status_code == 401  # the control endpoints too
    assert client.post("/chat/completions", json=chat(), headers={"authorization": "Bearer sekret"}).status_code == 200


def test_keep_alive_reuses_one_connection(srv, client):
    for _ in range(5):
        assert client.post("/chat/completions", json=chat()).status_code == 200
    stats = srv.stats()
    assert stats["connections"] == 1 and stats["requests"] == 5 and stats["by_status"] == {"200": 5}


def test_latency_options_delay_the_answer(srv, client):
    srv.configure(latency_ms=150)
    t0 = time.monotonic()
    client.post("/chat/completions", json=chat())
    assert time.monotonic() - t0 >= 0.15
    srv.configure(latency_ms=0, latency_scale=1.0)
    t0 = time.monotonic()
    client.post("/chat/completions", json=chat(model="demo-fast"))
    assert time.monotonic() - t0 >= MODELS["demo-fast"].latency_ms / 1000


# --- faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "status", "type_", "code"), [
    ("429", 429, "rate_limit_exceeded", "rate_limit_exceeded"),
    ("quota", 429, "insufficient_quota", "insufficient_quota"),
    ("500", 500, "server_error", None),
    ("503", 503, "server_error", "overloaded"),
    ("401", 401, "invalid_request_error", "invalid_api_key"),
    ("400", 400, "invalid_request_error", None),
])
def test_error_faults_send_openai_error_bodies(srv, client, kind, status, type_, code):
    srv.configure(faults=[{"kind": kind}])
    r = client.post("/chat/completions", json=chat())
    assert r.status_code == status
    err = r.json()["error"]
    assert err["type"] == type_ and err["code"] == code and err["message"]
    if kind == "quota":
        assert err["message"].startswith("You exceeded your current quota")
    assert srv.stats()["faults"] == {kind: 1}


@pytest.mark.parametrize(("retry_after", "header"), [
    (2, "2"), (1.5, "1.5"), ("7", "7"), ("Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT"),
])
def test_429_sends_retry_after(srv, client, retry_after, header):
    srv.configure(faults=[{"kind": "429", "retry_after": retry_after}])
    r = client.post("/chat/completions", json=chat())
    assert r.status_code == 429 and r.headers["retry-after"] == header


def test_first_n_model_and_match_filters(srv, client):
    srv.configure(faults=[{"kind": "503", "first_n": 2, "model": "demo-fast"},
                          {"kind": "500", "match": "weather"}])
    statuses = [client.post("/chat/completions", json=chat(model="demo-fast")).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert client.post("/chat/completions", json=chat()).status_code == 200  # another model
    assert client.post("/chat/completions", json=chat(content="the weather")).status_code == 500


def test_fault_rate_is_seeded_and_reproducible(srv, client):
    def run() -> list[int]:
        srv.configure(faults=[{"kind": "500", "rate": 0.5}], seed=7)
        return [client.post("/chat/completions", json=chat()).status_code for _ in range(30)]

    first = run()
    assert first == run() and 5 < first.count(500) < 25


def test_bad_fault_rules_are_rejected(srv):
    for rule in ({"kind": "teapot"}, {"kind": "429", "rate": 2}, {"kind": "429", "first_n": -1}, {"kind": "429", "x": 1}):
        with pytest.raises(ValueError):
            srv.configure(faults=[rule])


def test_bad_json_fault_is_200_with_a_body_that_is_not_json(srv, client):
    srv.configure(faults=[{"kind": "bad_json"}])
    r = client.post("/chat/completions", json=chat())
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    with client.stream("POST", "/chat/completions", json=chat(stream=True)) as r:
        events = sse_events(r.iter_lines())
    assert events[-1] == "[DONE]"
    with pytest.raises(json.JSONDecodeError):
        [json.loads(e) for e in events[:-1]]


def _raw_post(port: int, body: bytes) -> tuple[int, bytes]:
    """(Content-Length announced, body bytes received before the server closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return length, rest


def test_truncate_fault_sends_half_the_announced_body(srv, client):
    srv.configure(faults=[{"kind": "truncate"}])
    announced, received = _raw_post(srv.port, json.dumps(chat()).encode())
    assert 0 < len(received) < announced
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/chat/completions", json=chat())
    with pytest.raises(httpx.RemoteProtocolError):
        with client.stream("POST", "/chat/completions", json=chat(stream=True)) as r:
            list(r.iter_lines())


def test_reset_fault_drops_the_connection(srv, client):
    srv.configure(faults=[{"kind": "reset"}])
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/chat/completions", json=chat())
    stats = srv.stats()
    assert stats["faults"] == {"reset": 1} and stats["by_status"] == {} and stats["in_flight"] == 0


def test_hang_ends_when_the_client_gives_up(srv):
    srv.configure(faults=[{"kind": "hang"}])
    with pytest.raises(httpx.ReadTimeout), httpx.Client(base_url=srv.base_url, timeout=0.3) as c:
        c.post("/chat/completions", json=chat())
    deadline = time.monotonic() + 2
    while srv.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.stats()["in_flight"] == 0 and srv.stats()["faults"] == {"hang": 1}


def test_hang_ends_promptly_when_the_server_stops():
    srv = DemoServer(faults=[{"kind": "hang"}])
    base = srv.start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.post(base + "/chat/completions", json=chat(), timeout=30)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    deadline = time.monotonic() + 2
    while srv.stats()["in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    srv.stop()
    t.join(timeout=5)
    assert not t.is_alive() and time.monotonic() - t0 < 2
    assert errors and isinstance(errors[0], httpx.TransportError)


# --- limits and statistics ---------------------------------------------------------------------


def test_rpm_limit_rejects_with_retry_after_and_counts(srv, client):
    srv.configure(rpm_limit=3)
    responses = [client.post("/chat/completions", json=chat()) for _ in range(5)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    assert 1 <= int(responses[3].headers["retry-after"]) <= 60
    assert responses[3].json()["error"]["code"] == "rate_limit_exceeded"
    stats = srv.stats()
    assert stats["rejected"] == 2 and stats["by_status"] == {"200": 3, "429": 2} and len(stats["arrivals"]) == 5


def test_max_in_flight_measures_real_concurrency(srv):
    srv.configure(latency_ms=200)

    async def burst() -> float:
        async with httpx.AsyncClient(base_url=srv.base_url, timeout=5) as c:
            t0 = time.monotonic()
            rs = await asyncio.gather(*[c.post("/chat/completions", json=chat()) for _ in range(10)])
            assert all(r.status_code == 200 for r in rs)
            return time.monotonic() - t0

    elapsed = asyncio.run(burst())
    stats = srv.stats()
    assert stats["max_in_flight"] == 10 and stats["in_flight"] == 0
    assert elapsed < 1.0  # the latency sleeps never block the loop
    assert stats["by_model"] == {"demo-strong": 10} and len(stats["arrivals_by_model"]["demo-strong"]) == 10
    assert max(stats["arrivals"]) - min(stats["arrivals"]) < 0.5


def test_control_endpoints_over_http(srv, client):
    root = srv.base_url.removesuffix("/v1")
    r = httpx.post(root + "/_assay/config", json={"faults": [{"kind": "503", "first_n": 1}], "latency_ms": 5})
    assert r.status_code == 200 and r.json()["faults"][0]["kind"] == "503" and r.json()["latency_ms"] == 5
    assert client.post("/chat/completions", json=chat()).status_code == 503
    assert client.post("/chat/completions", json=chat()).status_code == 200
    stats = httpx.get(root + "/_assay/stats").json()
    assert stats["requests"] == 2 and stats["by_status"] == {"503": 1, "200": 1} and stats["faults"] == {"503": 1}
    assert httpx.post(root + "/_assay/reset").json() == {"ok": True}
    assert httpx.get(root + "/_assay/stats").json()["requests"] == 0
    assert httpx.post(root + "/_assay/config", json={"faults": [{"kind": "nope"}]}).status_code == 400
    assert httpx.post(root + "/_assay/config", json={"api_key": "x"}).status_code == 400
    assert httpx.get(root + "/_assay/config").json()["latency_ms"] == 5  # the failed calls changed nothing


# --- hostile input --------------------------------------------------------------------------------


def _raw_request(port: int, head: bytes, body: bytes = b"") -> int:
    """The status of a hand-written request."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def test_hostile_requests_are_400_not_500(srv, client):
    nested = b"[" * 100_000
    r = client.post("/chat/completions", content=nested, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert httpx.post(srv.base_url.removesuffix("/v1") + "/_assay/config", content=nested).status_code == 400
    assert client.post("/chat/completions", json=chat(stream=True, stream_options="yes")).status_code == 400
    # "²" passes str.isdigit() but is no Content-Length.
    head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ²\r\n\r\n".encode("latin-1")
    assert _raw_request(srv.port, head) == 400
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert _raw_request(srv.port, head, b"1" * 100_000) == 400  # a chunk-size line without end
    assert srv.stats()["by_status"].get("500") is None


def test_latency_must_be_finite(srv):
    with pytest.raises(ValueError):
        srv.configure(latency_ms=float("inf"))


def test_arrivals_are_bounded_for_long_runs():
    from demo.serve.state import ARRIVALS_KEPT, ServerState

    state = ServerState()
    for _ in range(ARRIVALS_KEPT + 10):
        state.admit("demo-fast", state.enter(), "")
    stats = state.stats()
    assert stats["requests"] == ARRIVALS_KEPT + 10
    assert len(stats["arrivals"]) == len(stats["arrivals_by_model"]["demo-fast"]) == ARRIVALS_KEPT
    assert stats["arrivals"] == sorted(stats["arrivals"])
