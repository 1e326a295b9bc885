"""core.trends.costs: hand-worked projections on real SQLite runs.

The qa run (scoring_fixtures.build_qa_run): every answered call used 10 input and 5 output tokens.
A answered 12 calls (c10 errored): pass rate incl. errors 8/12, Wilson 95% [0.3906, 0.8619];
B answered 13: 4/12, [0.1381, 0.6094]. With A at $1/$2 per 1M tokens and B at $0.50/$1:
    A: 10 x 1e-6 + 5 x 2e-6 = $0.00002 per case = $0.02 per 1k cases
    B: 10 x 0.5e-6 + 5 x 1e-6 = $0.00001 per case = $0.01 per 1k cases
At 10,000 cases/day and $8 per failed case:
    A: model $0.20/day ($73/year); errors 8 x 1/3 x 10,000 = $26,666.67/day; TCO $26,666.87/day
    B: model $0.10/day ($36.50/year); errors 8 x 2/3 x 10,000 = $53,333.33/day; TCO $53,333.43/day
"""

from __future__ import annotations

import json

import pytest

from core.config.schema import ModelConfig, WorkspaceConfig
from core.errors import NotFoundError, UsageError
from core.trends.costs import Volume, parse_volume, project_costs
from store.db import write
from scoring_fixtures import add_dataset, add_result, add_run, build_qa_run, new_db

PER_DAY = Volume(10_000, "cases", "day")


def config(**prices: tuple[str, float | None, float | None]) -> WorkspaceConfig:
    return WorkspaceConfig(models={
        name: ModelConfig(model=model_id, input_price_per_1m=p_in, output_price_per_1m=p_out)
        for name, (model_id, p_in, p_out) in prices.items()})


@pytest.fixture
def no_price_map(monkeypatch):
    """Models without set prices are looked up in litellm's price map; these test ids are not in it
    (and the lookup would import litellm, seconds)."""
    monkeypatch.setattr("core.models.prices.price_map_entry", lambda model_id: None)


@pytest.fixture(scope="module")
def qa_db(tmp_path_factory):
    db = new_db(tmp_path_factory.mktemp("costs"))
    build_qa_run(db, "r-qa")
    return db


def test_hand_worked_projection(qa_db):
    cfg = config(A=("openai/a", 1.0, 2.0), B=("openai/b", 0.5, 1.0))
    p = project_costs(qa_db, "r-qa", cfg, PER_DAY, review_cost=8, min_pass=0.3)
    a, b = p.model("A"), p.model("B")
    assert (a.answered, a.input_tokens_per_case, a.output_tokens_per_case) == (12, 10, 5)
    assert a.price.source == "assay.toml" and (a.price.input_per_1m, a.price.output_per_1m) == (1.0, 2.0)
    assert a.cost_per_1k == pytest.approx(0.02) and b.cost_per_1k == pytest.approx(0.01)
    assert a.cost_per_day == pytest.approx(0.20) and a.cost_per_year == pytest.approx(73.0)
    assert b.cost_per_day == pytest.approx(0.10) and b.cost_per_year == pytest.approx(36.5)
    assert (a.graded, a.pass_rate, b.pass_rate) == (12, pytest.approx(8 / 12), pytest.approx(4 / 12))
    assert a.pass_rate_ci95 == pytest.approx((0.390622, 0.861880), abs=1e-6)
    assert a.failure_rate == pytest.approx(1 / 3)
    assert a.error_cost_per_day == pytest.approx(26_666.667, abs=1e-3)
    assert a.tco_per_day == pytest.approx(26_666.867, abs=1e-3)
    assert a.tco_per_year == pytest.approx((0.20 + 80_000 / 3) * 365, rel=1e-12)
    assert b.error_cost_per_day == pytest.approx(53_333.333, abs=1e-3)
    assert b.tco_per_day == pytest.approx(53_333.433, abs=1e-3)
    # The bar is judged on the interval's lower bound: A (0.39) meets 0.3, B (0.14) does not.
    assert (a.meets_bar, b.meets_bar, p.cheapest) == (True, False, "A")
    # A is dearer and more accurate, B cheaper and less accurate: neither beats the other on both.
    assert (a.on_frontier, b.on_frontier) == (True, True)
    assert json.loads(json.dumps(p.to_dict()))["models"][0]["model"] == "A"


def test_bar_uses_the_lower_bound_not_the_point_estimate(qa_db):
    cfg = config(A=("openai/a", 1.0, 2.0), B=("openai/b", 0.5, 1.0))
    p = project_costs(qa_db, "r-qa", cfg, PER_DAY, min_pass=0.6)
    assert p.model("A").pass_rate > 0.6 and p.model("A").meets_bar is False and p.cheapest is None
    # Without review cost TCO is the model cost, and without a bar nothing is "cheapest".
    p = project_costs(qa_db, "r-qa", cfg, PER_DAY)
    assert p.model("B").tco_per_day == pytest.approx(0.10) and p.model("B").error_cost_per_day == 0
    assert p.model("A").meets_bar is None and p.cheapest is None
    # With a low bar both qualify and the lower total cost of ownership wins:
    # $8 per review makes A's fewer failures cheaper overall; at no review cost B's price wins.
    assert project_costs(qa_db, "r-qa", cfg, PER_DAY, min_pass=0.1, review_cost=8).cheapest == "A"
    assert project_costs(qa_db, "r-qa", cfg, PER_DAY, min_pass=0.1, review_cost=0).cheapest == "B"


def test_dominated_model_is_off_the_frontier(qa_db):
    cfg = config(A=("openai/a", 1.0, 2.0), B=("openai/b", 2.0, 2.0))  # B: dearer and less accurate
    p = project_costs(qa_db, "r-qa", cfg, PER_DAY)
    assert (p.model("A").on_frontier, p.model("B").on_frontier) == (True, False)


def test_unknown_price_stays_unknown_and_is_never_cheapest(qa_db, no_price_map):
    cfg = config(A=("openai/a", 1.0, 2.0), B=("vendor/unpriced", None, None))
    p = project_costs(qa_db, "r-qa", cfg, PER_DAY, review_cost=8, min_pass=0.1)
    b = p.model("B")
    assert b.price.source == "unknown" and b.price.model_id == "vendor/unpriced"
    assert (b.cost_per_1k, b.cost_per_day, b.cost_per_year, b.tco_per_day, b.tco_per_year) == (None,) * 5
    assert b.error_cost_per_day == pytest.approx(53_333.333, abs=1e-3)  # its failures still cost reviews
    assert b.meets_bar is True and b.on_frontier is None
    assert p.cheapest == "A" and p.model("A").on_frontier is True
    # A model the run does not describe and assay.toml does not know has no price at all.
    p = project_costs(qa_db, "r-qa", WorkspaceConfig(), PER_DAY, min_pass=0.0)
    assert p.model("A").price.model_id is None and p.model("A").cost_per_1k is None and p.cheapest is None


def test_token_volume_converts_at_measured_prompt_tokens(qa_db):
    cfg = config(A=("openai/a", 1.0, 2.0), B=("openai/b", 0.5, 1.0))
    p = project_costs(qa_db, "r-qa", cfg, parse_volume("50M/day", "tokens"))
    assert p.prompt_tokens_per_case == 10 and p.cases_per_day == pytest.approx(5e6)
    assert p.model("A").cost_per_day == pytest.approx(0.02 * 5000)
    # Per month: a month is 365/12 days.
    p = project_costs(qa_db, "r-qa", cfg, parse_volume("365k/month", "cases"))
    assert p.cases_per_day == pytest.approx(12_000) and p.model("A").cost_per_year == pytest.approx(0.24 * 365)


def test_run_prices_recorded_with_the_run(tmp_path, no_price_map):
    """Tokens differ per call; the run recorded A's model id and prices; assay.toml may override."""
    db = new_db(tmp_path)
    vid = add_dataset(db, [{"id": f"c{i}", "input_text": f"q{i}"} for i in range(2)])
    add_run(db, vid, ["A"], run_id="r-p")
    add_result(db, "r-p", "c0", "A", input_tokens=100, output_tokens=10)
    add_result(db, "r-p", "c1", "A", input_tokens=300, output_tokens=30)
    recorded = {"conditions": {"models": {"A": {"model": "openai/a"}}},
                "operational": {"models": {"A": {"input_price_per_1m": 1.0, "output_price_per_1m": 10.0}}}}
    with write(db):
        db.execute("UPDATE runs SET config_json = ? WHERE id = 'r-p'", [json.dumps(recorded)])

    p = project_costs(db, "r-p", WorkspaceConfig(), PER_DAY)
    a = p.model("A")
    assert (a.price.source, a.price.model_id, a.input_tokens_per_case, a.output_tokens_per_case) == (
        "run", "openai/a", 200, 20)
    assert a.cost_per_1k == pytest.approx((200 * 1.0 + 20 * 10.0) / 1000)  # $0.40 per 1k cases
    # Nothing was scored (no labels): accuracy unknown, so no bar is met and no frontier place.
    assert (a.graded, a.pass_rate, a.tco_per_day, a.on_frontier) == (0, None, None, None)
    # A price set in assay.toml now wins, for the same model id only.
    now = config(A=("openai/a", 2.0, 20.0))
    assert project_costs(db, "r-p", now, PER_DAY).model("A").cost_per_1k == pytest.approx(0.8)
    moved = config(A=("openai/other", 2.0, 20.0))
    assert project_costs(db, "r-p", moved, PER_DAY).model("A").price.source == "run"


@pytest.mark.parametrize("text, unit, per_day", [
    ("10000/day", "cases", 10_000), ("10k/day", "cases", 10_000), ("10,000 / Day", "cases", 10_000),
    ("50M/day", "tokens", 50e6), ("1.5m/month", "tokens", 1.5e6 * 12 / 365), ("2B/year", "tokens", 2e9 / 365),
    (".5k/day", "cases", 500),
])
def test_parse_volume(text, unit, per_day):
    v = parse_volume(text, unit)
    assert v.unit == unit and v.per_day == pytest.approx(per_day)


@pytest.mark.parametrize("text, message", [
    ("abc/day", "expected an amount per day, month or year"), ("-5/day", "expected an amount"),
    ("10/week", "expected an amount"), ("10000", "expected an amount"), ("0/day", "greater than 0"),
])
def test_parse_volume_refuses(text, message):
    with pytest.raises(UsageError, match=message):
        parse_volume(text, "cases")


def test_bad_assumptions_and_unknown_run(qa_db):
    with pytest.raises(UsageError, match="--review-cost"):
        project_costs(qa_db, "r-qa", WorkspaceConfig(), PER_DAY, review_cost=-1)
    with pytest.raises(UsageError, match="--min-pass"):
        project_costs(qa_db, "r-qa", WorkspaceConfig(), PER_DAY, min_pass=1.5)
    with pytest.raises(NotFoundError, match="no run 'r-nope'"):
        project_costs(qa_db, "r-nope", WorkspaceConfig(), PER_DAY)
