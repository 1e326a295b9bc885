"""core.models.probe: one tiny request through the runner's client, against the in-process demo server."""

from __future__ import annotations

import pytest

from core.config.schema import parse_config
from core.errors import ConfigError
from core.models.probe import ConnectionCheck, check_connection

CANARY = "sk-canary-probe-0123456789abcdef"


def _config(base: str, **model):
    return parse_config({"models": {"m": {"model": "openai/demo-strong", "api_base": base, **model}}})


def test_ok_reports_latency_tokens_and_config_cost(clean_srv):
    cfg = _config(clean_srv.base_url, input_price_per_1m=1.0, output_price_per_1m=2.0)
    check = check_connection(cfg, "m")
    assert isinstance(check, ConnectionCheck)
    assert check.ok and check.error_class is None and check.http_status == 200
    assert check.latency_ms is not None and check.latency_ms >= 0
    assert check.input_tokens and check.output_tokens
    assert check.cost_status == "config"
    assert check.cost_usd == pytest.approx(check.input_tokens * 1e-6 + check.output_tokens * 2e-6)
    assert check.reply
    # One request, no retries, the probe's small max_tokens.
    assert clean_srv.stats()["requests"] == 1


def test_wrong_key_is_auth_with_the_key_redacted(clean_srv, monkeypatch):
    clean_srv.configure(api_key="the-right-key-42")
    monkeypatch.setenv("PROBE_TEST_KEY", CANARY)
    check = check_connection(_config(clean_srv.base_url, api_key_env="PROBE_TEST_KEY"), "m")
    assert not check.ok
    assert check.error_class == "auth" and check.http_status == 401
    assert check.error_message and CANARY not in check.error_message
    assert check.cost_usd is None and check.output_tokens is None
    assert clean_srv.stats()["requests"] == 1  # auth is never retried


def test_injected_401_is_auth(clean_srv):
    clean_srv.configure(faults=[{"kind": "401"}])
    check = check_connection(_config(clean_srv.base_url), "m")
    assert (check.ok, check.error_class) == (False, "auth")


def test_missing_key_variable_sends_nothing(clean_srv, monkeypatch):
    monkeypatch.delenv("PROBE_UNSET_KEY", raising=False)
    check = check_connection(_config(clean_srv.base_url, api_key_env="PROBE_UNSET_KEY"), "m")
    assert (check.ok, check.error_class) == (False, "auth")
    assert "PROBE_UNSET_KEY is not set" in (check.error_message or "")
    assert check.latency_ms is None
    assert clean_srv.stats()["requests"] == 0


def test_a_server_that_is_not_running_is_unreachable_and_says_so():
    # Port 9 (discard) on localhost: nothing listens, the connection is refused at once.
    check = check_connection(_config("http://127.0.0.1:9/v1"), "m", timeout_s=5)
    assert not check.ok and check.error_class == "unreachable"
    assert check.error_message == ("connection refused by 127.0.0.1:9: nothing is listening there "
                                   "(is the server running? check api_base)")


def test_unknown_model_name_is_a_config_error(clean_srv):
    with pytest.raises(ConfigError, match=r"models\.nope"):
        check_connection(_config(clean_srv.base_url), "nope")


def test_a_logged_answers_model_has_nothing_to_call(clean_srv):
    from tui.screens.models.screen import _test_cell, describe_check

    cfg = parse_config({"models": {"production": {"model": "logged/answer"}}})
    check = check_connection(cfg, "production")
    assert (check.ok, check.logged, check.latency_ms) == (True, "answer", None)
    assert clean_srv.stats()["requests"] == 0
    assert _test_cell(check, False).plain == "✓ logged"
    assert "nothing to call: answers are what production logged, read from each case's metadata.answer" in \
        describe_check(check).plain
