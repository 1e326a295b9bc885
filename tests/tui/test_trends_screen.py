"""Trends screen (Pilot): series rows with baseline delta and alert state, the selected row drives
the chart (breaks explained), the metric switch, acknowledging an alert writes the annotator, the
cost panel, opening a run in Review, and the empty state. The figures themselves are core's (tests/unit/test_trends_*)."""

from __future__ import annotations

import asyncio

import pytest
import trends_history
from tui_helpers import make_app, until

from core.trends.alerts import list_alerts
from store import connect


@pytest.fixture
def history(tmp_path):
    return trends_history.build(tmp_path / "ws")


def _cells(app, row: int) -> list[str]:
    table = app.screen.query_one("#series")
    return [str(getattr(c, "plain", c)) for c in table.get_row_at(row)]


def _text(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


def test_rows_chart_metric_and_acknowledge(history):
    async def run() -> None:
        app = make_app(history, start="trends", annotator="bea")
        async with app.run_test(size=(120, 36)) as pilot:
            screen = app.screen
            await until(lambda: screen.shown_metric == "pass_rate")
            table = screen.query_one("#series")
            assert table.row_count == 6  # 2 models x (all, billing, technical)
            first = _cells(app, 0)
            assert first[:3] == ["support", "fast", "all tasks"]
            assert first[4].startswith("70.7% (") and first[5] == "-10.0 pts" and "alert" in first[6]
            assert _cells(app, 3)[5] == "+0.0 pts" and _cells(app, 3)[6] == ""
            assert "2 open alerts" in _text(app, "#tr-head")
            assert "fast · all tasks" in _text(app, "#chart-title")
            assert "regression alert" in _text(app, "#chart-notes")
            # The selected row drives the chart: strong's billing series has the provider-model break.
            table.move_cursor(row=4)
            await until(lambda: "strong · billing" in _text(app, "#chart-title"))
            notes = _text(app, "#chart-notes")
            assert "series break before 01-04" in notes and "strong-1-0101 -> strong-1-0125" in notes
            await until(lambda: "Cost · support" in _text(app, "#cost"))
            assert "strong" in _text(app, "#cost") and "bar 90%" in _text(app, "#cost")
            # Metric switch: incl. errors, then back to the pass rate with M.
            await pilot.press("m")
            await until(lambda: screen.shown_metric == "pass_rate_incl_errors")
            assert "pass rate incl. errors" in _text(app, "#tr-head")
            assert "pass rate incl. errors · support · strong · billing" in _text(app, "#chart-title")
            await pilot.press("M")
            await until(lambda: screen.shown_metric == "pass_rate")
            # Acknowledge the newest open alert from the alerts list.
            await pilot.press("a", "k")
            await until(lambda: "1 open alert" in _text(app, "#tr-head"))
            # o opens the selected series' last run in Review.
            await pilot.press("s", "o")
            await until(lambda: getattr(app.screen, "shown_run", None) == trends_history.run_ids()[-1])
        db = connect(history.db_path)
        try:
            acked = [a for a in list_alerts(db, include_acknowledged=True) if a.acknowledged_at]
        finally:
            db.close()
        assert [(a.acknowledged_by, a.task_type) for a in acked] == [("bea", "billing")]

    asyncio.run(run())


def test_no_color_draws_the_chart(history, monkeypatch):
    """NO_COLOR=1: Textual's monochrome filter raised on textual-plot's unstyled empty lines."""
    monkeypatch.setenv("NO_COLOR", "1")

    async def run() -> None:
        app = make_app(history, start="trends")
        async with app.run_test(size=(120, 36)) as pilot:
            assert app.no_color
            await until(lambda: app.screen.shown_metric == "pass_rate")
            await pilot.pause(0.3)
            assert "fast · all tasks" in _text(app, "#chart-title")

    asyncio.run(run())


def test_latency_metric_without_values_says_so(history):
    async def run() -> None:
        app = make_app(history, start="trends")
        async with app.run_test(size=(120, 36)) as pilot:
            await until(lambda: app.screen.shown_metric == "pass_rate")
            await pilot.press("m", "m", "m")  # incl. errors, mean score, latency p50
            await until(lambda: app.screen.shown_metric == "latency_p50_ms")
            assert "No value of this metric" in _text(app, "#chart-notes")
            assert _cells(app, 0)[4] == "-"

    asyncio.run(run())


def test_empty_history_says_what_to_do(reviews):
    async def run() -> None:
        app = make_app(reviews, start="trends")
        async with app.run_test(size=(120, 36)):
            await until(lambda: app.screen.shown_metric == "pass_rate")
            assert "No finished runs yet" in _text(app, "#tr-head")
            assert app.screen.query_one("#series").row_count == 0

    asyncio.run(run())
