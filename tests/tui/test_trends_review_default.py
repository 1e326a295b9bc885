"""The Review screen opens a run against its dataset's pinned baseline (core.trends.baselines) when
there is one; the user's own choice (including "no baseline") still wins."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from test_review_screen import add_baseline, ready
from tui_helpers import make_app, until

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from scoring_fixtures import build_qa_run  # noqa: E402

from core.trends.baselines import set_baseline  # noqa: E402
from core.workspace import resolve  # noqa: E402
from store import connect  # noqa: E402


def test_review_defaults_to_the_pinned_baseline(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "assay.toml").write_text("", encoding="utf-8")
    db = connect(root / "assay.db")
    build_qa_run(db)
    add_baseline(db)
    set_baseline(db, "r-base", by="t")
    db.close()

    async def go() -> None:
        app = make_app(resolve(str(root), None), start="review")
        async with app.run_test(size=(120, 36)):
            screen = await ready(app)
            assert screen._index.baseline_id == "r-base"
            screen._chose_baseline("\x00none")  # the user picks "(no baseline)": it sticks
            await until(lambda: screen._index.baseline_id is None)
            before = screen._index
            screen._reload()
            await until(lambda: screen._index is not before)  # classed again, without the pin
            assert screen._index.baseline_id is None

    asyncio.run(go())
