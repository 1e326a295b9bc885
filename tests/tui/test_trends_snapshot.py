"""SVG snapshot (120x36) of the Trends screen on the test history (tests/tui/trends_history.py):
the series table with its sparklines, baseline deltas and alert states, the chart of the selected
series (strong · billing: CI bars and the provider-model series break), the alerts and the cost
panel. Deterministic: fixed data, run ids and times; relative paths (run in the workspace's parent)."""

from __future__ import annotations

import trends_history
from tui_helpers import make_app, until


def test_trends_screen(snap_compare, tmp_path, monkeypatch):
    ws = trends_history.build(tmp_path / "demo-ws")
    monkeypatch.chdir(tmp_path)

    async def ready(pilot) -> None:
        screen = pilot.app.screen
        await until(lambda: screen.shown_metric == "pass_rate")
        screen.query_one("#series").move_cursor(row=4)
        await until(lambda: "strong · billing" in str(screen.query_one("#chart-title").render()))
        await until(lambda: "Cost · support" in str(screen.query_one("#cost").render()))
        await pilot.pause(0.3)

    assert snap_compare(make_app(ws, start="trends"), terminal_size=(120, 36), run_before=ready)
