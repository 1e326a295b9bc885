"""SVG snapshot (120x36) of the Review screen side by side: the hand-worked qa run
(tests/unit/scoring_fixtures.py), case c8 (A fails, B passes) with the word diff of their answers.
Deterministic: fixed data and run id, relative paths (run in the workspace's parent), a seeded
bootstrap."""

from __future__ import annotations

import sys
from pathlib import Path

from tui_helpers import make_app, until

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from scoring_fixtures import build_qa_run  # noqa: E402

from core.workspace import resolve  # noqa: E402
from store import connect  # noqa: E402


def test_review_side_by_side(snap_compare, tmp_path, monkeypatch):
    root = tmp_path / "demo-ws"
    root.mkdir()
    (root / "assay.toml").write_text("", encoding="utf-8")
    db = connect(root / "assay.db")
    build_qa_run(db)
    db.close()
    monkeypatch.chdir(tmp_path)

    async def ready(pilot) -> None:
        screen = pilot.app.screen
        await until(lambda: getattr(screen, "shown_run", None) == "r-qa")
        await until(lambda: "McNemar" in str(screen.query_one("#paired").render()))
        await pilot.press(*["down"] * 8, "d")
        await until(lambda: screen._detail is not None and screen._detail.case_id == "c8")
        await pilot.pause(0.5)  # let the diff notification settle into the frame

    assert snap_compare(make_app(resolve(str(root), None), start="review"), terminal_size=(120, 36),
                        run_before=ready)
