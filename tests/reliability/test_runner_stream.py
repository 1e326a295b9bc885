"""Opt-in streaming (`[run] stream = true`) against real HTTP (litellm -> in-process DemoServer):
time to first token, parity with unstreamed calls, mid-stream failures, the cache key, and the
stream flag as a run condition (resume refuses when it changes)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from runner_helpers import TWO, config, make_dataset, rows, run_engine, toml_text

import demo.serve.app as serve_app
from core.config.schema import parse_config
from core.errors import ConfigError, ResumeError
from core.report.build import build_report
from core.run.plan import conditions
from store import connect

pytestmark = pytest.mark.usefixtures("clean_srv")

PRICED = {"strong": {"model": "openai/demo-strong", "input_price_per_1m": 1.0, "output_price_per_1m": 2.0}}
COLS = "case_id, status, output, finish_reason, input_tokens, output_tokens, cost_usd, cost_status"


def test_streaming_measures_first_token_and_matches_the_unstreamed_answers(srv, tmp_path):
    srv.configure(latency_ms=300)
    plain, streamed = tmp_path / "plain.db", tmp_path / "stream.db"
    for db in (plain, streamed):
        make_dataset(db, 4)
    run_engine(plain, config(srv.base_url, PRICED), ["strong"])
    fin = run_engine(streamed, config(srv.base_url, PRICED, stream=True), ["strong"])
    assert fin.ok == 4 and fin.errors == 0
    # The demo models are deterministic: same text, finish reason, usage and cost either way.
    got = rows(streamed, f"SELECT {COLS} FROM results ORDER BY case_id")
    assert got == rows(plain, f"SELECT {COLS} FROM results ORDER BY case_id")
    assert all(r[1] == "ok" and r[2] and r[4] and r[5] and r[6] is not None and r[7] == "config" for r in got)
    assert rows(plain, "SELECT DISTINCT latency_first_ms FROM results") == [(None,)]
    for first, total in rows(streamed, "SELECT latency_first_ms, latency_ms FROM results"):
        # The server waits half its latency before the first event, then spreads the rest.
        assert first is not None and 100 < first < total - 50, (first, total)
    assert rows(streamed, "SELECT COUNT(*) FROM scores")[0][0] >= 4  # streamed ok rows are scored
    # The report shows time to first token for the streamed run only.
    for path, streamed_run in ((plain, False), (streamed, True)):
        conn = connect(path)
        (run_id,) = rows(path, "SELECT id FROM runs")[0]
        overall = build_report(conn, run_id).figures("strong")
        firsts = sorted(f for (f,) in rows(path, "SELECT latency_first_ms FROM results") if f is not None)
        assert (overall.first_token_p50_ms is not None) == streamed_run
        if streamed_run:
            assert firsts[0] <= overall.first_token_p50_ms <= firsts[-1]
        conn.close()


def test_usage_missing_from_the_stream_leaves_tokens_and_cost_unknown(srv, tmp_path, monkeypatch):
    # litellm makes up a usage chunk from its own token count when the provider sends none:
    # that estimate must not become the row's tokens or a cost.
    original = serve_app._stream_events
    monkeypatch.setattr(serve_app, "_stream_events", lambda base, content, finish, usage:
                        original(base, content, finish, None))
    db = tmp_path / "a.db"
    make_dataset(db, 2)
    fin = run_engine(db, config(srv.base_url, PRICED, stream=True), ["strong"])
    assert fin.ok == 2 and fin.spend_unknown == 2
    assert rows(db, "SELECT DISTINCT input_tokens, output_tokens, cost_usd, cost_status FROM results") == [
        (None, None, None, "unknown")]
    assert all(out for (out,) in rows(db, "SELECT output FROM results"))


@pytest.mark.parametrize("kind, first_class", [("truncate", "network"), ("bad_json", "bad_response")])
def test_a_broken_stream_is_retried_and_no_partial_output_is_kept(srv, tmp_path, kind, first_class):
    clean, db = tmp_path / "clean.db", tmp_path / "a.db"
    for path in (clean, db):
        make_dataset(path, 1)
    run_engine(clean, config(srv.base_url, stream=True), ["strong"])
    srv.reset_stats()
    srv.configure(faults=[{"kind": kind, "first_n": 1}])
    fin = run_engine(db, config(srv.base_url, stream=True), ["strong"])
    assert fin.ok == 1 and fin.retries == 1 and srv.stats()["requests"] == 2
    assert rows(db, "SELECT status, attempts, output, latency_first_ms IS NOT NULL FROM results") == [
        ("ok", 2, rows(clean, "SELECT output FROM results")[0][0], 1)]
    assert rows(db, "SELECT outcome, error_class FROM attempts ORDER BY attempt") == [
        ("error", first_class), ("ok", None)]


@pytest.mark.parametrize("kind, cls, attempts", [("truncate", "network", 2), ("bad_json", "bad_response", 2)])
def test_a_stream_that_always_breaks_is_an_error_row_without_scores(srv, tmp_path, kind, cls, attempts):
    db = tmp_path / "a.db"
    make_dataset(db, 1)
    srv.configure(faults=[{"kind": kind}])
    fin = run_engine(db, config(srv.base_url, PRICED, stream=True, retries=1), ["strong"])
    assert fin.errors == 1 and fin.ok == 0
    assert rows(db, "SELECT status, error_class, attempts, output, cost_usd, latency_first_ms FROM results") == [
        ("error", cls, attempts, None, None, None)]
    assert rows(db, "SELECT COUNT(*) FROM scores") == [(0,)]
    assert rows(db, "SELECT COUNT(*) FROM response_cache") == [(0,)]


def test_the_timeout_covers_the_whole_stream_not_just_the_first_chunk(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 1)
    srv.configure(latency_ms=1200)  # first event after 600 ms, the last one after 1200 ms
    run_engine(db, config(srv.base_url, stream=True, timeout_s=0.9, retries=0), ["strong"])
    (status, cls, message), = rows(db, "SELECT status, error_class, error_message FROM results")
    assert (status, cls) == ("error", "timeout") and "stream did not finish within 0.9 s" in message


def test_the_cache_keys_on_the_stream_flag_and_cached_rows_have_no_latency(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 2)
    run_engine(db, config(srv.base_url, stream=True), ["strong"])
    assert srv.stats()["requests"] == 2
    run_engine(db, config(srv.base_url, stream=True), ["strong"])
    assert srv.stats()["requests"] == 2  # served from the cache
    run_engine(db, config(srv.base_url), ["strong"])
    assert srv.stats()["requests"] == 4  # an unstreamed request is a different request
    got = rows(db, "SELECT r.cached, r.latency_first_ms IS NULL, r.latency_ms IS NULL FROM results r "
                   "JOIN runs ON runs.id = r.run_id ORDER BY runs.created_at, runs.id, r.case_id")
    assert got == [(0, 0, 0)] * 2 + [(1, 1, 1)] * 2 + [(0, 1, 0)] * 2


def test_stream_is_a_run_condition_a_resume_refuses_to_change(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 2)
    fin = run_engine(db, config(srv.base_url), ["strong"])
    (cond,), = rows(db, "SELECT config_json FROM runs")
    assert '"stream"' not in cond  # a run that never streamed keeps the hash it always had
    with pytest.raises(ResumeError, match=r"shared\.stream.*--no-stream"):
        run_engine(db, config(srv.base_url, stream=True), [], dataset=None, resume=fin.run_id)
    streamed = run_engine(db, config(srv.base_url, stream=True), ["strong"])
    with pytest.raises(ResumeError, match=r"shared\.stream.*--stream"):
        run_engine(db, config(srv.base_url), [], dataset=None, resume=streamed.run_id)
    again = run_engine(db, config(srv.base_url, stream=True), [], dataset=None, resume=streamed.run_id)
    assert again.status == "finished"


def test_cli_stream_flag_and_resume_exit_2_when_it_changes(srv, tmp_path):
    from cli.main import cli

    (tmp_path / "assay.toml").write_text(toml_text(srv.base_url, TWO))
    make_dataset(tmp_path / "assay.db", 2)

    def assay(*args: str):
        return CliRunner().invoke(cli, ["-w", str(tmp_path), *args], catch_exceptions=False)

    out = assay("run", "-d", "d", "-m", "strong", "--stream", "--json")
    assert out.exit_code == 0, out.output
    assert rows(tmp_path / "assay.db", "SELECT COUNT(latency_first_ms) FROM results") == [(2,)]
    run_id = next(line.split('"')[3] for line in out.output.splitlines() if '"run_id"' in line)
    refused = assay("run", "--resume", run_id)
    assert refused.exit_code == 2 and "shared.stream" in refused.output and "--stream" in refused.output
    assert assay("run", "--resume", run_id, "--stream").exit_code == 0


def test_a_model_may_override_stream_only_when_allowed(srv):
    base = srv.base_url
    with pytest.raises(ConfigError, match=r"models\.fast\.stream"):
        config(base, {"fast": {"model": "openai/demo-fast", "stream": True}})
    cfg = config(base, {**TWO, "fast": {"model": "openai/demo-fast", "stream": True}}, allow_overrides=["stream"])
    cond = conditions(cfg, ["strong", "fast"], "default", 1)
    assert cond["shared"]["stream"] is False
    assert (cond["models"]["strong"]["stream"], cond["models"]["fast"]["stream"]) == (False, True)
    assert cond["models"]["fast"]["overrides"] == {"stream": True}
    with pytest.raises(ConfigError, match="stream_options"):
        parse_config({"models": {"a": {"model": "x", "params": {"stream_options": {}}}}})
