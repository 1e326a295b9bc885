"""core.run.live: the coalesced per-model figures the Run screen polls."""

from __future__ import annotations

import threading

from core.run.events import BreakerOpened, Progress, ResultEvent, Retrying, RunStarted
from core.run.live import ERROR_LOG_SIZE, LiveRun


def _result(model, i, status="ok", *, passed=None, cached=False, cost=0.001, latency=100.0, error=None):
    scores = () if passed is None else ({"status": "ok", "score": float(passed), "passed": passed},)
    return ResultEvent(run_id="r", case_id=f"c{i}", model=model, repeat=0, status=status, result_id=i,
                       cached=cached, attempts=1, latency_ms=latency if status == "ok" else None,
                       cost_usd=cost if status == "ok" else None, error_class=error,
                       error_message=f"boom {i}" if error else None, output_preview=None, scores=scores)


def test_figures_per_model():
    live = LiveRun()
    live(RunStarted(run_id="r", dataset="d", dataset_version=1, models=("a", "b"), prompt="default", repeat=1,
                    total=8, already_done=0, resumed=False, concurrency=4))
    for i, lat in enumerate((100.0, 300.0, 200.0)):
        live(_result("a", i, passed=i != 1, latency=lat))
    live(_result("a", 3, passed=True, cached=True, latency=5.0))  # cached: no spend, not in latency
    live(_result("b", 4, "error", error="rate_limited"))
    live(_result("b", 5, passed=None, cost=None))  # unscored, cost unknown
    live(Retrying(run_id="r", case_id="c6", model="b", repeat=0, attempt=1, error_class="server", wait_s=0.1,
                  message="503"))
    live(BreakerOpened(run_id="r", model="b", error_class="auth", reason="401 bad key"))
    snap = live.snapshot()
    a, b = snap.models
    assert (a.model, a.total, a.done, a.ok, a.cached, a.passed, a.graded) == ("a", 4, 4, 4, 1, 3, 4)
    assert a.pass_rate == 0.75 and a.latency_p50_ms == 200.0 and round(a.spend_usd, 6) == 0.003
    assert (b.done, b.ok, b.errors, b.retries, b.graded, b.spend_unknown, b.breaker) == (2, 1, 1, 1, 0, 1, "auth")
    assert b.pass_rate is None
    assert [(e.kind, e.model, e.error_class) for e in snap.log] == [
        ("error", "b", "rate_limited"), ("retry", "b", "server"), ("breaker", "b", "auth")]
    assert snap.run_id == "r" and snap.version == 9


def test_log_is_bounded_and_snapshots_are_consistent_under_concurrent_writers():
    live = LiveRun()
    live(RunStarted(run_id="r", dataset="d", dataset_version=1, models=("m",), prompt="p", repeat=1,
                    total=4000, already_done=0, resumed=False, concurrency=4))

    def feed(start):
        for i in range(start, start + 1000):
            live(_result("m", i, "error", error="network"))

    threads = [threading.Thread(target=feed, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    seen = []
    while any(t.is_alive() for t in threads):
        s = live.snapshot()
        seen.append(s.models[0].done if s.models else 0)
    for t in threads:
        t.join()
    snap = live.snapshot()
    assert snap.models[0].done == snap.models[0].errors == 4000
    assert len(snap.log) == ERROR_LOG_SIZE
    assert seen == sorted(seen)  # never goes backwards


def test_progress_is_kept():
    live = LiveRun()
    p = Progress(run_id="r", done=3, total=10, ok=3, errors=0, skipped=0, cached=0, retries=0, in_flight=2,
                 spend_usd=0.1, spend_unknown=0, elapsed_s=1.0, eta_s=2.3)
    live(p)
    assert live.snapshot().progress == p


def test_the_spend_shown_is_unknown_while_no_call_had_a_price():
    from dataclasses import replace

    from tui.screens.run.views import live_head

    live = LiveRun()
    live(RunStarted(run_id="r", dataset="d", dataset_version=1, models=("a",), prompt="default", repeat=1,
                    total=4, already_done=0, resumed=False, concurrency=2))
    progress = Progress(run_id="r", done=2, total=4, ok=2, errors=0, skipped=0, cached=0, retries=0, in_flight=2,
                        spend_usd=0.0, spend_unknown=2, elapsed_s=1.0, eta_s=1.0)
    live(progress)
    assert "spend unknown (2 unpriced)" in live_head(live.snapshot(), stable=True, cancel_level=0).plain
    live(replace(progress, spend_usd=0.0123))
    assert "spend $0.0123 (+2 unpriced)" in live_head(live.snapshot(), stable=True, cancel_level=0).plain


def test_the_head_of_a_resume_says_what_it_found_done_and_what_it_sends_again():
    from tui.screens.run.views import live_head

    def head(**kw) -> str:
        live = LiveRun()
        live(RunStarted(run_id="r", dataset="d", dataset_version=1, models=("a",), prompt="default", repeat=1,
                        total=10, resumed=True, concurrency=2, **kw))
        return live_head(live.snapshot(), stable=True, cancel_level=0).plain

    assert "· resumed (7 already done)" in head(already_done=7)
    assert "· resumed (4 already done, 6 failed sent again)" in head(already_done=4, reopened=6)
