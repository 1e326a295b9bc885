"""Pilot test of Review's cost dialog (`$`) on the hand-worked qa run (tests/unit/scoring_fixtures.py;
figures worked in tests/unit/test_trends_costs.py): A is priced in assay.toml ($1/$2 per 1M tokens),
B has no price anywhere. The dialog's figures must be core.trends.costs' own; B's stay unknown."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from test_review_screen import add_baseline, ready
from tui_helpers import make_app, until

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from scoring_fixtures import build_qa_run  # noqa: E402

from core.common.figures import money  # noqa: E402
from core.trends.costs import parse_volume, project_costs  # noqa: E402
from core.workspace import resolve  # noqa: E402
from store import connect  # noqa: E402
from tui.screens.review.cost_dialog import CostDialog  # noqa: E402

CONFIG = """
[models.A]
model = "openai/a"
input_price_per_1m = 1.0
output_price_per_1m = 2.0

[models.B]
model = "openai/b"
"""


@pytest.fixture
def priced_ws(tmp_path, monkeypatch):
    # B's id is in no price map (and looking it up would import litellm): its price is unknown.
    monkeypatch.setattr("core.models.prices.price_map_entry", lambda model_id: None)
    root = tmp_path / "ws"
    root.mkdir()
    (root / "assay.toml").write_text(CONFIG, encoding="utf-8")
    db = connect(root / "assay.db")
    build_qa_run(db)
    add_baseline(db)
    db.close()
    return resolve(str(root), None)


def expected(ws, volume: str, min_pass: float | None, review_cost: float = 0.0):
    db = connect(ws.db_path)
    try:
        return project_costs(db, "r-qa", ws.load_config(), parse_volume(volume, "cases"),
                             review_cost=review_cost, min_pass=min_pass)
    finally:
        db.close()


def _row(text: str, model: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(model + " "))


async def _retype(pilot, field: str, value: str) -> None:
    dialog = pilot.app.screen
    dialog.query_one(field).focus()
    await pilot.press("ctrl+u", *value)


def test_cost_dialog_figures_volume_bar_and_unknown_prices(priced_ws):
    async def go() -> None:
        app = make_app(priced_ws, start="review")
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await ready(app)
            await pilot.press("dollar_sign")
            await until(lambda: isinstance(app.screen, CostDialog) and app.screen.projection is not None)
            dialog = app.screen
            table = lambda: str(dialog.query_one("#cost-table").render())  # noqa: E731

            # Defaults: 10,000 cases/day, $0 review cost, bar 90%: the figures are core's own.
            want = expected(priced_ws, "10000/day", 0.9)
            assert dialog.projection == want
            a, b = want.model("A"), want.model("B")
            assert a.cost_per_1k == pytest.approx(0.02) and b.cost_per_1k is None
            assert money(a.cost_per_1k) in _row(table(), "A") and "$73" in _row(table(), "A")  # per year
            # B: $/1k, $/day, $/year and TCO unknown (never $0); its cost of errors needs no price.
            assert _row(table(), "B").split()[1:6] == ["unknown", "unknown", "unknown", "$0", "unknown"]
            # Sorted by cost: the unknown price last. A is the only known point: on the frontier.
            assert table().index("\nA ") < table().index("\nB ")
            assert "◆" in _row(table(), "A") and "◆" not in _row(table(), "B")
            # No model's CI lower bound reaches 90% (A: 8/12, lower bound 0.39): no cheapest.
            assert want.cheapest is None and "★" not in _row(table(), "A")
            assert "no model meets the bar" in table()

            await _retype(pilot, "#cost-bar", "30%")  # A's lower bound clears 30%, B has no price
            await until(lambda: dialog.projection.min_pass == 0.3)
            assert dialog.projection.cheapest == expected(priced_ws, "10000/day", 0.3).cheapest == "A"
            assert "★" in _row(table(), "A") and "cheapest meeting the bar: A" in table()

            await _retype(pilot, "#cost-volume", "1k/day")
            await until(lambda: dialog.projection.volume == parse_volume("1k/day", "cases"))
            assert dialog.projection == expected(priced_ws, "1k/day", 0.3)
            assert dialog.projection.model("A").cost_per_day == pytest.approx(0.02)
            assert "1,000 cases/day" in table()

            await _retype(pilot, "#cost-review", "8")  # $8 per failed case
            await until(lambda: dialog.projection.review_cost == 8)
            assert dialog.projection == expected(priced_ws, "1k/day", 0.3, review_cost=8)
            assert dialog.projection.model("A").error_cost_per_day == pytest.approx(8_000 / 3)
            assert _row(table(), "B").split()[4] == "$1.9M"  # B's errors/year: 2/3 x $8 x 1,000 x 365

            await _retype(pilot, "#cost-volume", "lots")  # refused on the form; the last table stays
            await until(lambda: "expected an amount" in str(dialog.query_one("#dialog-error").render()))
            assert dialog.projection.volume == parse_volume("1k/day", "cases")

            await pilot.press("escape")
            await until(lambda: app.screen is screen)

    asyncio.run(go())
