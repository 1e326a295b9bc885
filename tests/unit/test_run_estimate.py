"""The Run screen's estimate (core.run.estimate): calls, tokens from the rendered prompts, cost from
prices (unknown stays unknown), measured figures from an earlier run, duration bounds."""

from __future__ import annotations

import subprocess
from dataclasses import replace
import sys

import pytest

from core.config.schema import parse_config
from core.errors import NotFoundError
from core.models.client import estimate_prompt_tokens
from core.config.prompts import render_messages
from core.datasets.versions import take_snapshot
from core.records import ResultRecord
from core.run.estimate import estimate_run
from core.run.plan import RunRequest, plan_run
from store import connect, write
from store import datasets as store_ds
from store import runs as store_runs

PRICED = {"model": "openai/demo-strong", "api_base": "http://127.0.0.1:9/v1",
          "input_price_per_1m": 1.0, "output_price_per_1m": 2.0}


def _cfg(**models):
    return parse_config({"run": {"max_tokens": 100, "concurrency": 4},
                         "models": models or {"a": PRICED}})


@pytest.fixture
def db(tmp_path):
    db = connect(tmp_path / "assay.db")
    with write(db):
        ds = store_ds.create_dataset(db, "d")
        store_ds.insert_cases(db, ds, [{"id": f"c{i}", "input_text": "x" * (40 * (i + 1))} for i in range(3)])
    yield db
    db.close()


def test_calls_tokens_and_cost_from_rendered_prompts(db):
    cfg = _cfg(a=PRICED, b={**PRICED, "model": "openai/demo-fast"})
    est = estimate_run(db, cfg, dataset="d", models=["a", "b"], repeat=2)
    cases = [c.as_case_dict() for c in store_ds.iter_cases(db, store_ds.dataset_id(db, "d"))]
    per_pass = sum(estimate_prompt_tokens(render_messages(cfg.prompt(), c)) for c in cases)
    a = est.models[0]
    assert (est.cases, a.calls, est.calls) == (3, 6, 12)
    assert a.input_tokens == 2 * per_pass and est.input_tokens == 4 * per_pass
    assert a.output_tokens_max == 600 and a.output_tokens_expected is None  # no earlier run
    assert a.price_source == "config"
    assert a.cost_max_usd == pytest.approx(a.input_tokens * 1e-6 + 600 * 2e-6)
    assert a.cost_expected_usd is None and est.cost_expected_usd is None
    assert est.cost_max_usd == pytest.approx(2 * a.cost_max_usd)
    assert est.duration_s is None  # no rpm, no measured latency: nothing bounds it


def test_excluded_cases_and_versions(db):
    ds = store_ds.dataset_id(db, "d")
    take_snapshot(db, ds)  # version 1: three cases
    with write(db):
        store_ds.update_case(db, ds, "c0", excluded=1)
    cfg = _cfg()
    assert estimate_run(db, cfg, dataset="d", models=["a"]).cases == 2
    assert estimate_run(db, cfg, dataset="d", models=["a"], version=1).cases == 3
    with pytest.raises(NotFoundError):
        estimate_run(db, cfg, dataset="d", models=["a"], version=7)
    with pytest.raises(NotFoundError):
        estimate_run(db, cfg, dataset="nope", models=["a"])


def test_unknown_price_stays_unknown_and_prices_false_does_not_look_it_up(db):
    cfg = _cfg(u={"model": "openai/not-a-real-model", "api_base": "http://127.0.0.1:9/v1"})
    lazy = estimate_run(db, cfg, dataset="d", models=["u"], prices=False)
    assert lazy.models[0].price_source is None and lazy.cost_max_usd is None
    looked_up = estimate_run(db, cfg, dataset="d", models=["u"])
    assert looked_up.models[0].price_source == "unknown"
    assert looked_up.models[0].cost_max_usd is None and looked_up.cost_max_usd is None  # never 0


def test_config_prices_never_import_litellm(tmp_path):
    code = f"""
import sys
from core.config.schema import parse_config
from core.run.estimate import estimate_run
from store import connect, write
from store import datasets as store_ds
db = connect({str(tmp_path / 'p.db')!r})
with write(db):
    store_ds.insert_cases(db, store_ds.create_dataset(db, "d"), [{{"id": "c", "input_text": "hi"}}])
cfg = parse_config({{"models": {{"a": {PRICED!r}, "u": {{"model": "openai/x", "api_base": "http://h/v1"}}}}}})
est = estimate_run(db, cfg, dataset="d", models=["a", "u"], prices=False)
print(est.models[0].price_source, est.models[1].price_source, "litellm" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["config", "None", "False"], out.stderr[-2000:]


def _finished_run(db, cfg, latencies_ms, output_tokens):
    plan = plan_run(db, cfg, RunRequest(dataset="d", models=["a"]))
    for case, latency, n_out in zip(plan.cases, latencies_ms, output_tokens):
        store_runs.insert_result(db, ResultRecord(
            run_id=plan.run_id, case_id=case["id"], model="a", status="ok", output="y", latency_ms=latency,
            input_tokens=10, output_tokens=n_out, cost_usd=0.001, cost_status="config").model_dump())
    store_runs.set_status(db, plan.run_id, "finished")
    return plan.run_id


def test_measured_output_tokens_and_latency_from_an_earlier_run(db):
    cfg = _cfg()
    run_id = _finished_run(db, cfg, [1000, 2000, 3000], [10, 20, 30])
    est = estimate_run(db, cfg, dataset="d", models=["a"], repeat=2)
    m = est.models[0]
    assert m.measured is not None and m.measured.run_id == run_id
    assert m.measured.mean_output_tokens == 20 and m.measured.latency_p50_ms == 2000
    assert m.output_tokens_expected == 120  # 20 per call x 6 calls
    assert m.cost_expected_usd == pytest.approx(m.input_tokens * 1e-6 + 120 * 2e-6)
    # 6 calls at concurrency 4 and 2 s each: 4 calls per 2 s -> 3 s.
    assert est.duration_s == pytest.approx(3.0)
    # A concurrency asked above the config's 4 is the model's too (it has no limit of its own).
    wide = estimate_run(db, cfg, dataset="d", models=["a"], repeat=2, concurrency=6)
    assert wide.models[0].concurrency == 6 and wide.duration_s == pytest.approx(2.0)


def test_a_fast_model_is_sent_no_faster_than_the_client_sends(db):
    """A local model answering in 2 ms at 64 in flight allows 32,000 calls/s; the client sends
    ≈500 per worker process (core.run.workers.client_calls_s): that sets the time."""
    from tui.screens.run.views import estimate_head

    cfg = parse_config({"run": {"max_tokens": 100, "concurrency": 64, "workers": 1}, "models": {"a": PRICED}})
    _finished_run(db, cfg, [2, 2, 2], [5, 5, 5])
    est = estimate_run(db, cfg, dataset="d", models=["a"], repeat=1000)  # 3,000 calls
    assert est.models[0].duration_s == pytest.approx(3000 / 32_000)  # the model's own bound
    assert est.client_calls_s == 500 and est.duration_s == pytest.approx(6.0)
    assert "time set by the client's own pace (≈500 calls/s), not the models'" in estimate_head(est).plain
    two = estimate_run(db, cfg.model_copy(update={"run": cfg.run.model_copy(update={"workers": 2})}),
                       dataset="d", models=["a"], repeat=1000)
    assert two.workers == 2 and two.duration_s == pytest.approx(3000 / 800)
    assert "(≈800 calls/s from 2 worker processes)" in estimate_head(two).plain
    paced = parse_config({"run": {"max_tokens": 100, "concurrency": 64, "workers": 1},
                          "models": {"a": {**PRICED, "rpm": 600}}})
    slow = estimate_run(db, paced, dataset="d", models=["a"], repeat=1000)  # 10 calls/s: the provider's pace
    assert slow.duration_s == pytest.approx(300.0) and "client's own pace" not in estimate_head(slow).plain


def test_duration_from_rate_limits_and_shared_concurrency(db):
    cfg = _cfg(a={**PRICED, "rpm": 60}, b={**PRICED, "rpm": 30})
    est = estimate_run(db, cfg, dataset="d", models=["a", "b"])
    assert [m.duration_s for m in est.models] == [pytest.approx(3.0), pytest.approx(6.0)]
    assert est.duration_s == pytest.approx(6.0)  # the slowest model
    tight = _cfg(a={**PRICED, "tpm": 600})  # 10 tokens/s over ~(prompt + max_tokens) per call
    m = estimate_run(db, tight, dataset="d", models=["a"]).models[0]
    per_call = m.input_tokens / m.calls + 100
    assert m.duration_s == pytest.approx(3 * per_call / 10)


def test_startup_from_the_newest_run_that_paid_one_the_same_way(db, monkeypatch):
    monkeypatch.setattr("core.run.estimate.import_seconds", lambda: None)  # a process without litellm
    cfg = _cfg()
    pooled = parse_config({"run": {"max_tokens": 100, "concurrency": 4, "workers": 2}, "models": {"a": PRICED}})
    assert estimate_run(db, pooled, dataset="d", models=["a"]).startup_s is None  # not measured yet
    in_process = plan_run(db, cfg, RunRequest(dataset="d", models=["a"])).run_id
    with_workers = [plan_run(db, pooled, RunRequest(dataset="d", models=["a"])).run_id for _ in range(2)]
    store_runs.record_startup(db, in_process, 3.5)
    store_runs.record_startup(db, with_workers[0], 6.0)
    store_runs.record_startup(db, with_workers[1], 4.25)  # the newest
    est = estimate_run(db, pooled, dataset="d", models=["a"])
    assert (est.workers, est.startup_s) == (2, 4.25)
    assert est.duration_s is None and est.wall_s is None  # no rpm, no measured latency: unknown all the same
    assert estimate_run(db, cfg, dataset="d", models=["a"]).startup_s == 3.5
    monkeypatch.setattr("core.run.estimate.import_seconds", lambda: 3.9)  # this process has imported it
    assert estimate_run(db, cfg, dataset="d", models=["a"]).startup_s == 0.0
    assert estimate_run(db, pooled, dataset="d", models=["a"]).startup_s == 4.25  # new workers import anew


def test_the_time_shown_adds_the_startup_and_says_so(db):
    from tui.screens.run.views import estimate_head

    cfg = parse_config({"run": {"max_tokens": 100, "concurrency": 4}, "models": {"a": {**PRICED, "rpm": 60}}})
    base = estimate_run(db, cfg, dataset="d", models=["a"])  # 3 calls at 60 rpm: 0:03
    shown = {s: estimate_head(replace(base, workers=w, startup_s=s)).plain
             for w, s in ((2, 5.0), (1, None), (1, 0.0))}
    assert "time 0:08 (0:05 2 worker processes starting + 0:03 calls)" in shown[5.0]
    assert "time 0:03 (the calls only; litellm's import is not measured yet)" in shown[None]
    assert "time 0:03" in shown[0.0] and "(" not in shown[0.0].split("time ")[1].splitlines()[0]


def test_calls_the_cache_answers_are_shown_and_take_no_time(db):
    from tui.screens.run.views import estimate_head, estimate_table

    cfg = parse_config({"run": {"max_tokens": 100, "concurrency": 4}, "models": {"a": {**PRICED, "rpm": 60}}})
    base = estimate_run(db, cfg, dataset="d", models=["a"])
    cached = replace(base, models=tuple(replace(m, cached=2, input_tokens=10) for m in base.models), startup_s=0.0)
    assert "= 3 calls (2 from the cache)" in estimate_head(cached).plain
    assert "time 0:01" in estimate_head(cached).plain  # 1 call to send at 60 rpm
    m = cached.models[0]
    assert (m.sent, m.output_tokens_max, m.cost_max_usd) == (1, 100, pytest.approx(10e-6 + 100 * 2e-6))
    from rich.console import Console

    console = Console(width=120, record=True)
    console.print(estimate_table(cached))
    assert "3 (2 cached)" in console.export_text()


def test_logged_answers_cost_nothing_and_take_no_time(db):
    """`model = "logged"`: production's answers, read from the cases: no call, no price lookup."""
    from tui.screens.run.views import estimate_table

    cfg = _cfg(a=PRICED, production={"model": "logged"})
    est = estimate_run(db, cfg, dataset="d", models=["a", "production"], prices=False)
    a, production = est.models
    assert (production.calls, production.sent, production.cached, production.input_tokens) == (3, 0, 0, 0)
    assert (production.price_source, production.cost_max_usd, production.duration_s) == ("logged", 0.0, 0.0)
    assert est.cost_max_usd == pytest.approx(a.cost_max_usd) and est.cached == 0
    from rich.console import Console

    console = Console(width=120, record=True)
    console.print(estimate_table(est))
    row = next(line for line in console.export_text().splitlines() if line.startswith("production"))
    assert row.split() == ["production", "3", "logged", "0", "-", "none", "(no", "calls)", "0:00"]


def test_workers_are_judged_on_the_calls_made(db):
    from core.run.plan import workers_for

    cfg = parse_config({"run": {"workers": "auto", "concurrency": 64},
                        "models": {"p": {"model": "logged"}, "q": {"model": "logged/answer"}}})
    with write(db):
        store_ds.insert_cases(db, store_ds.dataset_id(db, "d"), [{"id": f"m{i}", "input_text": "y"} for i in range(400)])
    assert workers_for(db, cfg, RunRequest(dataset="d", models=["p", "q"])) == 1  # 806 answers, no call
