"""SVG snapshot (120x36) of the Run screen after a run finished against the in-process demo server.
Deterministic: a fixed run id and clock, relative paths (run in the workspace's parent), and the
stable display hides latency, elapsed time and start times."""

from __future__ import annotations

from test_run_screen import _config
from tui_helpers import make_app, seed, sentiment_cases, until

from demo.serve import DemoServer


def test_run_screen_finished(snap_compare, tmp_path, monkeypatch):
    with DemoServer(latency_ms=0, latency_scale=0) as srv:
        ws = seed(tmp_path / "demo-ws", sentiment_cases(12), config=_config(srv.base_url))
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr("store.runs.new_run_id", lambda db: "r-20250101-120000-snap")
        monkeypatch.setattr("store.runs.now_iso", lambda: "2025-01-01T12:00:00+00:00")

        async def ready(pilot) -> None:
            screen = pilot.app.screen
            await until(lambda: screen.estimate is not None)
            await pilot.press("s")
            await until(lambda: screen.last_run_id is not None and not screen.running, timeout=60)
            history = screen.query_one("#history")
            # Every history load done and its message handled (a late one rebuilds the table), then
            # the table's own resize, which it does on its next idle: under load the snapshot could
            # otherwise come first.
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            await until(lambda: history.row_count == 1 and max(c.content_width for c in history.columns.values())
                        >= len("r-20250101-120000-snap"))
            await pilot.pause()

        assert snap_compare(make_app(ws, start="run"), terminal_size=(120, 36), run_before=ready)
