"""core.models.overview: the Models screen's rows (price source, key status, effective concurrency)."""

from __future__ import annotations

from core.config.schema import parse_config


def test_overview_rows_without_litellm_then_with_prices(monkeypatch):
    import sys

    from core.models.overview import model_rows

    monkeypatch.setenv("OVERVIEW_KEY", "x" * 20)
    monkeypatch.delenv("OVERVIEW_UNSET", raising=False)
    cfg = parse_config({"run": {"concurrency": 4}, "models": {
        "priced": {"model": "openai/zzz", "input_price_per_1m": 1.0, "output_price_per_1m": 2.0,
                   "api_key_env": "OVERVIEW_KEY", "max_concurrency": 2},
        "local": {"model": "openai/demo-strong", "api_base": "http://127.0.0.1:1/v1"},
        "unset": {"model": "openai/gpt-4o-mini", "api_key_env": "OVERVIEW_UNSET"},
        "bare": {"model": "not-a-provider/nothing"},
    }})
    rows = {r.name: r for r in model_rows(cfg, prices=False)}
    assert (rows["priced"].price_source, rows["priced"].input_per_1m, rows["priced"].output_per_1m) == ("config", 1.0, 2.0)
    assert rows["local"].price_source is None
    assert [rows[n].key_status for n in ("priced", "local", "unset", "bare")] == ["set", "not_needed", "missing", "provider"]
    assert (rows["priced"].concurrency, rows["priced"].concurrency_from_run) == (2, False)
    assert (rows["local"].concurrency, rows["local"].concurrency_from_run) == (4, True)
    if "litellm" not in sys.modules:  # other tests of this process may have imported it already
        model_rows(cfg, prices=False)
        assert "litellm" not in sys.modules
    rows = {r.name: r for r in model_rows(cfg, prices=True)}
    assert rows["unset"].price_source == "price_map" and rows["unset"].input_per_1m > 0
    assert rows["bare"].price_source == "unknown" and rows["bare"].input_per_1m is None


def test_a_logged_model_needs_no_key_and_no_price_lookup():
    from core.models.overview import model_rows
    from tui.screens.models.screen import ModelsScreen, _key_cell, describe_model

    cfg = parse_config({"models": {"production": {"model": "logged"}}})
    (row,) = model_rows(cfg, prices=False)  # no price to look up: the screen never imports litellm for it
    assert (row.price_source, row.key_status, row.input_per_1m) == ("logged", "logged", None)
    assert ModelsScreen._price_source(row).plain == "no call" and _key_cell(row).plain == "no call"
    assert "none: the answers are what production logged" in describe_model(row).plain
