"""Pilot tests of the Review screen on the hand-worked qa run (tests/unit/scoring_fixtures.py) and a
baseline run on the same dataset: step through cases, filter to disagreements and to regressions,
toggle the diff, jump to a case, override a verdict (stored, counted by the report), flag a case."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from tui_helpers import make_app, until

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from scoring_fixtures import add_result, add_run, build_qa_run  # noqa: E402

from core.config.schema import WorkspaceConfig  # noqa: E402
from core.report.build import build_report  # noqa: E402
from core.run.scoring import ScoringSession  # noqa: E402
from core.workspace import resolve  # noqa: E402
from store import connect  # noqa: E402


def add_baseline(db, run_id: str = "r-base") -> None:
    """An older run of A and B on the qa run's dataset: both answer c0-c9 right."""
    vid = db.execute("SELECT dataset_version_id FROM runs WHERE id = 'r-qa'").fetchone()[0]
    add_run(db, vid, ["A", "B"], run_id=run_id, created_at="2000-01-01T00:00:00Z")
    session = ScoringSession(db, WorkspaceConfig(), run_id)

    async def go() -> None:
        for i in range(10):
            case = {"id": f"c{i}", "input_text": f"question {i}", "expected_output": f"answer {i}",
                    "task_type": "qa", "metadata": {}}
            for model in ("A", "B"):
                await session.score(case, add_result(db, run_id, f"c{i}", model, output=f"answer {i}"))
        await session.aclose()

    asyncio.run(go())


@pytest.fixture
def qa_ws(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "assay.toml").write_text("", encoding="utf-8")
    db = connect(root / "assay.db")
    build_qa_run(db)
    add_baseline(db)
    db.close()
    return resolve(str(root), None)


async def ready(app, run_id: str = "r-qa"):
    await until(lambda: getattr(app.screen, "shown_run", None) == run_id)
    screen = app.screen
    await until(lambda: screen._detail is not None)
    return screen


async def shows_case(screen, case_id: str) -> None:
    await until(lambda: screen._detail is not None and screen._detail.case_id == case_id)


def test_review_steps_filters_diffs_and_jumps(qa_ws):
    async def go() -> None:
        app = make_app(qa_ws, start="review")
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await ready(app)  # the latest run, not the older baseline
            assert screen.query_one("#cases").row_count == 13
            await until(lambda: "McNemar" in str(screen.query_one("#paired").render()))
            await pilot.press("down", "down")
            await shows_case(screen, "c2")
            assert [a.verdict for a in screen._detail.answers] == ["pass", "fail"]

            await pilot.press("x")  # models disagree
            await until(lambda: screen.query_one("#cases").row_count == 7)
            assert all("disagree" in r.entry.classes for r in screen._page.rows)

            await pilot.press("d")  # word diff of A's answer against B's, in B's column
            assert screen._diff == "answers"
            assert screen._diff_body(1) is not None and screen._diff_body(0) is None
            await pilot.press("d", "d")
            assert screen._diff == "off"

            await pilot.press("j", *"c11", "enter")  # hidden by the filter: the filter is dropped
            await shows_case(screen, "c11")
            assert screen._cls is None

            await pilot.press("b")  # baseline: the only other run on this dataset
            await until(lambda: "Baseline" in str(app.screen.query_one(".panel-title").render()))
            await pilot.press("down", "enter")
            await until(lambda: screen._index is not None and screen._index.baseline_id == "r-base"
                        and screen._page is not None)
            await pilot.press("g")  # regressed vs the baseline
            await until(lambda: screen._cls == "regressed" and screen._page.rows
                        and all("regressed" in r.entry.classes for r in screen._page.rows))
            assert {r.entry.case_id for r in screen._page.rows} == {"c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"}
            await shows_case(screen, "c2")
            assert [(a.model, a.baseline) for a in screen._detail.answers] == [
                ("A", False), ("A", True), ("B", False), ("B", True)]

    asyncio.run(go())


def test_override_a_verdict_and_flag_a_case(qa_ws):
    async def go() -> None:
        app = make_app(qa_ws, start="review")
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await ready(app)
            await pilot.press(*["down"] * 9)
            await shows_case(screen, "c9")
            await pilot.press("full_stop")  # select B's answer
            assert screen._selected == 1
            await pilot.press("o")
            await until(lambda: app.screen is not screen)
            await pilot.press("enter")  # no reason: refused on the form
            assert "reason is required" in str(app.screen.query_one("#dialog-error").render())
            await pilot.press(*"synonym", "enter")  # the dialog proposes "pass" for a failed answer
            await until(lambda: screen._detail is not None and screen._detail.case_id == "c9"
                        and screen._detail.answers[1].override is not None)
            assert screen._detail.answers[1].verdict == "pass"
            assert "h overridden 1" in str(screen.query_one("#counts").render())

            await pilot.press("L", *"truth looks wrong", "enter")
            await until(lambda: _flags(qa_ws) == [("c9", "ana", "truth looks wrong")])

        db = connect(qa_ws.db_path)
        rows = db.execute("SELECT passed, replaces, reason, annotator FROM verdict_overrides").fetchall()
        assert rows == [(1, "fail", "synonym", "ana")]
        report = build_report(db, "r-qa")
        assert report.overrides == 1 and report.figures("B").passed == 5  # c0, c1, c8, c10 and now c9
        db.close()

    asyncio.run(go())


def _flags(ws):
    db = connect(ws.db_path)
    try:
        return db.execute("SELECT case_id, annotator, note FROM label_events WHERE kind = 'flag'").fetchall()
    finally:
        db.close()


def test_review_opens_the_run_another_screen_hands_it(qa_ws):
    """Run's and Trends' "open in Review" set app.review_run_id; Review opens that run, not the latest,
    both when it is first shown and when it is shown again later."""
    async def run() -> None:
        app = make_app(qa_ws, start="datasets")
        async with app.run_test(size=(120, 36)):
            app.review_run_id = "r-base"  # the older run
            app.open_screen("review")
            await ready(app, "r-base")
            assert app.review_run_id is None  # taken
            app.open_screen("datasets")
            app.review_run_id = "r-qa"
            app.open_screen("review")
            screen = await ready(app, "r-qa")
            # The same case (c0) in another run: its answers are that run's, not the last run's.
            db = connect(qa_ws.db_path)
            qa_ids = {i for (i,) in db.execute("SELECT id FROM results WHERE run_id = 'r-qa' AND case_id = 'c0'")}
            db.close()
            await until(lambda: {a.result_id for a in screen._detail.answers if not a.baseline} == qa_ids)

    asyncio.run(run())
