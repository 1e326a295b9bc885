"""The engine against real HTTP (litellm -> in-process DemoServer) with injected faults:
retry policy, Retry-After, circuit breaker, timeouts, bad bodies, one terminal row per call."""

from __future__ import annotations

import email.utils
import time

import pytest
from runner_helpers import TEST_WORKERS, config, make_dataset, rows, run_engine

from core.run.events import ResultEvent



pytestmark = pytest.mark.usefixtures("clean_srv")


def _one_row(db):
    (row,) = rows(db, "SELECT status, error_class, attempts, error_message FROM results")
    return row


def test_429_retry_after_seconds_is_honoured(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 1)
    srv.configure(faults=[{"kind": "429", "first_n": 1, "retry_after": 2}])
    run_engine(db, config(srv.base_url), ["strong"])
    arrivals = srv.stats()["arrivals"]
    assert len(arrivals) == 2
    assert 2.0 - 0.05 <= arrivals[1] - arrivals[0] <= 3.0
    assert _one_row(db)[:3] == ("ok", None, 2)
    assert rows(db, "SELECT outcome, error_class, http_status, wait_s FROM attempts ORDER BY attempt") == [
        ("error", "rate_limited", 429, 2.0), ("ok", None, 200, None)]


def test_429_retry_after_http_date_is_honoured(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 1)
    wall0, mono0 = time.time(), time.monotonic()
    # An HTTP-date has whole seconds, and must still be ahead at the first request: worker
    # processes (ASSAY_TEST_WORKERS) import litellm before it.
    when = int(wall0) + (4 if TEST_WORKERS == 1 else 15)
    srv.configure(faults=[{"kind": "429", "first_n": 1, "retry_after": email.utils.formatdate(when, usegmt=True)}])
    run_engine(db, config(srv.base_url), ["strong"])
    a = srv.stats()["arrivals"]
    asked = when - (wall0 + (a[0] - mono0))  # seconds from the first request to the date
    assert abs((a[1] - a[0]) - asked) <= 1.0, (a[1] - a[0], asked)
    assert _one_row(db)[0] == "ok"


def test_retry_after_above_cap_does_not_stall(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 4)
    srv.configure(faults=[{"kind": "429", "retry_after": 3600}])
    fin = run_engine(db, config(srv.base_url, retry_after_cap_s=0.3, retries=2), ["strong"])
    # From the first request (the server's clock is this process's): worker processes' start-up
    # (ASSAY_TEST_WORKERS) is not the stall this test is about.
    assert time.monotonic() - srv.stats()["arrivals"][0] < 4
    assert fin.status == "finished" and fin.errors == 4
    assert rows(db, "SELECT DISTINCT status, error_class, attempts FROM results") == [("error", "rate_limited", 3)]
    assert srv.stats()["requests"] == 12


def test_quota_attempted_once_and_opens_the_breaker(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 10)
    srv.configure(faults=[{"kind": "quota"}])
    events: list = []
    cfg = config(srv.base_url, {"strong": {"model": "openai/demo-strong", "max_concurrency": 1}},
                 breaker_threshold=3)
    fin = run_engine(db, cfg, ["strong"], events=events)
    assert srv.stats()["requests"] == 3
    got = rows(db, "SELECT status, error_class, attempts, COUNT(*) FROM results GROUP BY 1, 2, 3 ORDER BY 1")
    assert got == [("error", "quota_exhausted", 1, 3), ("skipped", "quota_exhausted", 0, 7)]
    reasons = rows(db, "SELECT DISTINCT error_message FROM results WHERE status = 'skipped'")
    assert len(reasons) == 1 and "circuit breaker open" in reasons[0][0]
    assert fin.infra_errors == 10 and fin.over_error_rate
    assert [type(e).__name__ for e in events].count("BreakerOpened") == 1


def test_a_model_the_server_does_not_have_opens_the_breaker(srv, tmp_path):
    """A misspelt model name (the server's 404 "does not exist") costs breaker_threshold requests,
    not one per case."""
    db = tmp_path / "a.db"
    make_dataset(db, 10)
    events: list = []
    cfg = config(srv.base_url, {"typo": {"model": "openai/demo-stronk", "max_concurrency": 1}}, breaker_threshold=3)
    fin = run_engine(db, cfg, ["typo"], events=events)
    assert srv.stats()["requests"] == 3
    got = rows(db, "SELECT status, error_class, attempts, COUNT(*) FROM results GROUP BY 1, 2, 3 ORDER BY 1")
    assert got == [("error", "not_found", 1, 3), ("skipped", "not_found", 0, 7)]
    (reason,), = rows(db, "SELECT error_message FROM results WHERE status = 'error' LIMIT 1")
    assert "demo-stronk" in reason and "does not exist" in reason
    assert fin.infra_errors == 10 and [type(e).__name__ for e in events].count("BreakerOpened") == 1


def test_a_server_that_is_not_running_opens_the_breaker_after_the_retries(tmp_path):
    """Connection refused: each call is retried (a server still starting gets the backoff), and
    once breaker_threshold calls end that way the rest are skipped, with words a user can act on."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp_path / "a.db"
    make_dataset(db, 10)
    events: list = []
    cfg = config(f"http://127.0.0.1:{port}/v1", {"down": {"model": "openai/demo-strong", "max_concurrency": 1}},
                 retries=1, breaker_threshold=3)
    fin = run_engine(db, cfg, ["down"], events=events)
    got = rows(db, "SELECT status, error_class, attempts, COUNT(*) FROM results GROUP BY 1, 2, 3 ORDER BY 1")
    assert got == [("error", "unreachable", 2, 3), ("skipped", "unreachable", 0, 7)]
    (message,), = rows(db, "SELECT DISTINCT error_message FROM results WHERE status = 'error'")
    assert message == (f"connection refused by 127.0.0.1:{port}: nothing is listening there "
                       "(is the server running? check api_base)")
    assert fin.infra_errors == 10 and [type(e).__name__ for e in events].count("BreakerOpened") == 1


@pytest.mark.parametrize("kind, cls", [("401", "auth"), ("400", "bad_request")])
def test_auth_and_bad_request_are_never_retried(srv, tmp_path, kind, cls):
    db = tmp_path / "a.db"
    make_dataset(db, 1)
    srv.configure(faults=[{"kind": kind}])
    run_engine(db, config(srv.base_url), ["strong"])
    assert srv.stats()["requests"] == 1
    assert _one_row(db)[:3] == ("error", cls, 1)


def test_random_5xx_over_1000_calls_one_terminal_row_each(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 500)
    srv.configure(faults=[{"kind": "500", "rate": 0.15}, {"kind": "503", "rate": 0.18}], seed=3)
    cfg = config(srv.base_url, {"strong": {"model": "openai/demo-strong"}, "fast": {"model": "openai/demo-fast"}},
                 concurrency=32)
    fin = run_engine(db, cfg, ["strong", "fast"], use_cache=False)
    n, distinct = rows(db, "SELECT COUNT(*), COUNT(DISTINCT case_id || '/' || model || '/' || repeat) FROM results")[0]
    assert n == distinct == 1000 == fin.done
    stats = srv.stats()
    assert stats["by_status"].get("500", 0) + stats["by_status"].get("503", 0) > 250
    # Every request the server saw is an attempt row, and retries happened.
    assert rows(db, "SELECT COUNT(*) FROM attempts")[0][0] == stats["requests"]
    assert fin.retries == stats["requests"] - 1000
    assert stats["max_in_flight"] <= 32
    ok = rows(db, "SELECT COUNT(*) FROM results WHERE status = 'ok'")[0][0]
    assert ok >= 990  # 5 attempts each: P(all fail) ~ 0.4%
    assert rows(db, "SELECT COUNT(*) FROM scores")[0][0] >= ok  # every ok row scored, errors not


def test_hung_calls_end_within_timeout_plus_one_second(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 3)
    srv.configure(faults=[{"kind": "hang"}])
    ended: list[float] = []
    run_engine(db, config(srv.base_url, timeout_s=1.0, retries=0, concurrency=3), ["strong"],
               sink=lambda e: ended.append(time.monotonic()) if isinstance(e, ResultEvent) else None)
    # From the first request to the last result: neither the run's set-up nor the start and stop
    # of worker processes (ASSAY_TEST_WORKERS) is the calls' time.
    assert len(ended) == 3 and ended[-1] - srv.stats()["arrivals"][0] < 1.0 + 1.0
    got = rows(db, "SELECT status, error_class, latency_ms, error_message FROM results")
    assert len(got) == 3
    for status, cls, latency, message in got:
        assert (status, cls) == ("error", "timeout") and latency < 2000 and "1 s" in message


@pytest.mark.parametrize("kind, cls", [("bad_json", "bad_response"), ("truncate", "network"), ("reset", "network")])
def test_broken_bodies_are_error_rows_never_scored(srv, tmp_path, kind, cls):
    db = tmp_path / "a.db"
    make_dataset(db, 4)
    srv.configure(faults=[{"kind": kind, "match": "What is 2 plus"}])
    run_engine(db, config(srv.base_url, retries=1), ["strong"])
    bad = rows(db, "SELECT id, status, error_class, output FROM results WHERE case_id = 'c0002'")
    assert [(s, c, o) for _, s, c, o in bad] == [("error", cls, None)]
    assert rows(db, "SELECT COUNT(*) FROM scores WHERE result_id = ?", (bad[0][0],))[0][0] == 0
    scored = rows(db, "SELECT COUNT(DISTINCT result_id) FROM scores")[0][0]
    assert scored == 3


def test_bad_response_is_retried_at_most_twice(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 1)
    srv.configure(faults=[{"kind": "bad_json"}])
    run_engine(db, config(srv.base_url, retries=6), ["strong"])
    assert srv.stats()["requests"] == 3
    assert _one_row(db)[:3] == ("error", "bad_response", 3)
