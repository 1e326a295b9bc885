"""Trust flags on screen (Pilot): Review marks a model the dataset's contamination probe suspects in
its comparison table and shows the judge calibration panel of a run with judge verdicts and the
client-saturation note of a run whose calls queued in the client; Trends
marks flagged series after the model's name, counts them in the header and explains them under the
chart. The flag rules are core's (tests/unit/test_trust_flags.py)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import trends_history
from test_review_screen import qa_ws  # noqa: F401  (the fixture)
from tui_helpers import make_app, until

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from test_trust_flags import judged, probe  # noqa: E402

from store import connect  # noqa: E402


def _text(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


def test_review_marks_a_contaminated_model_and_shows_judge_calibration_and_client_saturation(qa_ws):  # noqa: F811
    db = connect(qa_ws.db_path)
    probe(db, "qa-r-qa", {"A": 12, "B": 0})
    judged(db, "r-qa", "B")
    # The fresh calls queued 30 ms in the client before going out, timed by the kernel.
    with db.conn:
        db.execute("UPDATE results SET latency_ms = 52.0, client_ms = 30.0 WHERE run_id = 'r-qa' AND status = 'ok'")
    db.close()

    async def go() -> None:
        app = make_app(qa_ws, start="review")
        async with app.run_test(size=(140, 40)):
            screen = app.screen
            await until(lambda: screen.shown_run == "r-qa")
            figures = screen.query_one("#figures")
            await until(lambda: figures.row_count > 0)
            models = [str(getattr(figures.get_row_at(i)[0], "plain", "")) for i in range(figures.row_count)]
            assert "A †" in models and "B" in models and "B †" not in models
            await until(lambda: "judge judge-x" in _text(app, "#trust"))
            trust = _text(app, "#trust")
            assert "† A contaminated? probe p-" in trust
            assert "UNCALIBRATED" in trust and "only 0 expert-graded output(s), need 30" in trust
            assert "CLIENT SATURATED" in trust
            assert "calls spent p50 30 ms in the client before going out" in trust
            assert "latencies were timed by the kernel and exclude that wait" in trust
            assert screen.query_one("#trust").display

    asyncio.run(go())


def test_trends_marks_flagged_series(tmp_path):
    ws = trends_history.build(tmp_path / "ws")
    db = connect(ws.db_path)
    probe(db, "support", {"fast": 12, "strong": 0})
    judged(db, trends_history.run_ids()[-1], "strong")
    db.close()

    async def go() -> None:
        app = make_app(ws, start="trends")
        async with app.run_test(size=(140, 40)):
            screen = app.screen
            await until(lambda: screen.shown_metric == "pass_rate")
            await until(lambda: "flagged series" in _text(app, "#tr-head"))
            assert "† contaminated? 3, ‡ uncalibrated judge 3" in _text(app, "#tr-head")
            table = screen.query_one("#series")
            models = [str(getattr(table.get_row_at(i)[1], "plain", "")) for i in range(table.row_count)]
            assert models == ["fast †"] * 3 + ["strong ‡"] * 3
            await until(lambda: "contaminated? probe" in _text(app, "#chart-notes"))
            table.move_cursor(row=3)
            await until(lambda: "uncalibrated judge in the last run: judge-x (rubric)" in _text(app, "#chart-notes"))

    asyncio.run(go())
