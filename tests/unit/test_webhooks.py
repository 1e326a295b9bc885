"""Webhooks (core.trends.webhooks) against a real HTTP receiver on 127.0.0.1: payload shapes, the
Standard Webhooks signature, retries (429 with Retry-After, 5xx, no retry on other 4xx), the
once-per-alert dedupe in the delivery log, and a canary URL that must appear nowhere."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.config.schema import AlertsConfig, WebhookConfig, parse_config
from core.errors import ConfigError
from core.trends.webhooks import AlertMessage, deliver, send_alert, send_test, sign, slack_payload
from store import connect
from store.webhooks import list_deliveries

MSG = AlertMessage(
    dataset="support-tickets", model="gpt", task_type="classification", delta_points=-10.3,
    ci95_points=(-14.0, -6.6), q_value=0.0004, n_matched=300, baseline_run_id="run-a", candidate_run_id="run-b",
    why="31 newly failing, 0 newly passing on 300 matched cases",
)


@dataclass
class Receiver:
    """Answers each POST with the next scripted (status, headers), then 200; records every request."""

    port: int
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def receiver():
    state = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            status, headers = state.script.pop(0) if state.script else (200, {})
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


class Sleeps(list):
    """An injectable sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _hook(kind: str = "json", secret: bool = False) -> WebhookConfig:
    return WebhookConfig(kind=kind, url_env="HOOK_URL", secret_env="HOOK_SECRET" if secret else None, timeout_s=2)


def test_slack_payload_has_text_and_blocks_and_escapes_untrusted_text(receiver):
    msg = AlertMessage(**{**MSG.__dict__, "model": "<!channel> & co", "why": "see <http://evil|here>"})
    result = deliver("team", _hook("slack"), msg, env={"HOOK_URL": receiver.url()}, sleep=Sleeps())
    assert result.outcome == "delivered" and result.attempts == 1 and result.last_status == 200
    path, headers, body = receiver.requests[0]
    assert path == "/hook" and headers["content-type"] == "application/json"
    assert "webhook-signature" not in headers
    payload = json.loads(body)
    assert payload == slack_payload(msg)
    assert "-10.3 pts" in payload["text"] and "q < 0.001" in payload["text"] and "n = 300" in payload["text"]
    assert "&lt;!channel&gt; &amp; co" in payload["text"]
    everything = json.dumps(payload)
    assert "<!channel>" not in everything and "<http://evil" not in everything
    assert [b["type"] for b in payload["blocks"]] == ["section", "section", "context"]


def test_json_payload_is_the_documented_shape_and_signed(receiver):
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    env = {"HOOK_URL": receiver.url(), "HOOK_SECRET": secret}
    assert deliver("ci", _hook("json", secret=True), MSG, env=env, sleep=Sleeps()).ok
    _, headers, body = receiver.requests[0]
    payload = json.loads(body)
    assert payload["type"] == "assay.alert.regression" and payload["timestamp"].endswith("Z")
    assert payload["data"] == {
        "dataset": "support-tickets", "model": "gpt", "task_type": "classification", "delta_points": -10.3,
        "ci95_points": [-14.0, -6.6], "q_value": 0.0004, "n_matched": 300, "baseline_run_id": "run-a",
        "candidate_run_id": "run-b", "why": MSG.why, "dedupe_key": MSG.dedupe_key,
    }
    # Recompute the signature as a receiver would (Standard Webhooks: the key is the base64 after whsec_).
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    expected = hmac.new(b"0123456789abcdef0123456789abcdef", f"{msg_id}.{ts}.".encode() + body, hashlib.sha256)
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected.digest()).decode()


def test_a_plain_secret_signs_with_its_utf8_bytes():
    expected = hmac.new(b"plain-secret", b"msg_1.1700000000.{}", hashlib.sha256).digest()
    assert sign("plain-secret", "msg_1", 1700000000, b"{}") == "v1," + base64.b64encode(expected).decode()


def test_429_with_retry_after_then_200_is_delivered_after_two_attempts(receiver):
    receiver.script = [(429, {"Retry-After": "1"})]
    sleeps = Sleeps()
    result = deliver("ci", _hook(), MSG, env={"HOOK_URL": receiver.url()}, sleep=sleeps)
    assert (result.outcome, result.attempts, result.last_status) == ("delivered", 2, 200)
    assert sleeps == [1.0]
    assert len(receiver.requests) == 2


def test_retry_after_is_capped_at_60_seconds(receiver):
    receiver.script = [(503, {"Retry-After": "3600"})]
    sleeps = Sleeps()
    assert deliver("ci", _hook(), MSG, env={"HOOK_URL": receiver.url()}, sleep=sleeps).ok
    assert sleeps == [60.0]


def test_500_three_times_is_recorded_as_a_failed_delivery_and_never_raises(receiver, tmp_path):
    receiver.script = [(500, {})] * 3
    sleeps = Sleeps()
    db = connect(tmp_path / "assay.db")
    [result] = send_alert(db, {"ci": _hook()}, MSG, env={"HOOK_URL": receiver.url()}, sleep=sleeps)
    assert (result.outcome, result.ok, result.attempts, result.last_status) == ("failed", False, 3, 500)
    assert result.error == "HTTP 500 from 127.0.0.1"
    assert sleeps == [0.5, 1.0]  # exponential backoff between the three attempts
    [row] = list_deliveries(db)
    assert (row.webhook, row.status, row.attempts, row.http_status) == ("ci", "failed", 3, 500)
    assert row.dedupe_key == MSG.dedupe_key
    # A later send of the same alert may retry a failed delivery.
    [again] = send_alert(db, {"ci": _hook()}, MSG, env={"HOOK_URL": receiver.url()}, sleep=sleeps)
    assert again.outcome == "delivered"
    assert [r.status for r in list_deliveries(db)] == ["delivered"]


def test_other_4xx_is_not_retried(receiver):
    receiver.script = [(400, {})]
    sleeps = Sleeps()
    result = deliver("ci", _hook(), MSG, env={"HOOK_URL": receiver.url()}, sleep=sleeps)
    assert (result.outcome, result.attempts, result.last_status) == ("failed", 1, 400)
    assert sleeps == [] and len(receiver.requests) == 1


def test_the_same_alert_twice_sends_one_message_per_webhook(receiver, tmp_path):
    db = connect(tmp_path / "assay.db")
    hooks = {"a": _hook("json"), "b": _hook("slack")}
    first = send_alert(db, hooks, MSG, env={"HOOK_URL": receiver.url()}, sleep=Sleeps())
    second = send_alert(db, hooks, MSG, env={"HOOK_URL": receiver.url()}, sleep=Sleeps())
    assert [r.outcome for r in first] == ["delivered", "delivered"]
    assert [r.outcome for r in second] == ["duplicate", "duplicate"] and all(r.ok for r in second)
    assert len(receiver.requests) == 2
    # A new candidate run is a new alert.
    other = AlertMessage(**{**MSG.__dict__, "candidate_run_id": "run-c"})
    assert [r.outcome for r in send_alert(db, hooks, other, env={"HOOK_URL": receiver.url()}, sleep=Sleeps())] \
        == ["delivered", "delivered"]
    assert len(receiver.requests) == 4


def test_the_message_id_is_stable_across_resends_of_one_alert(receiver, tmp_path):
    db = connect(tmp_path / "assay.db")
    receiver.script = [(400, {})]
    env = {"HOOK_URL": receiver.url(), "HOOK_SECRET": "s3cret-value"}
    send_alert(db, {"ci": _hook(secret=True)}, MSG, env=env, sleep=Sleeps())
    send_alert(db, {"ci": _hook(secret=True)}, MSG, env=env, sleep=Sleeps())
    ids = [headers["webhook-id"] for _, headers, _ in receiver.requests]
    assert len(ids) == 2 and ids[0] == ids[1] and ids[0].startswith("msg_")


def test_unreachable_and_unset_urls_fail_without_raising(tmp_path):
    db = connect(tmp_path / "assay.db")
    results = send_alert(db, {"gone": _hook(), "unset": WebhookConfig(kind="json", url_env="NOT_SET_ANYWHERE")},
                         MSG, env={"HOOK_URL": "http://127.0.0.1:9/hook"}, sleep=Sleeps())
    assert [(r.outcome, r.attempts) for r in results] == [("failed", 3), ("failed", 0)]
    assert results[0].error == "connection failed: ConnectError (127.0.0.1)"
    assert results[1].error == "environment variable NOT_SET_ANYWHERE is not set"
    assert [r.status for r in list_deliveries(db)] == ["failed", "failed"]


def test_the_webhook_url_appears_nowhere(receiver, tmp_path, caplog):
    """Canary: the URL (a secret) is in no DB row, log record, error or returned object."""
    canary = "hook-CANARY-SECRET-123"
    caplog.set_level(logging.DEBUG)  # httpx logs every request URL at INFO
    caplog.set_level(logging.DEBUG, logger="httpx")  # importing litellm sets httpx's own level to WARNING
    db = connect(tmp_path / "assay.db")
    hooks = {"ok": _hook("slack"), "flaky": WebhookConfig(kind="json", url_env="FLAKY_URL"),
             "down": WebhookConfig(kind="json", url_env="DOWN_URL", timeout_s=1)}
    env = {"HOOK_URL": receiver.url(f"/{canary}"), "FLAKY_URL": receiver.url(f"/{canary}?token={canary}"),
           "DOWN_URL": f"http://127.0.0.1:9/{canary}"}
    receiver.script = [(200, {}), (500, {}), (500, {}), (500, {})]
    results = send_alert(db, hooks, MSG, env=env, sleep=Sleeps())
    results += send_alert(db, hooks, MSG, env=env, sleep=Sleeps())  # the dedupe path too
    results.append(send_test(AlertsConfig(webhooks=hooks), "flaky", env=env))
    assert [r.outcome for r in results[:3]] == ["delivered", "failed", "failed"]
    assert receiver.requests[0][0] == f"/{canary}"  # the canary was really used

    for table in [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]:
        for row in db.execute(f"SELECT * FROM [{table}]"):
            assert canary not in repr(row), table
    assert caplog.records, "delivery logs something (so the check below means something)"
    assert any("127.0.0.1" in r.getMessage() for r in caplog.records if r.name == "httpx")
    for record in caplog.records:
        assert canary not in record.getMessage() and canary not in (record.exc_text or "")
    for result in results:
        assert canary not in repr(result) and canary not in result.describe()
    with pytest.raises(ConfigError) as exc:
        send_test(AlertsConfig(webhooks=hooks), "missing", env=env)
    assert canary not in str(exc.value)


def test_alerts_config_defaults_and_errors_name_the_dotted_key():
    cfg = parse_config({})
    alerts = cfg.alerts
    assert (alerts.threshold_points, alerts.q, alerts.min_matched, alerts.webhooks) == (3.0, 0.05, 30, {})
    hook = parse_config({"alerts": {"webhooks": {"team": {"kind": "slack", "url_env": "X"}}}}).alerts.webhooks["team"]
    assert (hook.timeout_s, hook.secret_env) == (10.0, None)
    with pytest.raises(ConfigError, match=r"alerts\.webhooks\.team\.kind"):
        parse_config({"alerts": {"webhooks": {"team": {"kind": "teams", "url_env": "X"}}}})
    with pytest.raises(ConfigError, match=r"alerts\.webhooks\.team\.url_env"):
        parse_config({"alerts": {"webhooks": {"team": {"kind": "json", "url_env": "https://hooks.example/x"}}}})
    with pytest.raises(ConfigError, match=r"alerts\.webhooks\.team\.url: unknown key"):
        parse_config({"alerts": {"webhooks": {"team": {"kind": "json", "url_env": "X", "url": "https://x"}}}})
    with pytest.raises(ConfigError, match=r"alerts\.q"):
        parse_config({"alerts": {"q": 1.5}})


def test_cli_test_webhook_prints_the_host_only_and_exits_3_when_not_delivered(receiver, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cli.main import cli

    canary = "hook-CANARY-SECRET-123"
    (tmp_path / "assay.toml").write_text('[alerts.webhooks.ci]\nkind = "json"\nurl_env = "HOOK_URL"\n')
    monkeypatch.setenv("HOOK_URL", receiver.url(f"/{canary}"))
    args = ["-w", str(tmp_path), "alerts", "test-webhook", "ci"]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    assert out.output.strip() == "ci (127.0.0.1): delivered after 1 attempt, HTTP 200"
    assert json.loads(receiver.requests[0][2])["data"]["candidate_run_id"] == "sample-candidate"

    receiver.script = [(404, {})]
    out = CliRunner().invoke(cli, [*args, "--json"])
    assert out.exit_code == 3
    assert json.loads(out.stdout) == {"webhook": "ci", "host": "127.0.0.1", "outcome": "failed", "attempts": 1,
                                      "last_status": 404, "error": "HTTP 404 from 127.0.0.1"}
    assert "error: webhook ci was not delivered" in out.stderr
    assert canary not in out.output
    assert not (tmp_path / "assay.db").exists()  # a test message is not recorded
