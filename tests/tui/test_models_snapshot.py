"""SVG snapshot (120x36) of the Models screen: config and price-map prices, an unknown price, every
key status. Deterministic: relative paths (run in the workspace's parent), key variables pinned."""

from __future__ import annotations

from tui_helpers import CONFIG, make_app, seed, sentiment_cases, until

MODELS = CONFIG + """
[models.gpt-mini]
model = "openai/gpt-4o-mini"
api_key_env = "SNAPSHOT_SET_KEY"
rpm = 500
tpm = 200000

[models.claude]
model = "anthropic/claude-3-5-haiku-20241022"
api_key_env = "SNAPSHOT_UNSET_KEY"
max_concurrency = 4

[models.local]
model = "openai/demo-strong"
api_base = "http://127.0.0.1:8765/v1"
input_price_per_1m = 0.5
output_price_per_1m = 1.5

[models.mystery]
model = "somewhere/unknown-model"
"""


def test_models_screen(snap_compare, tmp_path, monkeypatch):
    ws = seed(tmp_path / "demo-ws", sentiment_cases(3), config=MODELS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SNAPSHOT_SET_KEY", "sk-snapshot-canary-0123456789")
    monkeypatch.delenv("SNAPSHOT_UNSET_KEY", raising=False)

    async def ready(pilot) -> None:
        screen = pilot.app.screen
        await until(lambda: screen.table.row_count == 4)
        await until(lambda: all(r.price_source is not None for r in screen.rows.values()), timeout=60)
        await pilot.pause()

    assert snap_compare(make_app(ws, start="models"), terminal_size=(120, 36), run_before=ready)
