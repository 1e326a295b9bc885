"""The engine's guarantees against real HTTP: concurrency and rpm on the wire, cache, repeats,
resume (and its refusals), cancel from another thread, scorer failures, the run row."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable

import pytest
from runner_helpers import TWO, config, make_dataset, max_in_window, rows, run_engine

from core.errors import ResumeError
from core.run.events import Progress, ResultEvent, RunFinished, RunStarted
from core.common.hashing import content_hash
from core.run.engine import CancelToken, RunRequest, run, run_sync
from core.run.live import LiveRun
from store import connect



pytestmark = pytest.mark.usefixtures("clean_srv")


@pytest.mark.parametrize("n, models, concurrency, asked, limit", [
    (40, TWO, 5, None, 5),  # the global limit, two models sharing it
    (30, {"strong": {"model": "openai/demo-strong", "max_concurrency": 3}}, 20, None, 3),  # one model's own limit
    # `--concurrency` above the config's: one model without a limit of its own gets all of it
    # (it was held to the config's 2).
    (24, {"strong": {"model": "openai/demo-strong"}}, 2, 6, 6),
], ids=["global", "per-model", "asked-above-config"])
def test_concurrency_holds_on_the_wire(srv, tmp_path, n, models, concurrency, asked, limit):
    db = tmp_path / "a.db"
    make_dataset(db, n)
    srv.configure(latency_ms=40)
    events: list = []
    run_engine(db, config(srv.base_url, models, concurrency=concurrency), list(models), events=events,
               concurrency=asked)
    assert srv.stats()["max_in_flight"] == limit
    # The progress figure the Run screen shows counts calls holding a slot, not calls queued for one.
    shown = [e.in_flight for e in events if type(e).__name__ == "Progress"]
    assert shown and max(shown) <= limit and shown[-1] == 0


def test_a_slot_serves_another_call_only_once_the_last_result_is_committed(srv, tmp_path, monkeypatch):
    """Results commit once per loop turn (`core.run.group_commit`), which must not widen what a kill
    loses: with two models sharing one slot, as each call starts, every earlier call's row is on
    disk already (seen from another connection)."""
    from core.models.client import ModelClient

    db = tmp_path / "a.db"
    make_dataset(db, 12)
    at_start: list[tuple[int, int]] = []  # (calls finished, rows committed) as each call starts
    finished = 0
    attempt = ModelClient._attempt

    async def watched(self, *args, **kwargs):
        nonlocal finished
        at_start.append((finished, rows(db, "SELECT COUNT(*) FROM results")[0][0]))
        try:
            return await attempt(self, *args, **kwargs)
        finally:
            finished += 1

    monkeypatch.setattr(ModelClient, "_attempt", watched)
    run_engine(db, config(srv.base_url, TWO, concurrency=1, workers=1), list(TWO))
    assert at_start == [(i, i) for i in range(24)]


def test_rpm_pacing_on_the_wire(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 12)
    srv.configure(rpm_limit=240)
    cfg = config(srv.base_url, {"strong": {"model": "openai/demo-strong", "rpm": 240}}, concurrency=8)
    run_engine(db, cfg, ["strong"])
    st = srv.stats()
    times = st["arrivals"]
    assert len(times) == 12 and st["by_status"] == {"200": 12}
    assert max_in_window(times, 60.0) <= 240
    # Scaled window: 240 rpm is one start per 0.25 s, with at most a burst of 2.
    assert max_in_window(times, 1.0) <= 4 + 2
    assert times[-1] - times[0] >= (12 - 2) * 0.25 - 0.05


def test_cache_hit_on_second_run_and_no_cache_bypasses(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 5)
    cfg = config(srv.base_url)
    first = run_engine(db, cfg, ["strong"])
    assert srv.stats()["requests"] == 5
    srv.reset_stats()
    second = run_engine(db, cfg, ["strong"])
    assert srv.stats()["requests"] == 0
    got = rows(db, "SELECT cached, latency_ms, cost_status, output IS NOT NULL FROM results WHERE run_id = ?",
               (second.run_id,))
    assert got == [(1, None, "cached", 1)] * 5
    assert rows(db, "SELECT output FROM results WHERE run_id = ? ORDER BY case_id", (first.run_id,)) == \
        rows(db, "SELECT output FROM results WHERE run_id = ? ORDER BY case_id", (second.run_id,))
    third = run_engine(db, cfg, ["strong"], use_cache=False)
    assert srv.stats()["requests"] == 5
    assert rows(db, "SELECT SUM(cached) FROM results WHERE run_id = ?", (third.run_id,)) == [(0,)]


def test_cache_key_covers_params(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 3)
    run_engine(db, config(srv.base_url, temperature=0.0), ["strong"])
    srv.reset_stats()
    run_engine(db, config(srv.base_url, temperature=0.5), ["strong"])
    assert srv.stats()["requests"] == 3


def test_repeat_n_rows_with_distinct_requests(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 4)
    fin = run_engine(db, config(srv.base_url, TWO), ["strong", "fast"], repeat=3)
    assert fin.total == 24 and fin.done == 24
    assert rows(db, "SELECT repeat, COUNT(*) FROM results GROUP BY repeat") == [(0, 8), (1, 8), (2, 8)]
    assert rows(db, "SELECT COUNT(DISTINCT request_hash) FROM results") == [(24,)]
    assert srv.stats()["requests"] == 24


def test_run_row_records_conditions_without_secrets(srv, tmp_path, monkeypatch):
    monkeypatch.setenv("RUNNER_TEST_KEY", "sk-canary-runrow-000111222333")
    db = tmp_path / "a.db"
    make_dataset(db, 2)
    cfg = config(srv.base_url, {"strong": {"model": "openai/demo-strong", "api_key_env": "RUNNER_TEST_KEY",
                                           "max_tokens": 64, "input_price_per_1m": 1.0, "output_price_per_1m": 3.0}},
                 allow_overrides=["max_tokens"], temperature=0.3)
    fin = run_engine(db, cfg, ["strong"])
    conn = connect(db)
    row = dict(next(iter(conn.query("SELECT * FROM runs"))))
    assert row["id"].startswith("r-") and len(row["id"]) == len("r-20261128-193512-a1b2")
    cfg_json = json.loads(row["config_json"])
    assert row["config_hash"] == content_hash(cfg_json["conditions"])
    model = cfg_json["conditions"]["models"]["strong"]
    assert model["params"] == {"temperature": 0.3, "max_tokens": 64} and model["overrides"] == {"max_tokens": 64}
    assert cfg_json["operational"]["models"]["strong"]["api_key_env"] == "RUNNER_TEST_KEY"
    assert "sk-canary" not in row["config_json"]
    assert json.loads(row["cost_source"]) == {"strong": "config"}
    assert row["app_version"] and row["litellm_version"] and row["status"] == "finished"
    version = dict(next(iter(conn.query("SELECT * FROM dataset_versions WHERE id = ?", [row["dataset_version_id"]]))))
    assert row["dataset_hash"] == version["content_hash"] and version["reason"] == "run"
    cost = rows(db, "SELECT cost_usd, cost_status, input_tokens, output_tokens FROM results")
    for c, status, n_in, n_out in cost:
        assert status == "config" and c == pytest.approx(n_in * 1e-6 + n_out * 3e-6)
    assert fin.models[0].cost_usd == pytest.approx(sum(c for c, *_ in cost))


def test_unknown_cost_is_null_never_zero(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 2)
    fin = run_engine(db, config(srv.base_url), ["strong"])
    assert rows(db, "SELECT DISTINCT cost_usd, cost_status FROM results") == [(None, "unknown")]
    assert fin.models[0].cost_usd is None and fin.spend_unknown == 2


def _run_missing_two_cases(db, cfg):
    """A finished run of both models whose rows for two cases are then deleted, marked interrupted."""
    fin = run_engine(db, cfg, ["strong", "fast"])
    conn = connect(db)
    with conn.conn:
        conn.execute("DELETE FROM results WHERE run_id = ? AND case_id IN ('c0003', 'c0007')", [fin.run_id])
        conn.execute("UPDATE runs SET status = 'interrupted'")
    conn.close()
    return fin


def test_resume_runs_only_the_missing_and_refuses_changed_conditions(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 10)
    cfg = config(srv.base_url, TWO)
    fin = _run_missing_two_cases(db, cfg)
    changed = config(srv.base_url, TWO, temperature=0.7)
    with pytest.raises(ResumeError, match="shared.temperature"):
        run_engine(db, changed, [], dataset=None, resume=fin.run_id)
    srv.reset_stats()
    # Operational settings may change (concurrency, retries): not part of the conditions.
    again = run_engine(db, config(srv.base_url, TWO, concurrency=3, retries=1), [], dataset=None,
                       resume=fin.run_id, use_cache=False)
    assert again.run_id == fin.run_id and again.status == "finished" and again.done == 20
    assert srv.stats()["requests"] == 4
    assert rows(db, "SELECT COUNT(*), COUNT(DISTINCT case_id || model) FROM results") == [(20, 20)]


def test_a_resumed_runs_live_rows_count_the_whole_run(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 10)
    cfg = config(srv.base_url, {name: {**m, "input_price_per_1m": 1.0, "output_price_per_1m": 2.0}
                                for name, m in TWO.items()})
    fin = _run_missing_two_cases(db, cfg)
    live = LiveRun()
    events: list = []
    run_engine(db, cfg, [], dataset=None, resume=fin.run_id, use_cache=False,
               sink=lambda e: (events.append(e), live(e)))

    (started,) = [e for e in events if isinstance(e, RunStarted)]
    so_far = {(m.model, m.done, m.ok, len(m.latencies)) for m in started.so_far}
    assert so_far == {("strong", 8, 8, 8), ("fast", 8, 8, 8)}
    expected = {model: (passed, spend) for model, passed, spend in rows(
        db, "SELECT r.model, SUM(s.passed), SUM(r.cost_usd) FROM scores s JOIN results r ON r.id = s.result_id "
            "GROUP BY r.model")}
    assert expected["strong"][1] > 0 and expected["fast"][1] > 0
    live_rows = {m.model: m for m in live.snapshot().models}
    for model, (passed, spend) in expected.items():
        m = live_rows[model]
        assert (m.done, m.total, m.ok, m.graded, m.passed) == (10, 10, 10, 10, passed)
        assert m.spend_usd == pytest.approx(spend) and m.latency_p50_ms is not None


def test_resume_refuses_a_tampered_dataset_version(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 3)
    cfg = config(srv.base_url)
    fin = run_engine(db, cfg, ["strong"])
    conn = connect(db)
    with conn.conn:
        conn.execute("UPDATE case_blobs SET data_json = replace(data_json, 'plus', 'minus')")
    conn.close()
    with pytest.raises(ResumeError, match="dataset version"):
        run_engine(db, cfg, [], dataset=None, resume=fin.run_id)


def test_events_carry_what_a_ui_needs(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 6)
    events: list = []
    srv.configure(faults=[{"kind": "500", "first_n": 2}])
    run_engine(db, config(srv.base_url, TWO), ["strong", "fast"], events=events)
    kinds = [type(e) for e in events]
    assert kinds[0] is RunStarted and kinds[-1] is RunFinished
    assert events[0].total == 12
    results = [e for e in events if isinstance(e, ResultEvent)]
    assert len(results) == 12 and all(e.result_id > 0 for e in results)
    assert any(e.scores for e in results)
    last = [e for e in events if isinstance(e, Progress)][-1]
    assert (last.done, last.total, last.ok, last.retries, last.eta_s) == (12, 12, 12, 2, 0.0)
    assert sum(type(e).__name__ == "Retrying" for e in events) == 2


class BrokenScoring:
    def __init__(self, db, cfg, run_id):
        pass

    async def score(self, case, row):
        raise RuntimeError("scorer bug")

    async def aclose(self):
        pass


def test_scorer_errors_never_stop_the_run(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 5)
    conn = connect(db)
    fin = asyncio.run(run(conn, config(srv.base_url), RunRequest(dataset="d", models=["strong"]),
                          scoring=BrokenScoring))
    assert fin.status == "finished" and fin.ok == 5 and fin.scoring_errors == 5


def test_cancel_from_another_thread_then_resume(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 60)
    srv.configure(latency_ms=100)
    cfg = config(srv.base_url, TWO, concurrency=4)
    token = CancelToken()
    seen: list = []
    out: dict = {}

    def sink(e):
        seen.append(e)
        if isinstance(e, ResultEvent) and len([x for x in seen if isinstance(x, ResultEvent)]) == 10:
            threading.Thread(target=token.cancel).start()

    def worker():
        out["fin"] = run_sync(db, cfg, RunRequest(dataset="d", models=["strong", "fast"]), sink=sink, cancel=token)

    t = threading.Thread(target=worker)
    t.start()
    t.join(30)
    fin = out["fin"]
    assert fin.status == "interrupted" and fin.resume_command == f"assay run --resume {fin.run_id}"
    assert 10 <= fin.done < 120
    # In-flight calls were allowed to finish: every request the server answered has its row.
    assert srv.stats()["by_status"].get("200") == fin.done
    assert rows(db, "SELECT status FROM runs") == [("interrupted",)]
    again = run_sync(db, cfg, RunRequest(resume=fin.run_id))
    assert again.status == "finished" and again.done == 120
    assert rows(db, "SELECT COUNT(*), COUNT(DISTINCT case_id || model) FROM results") == [(120, 120)]


def _once_requests_hang(srv, n: int, then: Callable[[], None]) -> None:
    """Call `then` from another thread once the server holds `n` requests. With worker processes
    the run starts before their litellm import, so a timer from its start could fire before any."""
    def wait() -> None:
        deadline = time.monotonic() + 60
        while srv.stats()["requests"] < n and time.monotonic() < deadline:
            time.sleep(0.05)
        then()

    threading.Thread(target=wait, daemon=True).start()


def test_second_cancel_stops_at_once(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 10)
    srv.configure(faults=[{"kind": "hang"}])
    cfg = config(srv.base_url, timeout_s=30, concurrency=4)
    token = CancelToken()
    second: list[float] = []

    def cancel_again() -> None:
        second.append(time.monotonic())
        token.cancel()

    def cancel_twice() -> None:
        token.cancel()
        time.sleep(0.3)
        cancel_again()

    def sink(e):
        if isinstance(e, RunStarted):
            _once_requests_hang(srv, 4, cancel_twice)

    fin = run_sync(db, cfg, RunRequest(dataset="d", models=["strong"]), sink=sink, cancel=token, grace_s=20)
    assert srv.stats()["requests"] == 4  # the hanging calls were on the wire when cancelled
    assert time.monotonic() - second[0] < 2.4  # from the second cancel
    assert fin.status == "interrupted" and fin.done == 0
    assert rows(db, "SELECT COUNT(*) FROM results") == [(0,)]


def test_grace_period_bounds_the_wait_for_in_flight_calls(srv, tmp_path):
    db = tmp_path / "a.db"
    make_dataset(db, 4)
    srv.configure(faults=[{"kind": "hang"}])
    token = CancelToken()
    asked: list[float] = []

    def cancel() -> None:
        asked.append(time.monotonic())
        token.cancel()

    def sink(e):
        if isinstance(e, RunStarted):
            _once_requests_hang(srv, 4, cancel)

    fin = run_sync(db, config(srv.base_url, timeout_s=30), RunRequest(dataset="d", models=["strong"]),
                   sink=sink, cancel=token, grace_s=0.5)
    assert srv.stats()["requests"] == 4  # on the wire when cancelled
    assert time.monotonic() - asked[0] < 0.5 + 1.5  # the grace period, then a prompt stop
    assert fin.status == "interrupted" and fin.done == 0
