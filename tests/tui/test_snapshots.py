"""SVG snapshots (120x36) of the Datasets and Label screens. Deterministic: fixed data, relative
paths (the test runs in the workspace's parent folder), no wall-clock rates (stable display)."""

from __future__ import annotations

from tui_helpers import label_ready, make_app, seed, sentiment_cases, until

from store import connect, write
from store.labels import append_event


def _ws(tmp_path, monkeypatch):
    ws = seed(tmp_path / "demo-ws", sentiment_cases(30))
    db = connect(ws.db_path)
    with write(db):
        # Two annotators on six cases, so the agreement panel has figures and a confusion matrix.
        for i, (ana, bo) in enumerate([("positive", "positive"), ("negative", "negative"), ("neutral", "negative"),
                                       ("positive", "positive"), ("negative", "negative"), ("positive", "neutral")]):
            append_event(db, dataset_id=1, case_id=f"r{20 + i:03d}", annotator="ana", kind="label", value=ana)
            append_event(db, dataset_id=1, case_id=f"r{20 + i:03d}", annotator="bo", kind="label", value=bo)
        append_event(db, dataset_id=1, case_id="r003", annotator="bo", kind="label", value="negative")
    db.close()
    monkeypatch.chdir(tmp_path)
    return ws


def test_datasets_screen(snap_compare, tmp_path, monkeypatch):
    ws = _ws(tmp_path, monkeypatch)

    async def ready(pilot) -> None:
        await until(lambda: pilot.app.screen.query_one("#cases").row_count == 30)
        await until(lambda: "Krippendorff" in str(pilot.app.screen.query_one("#agreement").render()))

    assert snap_compare(make_app(ws), terminal_size=(120, 36), run_before=ready)


def test_label_screen(snap_compare, tmp_path, monkeypatch):
    ws = _ws(tmp_path, monkeypatch)

    async def ready(pilot) -> None:
        await label_ready(pilot.app)

    assert snap_compare(make_app(ws, start="label", dataset="reviews"), terminal_size=(120, 36), run_before=ready)


def test_label_screen_after_a_decision_with_guidelines(snap_compare, tmp_path, monkeypatch):
    ws = _ws(tmp_path, monkeypatch)

    async def ready(pilot) -> None:
        screen = await label_ready(pilot.app)
        await pilot.press("2")
        await until(lambda: screen.render_count >= 2)
        await pilot.press("g")

    assert snap_compare(make_app(ws, start="label", dataset="reviews"), terminal_size=(120, 36), run_before=ready)
