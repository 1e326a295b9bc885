"""Models screen (Pilot): add a model pointing at the demo server, test its connection (ok, then a
401), edit it, delete it; assay.toml keeps its comments; an external edit is picked up; a save
refused for an external change never overwrites it; prompts are edited with a live preview."""

from __future__ import annotations

import asyncio

from tui_helpers import CONFIG, make_app, seed, sentiment_cases, until

from core.config.schema import load_config
from tui.screens.models.screen import POLL_S

COMMENTED = "# team config: keep this comment\n" + CONFIG + """
# models below
[models.base]  # the baseline
model = "openai/demo-fast"
api_base = "http://127.0.0.1:9/v1"
"""


def _ws(tmp_path):
    return seed(tmp_path / "ws", sentiment_cases(5), config=COMMENTED)


async def _open(app):
    from tui.screens.models import ModelsScreen

    await until(lambda: isinstance(app.screen, ModelsScreen) and app.screen.table.row_count > 0)
    return app.screen


async def _fill_and_save(pilot, **values):
    from tui.screens.models.model_dialog import ModelDialog

    await until(lambda: isinstance(pilot.app.screen, ModelDialog))
    dialog = pilot.app.screen
    for key, value in values.items():
        dialog.query_one(f"#f-{key}").value = value
    await pilot.press("ctrl+s")
    return dialog


def test_add_test_edit_delete_round_trip(tmp_path, clean_srv, monkeypatch):
    ws = _ws(tmp_path)
    monkeypatch.setenv("MODELS_TEST_KEY", "sk-wrong-key-0123456789")

    async def run() -> None:
        app = make_app(ws, start="models")
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await _open(app)
            await pilot.press("a")
            await _fill_and_save(pilot, name="local", model="openai/demo-strong", api_base=clean_srv.base_url,
                                 rpm="600")
            await until(lambda: screen.table.row_count == 2 and app.screen is screen)
            assert app.config.models["local"].rpm == 600  # the app sees the change
            assert screen.selected == "local"

            await pilot.press("t")
            await until(lambda: "local" in screen.checks, timeout=60)
            check = screen.checks["local"]
            assert check.ok and check.latency_ms is not None and check.output_tokens
            assert "connection ok" in str(screen.query_one("#check").render())

            # Edit: the server now wants a key the model does not send: a classified 401.
            clean_srv.configure(api_key="the-right-key-42")
            await pilot.press("e")
            await _fill_and_save(pilot, api_key_env="MODELS_TEST_KEY")
            await until(lambda: app.config.models["local"].api_key_env == "MODELS_TEST_KEY")
            assert "local" not in screen.checks  # the old result described the old settings
            await pilot.press("t")
            await until(lambda: "local" in screen.checks, timeout=60)
            check = screen.checks["local"]
            assert (check.ok, check.error_class, check.http_status) == (False, "auth", 401)
            shown = str(screen.query_one("#check").render())
            assert "auth" in shown and "sk-wrong-key" not in shown
            # The table's Test column is as wide as its cell ("✓ 12 ms" first, now "✗ auth").
            assert screen.table.columns["test"].get_render_width(screen.table) >= len("✗ auth") + 2

            await pilot.press("delete")
            await pilot.click("#yes")
            await until(lambda: screen.table.row_count == 1)
            assert list(app.config.models) == ["base"]

        text = ws.config_path.read_text()
        for comment in ("# team config: keep this comment", "# models below", "# the baseline"):
            assert comment in text
        assert list(load_config(ws.config_path).models) == ["base"]

    asyncio.run(run())


def test_form_errors_are_shown_on_their_field_and_nothing_is_written(tmp_path):
    ws = _ws(tmp_path)
    before = ws.config_path.read_text()

    async def run() -> None:
        app = make_app(ws, start="models")
        async with app.run_test(size=(120, 36)) as pilot:
            await _open(app)
            await pilot.press("a")
            dialog = await _fill_and_save(pilot, name="base", model="openai/x", rpm="-3", params="[1]")
            assert app.screen is dialog
            assert "already exists" in str(dialog.query_one("#err-name").render())
            assert "greater than 0" in str(dialog.query_one("#err-rpm").render())
            assert dialog.query_one("#f-rpm").has_class("-invalid")
            assert not dialog.query_one("#f-model").has_class("-invalid")

    asyncio.run(run())
    assert ws.config_path.read_text() == before


def test_external_edit_is_reloaded_and_a_stale_save_is_refused(tmp_path):
    ws = _ws(tmp_path)

    async def run() -> None:
        app = make_app(ws, start="models")
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await _open(app)
            ws.config_path.write_text(ws.config_path.read_text() + '\n[models.extra]\nmodel = "openai/x"\n')
            await until(lambda: screen.table.row_count == 2)
            assert "extra" in app.config.models

            # An editor saves while the form is open: the form's save is refused, the file kept.
            await pilot.press("e")
            from tui.screens.models.model_dialog import ModelDialog

            await until(lambda: isinstance(app.screen, ModelDialog))
            edited = ws.config_path.read_text() + "\n# edited in an editor\n"
            ws.config_path.write_text(edited)
            await asyncio.sleep(POLL_S * 1.5)  # the screen's poll must not reload under the open form
            await _fill_and_save(pilot, rpm="5")
            await until(lambda: "changed on disk" in str(getattr(app.screen, "title_text", "")))
            assert ws.config_path.read_text() == edited

    asyncio.run(run())


def test_an_external_edit_reaches_the_app_while_another_screen_is_shown(tmp_path):
    """The poll pauses only for an open form: on the Run screen the app's config stays the file's."""
    ws = _ws(tmp_path)

    async def run() -> None:
        app = make_app(ws, start="models")
        async with app.run_test(size=(120, 36)) as pilot:
            await _open(app)
            await pilot.press("4")
            await until(lambda: type(app.screen).__name__ == "RunScreen")
            ws.config_path.write_text(ws.config_path.read_text() + '\n[models.extra]\nmodel = "openai/x"\n')
            await until(lambda: "extra" in app.config.models)

    asyncio.run(run())


def test_prompt_edit_with_live_preview(tmp_path):
    ws = _ws(tmp_path)

    async def run() -> None:
        app = make_app(ws, start="models", dataset="reviews")
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await _open(app)
            await pilot.press("p")
            pane = screen.prompts
            await until(lambda: len(pane.cases) == 5)
            pane.query_one("#template").text = "Classify: {input_text}"
            await until(lambda: "Classify: Review 0" in str(pane.query_one("#preview").render()))
            await pilot.press("right_square_bracket")
            await until(lambda: "Classify: Review 1" in str(pane.query_one("#preview").render()))
            pane.query_one("#template").text = "{nope}"
            await until(lambda: "unknown placeholder" in str(pane.query_one("#prompt-error").render()))
            pane.query_one("#template").text = "Classify: {input_text}"
            await pilot.press("ctrl+s")
            await until(lambda: "default" in app.config.prompts)

        cfg = load_config(ws.config_path)
        assert cfg.prompts["default"].template == "Classify: {input_text}"
        assert "# the baseline" in ws.config_path.read_text()

    asyncio.run(run())
